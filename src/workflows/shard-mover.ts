/**
 * The lock-holding shard engine of earlier releases (runs without `engine: 'jobs'`): kept so that migrations
 * started before the moveshard-jobs patch replay and finish; new runs use job-engine.ts. It converges every shard group of a ShardRun to its desired servers, add before remove:
 *   addShardFollower (new servers join Plan; Transit takes the shard lock)
 *   → waitForShardInSync (every new server in Current)
 *   → moveShardLeadership (resign protocol, only to an in-sync server)
 *   → removeShardFollower (old servers leave; never fewer than replicationFactor in-sync copies; lock released).
 * The same engine moves shards forward and, with desired = the original servers, back (rollback).
 *
 * One iteration batches each step over many groups (one activity per step, not per shard), so that 10,000 shards
 * cost a few hundred activities. Between iterations is the safe point: pause, rollback, abort and
 * continue-as-new happen there, never inside a step; every group is then either untouched, or holds at least
 * replicationFactor in-sync copies plus extra ones.
 */
import type { ShardKey } from '../activities/agency-types';
import type { TransitActivities } from '../activities/contract';
import { groupBytes, groupKey, groupLabel, groupReplicationFactor, groupServers, type GroupIndex } from './plan';
import { pickNext } from './scheduler';
import { ETA_SAMPLES, recordTimeline, STEP, type MigrationState, type ShardRun } from './state';

export interface EngineContext {
  state: MigrationState;
  acts: Pick<
    TransitActivities,
    'addShardFollower' | 'waitForShardInSync' | 'moveShardLeadership' | 'removeShardFollower'
  >;
  ix: GroupIndex;
  /** Servers every group must end on (IDs, leader first). */
  desired: string[][];
  /** Wall clock of the workflow (deterministic). */
  now(): number;
  /** Pause / rollback / continue-as-new point; abort is left to the engine (it drains in-flight groups first). */
  safePoint(): Promise<void>;
  /** Runs one step with pause-on-failure: on a final failure it records the error, parks and retries on resume. */
  step<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Runs step sequences side by side and settles only when every one has (an error or control is rethrown after
   * the others finished, so nothing is left in flight); no continue-as-new happens meanwhile.
   */
  concurrently(tasks: (() => Promise<void>)[]): Promise<void>;
  onProgress(): void;
  /** True when the engine must stop starting new groups (abort requested): in-flight groups still finish. */
  stopStarting(): boolean;
  log(msg: string, meta?: Record<string, unknown>): void;
}

/** How long one waitForShardInSync call may wait before the loop looks at controls again. */
const SYNC_POLL_SECONDS = 10;

/** A new run from a fresh Plan read; `sharedPlan` when that Plan equals the state's own (not carried twice). */
export function newShardRun(
  direction: 'forward' | 'backward',
  ix: GroupIndex,
  desired: string[][],
  sharedPlan: boolean,
): ShardRun {
  const steps = new Array<number>(ix.count).fill(STEP.pending);
  for (let g = 0; g < ix.count; g++) if (sameServers(groupServers(ix, g), desired[g]!)) steps[g] = STEP.done;
  return { direction, plan: sharedPlan ? null : ix.plan, steps, copied: {}, startedAt: {} };
}

/** Runs tasks side by side; rethrows the first failure once all have settled. */
export async function settleAll(tasks: (() => Promise<void>)[]): Promise<void> {
  const results = await Promise.allSettled(tasks.map((t) => t()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Runs until every group is done (returns 'done') or, after an abort request, no group is in flight ('stopped'). */
export async function runShardEngine(ctx: EngineContext): Promise<'done' | 'stopped'> {
  const run = ctx.state.shards!;
  const { ix } = ctx;
  const arango = { endpoint: ctx.state.spec.arango.endpoint, jwtSecret: ctx.state.spec.arango.jwtSecret };
  const migrationId = ctx.state.migrationId;
  const from = (g: number) => groupServers(ix, g);
  const to = (g: number) => ctx.desired[g]!;
  const key = (g: number): ShardKey => groupKey(ix, g);
  const at = (st: number) => run.steps.reduce<number[]>((acc, v, g) => (v === st ? (acc.push(g), acc) : acc), []);

  for (;;) {
    await ctx.safePoint();
    const pending = at(STEP.pending);
    const inFlight = run.steps.reduce<number[]>(
      (acc, v, g) => (v > STEP.pending && v < STEP.done ? (acc.push(g), acc) : acc),
      [],
    );
    if (inFlight.length === 0 && (pending.length === 0 || ctx.stopStarting()))
      return pending.length === 0 ? 'done' : 'stopped';

    // Starting new groups (1) and finishing in-sync ones (3, 4) touch disjoint groups: they run side by side, so
    // the links get new copies while leadership moves (several agency round trips each) are under way.
    const starting = async (): Promise<void> => {
      // 1. Start new groups: the new servers join Plan (Transit holds the shard lock from here to removal).
      const start = ctx.stopStarting()
        ? []
        : pickNext({
            ix,
            desired: to,
            current: from,
            pending,
            inFlight,
            limit: ctx.state.concurrency,
            bandwidth: ctx.state.spec.policy.bandwidthBytesPerSecond,
            remaining: (g) => (run.steps[g]! >= STEP.inSync ? 0 : groupBytes(ix, g) - (run.copied[g] ?? 0)),
          });
      if (start.length) {
        await ctx.step(`addShardFollower ×${start.length}`, () =>
          ctx.acts.addShardFollower({
            migrationId,
            arango,
            moves: start.map((g) => ({ ...key(g), expected: from(g), add: to(g).filter((s) => !from(g).includes(s)) })),
          }),
        );
        const t = ctx.now();
        for (const g of start) {
          run.steps[g] = STEP.followerAdded;
          run.startedAt[g] = t;
        }
        ctx.onProgress();
      }
    };
    const finishing = async (): Promise<void> => {
      // 3. Leadership to the desired leader, only now that it is in sync.
      const inSync = at(STEP.inSync);
      const leaderMoves = inSync.filter((g) => from(g)[0] !== to(g)[0]);
      if (leaderMoves.length) {
        await ctx.step(`moveShardLeadership ×${leaderMoves.length}`, () =>
          ctx.acts.moveShardLeadership({
            migrationId,
            arango,
            moves: leaderMoves.map((g) => ({ ...key(g), from: from(g)[0]!, to: to(g)[0]! })),
          }),
        );
      }
      for (const g of inSync) run.steps[g] = STEP.leaderMoved;

      // 4. The old servers leave Plan; the shard lock is released.
      const removable = at(STEP.leaderMoved);
      if (removable.length) {
        await ctx.step(`removeShardFollower ×${removable.length}`, () =>
          ctx.acts.removeShardFollower({
            migrationId,
            arango,
            moves: removable.map((g) => ({
              ...key(g),
              remove: from(g).filter((s) => !to(g).includes(s)),
              replicationFactor: groupReplicationFactor(ix, g),
            })),
          }),
        );
        for (const g of removable) {
          run.steps[g] = STEP.done;
          delete run.startedAt[g];
          ctx.state.bytesMovedTotal +=
            groupBytes(ix, g) * Math.max(0, to(g).filter((s) => !from(g).includes(s)).length);
          ctx.log('shard group moved', {
            shard: groupLabel(ix, g),
            from: from(g),
            to: to(g),
            direction: run.direction,
          });
        }
        sampleEta(ctx);
        ctx.onProgress();
      }
    };
    await ctx.concurrently([starting, finishing]);

    // 2. Wait until some copies are in sync (returns on the first, so freed slots refill quickly).
    const syncing = at(STEP.followerAdded);
    if (syncing.length) {
      const r = await ctx.step(`waitForShardInSync ×${syncing.length}`, () =>
        ctx.acts.waitForShardInSync({
          migrationId,
          arango,
          shards: syncing.map((g) => ({ ...key(g), servers: union(from(g), to(g)) })),
          mode: 'any',
          timeoutSeconds: SYNC_POLL_SECONDS,
        }),
      );
      for (const p of r.progress) run.copied[syncing[p.index]!] = p.bytesCopied;
      for (const i of r.inSync) {
        const g = syncing[i]!;
        run.steps[g] = STEP.inSync;
        delete run.copied[g];
      }
      if (r.stalled?.length) {
        // A planned server FAILED while Transit holds the shard lock (so supervision will not fail it over):
        // park, and let the operator fix the server (resume) or roll back.
        const first = r.stalled[0]!;
        ctx.state.lastError = `${r.stalled.length} shard group(s) cannot get in sync, e.g. ${groupLabel(ix, syncing[first.index]!)}: ${first.reason} — bring the server back and resume, or roll back`;
        ctx.state.pauseRequested = true;
      }
      checkSyncTimeouts(ctx, run, syncing);
      sampleEta(ctx);
      ctx.onProgress();
    }
  }
}

export function checkSyncTimeouts(
  ctx: Pick<EngineContext, 'state' | 'ix' | 'now'>,
  run: ShardRun,
  syncing: number[],
): void {
  const limitMs = ctx.state.spec.policy.timeouts.shardSyncSeconds * 1000;
  const late = syncing.filter(
    (g) => run.steps[g] === STEP.followerAdded && ctx.now() - (run.startedAt[g] ?? ctx.now()) > limitMs,
  );
  if (late.length) {
    // Not fatal: the copies stay safe; the operator decides (resume waits again, rollback undoes).
    ctx.state.lastError = `${late.length} shard group(s) not in sync after ${ctx.state.spec.policy.timeouts.shardSyncSeconds}s, e.g. ${groupLabel(ctx.ix, late[0]!)}: check the target DB servers' health and bandwidth`;
    ctx.state.pauseRequested = true;
    for (const g of late) run.startedAt[g] = ctx.now();
  }
}

export function sampleEta(ctx: Pick<EngineContext, 'state' | 'ix' | 'now'>): void {
  const run = ctx.state.shards!;
  let bytes = 0;
  let groups = 0;
  // Per collection (no binary search per group): this runs every loop iteration, 100,000 groups at scale.
  ctx.ix.plan.collections.forEach((col, c) =>
    col.shards.forEach((sh, i) => {
      const g = ctx.ix.offsets[c]! + i;
      const st = run.steps[g]!;
      if (st >= STEP.inSync) bytes += sh[2];
      else if (st === STEP.followerAdded) bytes += run.copied[g] ?? 0;
      if (st === STEP.done) groups++;
    }),
  );
  const xs = ctx.state.etaSamples;
  xs.push([ctx.now(), bytes, groups]);
  if (xs.length > ETA_SAMPLES) xs.splice(0, xs.length - ETA_SAMPLES);
  recordTimeline(ctx.state, ctx.now(), groups === run.steps.length);
}

export function union(a: string[], b: string[]): string[] {
  return [...a, ...b.filter((x) => !a.includes(x))];
}

export function sameServers(a: string[], b: string[]): boolean {
  return a.length === b.length && a[0] === b[0] && a.every((x) => b.includes(x));
}
