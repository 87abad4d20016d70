// The agency and coordinator activities against the simulator, over HTTP: each one's behaviour, idempotency
// (run twice → same state; a write whose response was lost is not applied twice), conflicts (never overwritten),
// refusals (InvariantViolationError), retryable versus non-retryable failures, heartbeats and cancellation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ApplicationFailure } from '@temporalio/common';
import {
  arangoDb,
  arangoRef,
  groupsOf,
  simActivities,
  startSim,
  waitUntil,
  type Group,
  type SimCluster,
} from './harness/sim';
import type { ArangoRef } from '../src/activities/agency-types';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});
const MIG = 'test1';

function failure(type: string, nonRetryable: boolean) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    assert.equal(Boolean(e.nonRetryable), nonRetryable, `${type} nonRetryable`);
    return true;
  };
}

async function planVersion(c: SimCluster): Promise<number> {
  return Number(d(d(d(await c.agencyRead(['/arango/Plan/Version'])).arango).Plan).Version);
}

async function lockOf(c: SimCluster, shard: string): Promise<unknown> {
  return d(d(d(d(await c.agencyRead([`/arango/Supervision/Shards/${shard}`])).arango).Supervision).Shards)[shard];
}

/** A proxy in front of one agent that forwards everything but drops the response to the first agency write. */
async function lossyProxy(target: string): Promise<{ url: string; dropped: () => number; close: () => Promise<void> }> {
  const u = new URL(target.replace('tcp://', 'http://'));
  let drops = 0;
  let armed = true;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fwd = http.request(
        { host: u.hostname, port: u.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          const body: Buffer[] = [];
          r.on('data', (c: Buffer) => body.push(c));
          r.on('end', () => {
            if (armed && req.method === 'POST' && req.url?.endsWith('/_api/agency/write')) {
              armed = false;
              drops += 1;
              req.socket.destroy();
              return;
            }
            res.writeHead(r.statusCode ?? 500, r.headers);
            res.end(Buffer.concat(body));
          });
        },
      );
      fwd.on('error', () => res.destroy());
      fwd.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    dropped: () => drops,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('agency activities', () => {
  let c: SimCluster;
  let ref: ArangoRef;
  const act = simActivities();
  let groups: Group[];
  let newIds: string[];

  before(async () => {
    c = await startSim({
      agents: 3,
      dbServers: 3,
      coordinators: 1,
      bandwidth: '8MB/s',
      databases: [
        {
          name: 'shop',
          collections: [
            {
              name: 'orders',
              numberOfShards: 6,
              replicationFactor: 2,
              documentsPerShard: 40,
              bytesPerDocument: 10_000,
            },
            { name: 'lines', distributeShardsLike: 'orders', documentsPerShard: 20, bytesPerDocument: 1000 },
            { name: 'single', numberOfShards: 1, replicationFactor: 1, documentsPerShard: 10 },
          ],
        },
      ],
    });
    ref = arangoRef(c);
  });
  after(async () => {
    await c?.stop();
  });

  test('readShardPlan groups clones behind their prototype with aligned shards, server indices and bytes', async () => {
    const plan = await act.readShardPlan({ migrationId: MIG, arango: ref });
    assert.equal(plan.servers.length, 3);
    assert.ok(
      plan.servers.every(
        (s) => s.status === 'GOOD' && /^DBServer000\d$/.test(s.shortName) && s.endpoint.startsWith('tcp://'),
      ),
    );
    const orders = plan.collections.find((x) => x.name === 'orders')!;
    assert.equal(orders.clones.length, 1);
    assert.equal(orders.clones[0].name, 'lines');
    assert.equal(orders.clones[0].shards.length, 6);
    assert.equal(orders.replicationFactor, 2);
    assert.ok(orders.shards.every(([, servers, bytes]) => servers.length === 2 && bytes === 40 * 10_000 + 20 * 1000));
    assert.ok(!plan.collections.some((x) => x.name === 'lines'), 'clones are not listed as collections');
    groups = groupsOf(plan);
    // Compactness: a shard group (prototype shard + one clone shard) costs a few dozen bytes of payload, so
    // 10,000 of them stay well under Temporal's 512 KB limit.
    const perGroup =
      (JSON.stringify(orders.shards).length + JSON.stringify(orders.clones.map((x) => x.shards)).length) /
      orders.shards.length;
    assert.ok(perGroup * 10_000 < 512 * 1024, `${perGroup} bytes per shard group`);
  });

  test('neutraliseAutoShrink raises Target/NumberOfDBServers once and reports the original on every retry', async () => {
    const first = await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
    assert.deepEqual(first.previous, { numberOfDBServers: 3, numberOfCoordinators: null });
    const again = await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
    assert.deepEqual(again.previous, first.previous);
    const ns = d(await c.coordinatorCall('GET', '/_admin/cluster/numberOfServers'));
    assert.equal(ns.numberOfDBServers, 6);
  });

  test('waitForServerRegistered waits for new DB servers and a coordinator to register and turn GOOD', async () => {
    const started = [c.addDBServer(), c.addDBServer(), c.addDBServer(), c.addCoordinator()];
    const eps = c.dbServers
      .slice(3)
      .map((m) => m.endpoint)
      .concat(c.coordinators[1].endpoint);
    const r = await act.waitForServerRegistered({ arango: ref, endpoints: eps, timeoutSeconds: 60 });
    await Promise.all(started);
    assert.deepEqual(
      r.servers.map((s) => s.role),
      ['dbserver', 'dbserver', 'dbserver', 'coordinator'],
    );
    assert.ok(r.servers.every((s) => s.id && s.shortName));
    newIds = r.servers.filter((s) => s.role === 'dbserver').map((s) => s.id);
    await assert.rejects(
      act.waitForServerRegistered({ arango: ref, endpoints: ['tcp://127.0.0.99:8529'], timeoutSeconds: 1 }),
      failure('WaitTimeoutError', true),
    );
    // Auto-shrink stays quiet: no cleanOutServer created by supervision.
    await new Promise((r2) => setTimeout(r2, 1500));
    const target = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
    const jobs = ['ToDo', 'Pending', 'Finished', 'Failed'].flatMap((q) => Object.values(d(target[q])).map(d));
    assert.ok(!jobs.some((j) => j.type === 'cleanOutServer'));
  });

  test('checkClusterHealth reports servers, agents with one leader, and problems', async () => {
    const h = await act.checkClusterHealth({ arango: ref });
    assert.equal(h.healthy, true, h.problems.join('; '));
    assert.equal(h.dbServers.length, 6);
    assert.equal(h.coordinators.length, 2);
    assert.equal(h.agents.filter((a) => a.leader).length, 1);
    assert.ok(h.agents.every((a) => typeof a.commitIndex === 'number'));
  });

  test('addShardFollower adds to Plan and locks the shard; a second run and a write whose response was lost change nothing more', async () => {
    const g = groups[0];
    const before = await planVersion(c);
    const r = await act.addShardFollower({
      migrationId: MIG,
      arango: ref,
      moves: [{ ...g, expected: g.servers, add: [newIds[0]] }],
    });
    assert.deepEqual(r.results, ['added']);
    assert.equal(await planVersion(c), before + 1);
    assert.equal(await lockOf(c, g.shard), `transit-${MIG}`);
    const again = await act.addShardFollower({
      migrationId: MIG,
      arango: ref,
      moves: [{ ...g, expected: g.servers, add: [newIds[0]] }],
    });
    assert.deepEqual(again.results, ['alreadyDone']);
    assert.equal(await planVersion(c), before + 1);
    const states = await c.shardStates();
    for (const s of [g.shard, ...g.clones.map((x) => x.shard)]) {
      assert.deepEqual(
        states.find((x) => x.shard === s)!.plan,
        [...g.servers, newIds[0]],
        `${s} (prototype and clone) planned together`,
      );
    }
    // Lost response: the agency applies the write, the answer never arrives, the activity retries.
    const g2 = groups[1];
    const leader = (await c.agencyLeader())!;
    const proxy = await lossyProxy(leader.endpoint);
    try {
      const v0 = await planVersion(c);
      const lossy = await act.addShardFollower({
        migrationId: MIG,
        arango: { ...ref, agencyEndpoints: [proxy.url] },
        moves: [{ ...g2, expected: g2.servers, add: [newIds[1]] }],
      });
      assert.equal(proxy.dropped(), 1);
      assert.deepEqual(lossy.results, ['alreadyDone']);
      assert.equal(await planVersion(c), v0 + 1, 'applied exactly once');
    } finally {
      await proxy.close();
    }
  });

  test('supervision leaves a shard Transit has locked alone (no removeFollower on the over-replicated shard)', async () => {
    await new Promise((r) => setTimeout(r, 2500));
    const s = (await c.shardStates()).find((x) => x.shard === groups[0].shard)!;
    assert.deepEqual(s.plan, [...groups[0].servers, newIds[0]]);
  });

  test('addShardFollower never overwrites: stale expectations or a foreign lock give ShardConflictError, other moves of the batch still apply', async () => {
    const g3 = groups[2];
    const g4 = groups[3];
    await c.agencyWrite([[{ [`/arango/Supervision/Shards/${g4.shard}`]: '424242' }]]);
    await assert.rejects(
      act.addShardFollower({
        migrationId: MIG,
        arango: ref,
        moves: [
          { ...g3, expected: g3.servers, add: [newIds[2]] },
          { ...g4, expected: g4.servers, add: [newIds[2]] },
          { ...groups[4], expected: [...groups[4].servers].reverse(), add: [newIds[2]] },
        ],
      }),
      (e: unknown) => {
        failure('ShardConflictError', true)(e);
        const det = d((e as ApplicationFailure).details?.[0]);
        assert.deepEqual(
          (det.conflicts as Dict[]).map((x) => x.index),
          [1, 2],
        );
        assert.deepEqual(det.results, ['added', null, null]);
        return true;
      },
    );
    assert.equal(await lockOf(c, g4.shard), '424242');
    await c.agencyWrite([[{ [`/arango/Supervision/Shards/${g4.shard}`]: { op: 'delete' } }]]);
  });

  test('waitForShardInSync reports copy progress in bytes while heartbeating, returns what is in sync at its timeout, and honours cancellation', async () => {
    const g5 = groups[5];
    const beats: unknown[] = [];
    const slow = simActivities({ heartbeat: (x) => beats.push(x) });
    await act.addShardFollower({
      migrationId: MIG,
      arango: ref,
      moves: [{ ...g5, expected: g5.servers, add: [newIds[0]] }],
    });
    const shards = [
      { ...g5, servers: [...g5.servers, newIds[0]] },
      { ...groups[2], servers: [...groups[2].servers, newIds[2]] },
    ];
    const early = await slow.waitForShardInSync({
      migrationId: MIG,
      arango: ref,
      shards,
      mode: 'all',
      timeoutSeconds: 0.2,
    });
    assert.ok(early.progress.length + early.inSync.length === 2);
    for (const p of early.progress)
      assert.ok(p.bytesTotal === 40 * 10_000 + 20 * 1000 && p.bytesCopied <= p.bytesTotal, JSON.stringify(p));
    // A follower that can never sync (its server does not exist): the wait runs until cancelled.
    const g4 = groups[4];
    const ghost = [...g4.servers, 'PRMR-ghost'];
    const ghostWrite = await c.agencyWrite([
      [
        {
          ...Object.fromEntries(
            [g4, ...g4.clones].map((x) => [`/arango/Plan/Collections/shop/${x.collectionId}/shards/${x.shard}`, ghost]),
          ),
          [`/arango/Supervision/Shards/${g4.shard}`]: `transit-${MIG}`,
        },
      ],
    ]);
    assert.equal(ghostWrite.status, 200);
    const ac = new AbortController();
    const cancellable = simActivities({ signal: ac.signal });
    const pending = cancellable
      .waitForShardInSync({
        migrationId: MIG,
        arango: ref,
        shards: [{ ...g4, servers: ghost }],
        mode: 'all',
        timeoutSeconds: 60,
      })
      .catch((e) => e);
    setTimeout(() => ac.abort(new Error('cancelled by test')), 500);
    const t0 = Date.now();
    const err = await pending;
    assert.ok(Date.now() - t0 < 3000);
    assert.match(String(err), /cancelled by test/);
    await act.removeShardFollower({
      migrationId: MIG,
      arango: ref,
      moves: [{ ...g4, remove: ['PRMR-ghost'], replicationFactor: 2 }],
    });
    assert.equal(await lockOf(c, g4.shard), undefined);
    const done = await slow.waitForShardInSync({
      migrationId: MIG,
      arango: ref,
      shards,
      mode: 'all',
      timeoutSeconds: 60,
    });
    assert.deepEqual(done.inSync, [0, 1]);
    assert.ok(beats.length > 0);
  });

  test('moveShardLeadership moves leaders with the resign protocol, is idempotent, and refuses a follower that is not in sync', async () => {
    const g = groups[0];
    const moves = [{ ...g, from: g.servers[0], to: newIds[0] }];
    await act.waitForShardInSync({
      migrationId: MIG,
      arango: ref,
      shards: [{ ...g, servers: [...g.servers, newIds[0]] }],
      mode: 'all',
      timeoutSeconds: 60,
    });
    assert.deepEqual((await act.moveShardLeadership({ migrationId: MIG, arango: ref, moves })).results, ['moved']);
    assert.deepEqual((await act.moveShardLeadership({ migrationId: MIG, arango: ref, moves })).results, [
      'alreadyDone',
    ]);
    const s = (await c.shardStates()).find((x) => x.shard === g.shard)!;
    assert.deepEqual(s.plan, [newIds[0], g.servers[1], g.servers[0]]);
    assert.equal(s.current[0], newIds[0]);
    // A follower that was never added cannot take over.
    const g1 = groups[1];
    await assert.rejects(
      act.moveShardLeadership({
        migrationId: MIG,
        arango: ref,
        moves: [{ ...g1, from: g1.servers[0], to: newIds[2] }],
      }),
      failure('InvariantViolationError', true),
    );
    assert.equal((await c.shardStates()).find((x) => x.shard === g1.shard)!.plan[0], g1.servers[0]);
  });

  test('removeShardFollower refuses to remove the leader or to leave fewer than replicationFactor in-sync copies; otherwise removes and releases the lock', async () => {
    const g = groups[0];
    const quick = simActivities({ inSyncGraceMs: 500 });
    await assert.rejects(
      quick.removeShardFollower({
        migrationId: MIG,
        arango: ref,
        moves: [{ ...g, remove: [newIds[0]], replicationFactor: 2 }],
      }),
      failure('InvariantViolationError', true),
    );
    await assert.rejects(
      quick.removeShardFollower({
        migrationId: MIG,
        arango: ref,
        moves: [{ ...g, remove: g.servers, replicationFactor: 2 }],
      }),
      failure('InvariantViolationError', true),
    );
    const r = await act.removeShardFollower({
      migrationId: MIG,
      arango: ref,
      moves: [{ ...g, remove: [g.servers[0]], replicationFactor: 2 }],
    });
    assert.deepEqual(r.results, ['removed']);
    assert.equal(await lockOf(c, g.shard), undefined);
    assert.deepEqual(
      (
        await act.removeShardFollower({
          migrationId: MIG,
          arango: ref,
          moves: [{ ...g, remove: [g.servers[0]], replicationFactor: 2 }],
        })
      ).results,
      ['alreadyDone'],
    );
    // Remove before in sync: the new follower of groups[1] still copies at 8 MB/s: refused.
    const g1 = groups[1];
    await assert.rejects(
      quick.removeShardFollower({
        migrationId: MIG,
        arango: ref,
        moves: [{ ...g1, remove: [g1.servers[1]], replicationFactor: 3 }],
      }),
      failure('InvariantViolationError', true),
    );
  });

  test('verifyConvergence: a left-over Transit lock and Plan ≠ Current are reported, then the check passes', async () => {
    await assert.rejects(act.verifyConvergence({ arango: ref }), (e: unknown) => {
      failure('InvariantViolationError', true)(e);
      assert.match((e as Error).message, /Transit's lock/);
      return true;
    });
    // Undo the test moves: drop the added followers (not in sync copies may go), release locks.
    for (const [g, extra] of [
      [groups[1], newIds[1]],
      [groups[2], newIds[2]],
      [groups[5], newIds[0]],
    ] as const) {
      await act.removeShardFollower({
        migrationId: MIG,
        arango: ref,
        moves: [{ ...g, remove: [extra], replicationFactor: 2 }],
      });
    }
    await c.agencyWrite(
      groups.map((g) => [
        { [`/arango/Supervision/Shards/${g.shard}`]: { op: 'delete' } },
        { [`/arango/Supervision/Shards/${g.shard}`]: { old: `transit-${MIG}` } },
      ]),
    );
    await c.waitConverged(30_000);
    const ok = await act.verifyConvergence({ arango: ref });
    assert.equal(ok.ok, true);
    assert.equal(ok.shards, 13);
    await assert.rejects(
      act.verifyConvergence({ arango: ref, mustNotHold: [groups[3].servers[0]] }),
      failure('InvariantViolationError', true),
    );
  });

  test('removeServer refuses a server that still holds shards, removes a drained and FAILED one, and is idempotent', async () => {
    const busy = (await c.shardStates()).find((x) => x.shard === groups[3].shard)!.plan[0];
    await assert.rejects(act.removeServer({ arango: ref, serverId: busy }), failure('InvariantViolationError', true));
    assert.equal(await act.removeServer({ arango: ref, serverId: 'PRMR-unknown' }), 'alreadyGone');
    const spare = c.dbServers.find((m) => m.id === newIds[1])!;
    await waitUntil('spare empty', 10_000, async () =>
      (await c.shardStates()).every((s) => !s.plan.includes(spare.id) && !s.current.includes(spare.id)),
    );
    // Still running: the coordinator waits (removeServerSeconds) for it to fail, then refuses; retryable.
    await assert.rejects(
      act.removeServer({ arango: ref, serverId: spare.id }),
      failure('ServerNotRemovableError', false),
    );
    await spare.stop();
    assert.equal(await act.removeServer({ arango: ref, serverId: spare.id }), 'removed');
    assert.equal(await act.removeServer({ arango: ref, serverId: spare.id }), 'alreadyGone');
  });

  test('restoreAutoShrink puts the numbers back', async () => {
    await act.restoreAutoShrink({ arango: ref, previous: { numberOfDBServers: null, numberOfCoordinators: null } });
    const ns = d(await c.coordinatorCall('GET', '/_admin/cluster/numberOfServers'));
    assert.equal(ns.numberOfDBServers, null);
  });

  test('checkAgentReplaceable and waitForAgentCaughtUp guard replacing agents one at a time', async () => {
    const follower = c.agents.find((a) => a.running)!;
    await act.checkAgentReplaceable({ arango: ref, agentId: follower.id });
    const fresh = await c.replaceAgent(follower.id);
    const r = await act.waitForAgentCaughtUp({
      arango: ref,
      agentId: follower.id,
      endpoint: fresh.endpoint,
      timeoutSeconds: 30,
    });
    assert.ok(r.commitIndex > 0);
    // With another agent down, replacing one more would lose quorum.
    const leaderId = (await c.agencyLeader())!.id;
    const down = c.agents.find((a) => a.id !== leaderId && a.id !== follower.id)!;
    await down.stop();
    await assert.rejects(
      act.checkAgentReplaceable({ arango: ref, agentId: follower.id }),
      failure('AgentNotReplaceableError', true),
    );
    await assert.rejects(
      act.checkAgentReplaceable({ arango: ref, agentId: 'AGNT-nope' }),
      failure('AgentNotReplaceableError', true),
    );
    await c.replaceAgent(down.id);
    await act.waitForAgentCaughtUp({
      arango: ref,
      agentId: down.id,
      endpoint: c.agents.find((a) => a.id === down.id)!.endpoint,
      timeoutSeconds: 30,
    });
  });

  test('changeReplicationFactor: a refused change is a non-retryable ArangoRequestRefusedError naming the way out; a dropped collection is reported changed', async () => {
    const lines = await arangoDb(c, 'shop').collection('lines').properties();
    const base = { migrationId: MIG, arango: ref, timeoutSeconds: 5 };
    // Upstream (LogicalCollection::properties) refuses a replicationFactor change of a distributeShardsLike clone.
    await assert.rejects(
      act.changeReplicationFactor({
        ...base,
        changes: [
          {
            database: 'shop',
            collectionId: String((lines as unknown as { id: string }).id),
            name: 'lines',
            from: 2,
            to: 3,
          },
        ],
      }),
      (e: unknown) => {
        failure('ArangoRequestRefusedError', true)(e);
        assert.match((e as Error).message, /HTTP 403.*distributeShardsLike.*policy\.verifyReplicationFactorOne/s);
        return true;
      },
    );
    assert.equal((await arangoDb(c, 'shop').collection('lines').properties()).replicationFactor, 2, 'unchanged');
    const gone = await act.changeReplicationFactor({
      ...base,
      changes: [{ database: 'shop', collectionId: '999999', name: 'dropped-meanwhile', from: 1, to: 2 }],
    });
    assert.deepEqual(
      gone.results.map((r) => [r.result, r.replicationFactor]),
      [['changed', null]],
    );
    assert.match(gone.results[0]!.detail ?? '', /no longer exists/);
  });

  test('a wrong credential is a non-retryable ArangoAuthError naming what to fix; an unreachable agency is retryable', async () => {
    const wrong = simActivities({ readCredential: async () => 'not-the-secret' });
    await assert.rejects(wrong.readShardPlan({ migrationId: MIG, arango: ref }), (e: unknown) => {
      failure('ArangoAuthError', true)(e);
      assert.match((e as Error).message, /jwt-secret-keyfile/);
      return true;
    });
    const nowhere = simActivities({ agencyRetryMs: 500 });
    await assert.rejects(
      nowhere.verifyConvergence({ arango: { ...ref, agencyEndpoints: ['tcp://127.0.0.98:8529'] } }),
      failure('AgencyUnavailableError', false),
    );
    await assert.rejects(
      simActivities().checkClusterHealth({ arango: { ...ref, endpoint: 'http://127.0.0.98:8529' } }),
      failure('ArangoUnavailableError', false),
    );
    const db = arangoDb(c, 'shop');
    assert.equal((await db.collection('single').count()).count, 10);
  });
});
