// Data safety of the shard steps, end to end over HTTP against the simulator: every shard of a 3-DB-server
// cluster moves to 3 new DB servers while clients keep writing, then every acknowledged document is readable and
// every shard has replicationFactor in-sync copies; the same check fails when the order is wrong; a DB server and
// the agency leader die mid-move; all three agents are replaced one by one under load; and the supervision traps
// (auto-shrink, cleanOutServer's random destinations) do not make Transit lose or misplace data.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { HttpClient } from '../src/sim/net';
import { bearerHeader } from '../src/sim/jwt';
import {
  ContinuousWriter, arangoDb, arangoRef, groupsOf, simActivities, startSim, underReplicated, waitUntil,
  type Group, type SimCluster,
} from './harness/sim';
import type { ArangoRef } from '../src/activities/agency-types';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});
type Acts = ReturnType<typeof simActivities>;

const TOPOLOGY = {
  agents: 3,
  dbServers: 3,
  coordinators: 2,
  bandwidth: '40MB/s',
  databases: [
    {
      name: 'shop',
      collections: [
        { name: 'orders', numberOfShards: 6, replicationFactor: 2, documentsPerShard: 40, bytesPerDocument: 20_000 },
        { name: 'lines', distributeShardsLike: 'orders', documentsPerShard: 20 },
        { name: 'single', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 40, bytesPerDocument: 20_000 },
        { name: 'strict', numberOfShards: 2, replicationFactor: 2, writeConcern: 2, documentsPerShard: 10 },
      ],
    },
  ],
};

/** The shard steps for one group: target servers all new, preferring the mapped partner of each old server. */
function stepFor(g: Group, olds: Set<string>, news: string[], partner: Map<string, string>): { add: string[]; remove: string[]; to?: string } | undefined {
  const keep = g.servers.filter((s) => !olds.has(s));
  const remove = g.servers.filter((s) => olds.has(s));
  if (remove.length === 0) return undefined;
  const add: string[] = [];
  for (const s of remove) {
    if (keep.length + add.length >= g.replicationFactor) break;
    const p = partner.get(s);
    const pick = p && !g.servers.includes(p) && !add.includes(p) ? p : news.find((n) => !g.servers.includes(n) && !add.includes(n));
    if (pick) add.push(pick);
  }
  const to = olds.has(g.servers[0]) ? (add[0] ?? keep[0]) : undefined;
  return { add, remove, to };
}

/**
 * What the migration workflow does, reduced to the shard steps: batches of groups, add → wait in sync → move
 * leadership → remove old, re-reading the plan after every batch; conflicting groups are retried from a fresh
 * read, never overwritten.
 */
async function migrate(
  act: Acts,
  ref: ArangoRef,
  olds: string[],
  news: string[],
  o: { batch?: number; migrationId?: string; between?: (round: number) => Promise<void>; afterAdd?: (round: number) => Promise<void>; conflicts?: string[] } = {},
): Promise<void> {
  const migrationId = o.migrationId ?? 'mig';
  const oldSet = new Set(olds);
  const partner = new Map(olds.map((s, i) => [s, news[i % news.length]]));
  for (let round = 0; round < 100; round++) {
    const plan = await act.readShardPlan({ migrationId, arango: ref });
    const todo = groupsOf(plan)
      .map((g) => ({ g, step: stepFor(g, oldSet, news, partner) }))
      .filter((x) => x.step);
    if (todo.length === 0) return;
    const batch = todo.slice(0, o.batch ?? 3);
    let applied = batch;
    try {
      await act.addShardFollower({ migrationId, arango: ref, moves: batch.filter((x) => x.step!.add.length).map((x) => ({ ...x.g, expected: x.g.servers, add: x.step!.add })) });
    } catch (e) {
      if (!(e instanceof ApplicationFailure) || e.type !== 'ShardConflictError') throw e;
      const det = d(e.details?.[0]);
      const bad = new Set((det.conflicts as { shard: string }[]).map((x) => x.shard));
      o.conflicts?.push(...bad);
      applied = batch.filter((x) => !bad.has(x.g.shard));
    }
    await o.afterAdd?.(round);
    if (applied.length) {
      const withAdd = applied.map((x) => ({ ...x.g, servers: [...x.g.servers, ...x.step!.add] }));
      for (;;) {
        const w = await act.waitForShardInSync({ migrationId, arango: ref, shards: withAdd, mode: 'all', timeoutSeconds: 30 });
        if (w.inSync.length === withAdd.length) break;
      }
      const leaderMoves = applied.filter((x) => x.step!.to).map((x) => ({ ...x.g, from: x.g.servers[0], to: x.step!.to! }));
      if (leaderMoves.length) await act.moveShardLeadership({ migrationId, arango: ref, moves: leaderMoves });
      await act.removeShardFollower({ migrationId, arango: ref, moves: applied.map((x) => ({ ...x.g, remove: x.step!.remove, replicationFactor: x.g.replicationFactor })) });
    }
    await o.between?.(round);
  }
  throw new Error('migration did not finish in 100 rounds');
}

async function addNewServers(c: SimCluster, act: Acts, ref: ArangoRef, n = 3): Promise<string[]> {
  const members = await Promise.all(Array.from({ length: n }, () => c.addDBServer()));
  const r = await act.waitForServerRegistered({ arango: ref, endpoints: members.map((m) => m.endpoint), timeoutSeconds: 60 });
  return r.servers.map((s) => s.id);
}

function writers(c: SimCluster): ContinuousWriter[] {
  return [
    new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[0].url), 'orders', 2),
    new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[c.coordinators.length - 1].url), 'single', 2),
  ];
}

async function stopAndCheck(c: SimCluster, ws: ContinuousWriter[]): Promise<{ acked: number; missing: string[] }> {
  await Promise.all(ws.map((w) => w.stop()));
  const db = arangoDb(c, 'shop');
  const missing = (await Promise.all(ws.map((w) => w.missing(db)))).flat();
  return { acked: ws.reduce((a, w) => a + w.acked.size, 0), missing };
}

async function supervisionCleanOuts(c: SimCluster): Promise<Dict[]> {
  const t = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
  return ['ToDo', 'Pending', 'Finished', 'Failed'].flatMap((q) => Object.values(d(t[q])).map(d)).filter((j) => j.type === 'cleanOutServer');
}

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
      await migrate(act, ref, olds, news, { between: async () => void under.push(...(await underReplicated(c))) });
      const conv = await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      assert.equal(conv.shards, 16);
      await new Promise((r) => setTimeout(r, 500));
      const { acked, missing } = await stopAndCheck(c, ws);
      assert.ok(acked > 100, `only ${acked} writes acknowledged`);
      assert.deepEqual(missing, [], 'every acknowledged document is readable');
      assert.deepEqual(under, [], 'between batches every shard had replicationFactor in-sync copies');
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
    const c = await startSim({ ...TOPOLOGY, bandwidth: '2MB/s', databases: [{ name: 'shop', collections: [{ name: 'single', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 100, bytesPerDocument: 20_000 }] }] });
    try {
      const act = simActivities({ inSyncGraceMs: 300 });
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const news = await addNewServers(c, act, ref);
      const w = new ContinuousWriter(arangoDb(c, 'shop'), 'single', 2);
      await new Promise((r) => setTimeout(r, 300));
      const groups = groupsOf(await act.readShardPlan({ migrationId: 'wrong', arango: ref }));
      const moves = groups.map((g, i) => ({ ...g, expected: g.servers, add: [news[i]] }));
      await act.addShardFollower({ migrationId: 'wrong', arango: ref, moves });
      // The guarded step refuses: the new copy is not in sync yet.
      await assert.rejects(
        act.moveShardLeadership({ migrationId: 'wrong', arango: ref, moves: moves.map((m) => ({ ...m, from: m.servers[0], to: m.add[0] })) }),
        (e: unknown) => e instanceof ApplicationFailure && e.type === 'InvariantViolationError',
      );
      // The wrong order, done by hand: drop the old leader from Plan while the new copy is still being filled.
      for (const m of moves) {
        const ops: Dict = { '/arango/Plan/Version': { op: 'increment' }, [`/arango/Supervision/Shards/${m.shard}`]: { op: 'delete' } };
        for (const g of [m, ...m.clones]) ops[`/arango/Plan/Collections/shop/${g.collectionId}/shards/${g.shard}`] = m.add;
        assert.equal((await c.agencyWrite([[ops]])).status, 200);
      }
      await c.waitConverged(30_000);
      await new Promise((r) => setTimeout(r, 300));
      await w.stop();
      const missing = await w.missing(arangoDb(c, 'shop'));
      const seeded = ((await arangoDb(c, 'shop').collection('single').count()) as unknown as { count: number }).count;
      assert.ok(missing.length > 0 || seeded < 200, 'the check detects the loss');
      assert.ok(seeded < 200 + w.acked.size, `documents are gone (${seeded} left of ${200 + w.acked.size} acknowledged)`);
      void olds;
    } finally {
      await c.stop();
    }
  });
});

describe('failures in the middle of a move', () => {
  test('a DB server killed mid-move: the move fails cleanly (no acknowledged write lost, shards consistent) and completes when retried', async () => {
    const c = await startSim(TOPOLOGY);
    try {
      const act = simActivities({ inSyncGraceMs: 20_000 });
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 7 });
      const news = await addNewServers(c, act, ref);
      const ws = writers(c);
      // 1) The new follower dies while copying.
      const g = groupsOf(await act.readShardPlan({ migrationId: 'k', arango: ref })).find((x) => x.replicationFactor === 2)!;
      await act.addShardFollower({ migrationId: 'k', arango: ref, moves: [{ ...g, expected: g.servers, add: [news[0]] }] });
      await c.memberById(news[0])!.stop();
      let w = await act.waitForShardInSync({ migrationId: 'k', arango: ref, shards: [{ ...g, servers: [...g.servers, news[0]] }], mode: 'all', timeoutSeconds: 8 });
      assert.deepEqual(w.inSync, []);
      assert.ok(w.stalled?.length, 'the dead follower is reported');
      assert.deepEqual((await act.removeShardFollower({ migrationId: 'k', arango: ref, moves: [{ ...g, remove: [news[0]], replicationFactor: 2 }] })).results, ['removed']);
      await c.waitConverged(30_000);
      await act.verifyConvergence({ arango: ref });
      // 2) The old leader dies while a new follower copies from it: back out, supervision fails over.
      const g2 = groupsOf(await act.readShardPlan({ migrationId: 'k', arango: ref })).find((x) => x.replicationFactor === 2 && x.shard !== g.shard)!;
      await act.addShardFollower({ migrationId: 'k', arango: ref, moves: [{ ...g2, expected: g2.servers, add: [news[1]] }] });
      const deadLeader = c.memberById(g2.servers[0])!;
      await deadLeader.stop();
      w = await act.waitForShardInSync({ migrationId: 'k', arango: ref, shards: [{ ...g2, servers: [...g2.servers, news[1]] }], mode: 'all', timeoutSeconds: 8 });
      if (w.inSync.length === 0) {
        assert.ok(w.stalled?.some((s) => s.reason.includes(g2.servers[0])));
        // Our lock would hold failover back: removing the unsynced follower releases it.
        await act.removeShardFollower({ migrationId: 'k', arango: ref, moves: [{ ...g2, remove: [news[1]], replicationFactor: 2 }] });
      } else {
        await act.releaseShardLocks({ migrationId: 'k', arango: ref, shards: [g2.shard] });
      }
      await waitUntil('failover', 30_000, async () => (await c.shardStates()).find((s) => s.shard === g2.shard)!.current[0] === g2.servers[1]);
      // 3) The dead servers come back (the new one with its data directory), and the migration completes.
      await c.restart(deadLeader);
      await c.restart(c.memberById(news[0])!);
      await c.waitConverged(60_000);
      await migrate(act, ref, olds, news, { migrationId: 'k2' });
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      const { missing } = await stopAndCheck(c, ws);
      assert.deepEqual(missing, []);
      assert.deepEqual(await underReplicated(c), []);
    } finally {
      await c.stop();
    }
  });

  test('the agency leader killed mid-move: the activities retry against the new leader and the move completes', async () => {
    const c = await startSim({ ...TOPOLOGY, bandwidth: '4MB/s' });
    try {
      const act = simActivities({ agencyRetryMs: 20_000 });
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const news = await addNewServers(c, act, ref);
      const ws = writers(c);
      let killed = '';
      await migrate(act, ref, olds, news, {
        // Right after the first followers were added, while they copy: the agency leader dies.
        afterAdd: async (round) => {
          if (round !== 0) return;
          const leader = (await c.agencyLeader())!;
          killed = leader.id;
          await leader.stop();
        },
      });
      assert.ok(killed);
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      await c.replaceAgent(killed);
      await act.waitForAgentCaughtUp({ arango: ref, agentId: killed, endpoint: c.agents.find((a) => a.id === killed)!.endpoint, timeoutSeconds: 30 });
      const { missing, acked } = await stopAndCheck(c, ws);
      assert.ok(acked > 50);
      assert.deepEqual(missing, []);
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
            const r = await probe.request(a.endpoint, '/_api/agency/write', { body: [[{ '/probe': { op: 'increment' } }]], timeoutMs: 1000 }).catch(() => undefined);
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
      assert.equal(health.healthy, true, health.problems.join("; "));
    } finally {
      probe.close();
      await c.stop();
    }
  });
});

describe('the supervision traps', () => {
  test('auto-shrink: left armed it cleans out a server; neutralised first, nothing is cleaned out and no data is lost', async () => {
    const c = await startSim({ ...TOPOLOGY, targetNumberOfDBServers: 'auto' });
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      const { previous } = await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      assert.equal(previous.numberOfDBServers, 3);
      const ws = writers(c);
      const news = await addNewServers(c, act, ref);
      await migrate(act, ref, olds, news);
      assert.deepEqual(await supervisionCleanOuts(c), []);
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      // Restoring the original value now (3 new servers left after the old ones go) is harmless...
      for (const id of olds) await c.memberById(id)!.stop();
      for (const id of olds) await act.removeServer({ arango: ref, serverId: id });
      await act.restoreAutoShrink({ arango: ref, previous });
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(await supervisionCleanOuts(c), []);
      // ...while one more server than NumberOfDBServers arms the trap: supervision cleans out the last ID.
      const extra = await c.addDBServer();
      await waitUntil('auto-shrink', 20_000, async () => (await supervisionCleanOuts(c)).length > 0);
      const [job] = await supervisionCleanOuts(c);
      assert.equal(job.server, [...news, extra.id].sort().at(-1));
      await c.waitConverged(60_000);
      const { missing } = await stopAndCheck(c, ws);
      assert.deepEqual(missing, []);
    } finally {
      await c.stop();
    }
  });

  test("cleanOutServer's random destinations: shards Transit holds are left alone, shards moved behind its back are conflicts, never overwritten, and the migration still ends with everything on the new servers", async () => {
    const c = await startSim({ ...TOPOLOGY, bandwidth: '8MB/s' });
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const news = await addNewServers(c, act, ref);
      const ws = writers(c);
      const victim = olds[2];
      const groups0 = groupsOf(await act.readShardPlan({ migrationId: 'co', arango: ref }));
      // Transit starts on two groups holding the victim: it locks them.
      const mine = groups0.filter((g) => g.servers.includes(victim)).slice(0, 2);
      const added = mine.map((g) => ({ ...g, expected: g.servers, add: [news.find((n) => !g.servers.includes(n))!] }));
      await act.addShardFollower({ migrationId: 'co', arango: ref, moves: added });
      // An operator cleans out the victim meanwhile; supervision picks random destinations (old servers too).
      const r = d(await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: victim }));
      const jobId = String(r.id);
      const others = groups0.filter((g) => g.servers.includes(victim) && !mine.includes(g));
      await waitUntil('unlocked shards moved off the victim', 60_000, async () => {
        const st = await c.shardStates();
        return others.every((g) => !st.find((x) => x.shard === g.shard)!.plan.includes(victim));
      });
      const st = await c.shardStates();
      for (const m of added) assert.deepEqual(st.find((x) => x.shard === m.shard)!.plan, [...m.expected, ...m.add], `${m.shard}: left alone while Transit holds it`);
      const todo = Object.values(d(d(d(await c.agencyRead(['/arango/Target/ToDo'])).arango).Target).ToDo ?? {}).map(d);
      for (const m of added) assert.ok(todo.some((j) => j.shard === m.shard && j.parentJob === jobId), `the cleanOut sub-job for ${m.shard} waits`);
      // Transit's stale view of the shards supervision moved: conflicts, nothing overwritten.
      if (others.length) {
        const stale = others.map((g) => ({ ...g, expected: g.servers, add: [news.find((n) => !g.servers.includes(n))!] }));
        await assert.rejects(act.addShardFollower({ migrationId: 'co', arango: ref, moves: stale }), (e: unknown) => {
          assert.ok(e instanceof ApplicationFailure && e.type === 'ShardConflictError');
          assert.equal((d(e.details?.[0]).conflicts as unknown[]).length, others.length);
          return true;
        });
        const after = await c.shardStates();
        for (const g of others) assert.deepEqual(after.find((x) => x.shard === g.shard)!.plan, st.find((x) => x.shard === g.shard)!.plan);
      }
      // The migration goes on from fresh reads and finishes; the cleanOut job ends (its waiting sub-jobs fail
      // once Transit has moved their shards away from the victim).
      await migrate(act, ref, olds, news, { migrationId: 'co' });
      await waitUntil('cleanOutServer ended', 30_000, async () => ['Finished', 'Failed'].includes(String(d((await c.request(c.coordinatorUrl, `/_admin/cluster/queryAgencyJob?id=${jobId}`)).body).status)));
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      const { missing } = await stopAndCheck(c, ws);
      assert.deepEqual(missing, []);
      assert.deepEqual(await underReplicated(c), []);
    } finally {
      await c.stop();
    }
  });
});
