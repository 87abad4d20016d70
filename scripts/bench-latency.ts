/**
 * The client-latency strategies on the simulator (SIMULATED ArangoDB: src/sim with the client-latency model on,
 * TRANSIT_SIM_CLIENT_LATENCY=1; every member its own process). Each strategy gets a fresh cluster with the same
 * workload: 4 source DB servers holding 32 shards of 8 MB (replicationFactor 1), 4 new target DB servers, links of
 * 4 MB/s, and one client load for the whole run — open-loop mixed reads and updates at a fixed rate, half through
 * each of the two coordinators. Transit's shard engine (src/workflows/job-engine.ts, in this process, with the real
 * agency and probe activities — not through Temporal) moves every shard to the targets:
 *
 * - unthrottled: ceiling 1000 moves in flight (the scheduler's choice still applies), no objective;
 * - default: the spec's default ceiling (16), no objective;
 * - adaptive: ceiling 16 and policy.latency with an objective of 1.5 × the pre-migration client p99 (windows of 5 s,
 *   at least 20 samples).
 *
 * Each run first measures the noise floor (four 5 s windows with no migration); its objective is 1.5 × the median
 * window p99 (one stall of the shared 2-core machine must not set it). Printed per strategy: client p50/p99 before
 * and during, the share of 5 s windows (≥ 20 samples) during MoveShards whose p99 is within that objective, the
 * makespan (engine start to return), the controller's steps.
 *
 *   scripts/netns-run node --import tsx scripts/bench-latency.ts [--json] [--only adaptive]
 */
import { Database } from 'arangojs';
import { SimCluster } from '../src/sim/cluster';
import { createLatencyProbeActivities } from '../src/activities/latency-probe';
import { fileCredentialReader } from '../src/activities/agency';
import { MigrationSpec } from '../src/spec/schema';
import { percentile } from '../src/workflows/latency';
import { indexPlan } from '../src/workflows/plan';
import { assignTargets } from '../src/workflows/scheduler';
import { newShardRun } from '../src/workflows/shard-mover';
import { runJobEngine } from '../src/workflows/job-engine';
import { STEP, initialState } from '../src/workflows/state';
import { TEST_TIMING, arangoRef, simActivities } from '../test/harness/sim';
import { addNewServers } from '../test/harness/migrate';

process.env.TRANSIT_SIM_CLIENT_LATENCY = '1';

const WINDOW_MS = 5000;
const MIN_SAMPLES = 20;
const RATE = Number(process.env.BENCH_RATE ?? 100); // client ops/s in all
const SHARDS = 32;
const SHARD_MB = 8;
const BANDWIDTH = '4MB/s';
const json = process.argv.includes('--json');

interface Rec {
  t: number;
  ms: number;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

function stats(recs: Rec[]) {
  const xs = recs.filter((r) => r.ok).map((r) => r.ms);
  return { n: xs.length, failed: recs.length - xs.length, p50: r1(percentile(xs, 0.5)), p99: r1(percentile(xs, 0.99)) };
}

function windows(recs: Rec[], from: number, to: number) {
  const out: { start: number; n: number; p99: number | null }[] = [];
  for (let s = from; s < to; s += WINDOW_MS) {
    const xs = recs.filter((r) => r.ok && r.t >= s && r.t < Math.min(s + WINDOW_MS, to)).map((r) => r.ms);
    if (xs.length >= MIN_SAMPLES) out.push({ start: s - from, n: xs.length, p99: percentile(xs, 0.99) });
  }
  return out;
}

async function runStrategy(
  name: 'unthrottled' | 'default' | 'adaptive',
  log: (s: string) => void,
): Promise<Record<string, unknown>> {
  const t0 = Date.now();
  const c = await SimCluster.start({
    processes: true,
    topology: {
      agents: 3,
      dbServers: 4,
      coordinators: 2,
      bandwidth: BANDWIDTH,
      targetNumberOfDBServers: null,
      timing: { ...TEST_TIMING },
      databases: [
        {
          name: 'shop',
          collections: [
            {
              name: 'data',
              numberOfShards: SHARDS,
              replicationFactor: 1,
              documentsPerShard: 100,
              bytesPerDocument: (SHARD_MB * 1024 * 1024) / 100,
            },
            { name: 'load', numberOfShards: 8, replicationFactor: 2 },
          ],
        },
      ],
    },
  });
  try {
    const agency = simActivities();
    const arango = arangoRef(c);
    const targets = await addNewServers(c, agency, arango, 4);
    log(`${name}: simulated cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (4 + 4 DB servers, ${BANDWIDTH})`);
    const dbs = c.coordinators.map(
      (m) => new Database({ url: m.url, databaseName: 'shop', auth: { token: c.jwt() }, poolSize: 32 }),
    );
    await dbs[0]!.collection('load').saveAll(Array.from({ length: 1000 }, (_, i) => ({ _key: `k${i}`, v: 0 })));

    // The client load: open loop, RATE ops/s, 50 % reads, 50 % updates, alternating coordinators; each request timed
    // from its scheduled start.
    const recs: Rec[] = [];
    let stop = false;
    const inflight = new Set<Promise<void>>();
    const loadLoop = (async () => {
      const start = performance.now();
      for (let i = 0; !stop; i++) {
        const due = start + (i * 1000) / RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const coll = dbs[i % dbs.length]!.collection('load');
        const key = `k${(i * 7919) % 1000}`;
        const t = Date.now();
        const p = (i % 2 ? coll.document(key) : coll.update(key, { v: i }))
          .then(
            () => void recs.push({ t, ms: performance.now() - due, ok: true }),
            () => void recs.push({ t, ms: performance.now() - due, ok: false }),
          )
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
    })();

    // Noise floor: no migration, four windows; objective 1.5 × their median p99.
    await sleep(3000);
    const nf0 = Date.now();
    await sleep(4 * WINDOW_MS);
    const floor = stats(recs.filter((r) => r.t >= nf0));
    const floorWindows = windows(recs, nf0, nf0 + 4 * WINDOW_MS).map((w) => w.p99!);
    const objectiveMs = r1(1.5 * (percentile(floorWindows, 0.5) ?? 10))!;
    log(
      `${name}: noise floor (no migration, 20 s, ${RATE} ops/s): p50 ${floor.p50} p99 ${floor.p99} ms; ` +
        `window p99s ${floorWindows.map(r1).join(' ')} → objective ${objectiveMs} ms`,
    );

    const plan = await agency.readShardPlan({ migrationId: name, arango });
    const ix = indexPlan(plan);
    const desired = assignTargets(ix, targets);
    const spec = MigrationSpec.parse({
      deployment: { name: 'arango', namespace: 'db' },
      source: { context: 'eu', region: 'eu', namespace: 'db' },
      target: { context: 'us', region: 'us', namespace: 'db' },
      network: { mode: 'loadbalancer' },
      dns: { provider: 'rfc2136', name: 'db.example.test.', zone: 'example.test.', ttl: 5, tsigKey: { file: '/x' } },
      arango: { ...arango, targetEndpoint: c.coordinators[1]!.url },
      policy: {
        maxConcurrentShardMoves: name === 'unthrottled' ? 1000 : 16,
        ...(name === 'adaptive'
          ? {
              latency: {
                p99Ms: objectiveMs,
                windowSeconds: WINDOW_MS / 1000,
                parkAfterSeconds: 0,
                minSamples: MIN_SAMPLES,
              },
            }
          : {}),
      },
    });
    const state = initialState(name, spec);
    state.plan = plan;
    state.targetServerIds = targets;
    state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
    const probes = createLatencyProbeActivities({ readCredential: fileCredentialReader(), region: 'eu' });
    const decisions: string[] = [];
    let maxInFlight = 0;
    const d0 = Date.now();
    const result = await runJobEngine({
      state,
      acts: { ...agency, ...probes },
      ix,
      desired,
      now: () => Date.now(),
      sleep: async (ms) => void (await sleep(ms)),
      safePoint: async () => undefined,
      step: (_what, fn) => fn(),
      onProgress: () => {
        maxInFlight = Math.max(
          maxInFlight,
          state.shards!.steps.filter((x) => x !== STEP.pending && x !== STEP.done).length,
        );
      },
      stopStarting: () => false,
      log: (msg, meta) => {
        if (msg.startsWith('client latency')) {
          decisions.push(`${String(meta?.action)}:${String(meta?.cap)}`);
          log(`${name}:   ${String(meta?.reason)}`);
        }
      },
    });
    const d1 = Date.now();
    const before = stats(recs.filter((r) => r.t >= nf0 && r.t < d0));
    const dur = stats(recs.filter((r) => r.t >= d0 && r.t < d1));
    const ws = windows(recs, d0, d1);
    const within = ws.filter((w) => (w.p99 ?? Infinity) <= objectiveMs).length;
    stop = true;
    await loadLoop;
    await Promise.all(inflight);
    const row = {
      arango: 'simulated',
      strategy: name,
      result,
      objectiveMs,
      noiseFloorP99Ms: floor.p99,
      noiseFloorWindowP99Ms: floorWindows.map(r1),
      beforeP50Ms: before.p50,
      beforeP99Ms: before.p99,
      duringP50Ms: dur.p50,
      duringP99Ms: dur.p99,
      windowsWithin: within,
      windows: ws.length,
      withinShare: ws.length ? Math.round((100 * within) / ws.length) / 100 : null,
      makespanS: Math.round((d1 - d0) / 100) / 10,
      failedRequests: dur.failed,
      windowP99Ms: ws.map((w) => r1(w.p99)),
      decisions,
    };
    log(
      `${name.padEnd(11)} before p50 ${before.p50} p99 ${before.p99} | during p50 ${dur.p50} p99 ${dur.p99} ms | ` +
        `windows within ${objectiveMs} ms: ${within}/${ws.length} | makespan ${row.makespanS} s | ` +
        `failed requests ${dur.failed} | ${result}`,
    );
    log(`            window p99s: ${row.windowP99Ms.join(' ')}`);
    return row;
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const log = (s: string) => !json && console.log(s);
  const onlyAt = process.argv.indexOf('--only');
  const names = (['unthrottled', 'default', 'adaptive'] as const).filter(
    (n) => onlyAt < 0 || process.argv[onlyAt + 1] === n,
  );
  const results: Record<string, unknown>[] = [];
  for (const n of names) results.push(await runStrategy(n, log));
  const by = (n: string) => results.find((r) => r.strategy === n);
  if (by('unthrottled') && by('adaptive'))
    log(
      `adaptive makespan / unthrottled: ${((by('adaptive')!.makespanS as number) / (by('unthrottled')!.makespanS as number)).toFixed(2)} (target ≤ 1.3)`,
    );
  if (json)
    console.log(
      JSON.stringify({
        arango: 'simulated',
        rate: RATE,
        bandwidth: BANDWIDTH,
        shards: SHARDS,
        shardMB: SHARD_MB,
        results,
      }),
    );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
