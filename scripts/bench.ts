/**
 * `npm run bench`: Transit's figures. Benchmarks report; they do not pass or fail anything. ArangoDB is the
 * project's simulator (src/sim): every ArangoDB figure is a simulated one (`"arango": "simulated"` in --json).
 *
 * 1. MoveShards makespan per topology (scripts/bench/topologies.ts: uniform, skewed, scale-out, rf 3 with
 *    distributeShardsLike chains, asymmetric links, a link halving mid-run), each on a fresh simulated cluster:
 *    the real migrationWorkflow on the real Temporal dev server with a separate worker process and the shipped
 *    defaults (no bandwidth hint; scripts/bench/temporal.ts), timed by the workflow's own MoveShards phase time;
 *    beside it the assignment-independent lower bound and the bound for Transit's own assignment
 *    (scripts/bench/bound.ts). On the uniform topology also the in-process engine (what Temporal adds), and on
 *    uniform and skewed the baselines (scripts/bench/baselines.ts): cleanOutServer one server at a time, and a
 *    moveShard job for every shard at once.
 * 2. 100,000 zero-byte shards (--scale-collections × 100; default 1,000) end to end on the real Temporal server
 *    with its default limits (in-memory world): wall time, the largest number of events in one run, worker peak
 *    RSS, the largest payload stored; past --scale-deadline seconds (default 600) the run is terminated and the
 *    shards done so far are printed instead of the wall time.
 * 3. Worker SIGKILL during MoveShards → seconds until Transit creates a MoveShard job again, from a new worker
 *    started after the kill (simulated cluster, the production worker, shipped defaults).
 *
 *   npm run bench [-- --json] [-- --only 1,2,3] [-- --topologies uniform,skewed] [-- --no-manual] [-- --ceiling N]
 *   [-- --scale-collections N] [-- --scale-deadline S] [-- --scale-concurrency N (default 500)]
 *   (--no-manual skips the baselines, --no-inprocess the in-process engine, --inprocess-old adds it under the
 *   earlier conditions; every later figure still runs)
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { startDevServer, type DevServer } from '../test/harness/temporal';
import { spawnWorldWorker, workflowBundleFile } from '../test/harness/worker';
import { World } from '../src/sim/world';
import { worldSpec } from '../test/harness/specs';
import { waitFor } from '../test/harness/procs';
import { runsOf } from '../test/harness/replay';
import { temporal } from '@temporalio/proto';
import { eventTimeMs, timestampMs } from '../src/report/history';
import { totals, indexPlan } from '../src/workflows/plan';
import { progressQuery } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';
import { KILL_TOPOLOGY, TOPOLOGIES, type BenchTopology } from './bench/topologies';
import { startBenchCluster, type BenchCluster } from './bench/cluster';
import { benchSpec, moveThroughTemporal, spawnBenchWorker } from './bench/temporal';
import type { EtaErrorRow } from '../src/report/eta';
import { moveInProcess } from './bench/inprocess';
import { payloadSizes } from './bench/payload';
import { cleanOutOneAtATime, moveShardAllAtOnce, type BaselineResult } from './bench/baselines';

const json = process.argv.includes('--json');
const argOf = (name: string) =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
const onlyArg = argOf('--only');
const only = onlyArg ? new Set(onlyArg.split(',')) : null;
const topoArg = argOf('--topologies');
/** --ceiling N: policy.maxConcurrentShardMoves for the Temporal runs (default: the shipped 16). */
const ceiling = argOf('--ceiling') ? Number(argOf('--ceiling')) : undefined;
const figures: Record<string, unknown>[] = [];
function figure(name: string, value: number | string, unit: string, extra: Record<string, unknown> = {}): void {
  const f = { figure: name, value, unit, arango: 'simulated', ...extra };
  figures.push(f);
  if (json) process.stdout.write(`${JSON.stringify(f)}\n`);
  else {
    const { arango: _a, ...rest } = { ...extra, arango: undefined };
    console.log(`${name}: ${value} ${unit}${Object.keys(rest).length ? `  ${JSON.stringify(rest)}` : ''}`);
  }
}
const log = (s: string) => (json ? process.stderr : process.stdout).write(`  ${s}\n`);
const r1 = (x: number) => Number(x.toFixed(1));
const r2 = (x: number) => Number(x.toFixed(2));
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- 1. makespan per topology
interface Row {
  topology: string;
  strategy: string;
  seconds: number;
  bound: number;
  assignmentBound: number;
  bytesMoved: number;
  note?: string;
}
const rows: Row[] = [];
/** The ETA's error per topology (Temporal runs): predicted vs actual remaining MoveShards time. */
const etaRows: ({ topology: string } & EtaErrorRow)[] = [];

async function onCluster<T>(t: BenchTopology, fn: (bc: BenchCluster) => Promise<T>): Promise<T> {
  const bc = await startBenchCluster(t, log);
  try {
    return await fn(bc);
  } finally {
    await bc.stop();
  }
}

function row(t: BenchTopology, bc: BenchCluster, strategy: string, seconds: number, bytesMoved: number, extra = {}) {
  const r: Row = {
    topology: t.name,
    strategy,
    seconds: r1(seconds),
    bound: r1(bc.bound.seconds),
    assignmentBound: r1(bc.assignment.seconds),
    bytesMoved,
  };
  rows.push(r);
  figure(`makespan ${t.name}: ${strategy}`, r.seconds, 's', {
    bound: r.bound,
    ratio: r2(seconds / bc.bound.seconds),
    assignmentBound: r.assignmentBound,
    ratioToAssignmentBound: r2(seconds / bc.assignment.seconds),
    boundBy: bc.bound.by,
    bytesMoved,
    bytesToMove: bytesNeeded(bc),
    loadavg1: r2(loadavg()[0]!),
    ...extra,
  });
}

/** Bytes of new copies the move needs at least (every copy on an old server, once). */
function bytesNeeded(bc: BenchCluster): number {
  const ix = indexPlan(bc.plan);
  let n = 0;
  for (const col of bc.plan.collections)
    for (const [, servers, bytes] of col.shards)
      n += bytes * servers.filter((i) => !bc.targets.includes(bc.plan.servers[i]!.id)).length;
  void ix;
  return n;
}

async function benchMakespans(server: DevServer, bundlePath: string): Promise<void> {
  const wanted = topoArg ? new Set(topoArg.split(',')) : null;
  const list = TOPOLOGIES.filter((t) => !wanted || wanted.has(t.name));
  for (const t of list) {
    log(`${t.name}: ${t.what}`);
    await onCluster(t, async (bc) => {
      const bytes = totals(indexPlan(bc.plan)).bytes;
      const r = await moveThroughTemporal(server, bundlePath, t, bc, log, { ceiling });
      const label = ceiling
        ? `Transit (Temporal, maxConcurrentShardMoves ${ceiling}, otherwise shipped defaults)`
        : 'Transit (Temporal, shipped defaults)';
      for (const e of r.etaErrors) etaRows.push({ topology: t.name, ...e });
      row(t, bc, label, r.seconds, r.bytesMoved, {
        status: r.status,
        groupsLeftOnOldServers: r.groupsLeft,
        eventsPerRun: r.events,
        workerPeakRssMb: r.workerPeakMb,
        planBytes: bytes,
        ceiling: r.ceiling,
        ceilingFloorS: r.ceilingFloorS,
        jobsFloorS: r.jobsFloorS,
      });
    });
    if (t.name === 'uniform' && !process.argv.includes('--no-inprocess')) {
      for (const old of process.argv.includes('--inprocess-old') ? [false, true] : [false]) {
        await onCluster(t, async (bc) => {
          const r = await moveInProcess(bc, { old });
          log(`  in-process engine steps: ${r.steps}`);
          row(
            t,
            bc,
            old
              ? 'Transit in-process (200 in flight, 100 ms polling, bandwidth hint)'
              : 'Transit in-process (shipped defaults)',
            r.seconds,
            r.bytesMoved,
            { groupsLeftOnOldServers: r.groupsLeft },
          );
        });
      }
    }
    if ((t.name === 'uniform' || t.name === 'skewed') && !process.argv.includes('--no-manual')) {
      const base = (name: string, r: BaselineResult, bc: BenchCluster) =>
        row(t, bc, name, r.seconds, r.bytesMoved, {
          jobs: r.jobs,
          failedJobs: r.failed,
          groupsLeftOnOldServers: r.groupsLeft,
        });
      await onCluster(t, async (bc) =>
        base('moveShard for every shard at once', await moveShardAllAtOnce(bc, log), bc),
      );
      await onCluster(t, async (bc) => base('cleanOutServer one at a time', await cleanOutOneAtATime(bc, log), bc));
    }
  }
  if (etaRows.length) {
    log('');
    log("ETA error (Temporal runs, shipped defaults; the workflow's own ETA at the first timeline sample past each");
    log('fraction of the bytes, against the time MoveShards really had left; simulated):');
    log('| topology | bytes done | predicted s | actual s | error | ended within P90 |');
    log('|---|---|---|---|---|---|');
    for (const e of etaRows) {
      log(
        `| ${e.topology} | ${Math.round(e.fraction * 100)} % (${(e.atFraction * 100).toFixed(1)} %) | ${e.predictedS ?? '–'} | ${e.actualS} | ${e.errorPct === null ? '–' : `${e.errorPct} %`} | ${e.withinP90 === null ? '–' : e.withinP90 ? 'yes' : 'no'} |`,
      );
      figure(`${e.topology}: ETA error at ${Math.round(e.fraction * 100)} % of bytes`, e.errorPct ?? '–', '%', {
        predictedSeconds: e.predictedS,
        actualSeconds: e.actualS,
        withinP90: e.withinP90,
        conditions: 'through Temporal, shipped defaults, no bandwidth hint',
      });
    }
  }
  log('');
  log('| topology | strategy | makespan s | bound s | ratio | assignment bound s | MiB moved |');
  log('|---|---|---|---|---|---|---|');
  for (const r of rows)
    log(
      `| ${r.topology} | ${r.strategy} | ${r.seconds} | ${r.bound} | ${(r.seconds / r.bound).toFixed(2)} | ${r.assignmentBound} | ${(r.bytesMoved / MiB).toFixed(0)} |`,
    );
}

// ---------------------------------------------------------------- 2 and 3: real Temporal, in-memory world
/**
 * The largest payload the server stored (bytes as stored: after the data converter's codecs) in any run's history,
 * and where the time went, from the events' own timestamps: per activity type the calls, seconds queued
 * (scheduled → started) and running (started → closed); workflow tasks the same; timers' total seconds.
 */
async function storedHistoryFigures(server: DevServer, workflowId: string, runIds: string[]) {
  let largest = { bytes: 0, where: '' };
  const time: Record<string, { calls: number; queuedS: number; runningS: number }> = {};
  const ts = (e: temporal.api.history.v1.IHistoryEvent) => eventTimeMs(e) / 1000;
  const row = (k: string) => (time[k] ??= { calls: 0, queuedS: 0, runningS: 0 });
  const visit = (o: unknown, where: string): void => {
    if (!o || typeof o !== 'object') return;
    if (Array.isArray((o as { payloads?: unknown }).payloads)) {
      for (const p of (o as { payloads: temporal.api.common.v1.IPayload[] }).payloads) {
        const bytes = p.data?.length ?? 0;
        if (bytes > largest.bytes)
          largest = { bytes, where: `${where} (${Buffer.from(p.metadata?.encoding ?? []).toString()})` };
      }
      return;
    }
    for (const v of Object.values(o)) if (v && typeof v === 'object' && !(v instanceof Uint8Array)) visit(v, where);
  };
  for (const runId of runIds) {
    const scheduled = new Map<number, { kind: string; at: number }>();
    const started = new Map<number, number>();
    let nextPageToken: Uint8Array | undefined;
    do {
      const r = await server.connection.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId, runId },
        nextPageToken,
      });
      for (const e of r.history?.events ?? []) {
        const type = String(temporal.api.enums.v1.EventType[e.eventType ?? 0]).replace('EVENT_TYPE_', '');
        visit(e, type);
        const id = Number(e.eventId);
        if (type === 'ACTIVITY_TASK_SCHEDULED')
          scheduled.set(id, { kind: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', at: ts(e) });
        else if (type === 'WORKFLOW_TASK_SCHEDULED') scheduled.set(id, { kind: 'workflow task', at: ts(e) });
        else if (type === 'TIMER_STARTED') scheduled.set(id, { kind: 'timers', at: ts(e) });
        const startedOf =
          e.activityTaskStartedEventAttributes?.scheduledEventId ??
          e.workflowTaskStartedEventAttributes?.scheduledEventId;
        if (startedOf != null) {
          const sch = scheduled.get(Number(startedOf));
          if (sch) {
            row(sch.kind).queuedS += ts(e) - sch.at;
            started.set(Number(startedOf), ts(e));
          }
        }
        const closedOf =
          e.activityTaskCompletedEventAttributes?.scheduledEventId ??
          e.activityTaskFailedEventAttributes?.scheduledEventId ??
          e.activityTaskTimedOutEventAttributes?.scheduledEventId ??
          e.workflowTaskCompletedEventAttributes?.scheduledEventId ??
          e.workflowTaskFailedEventAttributes?.scheduledEventId ??
          e.workflowTaskTimedOutEventAttributes?.scheduledEventId ??
          e.timerFiredEventAttributes?.startedEventId;
        if (closedOf != null) {
          const sch = scheduled.get(Number(closedOf));
          if (sch) {
            const x = row(sch.kind);
            x.calls += 1;
            x.runningS += ts(e) - (started.get(Number(closedOf)) ?? sch.at);
          }
        }
      }
      nextPageToken = r.nextPageToken?.length ? r.nextPageToken : undefined;
    } while (nextPageToken);
  }
  for (const x of Object.values(time)) {
    x.queuedS = Number(x.queuedS.toFixed(1));
    x.runningS = Number(x.runningS.toFixed(1));
  }
  return { ...largest, time };
}

/**
 * Zero-byte shards end to end on the real Temporal dev server with no limit overridden (2 MB per payload, 51,200
 * events per history): the in-memory world (no simulated cluster: this measures Transit and Temporal, not
 * ArangoDB), a separate world-worker process with the production data converter, `collections` × 100 shards
 * with replicationFactor 1, 2, 3 in turn.
 */
async function benchScale(collections: number): Promise<void> {
  const server = await startDevServer();
  const world = new World({
    syncMs: 0,
    collections: Array.from({ length: collections }, (_, i) => ({
      name: `c${i}`,
      shards: 100,
      replicationFactor: 1 + (i % 3),
      clones: 0,
      bytes: 0,
    })),
  });
  await world.start();
  const label = `${(collections * 100).toLocaleString('en')} zero-byte shards`;
  try {
    const bundlePath = await workflowBundleFile();
    const taskQueue = 'bench-scale';
    const spec = worldSpec() as any;
    const scaleCeiling = Number(argOf('--scale-concurrency') ?? 500);
    spec.policy.maxConcurrentShardMoves = scaleCeiling;
    const t0 = Date.now();
    const w = await spawnWorldWorker({
      address: server.address,
      taskQueue,
      worldUrl: world.url,
      bundlePath,
      name: 'bench-worker',
    });
    let peakKb = 0;
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        /* gone */
      }
    }, 250);
    const h = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `bench-scale-${Date.now()}`,
      args: [{ spec }],
    });
    // The bench must end: past the deadline the figure is the shards done so far, and the run is terminated.
    const deadlineS = Number(argOf('--scale-deadline') ?? 600);
    const r = (await Promise.race([
      h.result(),
      new Promise<null>((res) => setTimeout(() => res(null), deadlineS * 1000)),
    ])) as MigrationReport | null;
    const wall = (Date.now() - t0) / 1000;
    const partial = r ? null : await h.query(progressQuery);
    if (!r) await h.terminate('bench: scale deadline reached').catch(() => undefined);
    clearInterval(timer);
    await w.stop();
    const runs = await runsOf(server.client, h.workflowId);
    const largest = await storedHistoryFigures(
      server,
      h.workflowId,
      runs.map((x) => x.runId),
    );
    const backend = 'in-memory world (src/sim/world.ts), no simulated cluster; dev server default limits';
    if (r) {
      figure(`${label}: wall time`, Number(wall.toFixed(1)), 's', {
        status: r.status,
        groups: world.groups.length,
        shards: r.shardsTotal,
        target: '≤ 120 s for 100,000',
        maxConcurrentShardMoves: scaleCeiling,
        includes: 'worker start, every phase of the migration (the world acts at once)',
        backend,
      });
    } else {
      figure(
        `${label}: NOT FINISHED within the ${deadlineS} s deadline — shards done`,
        partial?.shardsDone ?? 0,
        'shards',
        {
          of: partial?.shardsTotal,
          phase: partial?.phase,
          after: `${wall.toFixed(0)} s (worker start included)`,
          etaSecondsThen: partial?.etaSeconds,
          target: '≤ 120 s for 100,000',
          maxConcurrentShardMoves: scaleCeiling,
          backend,
        },
      );
    }
    figure(`${label}: most events in one run`, Math.max(...runs.map((x) => x.events)), 'events', {
      runs: runs.length,
      events: runs.map((x) => x.events),
      target: '< 10,000',
      backend,
    });
    figure(`${label}: worker peak RSS`, Math.round(peakKb / 1024), 'MB', { target: '< 500 MB', backend });
    figure(`${label}: largest payload stored`, largest.bytes, 'bytes', {
      where: largest.where,
      limit: 'Temporal default 2 MB per payload',
      codec: 'src/codec.ts: payloads from 64 KiB gzipped',
      backend,
    });
    // Sequential in the workflow, so the sums explain the wall time (a timer may overlap nothing else).
    log(`${label}: where the time went (every run's history, event timestamps; s summed over calls):`);
    log('| what | calls | queued s | running s |');
    log('|---|---|---|---|');
    for (const [k, x] of Object.entries(largest.time).sort((a, b) => b[1].runningS - a[1].runningS))
      log(`| ${k} | ${x.calls} | ${x.queuedS} | ${x.runningS} |`);
    figure(`${label}: time by activity type`, largest.time.waitForShardMoves?.runningS ?? 0, 's in waitForShardMoves', {
      all: largest.time,
      backend,
    });
  } finally {
    await world.stop();
    await server.stop();
  }
}

/**
 * Worker SIGKILL during MoveShards, the way production runs: the simulated cluster, Transit's production worker
 * (src/rehearse/worker.ts → createWorker: its sticky-queue timeout, heartbeat throttling, interceptors), the
 * workflow's own activity options, shipped defaults; no standby worker (the new one is started after the kill).
 * Shard progress again = the first MoveShard job Transit creates in the agency after the kill (the outside
 * world's view); beside it what the history shows of the takeover.
 */
async function benchSigkill(bundlePath: string): Promise<void> {
  const server = await startDevServer();
  const t = KILL_TOPOLOGY;
  const bc = await startBenchCluster(t, log);
  const world = new World({ dbServers: bc.targets.length, collections: [], syncMs: 0 });
  await world.start();
  const taskQueue = 'bench-kill';
  const spawn = (name: string) => spawnBenchWorker(server, name, taskQueue, world.url, bundlePath, bc.targets);
  let b: Awaited<ReturnType<typeof spawn>> | undefined;
  try {
    const a = await spawn('worker-a');
    const h = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `bench-kill-${Date.now()}`,
      args: [{ spec: benchSpec(bc) }],
    });
    await waitFor(
      'groups moving',
      async () => {
        const p = await h.query(progressQuery);
        return p.phase === 'MoveShards' && p.shardsDone >= 20 ? p : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 200 },
    );
    // Kill while the engine waits on the agency (where it spends its time), as an operator's crash most likely finds it.
    const pending = await waitFor(
      'a wait in flight',
      async () => {
        const d = await h.describe();
        const w = d.raw.pendingActivities?.find((x) => x.activityType?.name === 'waitForShardMoves');
        return w ? { hbAt: timestampMs(w.lastHeartbeatTime) } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    const killedAt = Date.now();
    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    b = await spawn('worker-b');
    const readyAt = Date.now();
    const created = await waitFor(
      'a MoveShard job created after the kill',
      async () => {
        const jobs = await bc.jobs(['ToDo', 'Pending', 'Finished', 'Failed']);
        const after = jobs.filter((j) => j.type === 'moveShard' && Date.parse(String(j.timeCreated)) > killedAt);
        return after.length ? Math.min(...after.map((j) => Date.parse(String(j.timeCreated)))) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const events = await takeoverEvents(server, h.workflowId, killedAt);
    await h.terminate('bench: recovery measured').catch(() => undefined);
    figure('worker SIGKILL during MoveShards → shard progress again', r1((created - killedAt) / 1000), 's', {
      killedDuring: 'waitForShardMoves',
      lastHeartbeatBeforeKill: Number.isNaN(pending.hbAt) ? 'none yet' : `${r1((killedAt - pending.hbAt) / 1000)} s`,
      newWorkerStartup: r1((readyAt - killedAt) / 1000),
      readyToProgress: r1((created - readyAt) / 1000),
      takeover: events,
      target: '≤ 5 s',
      progress: 'first MoveShard job Transit created in the agency after the kill',
      topology: t.what,
      backend: 'simulated cluster (src/sim), production worker (createWorker), shipped defaults',
    });
  } finally {
    await b?.stop();
    await world.stop();
    await bc.stop();
    await server.stop();
  }
}

/** The history's events after the kill, as "+seconds type (activity)": what the takeover waited for. */
async function takeoverEvents(server: DevServer, workflowId: string, since: number): Promise<string[]> {
  const hist = await server.client.workflow.getHandle(workflowId).fetchHistory();
  const names = new Map<string, string>();
  const out: string[] = [];
  for (const e of hist.events ?? []) {
    const at = eventTimeMs(e);
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched) names.set(String(e.eventId), sched.activityType?.name ?? '?');
    if (at < since) continue;
    const of = (
      e.activityTaskStartedEventAttributes ??
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskTimedOutEventAttributes
    )?.scheduledEventId;
    const what = sched?.activityType?.name ?? (of != null ? names.get(String(of)) : undefined);
    const type = String(temporal.api.enums.v1.EventType[e.eventType ?? 0]).replace('EVENT_TYPE_', '');
    out.push(`+${((at - since) / 1000).toFixed(1)} s ${type}${what ? ` (${what})` : ''}`);
    if (out.length >= 12) break;
  }
  return out;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  if (!only || only.has('1')) {
    log('1. MoveShards makespan per topology (simulated ArangoDB)…');
    const server = await startDevServer();
    try {
      await benchMakespans(server, await workflowBundleFile());
    } finally {
      await server.stop();
    }
  }
  if (!only || only.has('2')) {
    for (const [c, per] of [
      [50, 200],
      [1000, 100],
    ] as const) {
      const p = payloadSizes(c, per);
      figure(
        `payloads for ${p.groups} zero-byte shard groups (computed from the types, not run)`,
        p.continueAsNew,
        'bytes',
        {
          what: 'continue-as-new input (spec, state with the plan and the shard run)',
          readShardPlanResult: p.readShardPlan,
          rollbackContinueAsNew: p.rollback,
          storedGzipped: {
            continueAsNew: p.continueAsNewGzip,
            readShardPlanResult: p.readShardPlanGzip,
            rollbackContinueAsNew: p.rollbackGzip,
          },
          limit: 'Temporal default 2 MB per payload (BlobSizeLimitError), the SDK warns at 512 KB',
          backend: 'none (JSON sizes of the real types)',
        },
      );
    }
    const collections = Number(argOf('--scale-collections') ?? 1000);
    log(`2. ${collections * 100} zero-byte shards on the real Temporal server (default limits)…`);
    await benchScale(collections);
  }
  if (!only || only.has('3')) {
    log('3. worker SIGKILL during MoveShards (simulated cluster, production worker)…');
    await benchSigkill(await workflowBundleFile());
  }
  log(
    `bench wall time ${((Date.now() - t0) / 60000).toFixed(1)} min, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
    process.exit(1);
  },
);
