/**
 * What verification before each source copy goes costs clients: the same migration of shard groups (Transit's
 * shard engine through the real agency activities, simulated ArangoDB with members as processes) run with
 * verification on and off, each on a fresh cluster, while writers insert through a coordinator and record every
 * request. "on" is verification as shipped (with the temporary replicationFactor-1 raise), "off" neither. Printed per mode: groups verified and the time per group, failed client requests, the write latency
 * (p50, p99, max — the max is the longest write pause, a leadership switch's included), writes slower than 250 ms,
 * acknowledged writes lost, and MoveShards' wall time. Figures only (the data-safety and verification tests assert
 * outcomes); every figure is SIMULATED and measured on this machine under the load printed beside it.
 *
 *   scripts/netns-run node --import tsx scripts/verify-cost.ts [--runs N] [--writers N] [--rate OPS] [--json]
 */
import { cpus, loadavg } from 'node:os';
import { arangoDb, arangoRef, simActivities, startSim, TEST_TIMING, type SimCluster } from '../test/harness/sim';
import { startEngine } from '../test/harness/engine';
import { TOPOLOGY, addNewServers } from '../test/harness/migrate';
import { verificationOf } from '../src/workflows/state';

const num = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = num('--runs', 1);
const writerCount = num('--writers', 8);
/** Total inserts per second aimed at (spread over the writers), as the data-safety test's 200 ops/s. */
const rate = num('--rate', 200);
const json = process.argv.includes('--json');

interface Sample {
  ms: number;
  ok: boolean;
}

/** Inserts into `collection` with `n` concurrent writers until stopped; every request's latency and outcome. */
function timedWriters(c: SimCluster, collection: string, n: number) {
  const samples: Sample[] = [];
  const acked: string[] = [];
  let running = true;
  let seq = 0;
  const coll = arangoDb(c, 'shop', c.coordinators[0]!.url).collection(collection);
  const every = (1000 * n) / rate;
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      const key = `vc-${seq++}`;
      const t0 = performance.now();
      const next = t0 + every;
      try {
        await coll.save({ _key: key, at: Date.now() });
        samples.push({ ms: performance.now() - t0, ok: true });
        acked.push(key);
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      } catch {
        samples.push({ ms: performance.now() - t0, ok: false });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return {
    samples,
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;

async function once(verify: boolean) {
  const c = await startSim(TOPOLOGY, { processes: true });
  try {
    const act = simActivities();
    const ref = arangoRef(c);
    // As the workflow does before it adds servers: supervision's auto-shrink would clean the new ones out.
    await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
    const news = await addNewServers(c, act, ref, 3);
    const w = timedWriters(c, 'orders', writerCount);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    // Verification as shipped: with the replicationFactor-1 raise (policy.verifyReplicationFactorOne, default on).
    const run = await startEngine(c, {
      targets: news,
      verify,
      raise: verify,
      migrationId: `verify-cost-${verify ? 'on' : 'off'}`,
    });
    // A parked engine waits for a resume that never comes here: stop it and report the park.
    let parkedWith: string | null = null;
    const outcome = await Promise.race([
      run.done,
      (async () => {
        while (!(parkedWith = run.parked())) await new Promise((r) => setTimeout(r, 500));
        await run.kill();
        return 'parked' as const;
      })(),
    ]);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    await w.stop();
    const db = arangoDb(c, 'shop');
    const lost: string[] = [];
    for (let i = 0; i < w.acked.length; i += 500) {
      const keys = w.acked.slice(i, i + 500);
      const got = (await db
        .collection('orders')
        .documents(keys, { allowDirtyRead: false })
        .catch(() => [])) as {
        _key?: string;
      }[];
      const have = new Set(got.map((x) => x?._key));
      lost.push(...keys.filter((k) => !have.has(k)));
    }
    const ms = w.samples.map((s) => s.ms).sort((a, b) => a - b);
    const v = verificationOf(run.state);
    return {
      verify,
      outcome: parkedWith ? `parked: ${parkedWith}` : outcome,
      groupsVerified: v?.groupsVerified ?? 0,
      shardsVerified: v?.shardsVerified ?? 0,
      shardsNotVerifiable: v?.shardsUnverified ?? 0,
      extraCopyBytes: run.state.shards?.verification?.extraBytes ?? 0,
      verifyMedianMs: v?.medianMs ?? null,
      verifyMaxMs: v?.maxMs ?? null,
      writes: w.samples.length,
      failed: w.samples.filter((s) => !s.ok).length,
      p50Ms: Math.round(pct(ms, 50)),
      p99Ms: Math.round(pct(ms, 99)),
      maxMs: Math.round(ms[ms.length - 1] ?? 0),
      over250: ms.filter((x) => x > 250).length,
      lost: lost.length,
      moveShardsSeconds: Number(seconds.toFixed(1)),
    };
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const conditions =
    `simulated ArangoDB (members as processes; supervision every ${TEST_TIMING.supervisionFrequency} s, grace ${TEST_TIMING.gracePeriod} s), ` +
    `3 → 3 new DB servers, shop.orders 6 shards rf 2 (+ lines, single rf 1, strict writeConcern 2), link ${TOPOLOGY.bandwidth}, ` +
    `${writerCount} writers inserting into orders through one coordinator at ${rate}/s in all, engine concurrency 8, ` +
    `${cpus().length} cores, load ${loadavg()
      .map((x) => x.toFixed(1))
      .join('/')} at start`;
  const rows: string[][] = [
    [
      'verify',
      'outcome',
      'groups verified',
      'ms/group median',
      'ms/group max',
      'writes',
      'failed',
      'p50 ms',
      'p99 ms',
      'max ms (longest pause)',
      '> 250 ms',
      'lost',
      'MoveShards s',
    ],
  ];
  for (let i = 0; i < runs; i++) {
    for (const verify of [true, false]) {
      const r = await once(verify);
      if (json) console.log(JSON.stringify({ ...r, arango: 'simulated', conditions }));
      rows.push([
        verify ? 'on' : 'off',
        String(r.outcome),
        `${r.groupsVerified} (${r.shardsVerified} shards, ${r.shardsNotVerifiable} not verifiable, ${r.extraCopyBytes} extra bytes)`,
        String(r.verifyMedianMs ?? '–'),
        String(r.verifyMaxMs ?? '–'),
        String(r.writes),
        String(r.failed),
        String(r.p50Ms),
        String(r.p99Ms),
        String(r.maxMs),
        String(r.over250),
        String(r.lost),
        String(r.moveShardsSeconds),
      ]);
    }
  }
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  console.log(`Verification cost to clients — ${conditions}`);
  for (const r of rows) console.log(r.map((x, j) => x.padEnd(widths[j]!)).join(' | '));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
