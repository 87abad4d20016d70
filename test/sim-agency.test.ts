// The simulated agency over HTTP, as ArangoDB documents it: transaction format and results, preconditions,
// 412 with zeros, 307 to the leader, 401/403/503, ttl, version bumps, health from heartbeats, leader election
// after the leader dies, and agent replacement with the same ID from a new address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpClient } from '../src/sim/net';
import { signSuperuserJwt } from '../src/sim/jwt';
import { startSim, waitUntil, type SimCluster } from './harness/sim';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});

describe('simulated agency', () => {
  let c: SimCluster;
  let leaderEp: string;
  const post = (path: string, body: unknown, target = leaderEp) => c.request(target, path, { method: 'POST', body });

  before(async () => {
    c = await startSim({ agents: 3, dbServers: 2, coordinators: 1, timing: { compactionStep: 200 } });
    leaderEp = (await c.agencyLeader())!.endpoint;
  });
  after(async () => {
    await c?.stop();
  });

  test('writes return raft indices and reads keep full paths; a missing key yields its deepest parent', async () => {
    const w = await post('/_api/agency/write', [
      [{ '/t/a': 1, '/t/b': { op: 'set', new: { x: [1, 2] } }, '/t/n': { op: 'increment', step: 5 } }],
      [{ '/t/list': { op: 'push', new: 'p' } }],
      [{ '/t/list': { op: 'prepend', new: 'q' }, '/t/n': { op: 'decrement' } }],
    ]);
    assert.equal(w.status, 200);
    const results = d(w.body).results as number[];
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r > 0) && results[2] > results[0]);
    const r = await post('/_api/agency/read', [['/t/a', '/t/b/x', '/t/list', '/t/n'], ['/t/missing/deeper']]);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, [{ t: { a: 1, b: { x: [1, 2] }, list: ['q', 'p'], n: 4 } }, { t: {} }]);
    await post('/_api/agency/write', [
      [{ '/t/list': { op: 'erase', val: 'q' } }],
      [{ '/t/list': { op: 'replace', val: 'p', new: 'z' } }],
      [{ '/t/b': { op: 'delete' } }],
    ]);
    const r2 = await post('/_api/agency/read', [['/t']]);
    assert.deepEqual(r2.body, [{ t: { a: 1, list: ['z'], n: 4 } }]);
  });

  test('preconditions old, oldEmpty, isArray, in, notin, isEmpty: a failed one gives 412 and a zero for that transaction only', async () => {
    await post('/_api/agency/write', [[{ '/p/v': 7, '/p/arr': ['a', 'b'], '/p/empty': {} }]]);
    const cases: [Dict, boolean][] = [
      [{ '/p/v': { old: 7 } }, true],
      [{ '/p/v': 7 }, true],
      [{ '/p/v': { old: 8 } }, false],
      [{ '/p/none': { oldEmpty: true } }, true],
      [{ '/p/v': { oldEmpty: true } }, false],
      [{ '/p/arr': { isArray: true } }, true],
      [{ '/p/v': { isArray: true } }, false],
      [{ '/p/arr': { in: 'a' } }, true],
      [{ '/p/arr': { in: 'c' } }, false],
      [{ '/p/arr': { notin: 'c' } }, true],
      [{ '/p/none': { notin: 'c' } }, true],
      [{ '/p/arr': { notin: 'a' } }, false],
      [{ '/p/empty': { isEmpty: true } }, true],
      [{ '/p/arr': { isEmpty: true } }, false],
      [{ '/p/v': { bogusOperator: 1 } }, false],
    ];
    const w = await post(
      '/_api/agency/write',
      cases.map(([pre], i): unknown[] => [{ [`/p/result/${i}`]: true }, pre]),
    );
    assert.equal(w.status, 412);
    const results = d(w.body).results as number[];
    cases.forEach(([pre, holds], i) => assert.equal(results[i] > 0, holds, `precondition ${JSON.stringify(pre)}`));
    const r = await post('/_api/agency/read', [['/p/result']]);
    assert.equal(Object.keys(d(d(d((r.body as unknown[])[0]).p).result)).length, cases.filter(([, h]) => h).length);
  });

  test('transact mixes writes and reads; a failed write slot holds a read of the failing keys', async () => {
    const r = await post('/_api/agency/transact', [
      [{ '/x/c': { op: 'increment' } }],
      ['/x/c'],
      [{ '/x/d': 1 }, { '/x/c': { old: 99 } }],
    ]);
    assert.equal(r.status, 412);
    const b = r.body as unknown[];
    assert.equal(typeof b[0], 'number');
    assert.deepEqual(b[1], { x: { c: 1 } });
    assert.deepEqual(b[2], { x: { c: 1 } });
  });

  test('followers redirect to the leader pool endpoint; /.agency is reserved; a wrong JWT gets 401; bad bodies get 400', async () => {
    const follower = c.agents.find((a) => a.endpoint !== leaderEp)!;
    const r = await post('/_api/agency/read', [['/x']], follower.endpoint);
    assert.equal(r.status, 307);
    assert.equal(String(r.headers.location), `${leaderEp.replace('tcp://', 'http://')}/_api/agency/read`);
    const cfg = d((await c.request(follower.endpoint, '/_api/agency/config')).body);
    assert.equal(cfg.leaderId, (await c.agencyLeader())!.id);
    assert.equal(d(cfg.configuration)['agency size'], 3);
    assert.equal((await post('/_api/agency/write', [[{ '/.agency/x': 1 }]])).status, 403);
    assert.equal((await post('/_api/agency/write', [{ a: 1 }])).status, 400);
    const wrong = new HttpClient({}, () => `bearer ${signSuperuserJwt('not-the-secret')}`);
    try {
      assert.equal((await wrong.request(leaderEp, '/_api/agency/read', { body: [['/']] })).status, 401);
      assert.equal((await wrong.request(c.coordinatorUrl, '/_api/version')).status, 401);
      assert.equal((await wrong.request(c.coordinatorUrl, '/_admin/server/availability')).status, 200);
    } finally {
      wrong.close();
    }
  });

  test('a key written with ttl disappears after it expires', async () => {
    await post('/_api/agency/write', [[{ '/ttl/k': { op: 'set', new: 'v', ttl: 1 } }]]);
    assert.deepEqual((await post('/_api/agency/read', [['/ttl/k']])).body, [{ ttl: { k: 'v' } }]);
    await waitUntil(
      'ttl expiry',
      5000,
      async () => JSON.stringify((await post('/_api/agency/read', [['/ttl/k']])).body) === '[{"ttl":{}}]',
    );
  });

  test('servers register with short names; Plan/Version and Current/Version advance; a stopped server goes BAD, then FAILED, then GOOD again', async () => {
    const a = await c.agencyRead([
      '/arango/Plan/Version',
      '/arango/Current/Version',
      '/arango/Target/MapUniqueToShortID',
      '/arango/Current/ServersRegistered',
    ]);
    const ar = d(a.arango);
    assert.ok(Number(d(ar.Plan).Version) > 1 && Number(d(ar.Current).Version) > 1);
    const names = Object.values(d(d(ar.Target).MapUniqueToShortID))
      .map((v) => d(v).ShortName)
      .sort();
    assert.deepEqual(names, ['Coordinator0001', 'DBServer0001', 'DBServer0002']);
    const db = c.dbServers[0];
    assert.equal(d(d(d(ar.Current).ServersRegistered)[db.id]).endpoint, db.endpoint);
    await db.stop();
    const status = async (): Promise<string> =>
      String(
        d(d(d(d((await c.agencyRead([`/arango/Supervision/Health/${db.id}`])).arango).Supervision).Health)[db.id])
          .Status,
      );
    await waitUntil('BAD', 10_000, async () => (await status()) === 'BAD', 100);
    await waitUntil('FAILED', 10_000, async () => (await status()) === 'FAILED', 100);
    await c.restart(db);
    assert.equal(await status(), 'GOOD');
    const again = await c.agencyRead([
      `/arango/Target/MapUniqueToShortID/${db.id}`,
      `/arango/Current/ServersKnown/${db.id}`,
    ]);
    const shortBefore = d(d(d(ar.Target).MapUniqueToShortID)[db.id]).ShortName;
    assert.equal(
      d(d(d(d(again.arango).Target).MapUniqueToShortID)[db.id]).ShortName,
      shortBefore,
      'a DB server keeps its short name',
    );
    assert.equal(d(d(d(d(again.arango).Current).ServersKnown)[db.id]).rebootId, 2);
  });

  test('when the leader dies a new one is elected; committed writes survive; without quorum writes get 503', async () => {
    await post('/_api/agency/write', [[{ '/survive/me': 42 }]]);
    const old = (await c.agencyLeader())!;
    await old.stop();
    const newLeader = await c.waitForAgencyLeader(15_000);
    assert.notEqual(newLeader, old.id);
    leaderEp = (await c.agencyLeader())!.endpoint;
    assert.deepEqual((await post('/_api/agency/read', [['/survive/me']])).body, [{ survive: { me: 42 } }]);
    // Two of three agents down: no quorum.
    const second = (await c.agencyLeader())!;
    await second.stop();
    const last = c.agents.find((a) => a.running)!;
    await waitUntil(
      'no leader',
      10_000,
      async () => (await post('/_api/agency/write', [[{ '/q': 1 }]], last.endpoint)).status === 503,
    );
    assert.equal((await post('/_api/agency/read', [['/q']], last.endpoint)).status, 503);
    // Bring them back (fresh agents with the same IDs and new addresses) and the agency recovers.
    await c.replaceAgent(old.id);
    await c.replaceAgent(second.id);
    await c.waitForAgencyLeader(20_000);
    leaderEp = (await c.agencyLeader())!.endpoint;
    assert.deepEqual((await post('/_api/agency/read', [['/survive/me']])).body, [{ survive: { me: 42 } }]);
  });

  test('a replaced agent keeps its ID, the pool learns its new endpoint, it catches up from a snapshot; an unknown ID is refused', async () => {
    const victim = c.agents.find((a) => a.endpoint !== leaderEp)!;
    const oldEndpoint = victim.endpoint;
    // Enough entries for the leader to compact its log: the newcomer must be sent a snapshot.
    for (let i = 0; i < 30; i++)
      await post(
        '/_api/agency/write',
        Array.from({ length: 10 }, (_, j) => [{ [`/bulk/${i}/${j}`]: i * 10 + j }]),
      );
    await post('/_api/agency/write', [[{ '/before/replace': 'yes' }]]);
    assert.ok(
      Number(d((await c.request(leaderEp, '/_api/agency/config')).body).lastCompactionAt) > 0,
      'the leader compacted its log',
    );
    const fresh = await c.replaceAgent(victim.id);
    assert.notEqual(fresh.endpoint, oldEndpoint);
    await waitUntil('pool update', 15_000, async () => {
      const cfg = d((await c.request(leaderEp, '/_api/agency/config')).body);
      return d(d(cfg.configuration).pool)[victim.id] === fresh.endpoint;
    });
    await waitUntil('catch-up', 15_000, async () => {
      const mine = d((await c.request(fresh.endpoint, '/_api/agency/config')).body);
      const lead = d((await c.request(leaderEp, '/_api/agency/config')).body);
      return Number(mine.commitIndex) >= Number(lead.commitIndex) && Boolean(mine.leaderId);
    });
    const cfg = d((await c.request(fresh.endpoint, '/_api/agency/config')).body);
    assert.equal(d(cfg.configuration).id, victim.id);
    // The newcomer holds the whole state: make it the leader's only partner and read through it.
    const leader = (await c.agencyLeader())!;
    const third = c.agents.find((a) => a.running && a !== leader && a !== fresh)!;
    await third.stop();
    assert.deepEqual((await post('/_api/agency/read', [['/before/replace', '/bulk/29/9']])).body, [
      { before: { replace: 'yes' }, bulk: { 29: { 9: 299 } } },
    ]);
    assert.equal(
      (await post('/_api/agency/write', [[{ '/after/replace': 1 }]])).status,
      200,
      'writes commit with the newcomer as the majority partner',
    );
    await c.replaceAgent(third.id);
    // Members still find the agency (they follow the pool): a coordinator can create a database.
    assert.equal(
      (await c.request(c.coordinatorUrl, '/_api/database', { method: 'POST', body: { name: 'afterReplace' } })).status,
      201,
    );
    const g = await c.request(leaderEp, '/_api/agency_priv/gossip', {
      method: 'POST',
      body: { id: 'AGNT-intruder', endpoint: 'tcp://127.0.0.9:8529', pool: {} },
    });
    assert.equal(g.status, 403);
  });

  test('agents restarted on their data directories keep the agency state, even when all restart at once', async () => {
    await post('/_api/agency/write', [[{ '/durable/x': 'kept' }]]);
    const dbBefore = d(d(d(await c.agencyRead(['/arango/Plan/DBServers'])).arango).Plan).DBServers;
    await Promise.all(c.agents.map((a) => a.stop()));
    await Promise.all(c.agents.map((a) => c.restart(a)));
    await c.waitForAgencyLeader(20_000);
    leaderEp = (await c.agencyLeader())!.endpoint;
    assert.deepEqual((await post('/_api/agency/read', [['/durable/x']])).body, [{ durable: { x: 'kept' } }]);
    assert.deepEqual(d(d(d(await c.agencyRead(['/arango/Plan/DBServers'])).arango).Plan).DBServers, dbBefore);
    // The cluster carries on: a coordinator creates a database through the restarted agency.
    await waitUntil(
      'coordinator back',
      20_000,
      async () =>
        (await c.request(c.coordinatorUrl, '/_api/database', { method: 'POST', body: { name: 'afterRestart' } }))
          .status === 201,
    );
  });
});
