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
  type SimCluster,
} from './harness/sim';
import type { ArangoRef } from '../src/activities/agency-types';
import { startEngine, type EngineRun } from './harness/engine';

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

/**
 * Transit's own shard engine (src/workflows/job-engine.ts, the code the workflow runs in MoveShards) moves every
 * group to the new servers, repeated on a fresh Plan until nothing is left on an old server — as the workflow's
 * MoveShards phase does (collections may appear, failover may move things meanwhile).
 */
async function migrate(
  c: SimCluster,
  act: Acts,
  ref: ArangoRef,
  olds: string[],
  news: string[],
  o: {
    migrationId?: string;
    concurrency?: number;
    onStep?: (what: string) => void;
    engine?: (e: EngineRun) => void;
    /** The engine parked (the workflow would wait for the operator): fix the cause and return to resume; throw to fail. */
    onParked?: (message: string) => Promise<void>;
  } = {},
): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const e = await startEngine(c, { targets: news, migrationId: o.migrationId ?? 'mig', concurrency: o.concurrency ?? 4, onStep: o.onStep });
    o.engine?.(e);
    for (;;) {
      const r = await Promise.race([e.done, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 500))]);
      if (r !== 'tick') {
        assert.equal(r, 'done');
        break;
      }
      const parked = e.parked();
      if (!parked) continue;
      if (!o.onParked) {
        await e.kill();
        throw new Error(`the engine parked: ${parked}`);
      }
      await o.onParked(parked);
      e.state.pauseRequested = false;
    }
    const left = groupsOf(await act.readShardPlan({ migrationId: 'check', arango: ref })).filter((g) => g.servers.some((s) => olds.includes(s)));
    if (left.length === 0) return;
  }
  throw new Error('groups still on the old servers after 5 passes of the engine');
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
      const checks: Promise<void>[] = [];
      // After every step of the engine: every shard still has replicationFactor in-sync copies.
      await migrate(c, act, ref, olds, news, { onStep: () => void checks.push(underReplicated(c).then((u) => void under.push(...u))) });
      await Promise.all(checks);
      const conv = await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      assert.equal(conv.shards, 16);
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
    const c = await startSim({ ...TOPOLOGY, bandwidth: '200KB/s', databases: [{ name: 'shop', collections: [{ name: 'single', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 100, bytesPerDocument: 20_000 }] }] });
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
      // The acknowledged-writes check itself detects the loss (not only the seeded count).
      assert.ok(missing.length > 0, `the acknowledged-writes check reports lost keys (${w.acked.size} acknowledged)`);
      assert.ok(missing.every((k) => w.acked.has(k)));
      assert.ok(seeded < 200 + w.acked.size, `documents are gone (${seeded} left of ${200 + w.acked.size} acknowledged)`);
      void olds;
    } finally {
      await c.stop();
    }
  });
});

describe('failures in the middle of a move', () => {
  test('DB servers killed mid-move: a new copy\'s server parks the migration with its name until it is back; a source leader is failed over by ArangoDB and the engine re-plans; nothing is lost', async () => {
    const c = await startSim({ ...TOPOLOGY, bandwidth: '4MB/s' }, { processes: true });
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 7 });
      const news = await addNewServers(c, act, ref);
      const ws = writers(c);
      let parkedWith = '';
      let deadTarget: ReturnType<SimCluster['memberById']>;
      let deadLeader: ReturnType<SimCluster['memberById']>;
      let parkedForLeader = '';
      const done = migrate(c, act, ref, olds, news, {
        concurrency: 2,
        onParked: async (message) => {
          // Only a dead server may park the migration: the destination (named), or a source leader whose shard has
          // no follower to fail over to (replicationFactor 1); it is brought back, then the migration resumes.
          const dead = [deadTarget, deadLeader].find((m) => m && message.includes(m.id));
          if (!dead) throw new Error(`the engine parked: ${message}`);
          if (dead === deadTarget) parkedWith = message;
          else parkedForLeader = message;
          if (!dead.running) await c.restart(dead);
        },
      });
      done.catch(() => undefined); // awaited below; a failure must not surface as an unhandled rejection first
      // 1) A target server dies while a job copies to it: supervision aborts the job; the engine parks naming it.
      const pendingTo = async (pred: (j: Dict) => boolean): Promise<Dict | undefined> =>
        Object.values(d(d(d(d(await c.agencyRead(['/arango/Target/Pending'])).arango).Target).Pending)).map(d).find((j) => j.type === 'moveShard' && pred(j));
      let job: Dict | undefined;
      await waitUntil('a job copying to a new server', 60_000, async () => Boolean((job = await pendingTo((j) => news.includes(String(j.toServer))))));
      deadTarget = c.memberById(String(job!.toServer))!;
      await deadTarget.stop();
      await waitUntil('the engine parks naming the dead server, which comes back', 120_000, () => parkedWith !== '' && deadTarget!.running);
      assert.match(parkedWith, /FAILED — bring it back and resume, or roll back/);
      // 2) A source leader dies while its shard's leader move copies: ArangoDB fails it over, the job ends aborted.
      await waitUntil('a leader move from an old server', 60_000, async () => Boolean((job = await pendingTo((j) => j.isLeader === true && olds.includes(String(j.fromServer)) && c.memberById(String(j.fromServer))?.running === true))));
      deadLeader = c.memberById(String(job!.fromServer))!;
      await deadLeader.stop();
      await waitUntil('the leader move aborted by failover', 60_000, async () => {
        const failed = d(d(d(await c.agencyRead([`/arango/Target/Failed/${String(job!.jobId)}`])).arango).Target).Failed;
        return d(failed)[String(job!.jobId)] !== undefined;
      });
      await done;
      if (parkedForLeader) assert.match(parkedForLeader, /is FAILED and ArangoDB has not failed it over/);
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      const { missing, acked } = await stopAndCheck(c, ws);
      assert.ok(acked > 50);
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
      let kill: Promise<void> | undefined;
      await migrate(c, act, ref, olds, news, {
        // Right after the first jobs were submitted, while they copy: the agency leader dies.
        onStep: (what) => {
          if (kill || !what.startsWith('waitForShardMoves')) return;
          kill = c.agencyLeader().then(async (leader) => {
            killed = leader!.id;
            await leader!.stop();
          });
        },
      });
      await kill;
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
      await migrate(c, act, ref, olds, news);
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

  test("an operator's cleanOutServer during the migration: its random destinations are re-planned from Plan, nothing is overwritten or lost, and everything ends on the new servers", async () => {
    const c = await startSim({ ...TOPOLOGY, bandwidth: '8MB/s' });
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const news = await addNewServers(c, act, ref);
      const ws = writers(c);
      const victim = olds[2];
      let jobId = '';
      let started: Promise<void> | undefined;
      // Once Transit's first jobs run, an operator cleans out an old server; supervision picks random destinations.
      await migrate(c, act, ref, olds, news, {
        migrationId: 'co',
        concurrency: 2,
        onStep: (what) => {
          if (started || !what.startsWith('waitForShardMoves')) return;
          started = c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: victim }).then((r) => void (jobId = String(d(r).id)));
        },
      });
      await started;
      await waitUntil('cleanOutServer ended', 60_000, async () => ['Finished', 'Failed'].includes(String(d((await c.request(c.coordinatorUrl, `/_admin/cluster/queryAgencyJob?id=${jobId}`)).body).status)));
      // The engine runs again on a fresh Plan (as the workflow does) until nothing is on an old server.
      await migrate(c, act, ref, olds, news, { migrationId: 'co' });
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      const { missing } = await stopAndCheck(c, ws);
      assert.deepEqual(missing, []);
      assert.deepEqual(await underReplicated(c), []);
    } finally {
      await c.stop();
    }
  });
});
