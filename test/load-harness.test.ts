// The mixed-workload load generator (test/harness/load.ts) against a simulated cluster behind real BIND:
// 8 clients (4 per region) inserting, updating, replacing, removing and reading their own keys, aiming at
// 200 operations/s in total (the rate achieved is printed, never asserted). Its checks hold on an untouched
// cluster (every acknowledged state found, counts exact) and report exactly the keys of a loss made behind the
// clients' backs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from 'arangojs';
import { startBind, type BindZone } from './harness/bind';
import { cutoverWindows, failuresOutside, LoadClient, loadSummary, mixedClients } from './harness/load';
import { collectionDigest, documentsDigest, readAll } from './harness/data-check';
import { arangoDb, startSim, type SimCluster } from './harness/sim';

const fig = (name: string, value: unknown) => console.log(`FIGURE ${name}: ${JSON.stringify(value)}`);

describe('mixed load generator and its checks', () => {
  let c: SimCluster;
  let bind: BindZone;
  let db: Database;
  let clients: LoadClient[] = [];

  before(async () => {
    c = await startSim({
      agents: 1,
      dbServers: 3,
      coordinators: 2,
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'load',
          collections: [{ name: 'acks', numberOfShards: 3, replicationFactor: 2, documentsPerShard: 20 }],
        },
      ],
    });
    db = arangoDb(c, 'load');
    bind = await startBind({
      zone: 'example.test',
      recordLabel: 'db',
      recordValues: [new URL(c.coordinatorUrl).hostname],
      recordTtl: 2,
    });
  });
  after(async () => {
    for (const x of clients) x.close();
    await bind?.stop().catch(() => undefined);
    await c?.stop();
  });

  test(
    '8 clients, mixed operations: every acknowledged state is in the cluster, counts exact, seeded documents untouched',
    { timeout: 120_000 },
    async () => {
      const seededBefore = documentsDigest(await readAll(db, 'acks'));
      assert.equal(seededBefore.count, 60);
      clients = mixedClients({
        perRegion: 4,
        dnsServers: bind.servers,
        hostname: 'db.example.test',
        port: Number(new URL(c.coordinatorUrl).port),
        database: 'load',
        collection: 'acks',
        authorization: `bearer ${c.jwt()}`,
        opsPerSecond: 200,
        localAddress: () => undefined,
      });
      clients.forEach((x) => x.start());
      await new Promise((r) => setTimeout(r, 10_000));
      await Promise.all(clients.map((x) => x.stop()));
      const summary = loadSummary(clients);
      fig('mixed load (8 clients, target 200 ops/s)', summary);
      assert.equal(summary.clients, 8);
      for (const k of ['insert', 'update', 'replace', 'remove', 'read'])
        assert.ok(summary.ops[k]! > 0, `${k} operations ran`);
      assert.equal(summary.failed, 0, JSON.stringify(clients.flatMap((x) => x.stats.failures).slice(0, 3)));
      assert.deepEqual(
        clients.flatMap((x) => x.stats.anomalies ?? []),
        [],
      );
      const checks = await Promise.all(clients.map((x) => x.verifyState()));
      assert.deepEqual(
        checks.flatMap((x) => [...x.lost, ...x.wrong, ...x.resurrected]),
        [],
      );
      assert.equal(
        checks.reduce((a, x) => a + x.uncertain, 0),
        0,
        'no failed operation, so every key is known',
      );
      // Counts: the collection holds the seeded documents plus exactly the keys the clients left alive.
      const live = checks.reduce((a, x) => a + x.live, 0);
      const all = await readAll(db, 'acks');
      assert.equal((await collectionDigest(db, 'acks')).count, 60 + live);
      assert.equal(all.length, 60 + live);
      const seeded = all.filter((d) => String(d._key).startsWith('acks-'));
      assert.deepEqual(documentsDigest(seeded), seededBefore, 'the seeded documents are untouched');
    },
  );

  test("a loss behind the clients' backs is reported exactly", async () => {
    const victim = clients[0]!;
    const alive = [...victim.keys]
      .filter(([, s]) => s.certain && s.doc)
      .map(([k]) => k)
      .slice(0, 3);
    assert.equal(alive.length, 3);
    // Removed and changed by someone else: the state check names exactly these keys.
    await db.collection('acks').removeAll(alive.slice(0, 2));
    const other = [...clients[1]!.keys].find(([, s]) => s.certain && s.doc)![0];
    await db.collection('acks').update(other, { tampered: true });
    const [a, b] = await Promise.all([victim.verifyState(), clients[1]!.verifyState()]);
    assert.deepEqual(a.lost.sort(), alive.slice(0, 2).sort());
    assert.deepEqual(b.wrong, [other]);
    assert.deepEqual([...a.wrong, ...a.resurrected, ...b.lost, ...b.resurrected], []);
  });
});

describe('cutover windows', () => {
  test('the rollback window ends at the reverse cutover: a failure after it counts as outside', () => {
    const mk = (name: string, res: [number, string][], failures: [number, number][]): LoadClient => {
      const c = new LoadClient({
        name,
        region: 'eu',
        dnsServers: ['127.0.0.1:53'],
        hostname: 'x',
        port: 1,
        database: 'd',
        collection: 'c',
        authorization: '',
      });
      c.close();
      c.stats.resolutions.push(...res.map(([at, ip]) => ({ at, values: [ip], ttl: 2 })));
      c.stats.failures.push(
        ...failures.map(([startedAt, at]) => ({ startedAt, at, op: 'x', error: 'e', servedBy: null })),
      );
      return c;
    };
    const SRC = '10.12.0.1';
    const TGT = '10.22.0.1';
    // Cutover at 100, rollback at 500; client a switches at 110 and back at 520, client b at 130 and back at 540.
    const a = mk(
      'a',
      [
        [0, SRC],
        [110, TGT],
        [300, TGT],
        [520, SRC],
        [700, SRC],
      ],
      [
        [105, 108],
        [530, 535],
        [600, 650],
      ],
    );
    const b = mk(
      'b',
      [
        [0, SRC],
        [130, TGT],
        [540, SRC],
      ],
      [
        [50, 60],
        [95, 102],
        [135, 200],
      ],
    );
    const { windows, missing } = cutoverWindows([a, b], SRC, 100, 500);
    assert.deepEqual(missing, []);
    assert.deepEqual(windows, [
      { from: 100, to: 130 },
      { from: 500, to: 540 },
    ]);
    // Inside: 105–108, 530–535 (overlap the windows), 95–102 (overlaps the start). Outside: 50–60, 135–200, 600–650.
    assert.deepEqual(
      failuresOutside([a, b], windows)
        .map((f) => [f.startedAt, f.at])
        .sort((x, y) => x[0]! - y[0]!),
      [
        [50, 60],
        [135, 200],
        [600, 650],
      ],
    );
    // A client that never comes back is named (and the window then runs to now).
    assert.deepEqual(
      cutoverWindows(
        [
          mk(
            'c',
            [
              [0, SRC],
              [110, TGT],
            ],
            [],
          ),
        ],
        SRC,
        100,
        500,
      ).missing,
      ['c never resolved back to the source'],
    );
  });
});
