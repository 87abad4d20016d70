// Measures two figures of the ArangoDB simulator:
//  1. documents per second written through one coordinator (arangojs clients, several in flight);
//  2. the time to move 1,000 shards to new DB servers with unbounded bandwidth, using the agency activities
//     (add follower → wait in sync → move leadership → remove old copy, in batches).
// Usage: node --import tsx scripts/sim-figures.ts [--processes] [--shards N] [--batch N] [--seconds S] [--clients N]
import { Database } from 'arangojs';
import { SimCluster } from '../src/sim/cluster';
import { createAgencyActivities, fileCredentialReader } from '../src/activities/agency';
import type { ShardKey } from '../src/activities/agency-types';

const TIMING = {
  startupGrace: 1,
  okThreshold: 3,
  gracePeriod: 8,
  electionTimeoutMin: 1,
  electionTimeoutMax: 2,
  supervisionFrequency: 1,
};

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function throughput(processes: boolean, seconds: number, clients: number): Promise<number> {
  const c = await SimCluster.start({
    processes,
    topology: {
      agents: 3,
      dbServers: 3,
      coordinators: 1,
      timing: TIMING,
      databases: [{ name: 'bench', collections: [{ name: 'docs', numberOfShards: 6, replicationFactor: 2 }] }],
    },
  });
  try {
    // A lean HTTP client (the simulator's own), so the figure measures the cluster rather than the client;
    // one arangojs check makes sure the same path works for real drivers.
    const db = new Database({ url: c.coordinatorUrl, databaseName: 'bench', auth: { token: c.jwt() } });
    await db.collection('docs').save({ _key: 'arangojs-check' });
    let n = 0;
    let failed = 0;
    const until = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async (_, w) => {
        let i = 0;
        while (Date.now() < until) {
          const r = await c
            .request(c.coordinatorUrl, '/_db/bench/_api/document/docs', {
              body: { _key: `w${w}-${i++}`, payload: 'x'.repeat(100) },
            })
            .catch(() => undefined);
          if (r && r.status < 300) n += 1;
          else failed += 1;
        }
      }),
    );
    if (failed) console.log(`  (${failed} writes failed)`);
    return n / seconds;
  } finally {
    await c.stop();
  }
}

async function moveShards(shards: number, batch: number): Promise<{ seconds: number; shards: number }> {
  const per = Math.ceil(shards / 4);
  const c = await SimCluster.start({
    topology: {
      agents: 3,
      dbServers: 3,
      coordinators: 1,
      bandwidth: 'unbounded',
      targetNumberOfDBServers: null,
      timing: TIMING,
      databases: [
        {
          name: 'bench',
          collections: Array.from({ length: 4 }, (_, i) => ({
            name: `c${i}`,
            numberOfShards: per,
            replicationFactor: 2,
            documentsPerShard: 10,
          })),
        },
      ],
    },
  });
  try {
    const arango = { endpoint: c.coordinatorUrl, jwtSecret: { file: c.jwtSecretFile } };
    const act = createAgencyActivities({ readCredential: fileCredentialReader(), pollIntervalMs: 200 });
    const olds = c.dbServers.map((m) => m.id);
    const news = (await Promise.all([c.addDBServer(), c.addDBServer(), c.addDBServer()])).map((m) => m.id);
    const partner = new Map(olds.map((o, i) => [o, news[i]]));
    const plan = await act.readShardPlan({ migrationId: 'fig', arango });
    const groups = plan.collections.flatMap((col) =>
      col.shards.map(([shard, idx], i) => ({
        database: col.database,
        collectionId: col.collectionId,
        shard,
        clones: col.clones.map((cl) => ({ collectionId: cl.collectionId, shard: cl.shards[i] })),
        servers: idx.map((j) => plan.servers[j].id),
        rf: col.replicationFactor,
      })),
    );
    const t0 = Date.now();
    for (let i = 0; i < groups.length; i += batch) {
      const b = groups.slice(i, i + batch);
      const moves = b.map((g) => ({
        ...(g as ShardKey),
        expected: g.servers,
        add: g.servers.map((s) => partner.get(s)!),
      }));
      await act.addShardFollower({ migrationId: 'fig', arango, moves });
      for (;;) {
        const w = await act.waitForShardInSync({
          migrationId: 'fig',
          arango,
          shards: moves.map((m) => ({ ...m, servers: [...m.expected, ...m.add] })),
          mode: 'all',
          timeoutSeconds: 60,
        });
        if (w.inSync.length === moves.length) break;
      }
      await act.moveShardLeadership({
        migrationId: 'fig',
        arango,
        moves: moves.map((m) => ({ ...m, from: m.expected[0], to: m.add[0] })),
      });
      await act.removeShardFollower({
        migrationId: 'fig',
        arango,
        moves: moves.map((m, j) => ({ ...m, remove: m.expected, replicationFactor: b[j].rf })),
      });
    }
    const seconds = (Date.now() - t0) / 1000;
    await act.verifyConvergence({ arango, mustNotHold: olds });
    return { seconds, shards: groups.length };
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 10);
  const processes = process.argv.includes('--processes');
  console.log(
    `simulated cluster figures (${processes ? 'one process per member' : 'all members in this process'}, ${require('node:os').cpus().length} cores)`,
  );
  const clients = arg('clients', 32);
  const dps = await throughput(processes, seconds, clients);
  console.log(
    `documents/second through one coordinator (${clients} writes in flight, replicationFactor 2): ${Math.round(dps)}`,
  );
  const m = await moveShards(arg('shards', 1000), arg('batch', 100));
  console.log(
    `moving ${m.shards} shards (replicationFactor 2) to 3 new DB servers, unbounded bandwidth, batches of ${arg('batch', 100)}: ${m.seconds.toFixed(1)} s`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
