/**
 * The shard engine (runs with `engine: 'jobs'`): Transit decides, ArangoDB moves. For every shard group the
 * scheduler picks when it starts and where it goes; the group then converges to its desired servers through
 * ArangoDB's own MoveShard jobs, one at a time (a job locks the shard), computed afresh from the group's Plan
 * after each job (nextMove): first the leader (the new leader copies across regions once), then each follower
 * (copying from the new leader, inside the target region).
 *
 * Why jobs and not Plan writes under a lock of Transit's own: a MoveShard in Target/Pending is *abortable*, so
 * FailedLeader/FailedFollower abort it and fail over as if Transit were not there — with or without a live
 * Transit worker — and supervision's other jobs and collection creation wait for it exactly as they would for
 * `/_admin/cluster/moveShard`. A lock value that is not a job is never abortable: failover waits for it, then
 * times out for good (docs/architecture.md, "Shard engine"). After a failover, the job ends Failed; the group's
 * Plan is read again and the next move starts from the copies that are in sync there.
 *
 * One iteration batches each step over many groups (one activity per step, not per group). Between iterations
 * is the safe point (pause, rollback, abort, continue-as-new); every group is then in a state ArangoDB itself
 * produces: a Plan with replicationFactor in-sync copies, maybe plus a MoveShard job's new one.
 */
import type { ShardKey } from '../activities/agency-types';
import type { TransitActivities } from '../activities/contract';
import { ActivityFailure, inWorkflowContext, isCancellation, patched, TimeoutFailure } from '@temporalio/workflow';
import {
  LATENCY_COPIES_PATCH,
  LATENCY_SYNCED_PATCH,
  RAISE_TO_VERIFY_PATCH,
  RECORDED_CLOCK_PATCH,
  REFRESH_WAITING_PATCH,
  VERIFY_BEFORE_REMOVE_PATCH,
} from './patches';
import { engineBandwidth, observeShardMoves, schedulerInputs } from './bandwidth';
import {
  groupBytes,
  groupCollection,
  groupKey,
  groupLabel,
  groupReplicationFactor,
  groupServers,
  groupShardCount,
  type GroupIndex,
} from './plan';
import { latencyPerServer, pickNext } from './scheduler';
import { mergeRegionWindows, startEngineLatencyLoop, type LatencyLoop } from './latency';
import { checkSyncTimeouts, sameServers, sampleEta } from './shard-mover';
import { STEP, type GroupMove, type MigrationState, type RaisedCollection } from './state';

export interface JobEngineContext {
  state: MigrationState;
  acts: Pick<TransitActivities, 'submitShardMoves' | 'waitForShardMoves' | 'verifyShardCopies'> &
    /** The client-latency probes (policy.latency); an in-process engine without them runs without the loop. */
    Partial<Pick<TransitActivities, 'ensureLatencyCanary' | 'probeClientLatency' | 'removeLatencyCanary'>> &
    /** The temporary replicationFactor raise (policy.verifyReplicationFactorOne); without it rf-1 groups move unverified. */
    Partial<Pick<TransitActivities, 'changeReplicationFactor'>> &
    /** Re-reads the Plan of groups that wait on supervision (REFRESH_WAITING_PATCH); without it they keep their view. */
    Partial<Pick<TransitActivities, 'readShardServers'>> &
    /** Starts the engine's clock (RECORDED_CLOCK_PATCH); without it (an in-process engine) the clock starts at now(). */
    Partial<Pick<TransitActivities, 'readClock'>>;
  /**
   * probeClientLatency on one region's probe task queue (policy.latency.probeFrom "each-region"); without it (an
   * in-process engine) the probes run through `acts` from wherever this process sits.
   */
  probeRegion?: (region: string) => { taskQueue: string; probe: TransitActivities['probeClientLatency'] };
  ix: GroupIndex;
  /** Servers every group must end on (IDs, leader first). */
  desired: string[][];
  now(): number;
  /** A durable timer (workflow sleep). */
  sleep(ms: number): Promise<void>;
  safePoint(): Promise<void>;
  step<T>(what: string, fn: () => Promise<T>): Promise<T>;
  onProgress(): void;
  stopStarting(): boolean;
  log(msg: string, meta?: Record<string, unknown>): void;
  /**
   * Verify each group before its last source copy goes (and finish the copies in flight before a pause parks).
   * Default: on, except in workflow histories recorded before the patch VERIFY_PATCH.
   */
  verify?: boolean;
  /**
   * Verify replicationFactor-1 groups too, by raising their collection's replicationFactor while they move
   * (RAISE_TO_VERIFY_PATCH). Default: with `verify`, policy.verifyReplicationFactorOne and the activity, except in
   * workflow histories recorded before the patch.
   */
  raise?: boolean;
  /**
   * Decide on the recorded clock (EngineClock: readClock, waitForShardMoves' `at`, timers) rather than `now()`.
   * Default: on, except in workflow histories recorded before RECORDED_CLOCK_PATCH.
   */
  recordedClock?: boolean;
  /**
   * What the client-latency cap bounds (scheduler.ts `latencyCapCounts`). Default: 'copies', except in workflow
   * histories recorded before LATENCY_COPIES_PATCH ('moves').
   */
  latencyCapCounts?: 'moves' | 'copies';
  /**
   * With the cap on copies: a copy stops counting once its new copy is in sync (waitForShardMoves reports it).
   * Default: on, except in workflow histories recorded before LATENCY_SYNCED_PATCH.
   */
  copiesEndAtSync?: boolean;
}

/**
 * The time the engine decides by: when a lock gap, a back-off or a wait on supervision is over, when a group has
 * waited too long. `now()` never runs ahead of the real time, so every wait is at least as long as written.
 */
export interface EngineClock {
  now(): number;
  /** A durable timer; the clock then reads at least its start plus `ms`. */
  sleep(ms: number): Promise<void>;
  /** A time an activity read and its result recorded (ms since the epoch); the clock never goes back. */
  see(at: number | undefined): void;
}

/** Before RECORDED_CLOCK_PATCH: the workflow task's time (what runs recorded before it replay with). */
function taskClock(ctx: Pick<JobEngineContext, 'now' | 'sleep'>): EngineClock {
  return { now: () => ctx.now(), sleep: (ms) => ctx.sleep(ms), see: () => undefined };
}

/**
 * A clock made of values the workflow history records: where it starts (the readClock activity), the read time of
 * each waitForShardMoves result, the end of each timer (its start on this clock plus its length; timers running side
 * by side, the engine's and the latency loop's, do not add up). Every workflow task of a run and of its replay sees
 * the same values, whatever time the task itself carries. It lags the real time by the activities that record no
 * time (submit, verify, re-read): a lock gap or back-off started then lasts a little longer, never less.
 */
export function recordedClock(start: number, sleep: (ms: number) => Promise<void>): EngineClock {
  let t = start;
  const see = (at: number | undefined) => {
    if (at !== undefined && at > t) t = at;
  };
  return {
    now: () => t,
    see,
    sleep: async (ms) => {
      const from = t;
      await sleep(ms);
      see(from + ms);
    },
  };
}

/** The engine's clock for this run: recorded (RECORDED_CLOCK_PATCH) or, in runs recorded before it, the task's time. */
async function engineClock(ctx: JobEngineContext): Promise<EngineClock> {
  const recorded = ctx.recordedClock ?? (!inWorkflowContext() || patched(RECORDED_CLOCK_PATCH));
  if (!recorded) return taskClock(ctx);
  // Not through ctx.step: a step begins at a safe point, and a pause must first let the copies in flight finish.
  const start = ctx.acts.readClock ? (await ctx.acts.readClock({ migrationId: ctx.state.migrationId })).at : ctx.now();
  return recordedClock(start, (ms) => ctx.sleep(ms));
}

/**
 * Since this patch the engine brings the new leader in as a follower of the source leader first, compares the two
 * copies (verifyShardCopies) before leadership leaves the source, and lets the copies in flight finish (counting
 * their bytes) before a pause parks. Histories recorded before it replay the leader-first order without checks.
 */
export const VERIFY_PATCH = VERIFY_BEFORE_REMOVE_PATCH;
/**
 * replicationFactor-1 groups are verified as two-copy groups: the prototype's replicationFactor goes to this while its
 * groups move (supervision's enforceReplication adds a follower to every shard of it and its clones), then back.
 */
export const RAISED_REPLICATION_FACTOR = 2;
/** How long one changeReplicationFactor call waits for supervision (s), and calls in a row before parking. */
export const RAISE_WAIT_SECONDS = 60;
export const RAISE_WAITS = 5;
/** Comparisons per group before verification gives up ("did not agree") and parks. */
export const VERIFY_ATTEMPTS = 20;

/** How long one waitForShardMoves call may wait before the loop looks at controls again. */
const WAIT_SECONDS = 10;
/** Failed jobs in a row (each followed by a back-off) before the group parks the migration. */
export const MAX_JOB_FAILURES = 5;
const BACKOFF_MS = 3000;
/**
 * After a group's job ends, its next job waits this long: a collection creation with distributeShardsLike waits
 * for the prototype shard's lock to be free (ClusterInfo's precondition; the coordinator retries about every
 * second), and must get in between two jobs of the same group rather than wait for the whole group.
 */
export const LOCK_GAP_MS = 2000;
/** A group waiting on supervision (a copy too few or too many in Plan): its Plan is read again at most this often. */
export const WAITING_REFRESH_MS = 5000;
/** A group waiting on supervision this long parks the migration, naming the group and what it waits for. */
export const WAITING_PARK_MS = 10 * 60_000;
/** With nothing in flight but groups waiting (a server not GOOD, supervision busy): look again after this. */
const IDLE_MS = 2000;
/**
 * A leader FAILED for this long without ArangoDB failing it over (replicationFactor 1, or no follower in sync)
 * parks the migration: only bringing the server back helps. Supervision's own failover takes a round or two.
 */
export const LEADER_FAILED_PARK_MS = 30_000;
/** Verification times kept per run (for the figures shown: count, median, max). */
export const VERIFY_SAMPLES = 200;

export type NextMove =
  | { kind: 'done' }
  | { kind: 'wait'; reason: string }
  | { kind: 'move'; fromServer: string; toServer: string; isLeader: boolean; remainsFollower: boolean };

/**
 * The next MoveShard job that brings `current` (Plan, leader first) closer to `desired`: the leader first, then
 * followers pairwise. Pure. Supervision itself restores the number of copies (enforceReplication, FailedFollower),
 * so a group with fewer or more copies than desired waits for it instead of moving.
 */
export function nextMove(current: string[], desired: string[]): NextMove {
  if (sameServers(current, desired)) return { kind: 'done' };
  if (current.length < desired.length)
    return {
      kind: 'wait',
      reason: `${current.length} of ${desired.length} copies in Plan: waiting for supervision to add a follower`,
    };
  const leader = current[0]!;
  const want = desired[0]!;
  const removed = current.slice(1).filter((s) => !desired.includes(s));
  const added = desired.slice(1).filter((s) => !current.includes(s));
  if (leader !== want) {
    // A follower that is to lead takes over in place (remainsFollower is then required).
    if (current.includes(want))
      return { kind: 'move', fromServer: leader, toServer: want, isLeader: true, remainsFollower: true };
    // The new leader joins, syncs and takes over, and the old one leaves: one new copy, copied from the old
    // leader (across regions once; the followers then copy from the new leader).
    if (!desired.includes(leader))
      return { kind: 'move', fromServer: leader, toServer: want, isLeader: true, remainsFollower: false };
    // The old leader stays (as a follower): bring the new leader in as a follower first, then swap, so the
    // group never holds a copy more than a MoveShard job adds.
    if (removed.length)
      return { kind: 'move', fromServer: removed[0]!, toServer: want, isLeader: false, remainsFollower: false };
    return {
      kind: 'wait',
      reason: `no follower of ${JSON.stringify(current)} to make room for ${want}: waiting for supervision`,
    };
  }
  if (removed.length && added.length)
    return { kind: 'move', fromServer: removed[0]!, toServer: added[0]!, isLeader: false, remainsFollower: false };
  return {
    kind: 'wait',
    reason: `${current.length} copies in Plan for ${desired.length} desired: waiting for supervision to remove the extra follower`,
  };
}

export type VerifiedMove =
  | NextMove
  /** Compare `target`'s copy with `source`'s (both in Plan, in sync under the same leader) before moving on. */
  | { kind: 'verify'; source: string; target: string };

/**
 * nextMove with verification (patch VERIFY_PATCH). Two differences, both chosen by what ArangoDB guarantees:
 * - A MoveShard leader job switches leadership in the supervision round its new copy gets in sync: no moment to
 *   compare before clients are served by the new copy. So while the group still has a source follower, the desired
 *   leader first joins as a follower (a follower MoveShard that takes a source follower's place: the source leader
 *   stays, so it is never the last source copy), is compared with the source leader while that still leads, and
 *   only then takes over (a leader swap, remainsFollower) — the same single cross-region copy.
 * - Before the first move that switches leadership away from a source copy or removes the last source copy, the
 *   group must be verified (`verified`). The check compares a target copy in Plan with a source copy in Plan: the
 *   source leader when it still leads.
 * A group with no target copy before such a move (replicationFactor 1: the only copy moves in one job, in which
 * ArangoDB switches and removes) cannot be compared before the switch: the move is returned with `unverifiable`.
 */
export function nextMoveVerified(
  current: string[],
  desired: string[],
  verified: boolean,
  /**
   * Copies beyond `desired` the group may end with (a collection whose replicationFactor Transit raised: supervision
   * removes them when it is set back — RemoveFollower, never the leader). Such a group is done once its desired
   * servers are in Plan with the desired leader, and the extra copies may go: `verified`, or `extrasMayGo`.
   */
  extra = 0,
  extrasMayGo = false,
): VerifiedMove | (Extract<NextMove, { kind: 'move' }> & { unverifiable: true }) {
  if (sameServers(current, desired)) return { kind: 'done' };
  if (
    extra > 0 &&
    current[0] === desired[0] &&
    current.length <= desired.length + extra &&
    desired.every((s) => current.includes(s))
  ) {
    if (verified || extrasMayGo) return { kind: 'done' };
    return { kind: 'verify', source: current.find((s) => !desired.includes(s))!, target: desired[0]! };
  }
  if (current.length < desired.length) return nextMove(current, desired);
  const leader = current[0]!;
  const want = desired[0]!;
  const isSource = (s: string) => !desired.includes(s);
  const removed = current.slice(1).filter(isSource);
  let m: NextMove;
  if (leader !== want && !current.includes(want) && isSource(leader) && removed.length)
    m = { kind: 'move', fromServer: removed[0]!, toServer: want, isLeader: false, remainsFollower: false };
  else m = nextMove(current, desired);
  if (m.kind !== 'move' || verified) return m;
  const sources = current.filter(isSource);
  const switches = m.isLeader && isSource(m.fromServer);
  const removesLast = !m.remainsFollower && isSource(m.fromServer) && sources.length === 1;
  if (!switches && !removesLast) return m;
  const targets = current.filter((s) => !isSource(s));
  if (targets.length === 0) return { ...m, unverifiable: true };
  return {
    kind: 'verify',
    source: isSource(leader) ? leader : sources[0]!,
    target: targets.includes(want) ? want : targets[0]!,
  };
}

/** An activity's final failure (in a workflow: ActivityFailure, not a cancellation; elsewhere any Error). */
function activityFailed(e: unknown): boolean {
  return inWorkflowContext() ? e instanceof ActivityFailure && !isCancellation(e) : e instanceof Error;
}

/** New copies a group needs to go from `from` to `to`. */
function copiesNeeded(from: string[], to: string[]): number {
  return Math.max(1, to.filter((s) => !from.includes(s)).length);
}

/**
 * Runs until every group is done ('done') or, after an abort request, no group is moving any more ('stopped').
 * With policy.latency (patch 'latency-cap', src/workflows/latency.ts) the client-latency loop runs beside it: its
 * cap joins the one decision point (moves in flight = min(ceiling, cap, the scheduler's choice)); the canary it
 * probes is removed when the engine returns (it is not in the run's plan, so nothing moves it off the source).
 */
export async function runJobEngine(ctx: JobEngineContext): Promise<'done' | 'stopped'> {
  const ref = { migrationId: ctx.state.migrationId, spec: ctx.state.spec };
  const { ensureLatencyCanary, probeClientLatency, removeLatencyCanary } = ctx.acts;
  const clock = await engineClock(ctx);
  if (!ensureLatencyCanary || !probeClientLatency || !removeLatencyCanary) return runJobEngineLoop(ctx, null, clock);
  // policy.latency.probeFrom "each-region": a probe worker in the source and in the target region (a new spec field:
  // no migration started before it has it, so no patch is needed — their histories take the single-queue path).
  const sp = ctx.state.spec;
  const eachRegion =
    sp.policy.latency?.probeFrom === 'each-region' && ctx.probeRegion
      ? [...new Set([sp.source.region, sp.target.region])]
      : null;
  const lat = await startEngineLatencyLoop({
    objective: ctx.state.spec.policy.latency,
    ceiling: () => ctx.state.concurrency,
    now: () => clock.now(),
    sleep: (ms) => clock.sleep(ms),
    status: { get: () => ctx.state.clientLatency, set: (s) => void (ctx.state.clientLatency = s) },
    acts: {
      ensureLatencyCanary: () => ctx.step('ensureLatencyCanary', () => ensureLatencyCanary(ref)),
      probeClientLatency: (a) =>
        eachRegion ? probeEachRegion(ctx, eachRegion, { ...ref, ...a }) : probeClientLatency({ ...ref, ...a }),
    },
    park: (message) => {
      ctx.state.lastError = message;
      ctx.state.pauseRequested = true;
    },
    onProgress: () => ctx.onProgress(),
    log: (msg, meta) => ctx.log(msg, meta),
  });
  if (!lat) return runJobEngineLoop(ctx, null, clock);
  let result: 'done' | 'stopped';
  try {
    result = await runJobEngineLoop(ctx, lat, clock);
  } finally {
    lat.stop();
  }
  await lat.ended();
  // A canary in the plan (patch 'canary-moves') stays until the migration ends; before it, each run dropped its own.
  if (ctx.state.canaryInPlan) return result;
  await ctx.step('removeLatencyCanary', () => removeLatencyCanary(ref));
  // The controller's state stays (a later engine run, e.g. the reconverge, goes on from it); the canary is gone.
  if (ctx.state.clientLatency) ctx.state.clientLatency = { ...ctx.state.clientLatency, canaryKeys: [] };
  return result;
}

/** One window from each region's probe worker, merged (the worst region decides; mergeRegionWindows). */
async function probeEachRegion(
  ctx: JobEngineContext,
  regions: string[],
  a: Parameters<TransitActivities['probeClientLatency']>[0],
): Promise<ReturnType<typeof mergeRegionWindows>> {
  const parts = await Promise.all(
    regions.map(async (region) => {
      const { taskQueue, probe } = ctx.probeRegion!(region);
      try {
        return { region, window: await probe(a) };
      } catch (e) {
        if (isCancellation(e)) throw e;
        const cause = e instanceof ActivityFailure ? e.cause : undefined;
        const why = cause?.message ?? (e as Error).message;
        return {
          region,
          problem:
            cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START'
              ? `no probe worker answered on task queue ${taskQueue} (run \`transit worker --region ${region}\` there)`
              : `the probe window failed: ${why}`,
        };
      }
    }),
  );
  return mergeRegionWindows(parts);
}

async function runJobEngineLoop(
  ctx: JobEngineContext,
  lat: LatencyLoop | null,
  clock: EngineClock,
): Promise<'done' | 'stopped'> {
  const run = ctx.state.shards!;
  const moving = (run.moving ??= {});
  const { ix } = ctx;
  // What the latency cap bounds: the moves still copying (LATENCY_COPIES_PATCH), or every move in flight.
  const latencyCapCounts: 'moves' | 'copies' = !lat
    ? 'moves'
    : (ctx.latencyCapCounts ?? (!inWorkflowContext() || patched(LATENCY_COPIES_PATCH) ? 'copies' : 'moves'));
  if (lat) run.latencyCapOn = latencyCapCounts; // progress and status name what the cap bounds (state only)
  // A copy counts until its new copy is in sync (LATENCY_SYNCED_PATCH), or until its job ends.
  const endAtSync =
    latencyCapCounts === 'copies' && (ctx.copiesEndAtSync ?? (!inWorkflowContext() || patched(LATENCY_SYNCED_PATCH)));
  const arango = { endpoint: ctx.state.spec.arango.endpoint, jwtSecret: ctx.state.spec.arango.jwtSecret };
  const migrationId = ctx.state.migrationId;
  const key = (g: number): ShardKey => groupKey(ix, g);
  // The temporary replicationFactor raise (patch RAISE_TO_VERIFY_PATCH): collections raised and not yet restored.
  // Set below, after the verify patch is asked for (the order of patched() calls stays as recorded histories have it).
  let raising: RaisedCollection[] | null = null;
  const colOf = (c: number) => ix.plan.collections[c]!;
  const raisedOfColl = (c: number) =>
    raising?.find((r) => r.database === colOf(c).database && r.collectionId === colOf(c).collectionId);
  const raisedOf = (g: number) => (raising?.length ? raisedOfColl(groupCollection(ix, g)) : undefined);
  /** Collections whose factor someone else changed meanwhile: their rf-1 groups move unverified (as before). */
  const noRaise = new Set<number>();
  // A raised group ends with its original number of copies; supervision removes the extra one.
  const to = (g: number) => {
    const r = raisedOf(g);
    return r ? ctx.desired[g]!.slice(0, r.original) : ctx.desired[g]!;
  };
  const servers = (g: number) => moving[g]?.servers ?? run.planned?.[g] ?? groupServers(ix, g);
  const at = (st: number) => {
    const out: number[] = [];
    for (let g = 0; g < run.steps.length; g++) if (run.steps[g] === st) out.push(g);
    return out;
  };
  // ---- The client-latency cap on copies (LATENCY_COPIES_PATCH): what loads a DB server's links and its clients' queue
  // is a copy job in flight (a MoveShard job that adds a server; a leader swap copies nothing), not a group between
  // jobs or waiting for its leader switch.
  const copyJobInFlight = (g: number) => !!moving[g]?.job && !moving[g]!.swap && !(endAtSync && moving[g]!.synced);
  /** Counted against the cap when new groups are picked: a copy job in flight, or a group due for its next job. */
  const copyingOrReady = (g: number) =>
    copyJobInFlight(g) || (!!moving[g] && moving[g]!.job === null && (moving[g]!.notBefore ?? 0) <= clock.now());
  /**
   * Keeps the copy jobs in flight within the latency cap, each server within its share of it (a copy loads its
   * sender, the shard's leader, and its receiver): copies over it stay unsubmitted this round (the group keeps its
   * place and says why). In-flight groups come first in `submit`, so they finish before new groups take the room.
   */
  const holdCopiesOverCap = (submit: { g: number; m: Extract<NextMove, { kind: 'move' }> }[], cap: number) => {
    const perServer = latencyPerServer({ latencyCap: cap, latencyCapCounts: 'copies' }, ix.plan.servers.length, 1);
    const flows = new Map<string, number>();
    const add = (s: string) => flows.set(s, (flows.get(s) ?? 0) + 1);
    let copying = 0;
    for (const g of at(STEP.followerAdded))
      if (copyJobInFlight(g)) {
        copying += 1;
        add(servers(g)[0]!);
        add(moving[g]!.to);
      }
    const kept = submit.filter(({ g, m }) => {
      if (servers(g).includes(m.toServer)) return true; // a swap: no copy
      const sender = servers(g)[0]!;
      const full = [sender, m.toServer].find((s) => (flows.get(s) ?? 0) >= perServer);
      if (copying < cap && !full) {
        copying += 1;
        add(sender);
        add(m.toServer);
        return true;
      }
      run.startedAt[g] = clock.now(); // shardSyncSeconds counts from the job's submission, not from waiting for room
      moving[g]!.reason =
        copying >= cap
          ? `client latency: ${copying} copies in flight, the cap is ${cap}`
          : `client latency: ${full} carries ${flows.get(full!)} copies, its share of the cap ${cap} is ${perServer}`;
      return false;
    });
    submit.splice(0, submit.length, ...kept);
  };

  const finish = (g: number) => {
    const m = moving[g];
    run.steps[g] = STEP.done;
    ctx.state.bytesMovedTotal += groupBytes(ix, g) * (m?.done ?? 0);
    delete moving[g];
    delete run.copied[g];
    delete run.startedAt[g];
    ctx.log('shard group moved', {
      shard: groupLabel(ix, g),
      from: groupServers(ix, g),
      to: to(g),
      jobs: m?.done ?? 0,
      direction: run.direction,
    });
  };
  const park = (message: string) => {
    ctx.state.lastError = message;
    ctx.state.pauseRequested = true;
  };
  // Bandwidth learned online (bandwidth.ts; null in runs recorded before patch 'bandwidth-estimate').
  const bw = engineBandwidth(ctx.state.spec.policy.bandwidthBytesPerSecond);
  const verify = ctx.verify ?? (!inWorkflowContext() || patched(VERIFY_PATCH));
  const raiseOn =
    ctx.raise ??
    (verify &&
      ctx.state.spec.policy.verifyReplicationFactorOne !== false &&
      !!ctx.acts.changeReplicationFactor &&
      (!inWorkflowContext() || patched(RAISE_TO_VERIFY_PATCH)));
  if (raiseOn) raising = ctx.state.raisedReplication ??= [];
  // Groups waiting on supervision see its changes (patch REFRESH_WAITING_PATCH; asked after the others, in this order).
  const refreshWaiting = !!ctx.acts.readShardServers && (!inWorkflowContext() || patched(REFRESH_WAITING_PATCH));
  let lastRefresh = -Infinity;
  let drainFailed = false;
  const checks = (run.verification ??= { verifiedGroups: 0, verifiedShards: 0, unverifiedShards: 0, ms: [] });

  // ---- The temporary replicationFactor raise (RAISE_TO_VERIFY_PATCH): the workflow decides, the activity acts.
  const collIndex = (r: RaisedCollection) =>
    ix.plan.collections.findIndex((c) => c.database === r.database && c.collectionId === r.collectionId);
  const groupsOfColl = (c: number) => Array.from({ length: colOf(c).shards.length }, (_, i) => ix.offsets[c]! + i);
  const collBytes = (c: number) => (c < 0 ? 0 : groupsOfColl(c).reduce((n, g) => n + groupBytes(ix, g), 0));
  const collLabel = (r: RaisedCollection) => `${r.database}/${r.name}`;
  const changeFactor = (xs: RaisedCollection[], restore: boolean) =>
    ctx.step(`changeReplicationFactor ×${xs.length}`, () =>
      ctx.acts.changeReplicationFactor!({
        migrationId,
        arango,
        changes: xs.map((x) => ({
          database: x.database,
          collectionId: x.collectionId,
          name: x.name,
          from: restore ? x.raised : x.original,
          to: restore ? x.original : x.raised,
        })),
        timeoutSeconds: RAISE_WAIT_SECONDS,
      }),
    );
  /** A supervision that does not get there within the bound parks the migration, saying what to check. */
  const waited = (x: RaisedCollection, detail: string | undefined, restore: boolean) => {
    x.waits += 1;
    if (x.waits < RAISE_WAITS) return;
    x.waits = 0;
    park(
      restore
        ? `collection ${collLabel(x)}: Transit set its replicationFactor back to ${x.original} (raised to ${x.raised} to verify its shards) and supervision has not removed the extra copies within ${RAISE_WAITS * RAISE_WAIT_SECONDS} s (${detail ?? 'no detail'}) — check that supervision runs (no maintenance mode) and that no shard of it is locked, then resume`
        : `collection ${collLabel(x)}: Transit raised its replicationFactor from ${x.original} to ${x.raised} to verify its shards before their only source copy goes, and supervision has not added the second copies within ${RAISE_WAITS * RAISE_WAIT_SECONDS} s (${detail ?? 'no detail'}) — check that supervision runs (no maintenance mode) and that a DB server is GOOD and holds no copy of those shards, then resume; or roll back, or set policy.verifyReplicationFactorOne to false`,
    );
  };
  /** A group whose only copy would move in one job: its collection must be raised first. */
  const needsRaise = (g: number) =>
    groupReplicationFactor(ix, g) === 1 &&
    !raisedOf(g) &&
    !noRaise.has(groupCollection(ix, g)) &&
    servers(g).length === 1 &&
    !sameServers(servers(g), to(g));
  /**
   * Raises the collections of the groups about to start that need it — a bounded number at a time: each raise copies
   * every shard of the collection and its clones at once (supervision's AddFollower), so the groups of collections
   * raised and not yet restored stay within the moves allowed in flight (at least one collection). Returns the groups
   * that may start now: not those of a collection still waiting for its second copies, or over the bound.
   */
  const raiseFor = async (start: number[]): Promise<number[]> => {
    const rs = raising!;
    const want = [...new Set(start.filter(needsRaise).map((g) => groupCollection(ix, g)))];
    let used = rs.reduce((n, r) => n + (collIndex(r) >= 0 ? colOf(collIndex(r)).shards.length : 0), 0);
    for (const c of want) {
      const n = colOf(c).shards.length;
      if (rs.length > 0 && used + n > Math.max(1, ctx.state.concurrency)) continue;
      used += n;
      const col = colOf(c);
      // Recorded before it is asked for: a new run (continue-as-new, rollback, abort) finds it and restores it.
      rs.push({
        database: col.database,
        collectionId: col.collectionId,
        name: col.name,
        original: col.replicationFactor,
        raised: RAISED_REPLICATION_FACTOR,
        phase: 'raising',
        waits: 0,
      });
      checks.extraBytes = (checks.extraBytes ?? 0) + collBytes(c);
      ctx.log('raising replicationFactor to verify replicationFactor-1 shards before their only source copy goes', {
        collection: `${col.database}/${col.name}`,
        from: col.replicationFactor,
        to: RAISED_REPLICATION_FACTOR,
        shards: n * (1 + col.clones.length),
        extraCopyBytes: collBytes(c),
      });
    }
    const open = rs.filter((r) => r.phase === 'raising');
    if (open.length) {
      const r = await changeFactor(open, false);
      for (const res of r.results) {
        const x = open[res.index]!;
        const c = collIndex(x);
        if (res.result === 'done') {
          x.phase = 'raised';
          x.waits = 0;
          checks.extraBytesDone = (checks.extraBytesDone ?? 0) + collBytes(c);
          ctx.state.bytesMovedTotal += collBytes(c);
          if (c >= 0)
            for (const [i, g] of groupsOfColl(c).entries())
              if (run.steps[g] === STEP.pending && res.servers[i]?.length) (run.planned ??= {})[g] = res.servers[i]!;
          ctx.log('replicationFactor raised: every shard has a second copy in sync', {
            collection: collLabel(x),
            replicationFactor: x.raised,
          });
        } else if (res.result === 'changed') {
          rs.splice(rs.indexOf(x), 1);
          if (c >= 0) noRaise.add(c);
          ctx.log('replicationFactor changed by someone else; its replicationFactor-1 groups move unverified', {
            collection: collLabel(x),
            detail: res.detail,
          });
        } else waited(x, res.detail, false);
      }
      ctx.onProgress();
    }
    return start.filter((g) => {
      if (needsRaise(g)) return false; // over the bound: a later iteration
      const x = raisedOf(g);
      return !x || x.phase === 'raised';
    });
  };
  /**
   * Sets the factor back for raised collections none of whose groups still moves (all of them when stopping: an
   * abort), and waits for supervision to remove the extra copies: RemoveFollower takes them from the end of Plan,
   * never the leader — the verified target copy once the group is done.
   */
  const restoreFinished = async (pending: number[], active: number[]): Promise<void> => {
    const rs = raising!;
    const busy = new Set<number>(active.map((g) => groupCollection(ix, g)));
    if (!ctx.stopStarting()) for (const g of pending) busy.add(groupCollection(ix, g));
    const due = rs.filter((x) => !busy.has(collIndex(x)));
    if (!due.length) return;
    const r = await changeFactor(due, true);
    for (const res of r.results) {
      const x = due[res.index]!;
      if (res.result === 'waiting') {
        x.phase = 'restoring';
        waited(x, res.detail, true);
        continue;
      }
      rs.splice(rs.indexOf(x), 1);
      ctx.log(
        res.result === 'done'
          ? 'replicationFactor restored: the extra copies are gone'
          : 'replicationFactor changed by someone else meanwhile; left as it is',
        { collection: collLabel(x), replicationFactor: res.replicationFactor, detail: res.detail },
      );
    }
    ctx.onProgress();
  };

  for (;;) {
    // A pause (or a parking error) lets the copies in flight finish first, counting their bytes: nothing new starts
    // meanwhile; rollback and abort are not held up (they cancel or wait for the jobs themselves).
    const inFlight = at(STEP.followerAdded).filter((g) => moving[g]?.job);
    const draining =
      verify &&
      !drainFailed &&
      ctx.state.pauseRequested &&
      !ctx.state.rollbackRequested &&
      !ctx.state.abortRequested &&
      inFlight.length > 0;
    if (verify && (run.finishing ?? 0) !== (draining ? inFlight.length : 0)) {
      run.finishing = draining ? inFlight.length : 0;
      ctx.onProgress();
    }
    if (!draining) {
      await ctx.safePoint();
      drainFailed = false;
    }
    const pending = at(STEP.pending);
    const active = at(STEP.followerAdded);
    if (raising?.length && !draining) await restoreFinished(pending, active);
    if (active.length === 0 && (pending.length === 0 || ctx.stopStarting())) {
      // Not before every raised factor is back (a restore still waiting for supervision goes round again).
      if (raising?.length) continue;
      return pending.length === 0 ? 'done' : 'stopped';
    }

    // 1. New groups start (the scheduler: which, within the concurrency limit); idle moving groups get their next job.
    let start =
      ctx.stopStarting() || draining
        ? []
        : pickNext({
            ix,
            desired: to,
            current: servers,
            pending,
            inFlight: active,
            limit: ctx.state.concurrency,
            ...(lat ? { latencyCap: lat.cap, latencyCapCounts } : {}),
            bandwidth: ctx.state.spec.policy.bandwidthBytesPerSecond,
            remaining:
              lat && latencyCapCounts === 'copies'
                ? (g) => (copyingOrReady(g) ? Math.max(1, groupBytes(ix, g) - (run.copied[g] ?? 0)) : 0)
                : (g) => groupBytes(ix, g) - (run.copied[g] ?? 0),
            ...(bw ? schedulerInputs(bw) : {}),
          });
    if (raising && start.length) start = await raiseFor(start);
    const t = clock.now();
    for (const g of start) {
      const from = servers(g);
      if (run.planned) delete run.planned[g];
      run.steps[g] = STEP.followerAdded;
      run.startedAt[g] = t;
      moving[g] = {
        job: null,
        from: '',
        to: '',
        leader: false,
        servers: from,
        done: 0,
        total: copiesNeeded(from, to(g)),
        failures: 0,
      };
    }
    const idle = draining
      ? []
      : [...active, ...start].filter((g) => moving[g] && moving[g]!.job === null && (moving[g]!.notBefore ?? 0) <= t);
    const submit: { g: number; m: Extract<NextMove, { kind: 'move' }> }[] = [];
    const toVerify: { g: number; source: string; target: string }[] = [];
    const waiting: number[] = [];
    for (const g of idle) {
      const x = raisedOf(g);
      // A raised group whose leader never moved (e.g. a rollback of one that had not switched) drops its extra copy
      // unverified: it was never the copy clients were served from.
      const n = verify
        ? nextMoveVerified(
            servers(g),
            to(g),
            !!moving[g]!.verified,
            x ? x.raised - x.original : 0,
            servers(g)[0] === groupServers(ix, g)[0],
          )
        : nextMove(servers(g), to(g));
      if (refreshWaiting && n.kind !== 'wait') delete moving[g]!.waitingSince;
      if (n.kind === 'done') finish(g);
      else if (n.kind === 'wait') {
        moving[g]!.reason = n.reason;
        if (refreshWaiting) {
          moving[g]!.waitingSince ??= clock.now();
          waiting.push(g);
        }
      } else if (n.kind === 'verify') toVerify.push({ g, source: n.source, target: n.target });
      else {
        if ('unverifiable' in n && !moving[g]!.verified) {
          // replicationFactor 1 (no target copy before the move): ArangoDB's MoveShard switches and removes the only
          // source copy in one job. Counted and shown as not verified; never reported as verified.
          moving[g]!.verified = 'unverifiable';
          checks.unverifiedShards += groupShardCount(ix, g);
          ctx.log('shard group cannot be verified before its source copy goes', {
            shard: groupLabel(ix, g),
            servers: servers(g),
            reason: 'no target copy before the move (replicationFactor 1): one MoveShard job switches and removes',
          });
        }
        submit.push({ g, m: n });
      }
    }
    // Groups that wait on supervision: read their Plan again (supervision may have added or removed the copy they wait
    // for; without this they would wait for ever with nothing in flight), and park one that waits too long.
    if (waiting.length && clock.now() - lastRefresh >= WAITING_REFRESH_MS) {
      lastRefresh = clock.now();
      const r = await ctx.step(`readShardServers ×${waiting.length}`, () =>
        ctx.acts.readShardServers!({ migrationId, arango, shards: waiting.map(key) }),
      );
      waiting.forEach((g, i) => {
        const now = r.servers[i];
        if (now?.length && !sameServers(now, servers(g))) moving[g]!.servers = now;
      });
      for (const g of waiting) {
        const mv = moving[g]!;
        if (mv.waitingSince !== undefined && clock.now() - mv.waitingSince > WAITING_PARK_MS) {
          delete mv.waitingSince;
          park(
            `shard group ${groupLabel(ix, g)}: ${mv.reason ?? 'waiting on supervision'} for more than ${WAITING_PARK_MS / 60_000} min — check that supervision runs (no maintenance mode) and that enough DB servers are GOOD, then resume, or roll back`,
          );
        }
      }
    }
    if (toVerify.length) {
      const r = await ctx.step(`verifyShardCopies ×${toVerify.length}`, () =>
        ctx.acts.verifyShardCopies({
          migrationId,
          arango,
          checks: toVerify.map(({ g, source, target }) => ({ ...key(g), source, target })),
          attempts: VERIFY_ATTEMPTS,
        }),
      );
      for (const res of r.results) {
        const { g, source, target } = toVerify[res.index]!;
        const mv = moving[g]!;
        const shard = groupLabel(ix, g);
        if (res.result === 'match') {
          mv.verified = { ms: res.ms, attempts: res.attempts, documents: res.documents, source, target };
          checks.verifiedGroups += 1;
          checks.verifiedShards += groupShardCount(ix, g);
          checks.ms.push(res.ms);
          if (checks.ms.length > VERIFY_SAMPLES) checks.ms.splice(0, checks.ms.length - VERIFY_SAMPLES);
          ctx.log('shard group verified', {
            shard,
            source,
            target,
            documents: res.documents,
            attempts: res.attempts,
            ms: res.ms,
          });
          // Its next move goes out in this iteration.
          const x = raisedOf(g);
          const n = nextMoveVerified(servers(g), to(g), true, x ? x.raised - x.original : 0);
          if (n.kind === 'move') submit.push({ g, m: n });
        } else if (res.result === 'planChanged') {
          mv.reason = `verification: ${res.detail ?? 'Plan changed'}`;
          mv.notBefore = clock.now() + LOCK_GAP_MS;
          // Plan from what is there now (an operator's cleanOutServer, a failover): without it the engine asked for
          // the same stale comparison forever. Results recorded before this field existed carry none, so a replay
          // issues the same commands as the run did.
          if (res.servers?.length) mv.servers = res.servers;
        } else {
          mv.reason = `verification ${res.result}: ${res.detail ?? ''}`;
          mv.notBefore = clock.now() + BACKOFF_MS;
          park(
            res.result === 'mismatch'
              ? `shard group ${shard}: the target copy on ${target} differs from the source copy on ${source} — ${res.detail} — the source copy is kept; find the cause, then resume (compares again) or roll back`
              : `shard group ${shard}: the copies on ${source} and ${target} ${res.detail} — the source copy is kept; resume compares again, or roll back`,
          );
        }
      }
      ctx.onProgress();
    }
    if (lat && latencyCapCounts === 'copies' && submit.length) holdCopiesOverCap(submit, lat.cap);
    if (submit.length) {
      const r = await ctx.step(`submitShardMoves ×${submit.length}`, () =>
        ctx.acts.submitShardMoves({
          migrationId,
          arango,
          moves: submit.map(({ g, m }) => ({ ...key(g), expected: servers(g), ...m })),
        }),
      );
      for (const res of r.results) {
        const { g, m } = submit[res.index]!;
        const mv = moving[g]!;
        if (res.result !== 'waiting') delete mv.leaderFailedSince;
        if (res.result === 'submitted')
          Object.assign(mv, {
            job: res.jobId,
            from: m.fromServer,
            to: m.toServer,
            leader: m.isLeader,
            reason: undefined,
            synced: undefined,
            // A leader swap to a follower copies nothing: it does not count as one of the group's copies.
            ...(verify ? { swap: servers(g).includes(m.toServer) } : {}),
          });
        else if (res.result === 'planChanged') mv.servers = res.servers;
        else {
          mv.reason = `waiting: ${res.health}`;
          const leader = servers(g)[0]!;
          if (res.failed?.includes(m.toServer)) {
            park(
              `shard group ${groupLabel(ix, g)}: target DB server ${m.toServer} is FAILED — bring it back and resume, or roll back`,
            );
          } else if (res.failed?.includes(leader)) {
            mv.leaderFailedSince ??= clock.now();
            if (clock.now() - mv.leaderFailedSince > LEADER_FAILED_PARK_MS) {
              delete mv.leaderFailedSince;
              park(
                `shard group ${groupLabel(ix, g)}: its leader ${leader} is FAILED and ArangoDB has not failed it over (no in-sync follower, e.g. replicationFactor 1) — bring ${leader} back and resume, or roll back`,
              );
            }
          } else delete mv.leaderFailedSince;
        }
      }
      ctx.onProgress();
    }

    // 2. Wait until a job ends (returns on the first, so the group's next job, or a new group, starts quickly).
    const withJob = at(STEP.followerAdded).filter((g) => moving[g]?.job);
    if (withJob.length) {
      const wait = () =>
        ctx.acts.waitForShardMoves({
          migrationId,
          arango,
          jobs: withJob.map((g) => ({
            ...key(g),
            jobId: moving[g]!.job!,
            // Under the cap on copies the wait also reports (and returns on) a new copy in sync.
            ...(endAtSync && !moving[g]!.swap ? { toServer: moving[g]!.to, synced: !!moving[g]!.synced } : {}),
          })),
          mode: 'any',
          timeoutSeconds: WAIT_SECONDS,
        });
      let r: Awaited<ReturnType<typeof wait>>;
      if (draining) {
        // Not through ctx.step: a step begins at a safe point, which would park now. A wait that fails for good ends
        // the draining (the pause then parks at once; resume waits again).
        try {
          r = await wait();
        } catch (e) {
          if (!activityFailed(e)) throw e;
          drainFailed = true;
          continue;
        }
      } else r = await ctx.step(`waitForShardMoves ×${withJob.length}`, wait);
      clock.see(r.at);
      if (bw) {
        const copies = withJob.map((g) => ({ id: moving[g]!.job!, sender: servers(g)[0]!, receiver: moving[g]!.to }));
        // A leader swap (verification order) copies nothing: it is no sample of any link.
        const swaps = withJob.flatMap((g, index) => (moving[g]!.swap ? [{ index }] : []));
        observeShardMoves(
          bw,
          // The activity's read time (recorded in the result), not the workflow task's: see WaitForShardMovesResult.at.
          r.at ?? clock.now(),
          copies.map((c, i) => ({ ...c, total: groupBytes(ix, withJob[i]!) })),
          swaps.length ? { ...r, queued: [...r.queued, ...swaps] } : r,
        );
      }
      for (const p of r.progress) {
        const g = withJob[p.index]!;
        const mv = moving[g]!;
        const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesCopied / p.bytesTotal) : 0;
        run.copied[g] = Math.round((groupBytes(ix, g) * (mv.done + frac)) / mv.total);
      }
      for (const q of r.queued) moving[withJob[q.index]!]!.reason = q.reason;
      if (endAtSync)
        for (const i of r.synced ?? []) {
          const g = withJob[i]!;
          const mv = moving[g]!;
          mv.synced = true;
          run.copied[g] = Math.round((groupBytes(ix, g) * Math.min(mv.total, mv.done + 1)) / mv.total);
        }
      for (const e of r.ended) {
        const g = withJob[e.index]!;
        const mv = moving[g]!;
        const job = mv.job;
        mv.job = null;
        delete mv.synced;
        if (e.servers.length) mv.servers = e.servers;
        // A job that vanished from every list counts as done when Plan shows its effect.
        const effective =
          e.status === 'finished' ||
          (e.status === 'gone' &&
            mv.servers.includes(mv.to) &&
            (mv.swap ? mv.servers[0] === mv.to : !mv.servers.includes(mv.from)));
        if (effective) {
          if (!mv.swap) mv.done = Math.min(mv.total, mv.done + 1);
          mv.failures = 0;
          run.copied[g] = Math.round((groupBytes(ix, g) * mv.done) / mv.total);
          run.startedAt[g] = clock.now(); // timeouts.shardSyncSeconds applies to each job
          mv.notBefore = clock.now() + LOCK_GAP_MS;
          continue;
        }
        mv.failures += 1;
        mv.reason = `MoveShard job ${job} ${e.status}${e.reason ? `: ${e.reason}` : ''}`;
        mv.notBefore = clock.now() + BACKOFF_MS * mv.failures;
        ctx.log('MoveShard job did not finish; re-planning the group from Plan', {
          shard: groupLabel(ix, g),
          job,
          status: e.status,
          reason: e.reason,
          servers: mv.servers,
        });
        if (mv.failures >= MAX_JOB_FAILURES) {
          mv.failures = 0;
          park(
            `shard group ${groupLabel(ix, g)}: ${MAX_JOB_FAILURES} MoveShard jobs in a row did not finish, the last: ${mv.reason} — fix the cause and resume, or roll back`,
          );
        }
      }
      for (const g of withJob)
        if (moving[g] && moving[g]!.job === null && sameServers(moving[g]!.servers, to(g))) finish(g);
    } else if (idle.length || active.length) {
      await clock.sleep(IDLE_MS);
    }
    checkSyncTimeouts({ state: ctx.state, ix, now: () => clock.now() }, run, at(STEP.followerAdded));
    sampleEta(ctx);
    ctx.onProgress();
  }
}

/** Job ids of a run's groups that have a job in flight (rollback cancels them first). */
export function jobsInFlight(moving: Record<number, GroupMove> | undefined): { group: number; jobId: string }[] {
  return Object.entries(moving ?? {})
    .filter(([, m]) => m.job)
    .map(([g, m]) => ({ group: Number(g), jobId: m.job! }));
}
