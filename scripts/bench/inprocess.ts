/**
 * The shard engine in this process (not through Temporal): the same runJobEngine the workflow runs, driving the
 * real agency activities against the simulated cluster. Beside the Temporal figure it shows what Temporal
 * itself adds (workflow tasks, activity scheduling, timers); with `old` it runs under the conditions of the
 * earlier figures (200 moves in flight, 100 ms polling, the exact bandwidth handed in as a hint).
 */
import { arangoRef, simActivities } from '../../test/harness/sim';
import { worldSpec } from '../../test/harness/specs';
import { indexPlan } from '../../src/workflows/plan';
import { assignTargets } from '../../src/workflows/scheduler';
import { newShardRun } from '../../src/workflows/shard-mover';
import { runJobEngine } from '../../src/workflows/job-engine';
import { initialState } from '../../src/workflows/state';
import { MigrationSpec } from '../../src/spec/schema';
import type { BenchCluster } from './cluster';
import { BANDWIDTH } from './topologies';

export interface InProcessResult {
  seconds: number;
  bytesMoved: number;
  steps: string;
  groupsLeft: number;
}

export async function moveInProcess(bc: BenchCluster, o: { old?: boolean } = {}): Promise<InProcessResult> {
  const acts = simActivities({ pollIntervalMs: o.old ? 100 : 1000 });
  const ix = indexPlan(bc.plan);
  const desired = assignTargets(ix, bc.targets);
  const spec = MigrationSpec.parse({
    ...worldSpec(),
    arango: arangoRef(bc.c),
    policy: o.old ? { maxConcurrentShardMoves: 200, bandwidthBytesPerSecond: BANDWIDTH } : {},
  });
  const state = initialState('bench', spec);
  state.plan = bc.plan;
  state.targetServerIds = bc.targets;
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
  const stats: Record<string, { n: number; ms: number; groups: number }> = {};
  const bytes0 = bc.bytesReceived();
  const t0 = Date.now();
  const r = await runJobEngine({
    state,
    acts,
    ix,
    desired,
    now: () => Date.now(),
    safePoint: async () => undefined,
    sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
    step: async (what, fn) => {
      const t = Date.now();
      try {
        return await fn();
      } finally {
        const k = what.split(' ')[0]!;
        const e = (stats[k] ??= { n: 0, ms: 0, groups: 0 });
        e.n++;
        e.ms += Date.now() - t;
        e.groups += Number(/×(\d+)/.exec(what)?.[1] ?? 0);
      }
    },
    onProgress: () => undefined,
    stopStarting: () => false,
    log: () => undefined,
  });
  const seconds = (Date.now() - t0) / 1000;
  if (r !== 'done') throw new Error(`engine ended ${r}`);
  return {
    seconds,
    bytesMoved: bc.bytesReceived() - bytes0,
    steps: Object.entries(stats)
      .map(([k, v]) => `${k} ${v.n} calls/${(v.ms / 1000).toFixed(1)} s/${v.groups} groups`)
      .join(', '),
    groupsLeft: await bc.groupsLeft(),
  };
}
