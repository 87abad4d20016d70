/**
 * MoveShards the way an operator runs it: the real migrationWorkflow on the real Temporal dev server, a separate
 * worker process (src/rehearse/worker.ts), the shipped defaults (policy as the schema defaults it: 16 moves
 * in flight, no bandwidth hint; agency polling 1 s), against the simulated cluster. The makespan is the
 * workflow's own MoveShards phase time (phaseTimings in the progress query); the later phases are not waited for.
 */
import { readFileSync } from 'node:fs';
import type { DevServer } from '../../test/harness/temporal';
import { ROOT } from '../../test/harness/temporal';
import { spawnProc, waitFor, type Proc } from '../../test/harness/procs';
import { World } from '../../src/sim/world';
import { worldSpec } from '../../test/harness/specs';
import { runsOf } from '../../test/harness/replay';
import { arangoRef } from '../../test/harness/sim';
import { progressQuery, timelineQuery } from '../../src/shared/controls';
import { etaErrors, type EtaErrorRow } from '../../src/report/eta';
import type { PhaseTiming } from '../../src/shared/types';
import { SIM_WORKER, type BenchCluster } from './cluster';
import type { BenchTopology } from './topologies';
import { MigrationSpec } from '../../src/spec/schema';

export interface TemporalResult {
  seconds: number;
  status: string;
  bytesMoved: number;
  events: number[];
  workerPeakMb: number;
  groupsLeft: number;
  /** The workflow's ETA judged against the actual end of MoveShards, at 10/25/50/75 % of its bytes (its timeline). */
  etaErrors: EtaErrorRow[];
  /** The run's maxConcurrentShardMoves and the least makespan it allows at the run's job times (jobStats). */
  ceiling: number;
  ceilingFloorS: number | null;
  /** The same with no gap between a group's jobs: the MoveShard jobs' own times only. */
  jobsFloorS: number | null;
}

/**
 * The benchmark's worker: its own process running Transit's production worker (src/rehearse/worker.ts →
 * createWorker) with the real agency activities against the simulated cluster and the world for the rest.
 */
export async function spawnBenchWorker(
  server: DevServer,
  name: string,
  taskQueue: string,
  worldUrl: string,
  bundlePath: string,
  targets: string[],
): Promise<Proc> {
  let ready = false;
  const w = spawnProc(
    name,
    process.execPath,
    ['--import', 'tsx', SIM_WORKER, taskQueue, worldUrl, bundlePath, targets.join(',')],
    {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: server.address },
      onLine: (l) => void (l.includes('worker ready') && (ready = true)),
    },
  );
  try {
    await waitFor('the bench worker to start', () => ready, {
      timeoutMs: 120_000,
      check: () => {
        if (w.hasExited()) throw new Error(`worker exited:\n${w.tail()}`);
      },
    });
  } catch (e) {
    await w.stop();
    throw e;
  }
  return w;
}

/** The spec of a benchmark run: shipped defaults; only the drain after the DNS cutover (after MoveShards) is skipped. */
export function benchSpec(bc: BenchCluster, ceiling?: number): unknown {
  const spec = worldSpec({ arango: arangoRef(bc.c) }) as { policy: unknown };
  spec.policy = { timeouts: { drainSeconds: 0 }, ...(ceiling ? { maxConcurrentShardMoves: ceiling } : {}) };
  return spec;
}

export async function moveThroughTemporal(
  server: DevServer,
  bundlePath: string,
  t: BenchTopology,
  bc: BenchCluster,
  log: (s: string) => void,
  o: { ceiling?: number } = {},
): Promise<TemporalResult> {
  const world = new World({ dbServers: bc.targets.length, collections: [], syncMs: 0 });
  await world.start();
  const taskQueue = `bench-${t.name}`;
  let w: Proc | undefined;
  try {
    w = await spawnBenchWorker(server, `bench-worker-${t.name}`, taskQueue, world.url, bundlePath, bc.targets);
    const pid = w.pid;
    let peakKb = 0;
    const rss = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        /* gone */
      }
    }, 500);
    const spec = benchSpec(bc, o.ceiling);
    const bytes0 = bc.bytesReceived();
    const h = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `bench-${t.name}-${Date.now()}`,
      args: [{ spec }],
    });
    let changeTimer: NodeJS.Timeout | undefined;
    let movingSince = 0;
    let lastLog = Date.now();
    const watch = setInterval(() => {
      void h
        .query(progressQuery)
        .then((p) => {
          if (Date.now() - lastLog >= 15_000) {
            lastLog = Date.now();
            log(
              `${t.name}: ${p.phase} ${p.status}, ${p.shardsDone}/${p.shardsTotal} shards, ${p.shardsInFlight} in flight, ${(p.bytesDone / 1048576).toFixed(0)} MiB${p.lastError ? `, last error: ${p.lastError}` : ''}`,
            );
          }
          if (movingSince || p.phase !== 'MoveShards') return;
          movingSince = Date.now();
          if (t.change) {
            changeTimer = setTimeout(() => {
              bc.applyChange();
              log(`${t.name}: link changed at ${((Date.now() - movingSince) / 1000).toFixed(1)} s into MoveShards`);
            }, t.change.atSeconds * 1000);
          }
        })
        .catch(() => undefined);
    }, 200);
    // MoveShards is what is measured: once the workflow's own timing of it has ended, the later phases (world
    // only: DNS, decommission) are not waited for; the run is terminated.
    let moveShards: PhaseTiming | undefined;
    let status = '';
    try {
      await waitFor(
        'MoveShards to end',
        async () => {
          const p = await h.query(progressQuery).catch(() => undefined);
          if (!p) {
            const d = await h.describe();
            if (d.status.name !== 'RUNNING') throw new Error(`workflow ${d.status.name} before MoveShards ended`);
            return undefined;
          }
          moveShards = p.phaseTimings.find((x) => x.phase === 'MoveShards' && x.endedAt !== undefined);
          status = `${p.phase} ${p.status}`;
          return moveShards ? true : undefined;
        },
        { timeoutMs: 3_600_000, intervalMs: 500 },
      );
    } finally {
      clearInterval(watch);
      clearInterval(rss);
      if (changeTimer) clearTimeout(changeTimer);
    }
    const timeline = await h.query(timelineQuery).catch(() => null);
    await h.terminate('bench: MoveShards measured').catch(() => undefined);
    const runs = await runsOf(server.client, h.workflowId);
    const ceiling = MigrationSpec.parse(spec).policy.maxConcurrentShardMoves;
    const js = await bc.jobStats(ceiling);
    log(`${t.name}: ${js.text}`);
    return {
      seconds: moveShards!.seconds ?? (moveShards!.endedAt! - moveShards!.startedAt) / 1000,
      status,
      bytesMoved: bc.bytesReceived() - bytes0,
      events: runs.map((x) => x.events),
      workerPeakMb: Math.round(peakKb / 1024),
      groupsLeft: await bc.groupsLeft(),
      etaErrors: etaErrors(timeline),
      ceiling,
      ceilingFloorS: js.ceilingFloorS,
      jobsFloorS: js.jobsFloorS,
    };
  } finally {
    await w?.stop();
    await world.stop();
  }
}
