// Data safety of a migration, end to end over HTTP against the simulator, with Transit's own shard engine: every
// shard of a 3-DB-server cluster moves to 3 new DB servers while clients keep writing, then every acknowledged
// document is readable and every shard has replicationFactor in-sync copies; the same check fails when the order
// is wrong; all three agents are replaced one by one under load. Failures and supervision traps:
// agency-migration-faults.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { HttpClient } from '../src/sim/net';
import { bearerHeader } from '../src/sim/jwt';
import {
  ContinuousWriter,
  arangoDb,
  arangoRef,
  groupsOf,
  simActivities,
  startSim,
  underReplicated,
  waitUntil,
} from './harness/sim';
import {
  TOPOLOGY,
  addNewServers,
  d,
  migrate,
  stopAndCheck,
  supervisionCleanOuts,
  writers,
  type Dict,
} from './harness/migrate';

describe('migrating every shard to new DB servers', () => {
  test('under continuous writes: every acknowledged document is readable and every shard keeps replicationFactor in-sync copies', async () => {
    const c = await startSim(TOPOLOGY);
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const ws = writers(c);
      const news = await addNewServers(c, act, ref);
      const under: string[] = [];
      const checks: Promise<void>[] = [];
      // After every step of the engine: every shard still has replicationFactor in-sync copies.
      // A collection created in the middle of the migration (on whatever servers the coordinator picks) is moved too:
      // the engine runs again on a fresh Plan until nothing is left on an old server, as MoveShards does.
      let created: Promise<unknown> | undefined;
      await migrate(c, act, ref, olds, news, {
        onStep: (what) => {
          checks.push(underReplicated(c).then((u) => void under.push(...u)));
          if (!created && what.startsWith('waitForShardMoves'))
            created = arangoDb(c, 'shop').createCollection('late', {
              numberOfShards: 3,
              replicationFactor: 2,
            } as never);
        },
      });
      await created;
      await Promise.all(checks);
      const conv = await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      assert.equal(conv.shards, 16 + 3, "every shard, the late collection's included, is on the new servers");
      await new Promise((r) => setTimeout(r, 500));
      const { acked, missing } = await stopAndCheck(c, ws);
      assert.ok(acked > 100, `only ${acked} writes acknowledged`);
      assert.deepEqual(missing, [], 'every acknowledged document is readable');
      assert.deepEqual(under, [], 'at every engine step every shard had replicationFactor in-sync copies');
      assert.deepEqual(await underReplicated(c), []);
      assert.deepEqual(await supervisionCleanOuts(c), [], 'auto-shrink stayed neutralised');
      // Retire the old servers: stop them, wait until FAILED, remove them; the data does not depend on them.
      for (const id of olds) await c.memberById(id)!.stop();
      for (const id of olds) assert.equal(await act.removeServer({ arango: ref, serverId: id }), 'removed');
      const db = arangoDb(c, 'shop');
      assert.deepEqual((await Promise.all(ws.map((w) => w.missing(db)))).flat(), []);
      const counts = d((await db.collection('lines').count()) as unknown).count;
      assert.equal(counts, 6 * 20);
    } finally {
      await c.stop();
    }
  });

  test('the same check fails when the order is wrong: old copies removed before the new ones are in sync lose acknowledged writes', async () => {
    const c = await startSim({
      ...TOPOLOGY,
      bandwidth: '200KB/s',
      databases: [
        {
          name: 'shop',
          collections: [
            {
              name: 'single',
              numberOfShards: 2,
              replicationFactor: 1,
              documentsPerShard: 100,
              bytesPerDocument: 20_000,
            },
          ],
        },
      ],
    });
    try {
      const act = simActivities({ inSyncGraceMs: 300 });
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const news = await addNewServers(c, act, ref);
      const w = new ContinuousWriter(arangoDb(c, 'shop'), 'single', 2);
      // Writes acknowledged before the move began live only in the old copies (seeded documents copy first).
      await waitUntil('writes acknowledged before the move', 30_000, () => w.acked.size >= 40, 50);
      const groups = groupsOf(await act.readShardPlan({ migrationId: 'wrong', arango: ref }));
      const moves = groups.map((g, i) => ({ ...g, expected: g.servers, add: [news[i]] }));
      await act.addShardFollower({ migrationId: 'wrong', arango: ref, moves });
      // The guarded step refuses: the new copy is not in sync yet.
      await assert.rejects(
        act.moveShardLeadership({
          migrationId: 'wrong',
          arango: ref,
          moves: moves.map((m) => ({ ...m, from: m.servers[0], to: m.add[0] })),
        }),
        (e: unknown) => e instanceof ApplicationFailure && e.type === 'InvariantViolationError',
      );
      // The wrong order, done by hand: drop the old leader from Plan while the new copy is still being filled.
      for (const m of moves) {
        const ops: Dict = {
          '/arango/Plan/Version': { op: 'increment' },
          [`/arango/Supervision/Shards/${m.shard}`]: { op: 'delete' },
        };
        for (const g of [m, ...m.clones])
          ops[`/arango/Plan/Collections/shop/${g.collectionId}/shards/${g.shard}`] = m.add;
        assert.equal((await c.agencyWrite([[ops]])).status, 200);
      }
      await c.waitConverged(30_000);
      await new Promise((r) => setTimeout(r, 300));
      await w.stop();
      const missing = await w.missing(arangoDb(c, 'shop'));
      const seeded = ((await arangoDb(c, 'shop').collection('single').count()) as unknown as { count: number }).count;
      // The acknowledged-writes check itself detects the loss (not only the seeded count).
      assert.ok(missing.length > 0, `the acknowledged-writes check reports lost keys (${w.acked.size} acknowledged)`);
      assert.ok(missing.every((k) => w.acked.has(k)));
      assert.ok(
        seeded < 200 + w.acked.size,
        `documents are gone (${seeded} left of ${200 + w.acked.size} acknowledged)`,
      );
      void olds;
    } finally {
      await c.stop();
    }
  });
});

describe('replacing the agents', () => {
  test('all three agents replaced one by one under writes: quorum is never lost and no acknowledged write is lost', async () => {
    const c = await startSim(TOPOLOGY);
    const probe = new HttpClient({}, bearerHeader(c.jwtSecret, 'probe'));
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const ws = writers(c);
      const originals = c.agents.map((a) => ({ id: a.id, endpoint: a.endpoint }));
      // Probe: an agency write every 100 ms; the longest stretch without a successful write is recorded.
      let running = true;
      let lastOk = Date.now();
      let longestGap = 0;
      const probing = (async () => {
        while (running) {
          for (const a of c.agents.filter((x) => x.running)) {
            const r = await probe
              .request(a.endpoint, '/_api/agency/write', {
                body: [[{ '/probe': { op: 'increment' } }]],
                timeoutMs: 1000,
              })
              .catch(() => undefined);
            if (r?.status === 200) {
              longestGap = Math.max(longestGap, Date.now() - lastOk);
              lastOk = Date.now();
              break;
            }
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      for (const { id } of originals) {
        await act.checkAgentReplaceable({ arango: ref, agentId: id });
        const fresh = await c.replaceAgent(id);
        await act.waitForAgentCaughtUp({ arango: ref, agentId: id, endpoint: fresh.endpoint, timeoutSeconds: 30 });
        const running = c.agents.filter((a) => a.running).length;
        assert.equal(running, 3);
      }
      running = false;
      await probing;
      const cfg = d((await c.request((await c.agencyLeader())!.endpoint, '/_api/agency/config')).body);
      const pool = d(d(cfg.configuration).pool);
      for (const o of originals) assert.notEqual(pool[o.id], o.endpoint, `${o.id} has a new endpoint`);
      assert.deepEqual(Object.keys(pool).sort(), originals.map((o) => o.id).sort());
      // Only the replacement of the leader costs an election; quorum itself is never lost.
      assert.ok(longestGap < 4000, `agency writes stalled for ${longestGap} ms`);
      const { missing, acked } = await stopAndCheck(c, ws);
      assert.ok(acked > 50);
      assert.deepEqual(missing, []);
      const health = await act.checkClusterHealth({ arango: ref });
      assert.equal(health.healthy, true, health.problems.join('; '));
    } finally {
      probe.close();
      await c.stop();
    }
  });
});
