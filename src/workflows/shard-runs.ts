/**
 * Shard runs: the MoveShards phase, the re-convergence before the DNS cutover and Decommission, and the way back
 * in a rollback. Each run starts from a fresh Plan read; the engine it was started with (job-engine.ts since the
 * moveshard-jobs patch, shard-mover.ts before) converges every group to the servers chosen for it.
 */
import { ActivityFailure, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { ShardPlan } from '../activities/contract';
import { workflowNow } from './clock';
import { probe } from './checks';
import { AbortRequested, type MigrationContext } from './context';
import { jobsInFlight, runJobEngine } from './job-engine';
import { MOVESHARD_JOBS_PATCH, RECONVERGE_PATCH } from './patches';
import { groupKey, groupServers, indexPlan, type GroupIndex } from './plan';
import { assignTargets } from './scheduler';
import { newShardRun, runShardEngine } from './shard-mover';
import { runPlan } from './state';

/** Move every shard group to the target; repeat on a fresh Plan until nothing is left (collections may be created meanwhile). */
export async function moveShards(m: MigrationContext): Promise<void> {
  await moveShardsToTarget(m);
  await m.step('verifyConvergence', () =>
    m.a.verifyConvergence({ arango: m.arango(), mustNotHold: m.sourceServerIds() }),
  );
  await probe(m, 'MoveShards');
}

/** Runs the shard engine on fresh Plan reads until no group is left to move (returns at once when none is). */
async function moveShardsToTarget(m: MigrationContext): Promise<void> {
  for (;;) {
    if (!m.s.shards || m.s.shards.direction !== 'forward' || allDone(m)) {
      const fresh = await m.step('readShardPlan', () =>
        m.a.readShardPlan({ migrationId: m.s.migrationId, arango: m.arango() }),
      );
      const ix = indexPlan(fresh);
      const run = newShardRun('forward', ix, desiredFor(m, 'forward', ix), samePlan(fresh, m.s.plan));
      if (m.s.shards && run.steps.every((x) => x === 4)) break;
      if (patched(MOVESHARD_JOBS_PATCH)) run.engine = 'jobs';
      m.s.shards = run;
    }
    const r = await runEngine(m);
    if (r === 'stopped') throw new AbortRequested();
    await m.safePoint();
  }
}

/**
 * After MoveShards, ArangoDB may fail shards back to source copies (a target server failed: e.g. the bridge was
 * down long enough). Before the DNS cutover and before Decommission, every group must be on the target again:
 * move what came back, then verify; when the check keeps failing, park with its message — resume moves and
 * checks again (not only the check).
 */
export async function reconverge(m: MigrationContext): Promise<void> {
  if (!patched(RECONVERGE_PATCH)) return;
  for (let attempt = 1; ; attempt++) {
    await moveShardsToTarget(m);
    try {
      await m.a.verifyConvergence({ arango: m.arango(), mustNotHold: m.sourceServerIds() });
      return;
    } catch (e) {
      if (isCancellation(e) || !(e instanceof ActivityFailure)) throw e;
      const message = e.cause?.message ?? e.message;
      log.warn('shards not converged on the target; moving again', {
        migrationId: m.s.migrationId,
        phase: m.s.phase,
        attempt,
        error: message,
      });
      if (attempt % 3 === 0) {
        m.s.lastError = `verifyConvergence: ${message} — fix the cause and resume (Transit then moves what is left again), or roll back`;
        m.s.pauseRequested = true;
        await m.safePoint();
      } else await sleep('10s');
    }
  }
}

/** Rollback: every group back on the source (where it started when known), then verified off the target. */
export async function moveShardsBack(m: MigrationContext): Promise<void> {
  const s = m.s;
  for (;;) {
    if (!s.shards || s.shards.direction !== 'backward' || allDone(m)) {
      if (s.shards?.engine === 'jobs' && s.shards.direction === 'forward') await drainForwardJobs(m);
      const fresh = await m.step('readShardPlan', () =>
        m.a.readShardPlan({ migrationId: s.migrationId, arango: m.arango() }),
      );
      const ix = indexPlan(fresh);
      const run = newShardRun('backward', ix, desiredFor(m, 'backward', ix), samePlan(fresh, s.plan));
      if (s.shards?.direction === 'backward' && run.steps.every((x) => x === 4)) break;
      if (patched(MOVESHARD_JOBS_PATCH)) run.engine = 'jobs';
      s.shards = run;
      if (run.steps.every((x) => x === 4)) break;
    }
    await runEngine(m);
  }
  await m.step('verifyConvergence', () =>
    m.a.verifyConvergence({ arango: m.arango(), mustNotHold: s.targetServerIds }),
  );
}

/**
 * A rollback starts from a settled Plan: this migration's MoveShard jobs still open from the forward run are
 * cancelled (supervision aborts them back to where they started, or finishes a leader switch already under
 * way) and waited for.
 */
async function drainForwardJobs(m: MigrationContext): Promise<void> {
  const s = m.s;
  const run = s.shards!;
  const open = jobsInFlight(run.moving);
  if (open.length === 0) return;
  const ix = indexPlan(runPlan(s));
  await m.step(`cancelShardMoves ×${open.length}`, () =>
    m.a.cancelShardMoves({ migrationId: s.migrationId, arango: m.arango(), jobIds: open.map((o) => o.jobId) }),
  );
  for (;;) {
    const r = await m.step(`waitForShardMoves ×${open.length}`, () =>
      m.a.waitForShardMoves({
        migrationId: s.migrationId,
        arango: m.arango(),
        jobs: open.map((o) => ({ ...groupKey(ix, o.group), jobId: o.jobId })),
        mode: 'all',
        timeoutSeconds: 30,
      }),
    );
    if (r.ended.length === open.length) break;
  }
  for (const o of open) run.moving![o.group]!.job = null;
}

/** Back where each group started when known; groups created meanwhile go to the least-loaded source servers. */
function rollbackDesired(m: MigrationContext, ix: GroupIndex): string[][] {
  const original = new Map<string, string[]>();
  if (m.s.plan) {
    const o = indexPlan(m.s.plan);
    for (let g = 0; g < o.count; g++) {
      const k = groupIdentity(o, g);
      original.set(k, groupServers(o, g));
    }
  }
  const sourceIds = m.sourceServerIds();
  const assigned = assignTargets(ix, sourceIds);
  const live = new Set(ix.plan.servers.map((x) => x.id));
  return Array.from({ length: ix.count }, (_, g) => {
    const o = original.get(groupIdentity(ix, g));
    return o && o.every((id) => live.has(id) && sourceIds.includes(id)) ? o : assigned[g]!;
  });
}

function allDone(m: MigrationContext): boolean {
  return m.s.shards !== null && m.s.shards.steps.every((x) => x === 4);
}

/** Derived, never carried: the same inputs give the same assignment in every run. */
function desiredFor(m: MigrationContext, direction: 'forward' | 'backward', ix: GroupIndex): string[][] {
  const c = m.desiredCache;
  if (c && c.plan === ix.plan && c.direction === direction) return c.desired;
  const desired = direction === 'forward' ? assignTargets(ix, m.s.targetServerIds) : rollbackDesired(m, ix);
  m.desiredCache = { plan: ix.plan, direction, desired };
  return desired;
}

/** Runs the current shard run with the engine it was started with (see MOVESHARD_JOBS_PATCH). */
async function runEngine(m: MigrationContext): Promise<'done' | 'stopped'> {
  m.inShardEngine = true;
  try {
    if (m.s.shards!.engine === 'jobs') {
      const base = engineContext(m);
      return await runJobEngine({ ...base, sleep: (ms: number) => sleep(ms) });
    }
    return await runShardEngine(engineContext(m));
  } finally {
    m.inShardEngine = false;
  }
}

function engineContext(m: MigrationContext) {
  const ix = indexPlan(runPlan(m.s));
  return {
    state: m.s,
    acts: m.a,
    ix,
    desired: desiredFor(m, m.s.shards!.direction, ix),
    now: workflowNow,
    safePoint: () => m.safePoint(),
    step: <T>(what: string, fn: () => Promise<T>) => m.step(what, fn),
    concurrently: (tasks: (() => Promise<void>)[]) => m.concurrently(tasks),
    onProgress: () => m.publish(),
    stopStarting: () => m.s.abortRequested,
    log: (msg: string, meta?: Record<string, unknown>) =>
      log.info(msg, { migrationId: m.s.migrationId, phase: m.s.phase, ...meta }),
  };
}

function samePlan(a: ShardPlan, b: ShardPlan | null): boolean {
  return b !== null && JSON.stringify(a) === JSON.stringify(b);
}

/** database/collectionId/shard identifies a prototype shard across Plan reads. */
function groupIdentity(ix: GroupIndex, g: number): string {
  const k = groupKey(ix, g);
  return `${k.database}/${k.collectionId}/${k.shard}`;
}
