/**
 * Shard runs: the MoveShards phase, the re-convergence before the DNS cutover and Decommission, and the way back
 * in a rollback. Each run starts from a fresh Plan read; the engine it was started with (job-engine.ts since the
 * moveshard-jobs patch, shard-mover.ts before) converges every group to the servers chosen for it.
 */
import { ActivityFailure, isCancellation, log, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { probeTaskQueue } from '../shared/controls';
import { CANARY_COLLECTION } from '../shared/types';
import { regionProbeProxy } from './activities';
import type { ShardPlan } from '../activities/contract';
import { workflowNow } from './clock';
import { probe } from './checks';
import { AbortRequested, type MigrationContext } from './context';
import { targetAssignment } from './decisions';
import { jobsInFlight, runJobEngine } from './job-engine';
import { CANARY_MOVES_PATCH, MOVESHARD_JOBS_PATCH, RECONVERGE_PATCH, SETTLE_AFTER_MOVE_PATCH } from './patches';
import { newLatencyState } from './latency';
import { groupKey, groupServers, indexPlan, type GroupIndex } from './plan';
import { assignTargets } from './scheduler';
import { newShardRun, runShardEngine } from './shard-mover';
import { recordTimeline, runPlan, STEP, type ShardRun } from './state';

/** Move every shard group to the target; repeat on a fresh Plan until nothing is left (collections may be created meanwhile). */
export async function moveShards(m: MigrationContext): Promise<void> {
  await createCanaryInPlan(m);
  await runUntilSettled(m, TO_TARGET);
  // A copy still re-syncing after a server restart passes on its own: check again before parking (patched).
  if (patched(SETTLE_AFTER_MOVE_PATCH)) await reconverge(m);
  else await m.call('verifyConvergence', () => ({ arango: m.arango(), mustNotHold: m.sourceServerIds() }));
  await probe(m, 'MoveShards');
}

/**
 * policy.latency (patch 'canary-moves'): the probes' canary is created before the run reads the Plan, so it is in
 * the plan and moves like any other collection; it stays until the migration ends (removeCanary).
 */
async function createCanaryInPlan(m: MigrationContext): Promise<void> {
  if (!m.s.spec.policy.latency || m.s.canaryInPlan || !patched(CANARY_MOVES_PATCH)) return;
  const canary = await m.call('ensureLatencyCanary', () => m.ref());
  m.s.clientLatency = {
    ...m.s.clientLatency,
    control: m.s.clientLatency?.control ?? newLatencyState(m.s.concurrency),
    canaryKeys: canary.keys.map((k) => k.key),
  };
  m.s.canaryInPlan = true;
}

/**
 * The end of a migration (completed, rolled back, aborted): the canary created for MoveShards is dropped. `direct`:
 * not as a step (an aborted migration has no safe point left to pass); a failure is then logged and left in
 * lastError, naming the collection to drop by hand.
 */
export async function removeCanary(m: MigrationContext, direct = false): Promise<void> {
  if (!m.s.canaryInPlan) return;
  // Through the coordinators that outlive the step: after Decommission the source's are gone.
  const ref = () => ({ ...m.ref(), url: m.arango().endpoint });
  if (!direct) await m.call('removeLatencyCanary', ref);
  else {
    try {
      await m.a.removeLatencyCanary(ref());
    } catch (e) {
      if (isCancellation(e) || !(e instanceof ActivityFailure)) throw e;
      const message = e.cause?.message ?? e.message;
      m.s.lastError = `removeLatencyCanary: ${message} — drop the collection _system/${CANARY_COLLECTION} by hand`;
      log.warn('the latency canary was not removed', { migrationId: m.s.migrationId, error: message });
      return;
    }
  }
  m.s.canaryInPlan = false;
  if (m.s.clientLatency) m.s.clientLatency = { ...m.s.clientLatency, canaryKeys: [] };
}

/**
 * How a shard run in one direction differs from a run in the other — the data of the one loop below
 * (runUntilSettled), not a second copy of it.
 */
interface RunKind {
  direction: 'forward' | 'backward';
  /**
   * A first Plan read with nothing to move ends the loop at once; otherwise that (empty) run is started and the
   * loop ends on the next read (the rollback's way back ends at once, MoveShards runs the engine once).
   */
  endsOnEmptyFirstRun: boolean;
  /**
   * After each engine pass: an engine stopped by an abort ends the migration (AbortRequested), then a safe
   * point. A rollback is not aborted: its loop goes straight on.
   */
  abortable: boolean;
}

/** MoveShards and the re-convergence before the cutover: every group to the target's servers. */
const TO_TARGET: RunKind = { direction: 'forward', endsOnEmptyFirstRun: false, abortable: true };
/** Rollback: every group back to the source's servers. */
const BACK_TO_SOURCE: RunKind = { direction: 'backward', endsOnEmptyFirstRun: true, abortable: false };

/**
 * Runs the shard engine on fresh Plan reads until a read finds no group left to move (collections may be created
 * meanwhile, and ArangoDB may fail groups back). Open MoveShard jobs of a run in the other direction are drained
 * first.
 */
async function runUntilSettled(m: MigrationContext, kind: RunKind): Promise<void> {
  for (;;) {
    const current = m.s.shards;
    if (!current || current.direction !== kind.direction || isSettled(current)) {
      if (current?.engine === 'jobs' && current.direction !== kind.direction) await drainOpenJobs(m);
      const fresh = await m.call('readShardPlan', () => ({ migrationId: m.s.migrationId, arango: m.arango() }));
      const ix = indexPlan(fresh);
      const run = newShardRun(kind.direction, ix, desiredFor(m, kind.direction, ix), samePlan(fresh, m.s.plan));
      // A collection whose replicationFactor is still raised (patch 'raise-rf1-to-verify') needs the engine to set it back.
      const nothingToMove = isSettled(run) && !m.s.raisedReplication?.length;
      if (nothingToMove && m.s.shards?.direction === kind.direction) return;
      if (patched(MOVESHARD_JOBS_PATCH)) run.engine = 'jobs';
      m.s.shards = run;
      if (nothingToMove && kind.endsOnEmptyFirstRun) return;
    }
    const result = await runEngine(m);
    if (kind.abortable) {
      if (result === 'stopped') throw new AbortRequested();
      await m.safePoint();
    }
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
    await runUntilSettled(m, TO_TARGET);
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
  await runUntilSettled(m, BACK_TO_SOURCE);
  await m.call('verifyConvergence', () => ({ arango: m.arango(), mustNotHold: m.s.targetServerIds }));
}

/**
 * A run in the other direction starts from a settled Plan (a rollback after MoveShards): this migration's
 * MoveShard jobs still open are cancelled (supervision aborts them back to where they started, or finishes a
 * leader switch already under way) and waited for.
 */
async function drainOpenJobs(m: MigrationContext): Promise<void> {
  const s = m.s;
  const run = s.shards!;
  const open = jobsInFlight(run.moving);
  if (open.length === 0) return;
  const ix = indexPlan(runPlan(s));
  await m.call(
    'cancelShardMoves',
    () => ({ migrationId: s.migrationId, arango: m.arango(), jobIds: open.map((o) => o.jobId) }),
    `×${open.length}`,
  );
  for (;;) {
    const r = await m.call(
      'waitForShardMoves',
      () => ({
        migrationId: s.migrationId,
        arango: m.arango(),
        jobs: open.map((o) => ({ ...groupKey(ix, o.group), jobId: o.jobId })),
        mode: 'all',
        timeoutSeconds: 30,
      }),
      `×${open.length}`,
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

/** Every group of the run is where it must be. */
function isSettled(run: ShardRun): boolean {
  return run.steps.every((step) => step === STEP.done);
}

/** Derived, never carried: the same inputs give the same assignment in every run. */
function desiredFor(m: MigrationContext, direction: 'forward' | 'backward', ix: GroupIndex): string[][] {
  const c = m.desiredCache;
  if (c && c.plan === ix.plan && c.direction === direction) return c.desired;
  const desired = direction === 'forward' ? targetAssignment(ix, m.s.targetServerIds) : rollbackDesired(m, ix);
  // Collections Transit raised to verify them end with their own number of copies (the engine sets it back).
  for (const r of m.s.raisedReplication ?? []) {
    const c = ix.plan.collections.findIndex((x) => x.database === r.database && x.collectionId === r.collectionId);
    if (c < 0) continue;
    for (let i = 0; i < ix.plan.collections[c]!.shards.length; i++) {
      const g = ix.offsets[c]! + i;
      desired[g] = desired[g]!.slice(0, r.original);
    }
  }
  m.desiredCache = { plan: ix.plan, direction, desired };
  return desired;
}

/** Runs the current shard run with the engine it was started with (see MOVESHARD_JOBS_PATCH). */
async function runEngine(m: MigrationContext): Promise<'done' | 'stopped'> {
  m.inShardEngine = true;
  try {
    return await runEngineOnce(m);
  } finally {
    m.inShardEngine = false;
    // The moment the run ended (the timeline keeps it whatever its sampling interval): what ETAs are judged by.
    recordTimeline(m.s, workflowNow());
  }
}

async function runEngineOnce(m: MigrationContext): Promise<'done' | 'stopped'> {
  if (m.s.shards!.engine === 'jobs') {
    const base = engineContext(m);
    return await runJobEngine({
      ...base,
      sleep: (ms: number) => sleep(ms),
      probeRegion: (region: string) => {
        const taskQueue = probeTaskQueue(workflowInfo().taskQueue, region);
        return { taskQueue, probe: regionProbeProxy(m.s.spec, taskQueue).probeClientLatency };
      },
    });
  }
  return await runShardEngine(engineContext(m));
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
