// The client-latency model wired into the simulated DB servers (src/sim/client-latency.ts, SIMULATED): clients
// reading and writing through a coordinator while every shard of a collection moves at once. Printed figures:
// client p50/p99 with no copy running and during the copies (simulated; a shared 2-core machine adds its own
// jitter). Asserted: every DB server that fed a copy held writes once per copy it finished (the final catch-up),
// every acknowledged write is readable afterwards, and a write waits for a hold of its shard (order, not time).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Database } from 'arangojs';
import { ClientLatency } from '../src/sim/client-latency';
import { percentile } from '../src/workflows/latency';
import { arangoDb, startSim, waitUntil, type SimCluster } from './harness/sim';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});

/** Clients through the coordinator: `workers` loops of read-then-write on the probe collection, until stopped. */
function clients(db: Database, workers: number) {
  const lat: number[] = [];
  const acked = new Map<string, number>();
  let stop = false;
  let n = 0;
  const loops = Array.from({ length: workers }, async (_, w) => {
    while (!stop) {
      const key = `w${w}-${n++ % 50}`;
      const v = n;
      const t0 = performance.now();
      await db.collection('probe').save({ _key: key, v }, { overwriteMode: 'replace' });
      lat.push(performance.now() - t0);
      acked.set(key, v);
      const t1 = performance.now();
      await db.collection('probe').document(key);
      lat.push(performance.now() - t1);
    }
  });
  return {
    lat,
    acked,
    take: () => lat.splice(0),
    stop: async () => {
      stop = true;
      await Promise.all(loops);
    },
  };
}

const fmt = (xs: number[]) =>
  `n=${xs.length} p50 ${percentile(xs, 0.5)!.toFixed(1)} ms p99 ${percentile(xs, 0.99)!.toFixed(1)} ms`;

describe('simulated client latency on the DB servers', () => {
  let c: SimCluster;
  const saved = process.env.TRANSIT_SIM_CLIENT_LATENCY;

  before(async () => {
    process.env.TRANSIT_SIM_CLIENT_LATENCY = '1';
    c = await startSim({
      agents: 3,
      dbServers: 4,
      coordinators: 1,
      bandwidth: '8MB/s',
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'shop',
          collections: [
            { name: 'data', numberOfShards: 8, replicationFactor: 1, documentsPerShard: 100, bytesPerDocument: 40_000 },
            { name: 'probe', numberOfShards: 4, replicationFactor: 2 },
          ],
        },
      ],
    });
  });
  after(async () => {
    await c?.stop();
    if (saved === undefined) delete process.env.TRANSIT_SIM_CLIENT_LATENCY;
    else process.env.TRANSIT_SIM_CLIENT_LATENCY = saved;
  });

  test('copies raise what clients see; the final catch-up holds writes once per copy; nothing acknowledged is lost', async () => {
    const db = arangoDb(c, 'shop');
    const load = clients(db, 4);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = load.take();
    // Every data shard moves at once (4 MB each, 8 MB/s per link): each server sends and receives copies.
    const shards = (await c.shardStates()).filter((s) => s.name === 'data');
    const ids = c.dbServers.map((m) => m.id);
    const jobs: string[] = [];
    for (const s of shards) {
      const to = ids[(ids.indexOf(s.plan[0]!) + 1) % ids.length]!;
      const r = d(
        await c.coordinatorCall('POST', '/_db/shop/_admin/cluster/moveShard', {
          collection: 'data',
          shard: s.shard,
          fromServer: s.plan[0],
          toServer: to,
        }),
      );
      jobs.push(String(r.id));
    }
    const done = async () => {
      for (const id of jobs) {
        const j = d((await c.request(c.coordinatorUrl, `/_admin/cluster/queryAgencyJob?id=${id}`)).body);
        if (j.status !== 'Finished') return false;
      }
      return true;
    };
    await waitUntil('every move finished', 120_000, done);
    const during = load.take();
    await load.stop();
    console.log(`simulated client latency (4 clients, read+write through the coordinator): idle ${fmt(idle)}`);
    console.log(`simulated client latency while 8 shards × 4 MB move at once (8 MB/s links): ${fmt(during)}`);
    const stats = c.dbServers.map((m) => ({ id: m.id, ...m.dbServer!.clientLatency.stats }));
    console.log(
      'per DB server (simulated):',
      stats
        .map(
          (s) =>
            `${s.id}: ${s.requests} requests, mean delay ${(s.delayMs / Math.max(1, s.requests)).toFixed(2)} ms, ${s.holds} holds ${s.holdMs.toFixed(1)} ms`,
        )
        .join('; '),
    );
    // One hold per copy a leader finished (8 data copies; probe shards were already in sync).
    assert.equal(
      stats.reduce((a, s) => a + s.holds, 0),
      shards.length,
    );
    assert.ok(
      stats.every((s) => s.requests > 0),
      'every DB server served delayed requests',
    );
    // Zero losses: every acknowledged write reads back with its last acknowledged value.
    await c.waitConverged(30_000);
    for (const [key, v] of load.acked) assert.equal((await db.collection('probe').document(key)).v, v, key);
  });
});

test('a write to a held shard waits for the hold; other shards do not (order)', async () => {
  const cl = new ClientLatency(true, () => 0);
  const order: string[] = [];
  const hold = cl.hold('s1', 50_000, 10).then(() => order.push('hold over')); // 2.5 s + 2 ms in the model
  const held = cl.writable('s1').then(() => order.push('write s1'));
  const free = cl.writable('s2').then(() => order.push('write s2'));
  await Promise.all([hold, held, free]);
  assert.deepEqual(order, ['write s2', 'hold over', 'write s1']);
  assert.equal(cl.stats.holds, 1);
});

test('twin: with the model off nothing is delayed or held', async () => {
  const cl = new ClientLatency(false, () => 100);
  await cl.serve();
  await cl.hold('s1', 50_000, 10);
  assert.deepEqual(cl.stats, { requests: 0, delayMs: 0, holds: 0, holdMs: 0 });
  const on = new ClientLatency(
    true,
    () => 3,
    () => 0.5,
  );
  assert.equal(on.utilisation(), 0.75);
  await on.serve();
  assert.equal(on.stats.requests, 1);
  assert.ok(Math.abs(on.stats.delayMs - 4 * Math.LN2) < 1e-9, 'median draw of S·(n+1) = 4 ms mean');
});
