/**
 * `npm run bench`: Transit's figures. Benchmarks report; they do not pass or fail anything.
 *
 * 1. Makespan of moving 1,000 shards from 6 to 6 DB servers (simulated cluster, modelled per-server
 *    bandwidth) with Transit's scheduler and shard engine (the same code the workflow runs, driving the real
 *    agency activities), divided by the lower bound (largest bytes sent or received by any server ÷ bandwidth);
 *    beside it, on the same topology, the operator's manual way: cleanOutServer one source server at a time.
 * 2. 10,000 zero-byte shards end to end on the real Temporal server (in-memory world): wall time, the largest
 *    number of events in one run, worker peak RSS.
 * 3. Worker SIGKILL during MoveShards → seconds until shard progress resumes on a new worker.
 *
 *   npm run bench [-- --json] [-- --only 1,2,3] [-- --no-manual]
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startSim, arangoRef, simActivities, type SimCluster } from '../test/harness/sim';
import { startDevServer } from '../test/harness/temporal';
import { spawnWorldWorker, workflowBundleFile } from '../test/harness/worker';
import { World } from '../test/harness/world';
import { worldSpec } from '../test/harness/specs';
import { waitFor } from '../test/harness/procs';
import { runsOf } from '../test/harness/replay';
import { indexPlan, totals } from '../src/workflows/plan';
import { assignTargets, makespanLowerBound } from '../src/workflows/scheduler';
import { newShardRun } from '../src/workflows/shard-mover';
import { runJobEngine } from '../src/workflows/job-engine';
import { initialState } from '../src/workflows/state';
import { progressQuery } from '../src/shared/controls';
import { MigrationSpec } from '../src/spec/schema';
import type { MigrationReport } from '../src/shared/types';

const json = process.argv.includes('--json');
const onlyArg = process.argv[process.argv.indexOf('--only') + 1];
const only = process.argv.includes('--only') && onlyArg ? new Set(onlyArg.split(',')) : null;
const figures: Record<string, unknown>[] = [];
function figure(name: string, value: number | string, unit: string, extra: Record<string, unknown> = {}): void {
  const f = { figure: name, value, unit, ...extra };
  figures.push(f);
  if (json) process.stdout.write(`${JSON.stringify(f)}\n`);
  else console.log(`${name}: ${value} ${unit}${Object.keys(extra).length ? `  ${JSON.stringify(extra)}` : ''}`);
}
const log = (s: string) => (json ? process.stderr : process.stdout).write(`  ${s}\n`);

// ---------------------------------------------------------------- 1. makespan
const BANDWIDTH = 8 * 1024 * 1024; // bytes/s per server and direction (modelled)
function topology() {
  // 1,000 shards over 10 collections with uneven sizes (bytes per document differ), replicationFactor 2.
  const collections = Array.from({ length: 10 }, (_, i) => ({
    name: `c${i}`,
    numberOfShards: 100,
    replicationFactor: 2,
    documentsPerShard: 8,
    bytesPerDocument: 64 * 1024 * (1 + (i % 5)),
  }));
  return {
    agents: 3,
    dbServers: 6,
    coordinators: 1,
    bandwidth: BANDWIDTH,
    targetNumberOfDBServers: null,
    databases: [{ name: 'bench', collections }],
  };
}

async function withNewServers(c: SimCluster, n: number): Promise<string[]> {
  const before = new Set(
    (await simActivities().readShardPlan({ migrationId: 'bench', arango: arangoRef(c) })).servers.map((s) => s.id),
  );
  for (let i = 0; i < n; i++) await c.addDBServer();
  const health = (await c.coordinatorCall('GET', '/_admin/cluster/health')) as {
    Health: Record<string, { Status: string }>;
  };
  return waitFor(
    'new DB servers GOOD',
    async () => {
      const h = (await c.coordinatorCall('GET', '/_admin/cluster/health')) as {
        Health: Record<string, { Status: string }>;
      };
      const fresh = Object.entries(h.Health)
        .filter(([id, v]) => id.startsWith('PRMR') && !before.has(id) && v.Status === 'GOOD')
        .map(([id]) => id);
      return fresh.length === n ? fresh.sort() : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  ).finally(() => void health);
}

async function benchTransit(): Promise<{ seconds: number; bound: number; bytes: number }> {
  const c = await startSim(topology());
  try {
    const acts = simActivities({ pollIntervalMs: 100 });
    const targets = await withNewServers(c, 6);
    const plan = await acts.readShardPlan({ migrationId: 'bench', arango: arangoRef(c) });
    const ix = indexPlan(plan);
    const desired = assignTargets(ix, targets);
    const bound = makespanLowerBound(ix, desired, BANDWIDTH);
    const spec = MigrationSpec.parse({
      ...worldSpec(),
      arango: arangoRef(c),
      policy: {
        maxConcurrentShardMoves: Number(process.env.BENCH_CONCURRENCY ?? 200),
        bandwidthBytesPerSecond: BANDWIDTH,
      },
    });
    const stepStats: Record<string, { n: number; ms: number; groups: number }> = {};
    const state = initialState('bench', spec);
    state.plan = plan;
    state.targetServerIds = targets;
    state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
    const t0 = Date.now();
    const util = sampleLinks(c, t0);
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
          const e = (stepStats[k] ??= { n: 0, ms: 0, groups: 0 });
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
    util.report(log);
    log(
      `engine steps (calls, seconds, groups): ${Object.entries(stepStats)
        .map(([k, v]) => `${k} ${v.n}/${(v.ms / 1000).toFixed(1)}s/${v.groups}`)
        .join(', ')}`,
    );
    if (r !== 'done') throw new Error(`engine ended ${r}`);
    await acts.verifyConvergence({
      arango: arangoRef(c),
      mustNotHold: plan.servers.map((s) => s.id).filter((id) => !targets.includes(id)),
    });
    return { seconds, bound, bytes: totals(ix).bytes };
  } finally {
    await c.stop();
  }
}

/**
 * Samples every DB server's modelled send and receive links: for each link, the seconds it was busy and when it
 * last carried bytes. Idle time of a server whose load equals the lower bound is what separates a makespan from it.
 */
function sampleLinks(c: SimCluster, t0: number): { report(out: (s: string) => void): void } {
  const links = new Map<string, { send: number; recv: number; lastSend: number; lastRecv: number }>();
  const every = 100;
  const busyBins: number[] = [];
  const timer = setInterval(() => {
    const now = Date.now();
    const bin = Math.floor((now - t0) / 5000);
    for (const m of c.dbServers) {
      const d = m.dbServer;
      if (!d) continue;
      const id = m.id || m.endpoint;
      const b = links.get(id) ?? { send: 0, recv: 0, lastSend: 0, lastRecv: 0 };
      links.set(id, b);
      const sending = d.sendLink.activeFlows > 0;
      const receiving = d.recvLink.activeFlows > 0;
      if (sending) ((b.send += every), (b.lastSend = now));
      if (receiving) ((b.recv += every), (b.lastRecv = now));
      if (sending || receiving) busyBins[bin] = (busyBins[bin] ?? 0) + 1;
    }
  }, every);
  const at = (t: number) => (t ? ((t - t0) / 1000).toFixed(1) : '-');
  return {
    report(out) {
      clearInterval(timer);
      const rows = [...links.entries()]
        .filter(([, b]) => b.send + b.recv > 0)
        .map(
          ([id, b]) =>
            `${id.slice(-8)} send ${(b.send / 1000).toFixed(1)}s→${at(b.lastSend)} recv ${(b.recv / 1000).toFixed(1)}s→${at(b.lastRecv)}`,
        );
      out(`link busy seconds → last busy at (per DB server): ${rows.join('; ')}`);
      out(
        `busy servers per 5 s (of ${c.dbServers.length}, 50 samples each): ${busyBins.map((n) => (n / 50).toFixed(1)).join(' ')}`,
      );
    },
  };
}

async function benchCleanOut(): Promise<{ seconds: number; movedBytes: number }> {
  const c = await startSim(topology());
  try {
    const acts = simActivities({ pollIntervalMs: 100 });
    const sources = (await acts.readShardPlan({ migrationId: 'bench', arango: arangoRef(c) })).servers.map((s) => s.id);
    await withNewServers(c, 6);
    const t0 = Date.now();
    for (const server of sources) {
      const job = (await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server })) as { id: string };
      await waitFor(
        `cleanOutServer ${server}`,
        async () => {
          const j = (await c.coordinatorCall('GET', `/_admin/cluster/queryAgencyJob?id=${job.id}`)) as {
            status: string;
          };
          if (j.status === 'Failed') throw new Error(`cleanOutServer ${server} failed`);
          return j.status === 'Finished' ? true : undefined;
        },
        { timeoutMs: 3_600_000, intervalMs: 200 },
      );
      log(`cleanOutServer ${server}: done at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    return { seconds: (Date.now() - t0) / 1000, movedBytes: 0 };
  } finally {
    await c.stop();
  }
}

// ---------------------------------------------------------------- 2 and 3: real Temporal, in-memory world
async function benchTenThousand(): Promise<void> {
  const server = await startDevServer();
  const world = new World({
    syncMs: 0,
    collections: Array.from({ length: 50 }, (_, i) => ({
      name: `c${i}`,
      shards: 200,
      replicationFactor: 1 + (i % 3),
      clones: i % 5 === 0 ? 1 : 0,
      bytes: 0,
    })),
  });
  await world.start();
  try {
    const bundlePath = await workflowBundleFile();
    const taskQueue = 'bench-10k';
    const spec = worldSpec() as any;
    spec.policy.maxConcurrentShardMoves = 500;
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
      workflowId: `bench-10k-${Date.now()}`,
      args: [{ spec }],
    });
    const r = (await h.result()) as MigrationReport;
    const wall = (Date.now() - t0) / 1000;
    clearInterval(timer);
    await w.stop();
    const runs = await runsOf(server.client, h.workflowId);
    figure('10k zero-byte shards: wall time', Number(wall.toFixed(1)), 's', {
      status: r.status,
      groups: world.groups.length,
      shards: r.shardsTotal,
      target: '≤ 60 s',
    });
    figure('10k: most events in one run', Math.max(...runs.map((x) => x.events)), 'events', {
      runs: runs.map((x) => x.events),
      target: '< 10,000',
    });
    figure('10k: worker peak RSS', Math.round(peakKb / 1024), 'MB', { target: '< 500 MB' });
  } finally {
    await world.stop();
    await server.stop();
  }
}

async function benchSigkill(): Promise<void> {
  const server = await startDevServer();
  const world = new World({
    syncMs: 1500,
    collections: [{ name: 'orders', shards: 24, replicationFactor: 2, clones: 1, bytes: 4000 }],
  });
  await world.start();
  try {
    const bundlePath = await workflowBundleFile();
    const taskQueue = 'bench-kill';
    const spec = worldSpec() as any;
    spec.policy.maxConcurrentShardMoves = 3;
    const a = await spawnWorldWorker({
      address: server.address,
      taskQueue,
      worldUrl: world.url,
      bundlePath,
      name: 'worker-a',
    });
    const h = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `bench-kill-${Date.now()}`,
      args: [{ spec }],
    });
    const before = await waitFor(
      'shards moving',
      async () => {
        const p = await h.query(progressQuery);
        return p.phase === 'MoveShards' && p.shardsDone >= 4 ? p : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    await waitFor('a wait in flight', () => world.calls.at(-1)?.name === 'waitForShardMoves', {
      timeoutMs: 10_000,
      intervalMs: 10,
    });
    const killedAt = Date.now();
    process.kill(a.pid, 'SIGKILL');
    await a.exited;
    const b = await spawnWorldWorker({
      address: server.address,
      taskQueue,
      worldUrl: world.url,
      bundlePath,
      name: 'worker-b',
    });
    const readyAt = Date.now();
    await waitFor(
      'progress on the new worker',
      async () => (await h.query(progressQuery)).shardsDone > before.shardsDone,
      { timeoutMs: 120_000, intervalMs: 50 },
    );
    const resumed = Date.now();
    await h.result();
    await b.stop();
    figure(
      'worker SIGKILL during MoveShards → shard progress resumes',
      Number(((resumed - killedAt) / 1000).toFixed(1)),
      's',
      {
        newWorkerStartup: Number(((readyAt - killedAt) / 1000).toFixed(1)),
        readyToProgress: Number(((resumed - readyAt) / 1000).toFixed(1)),
        target: '≤ 10 s',
      },
    );
  } finally {
    await world.stop();
    await server.stop();
  }
}

async function main(): Promise<void> {
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  if (!only || only.has('1')) {
    log('1. makespan: Transit vs the lower bound vs cleanOutServer one at a time (simulated cluster)…');
    const t = await benchTransit();
    figure('makespan 1,000 shards 6→6: Transit', Number(t.seconds.toFixed(1)), 's', {
      lowerBound: Number(t.bound.toFixed(1)),
      bandwidthPerServer: BANDWIDTH,
      bytes: t.bytes,
    });
    figure('makespan ÷ lower bound', Number((t.seconds / t.bound).toFixed(2)), 'ratio', { target: '≤ 1.10' });
    if (process.argv.includes('--no-manual')) return; // the manual way alone takes ~4.5 min
    const m = await benchCleanOut();
    figure('makespan 1,000 shards 6→6: cleanOutServer one source at a time', Number(m.seconds.toFixed(1)), 's');
    figure('speed-up over the manual way', Number((m.seconds / t.seconds).toFixed(2)), '×', { target: '≥ 2×' });
  }
  if (!only || only.has('2')) {
    log('2. 10,000 zero-byte shards on the real Temporal server…');
    await benchTenThousand();
  }
  if (!only || only.has('3')) {
    log('3. worker SIGKILL during MoveShards…');
    await benchSigkill();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
    process.exit(1);
  },
);
