// Failures in the middle of a migration and supervision's traps, against the simulator, with Transit's own shard
// engine: the agency leader dies mid-move; auto-shrink and an operator's cleanOutServer do not make Transit lose
// or misplace data.
//
// DB servers killed mid-move are checked in CI by test/shard-engine.test.ts (a source leader SIGKILLed while the
// new leader's copy is made: ArangoDB fails over, Transit re-plans and completes, nothing lost; the new leader
// SIGKILLed right after the switch: Transit parks naming the dead destination, resumes once it is back, nothing
// lost) and end to end by test/fault-matrix.test.ts (source and target DB server SIGKILLed in MoveShards); every
// failing server × mover by scripts/failover-matrix.ts and every fault × phase by scripts/fault-matrix.ts. The
// whole migration with both kills (3.5 min) ran here until the CI budget asked for one representative each.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { arangoRef, simActivities, startSim, underReplicated, waitUntil } from './harness/sim';
import { TOPOLOGY, addNewServers, d, migrate, stopAndCheck, supervisionCleanOuts, writers } from './harness/migrate';

describe('failures in the middle of a move', () => {
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
      await act.waitForAgentCaughtUp({
        arango: ref,
        agentId: killed,
        endpoint: c.agents.find((a) => a.id === killed)!.endpoint,
        timeoutSeconds: 30,
      });
      const { missing, acked } = await stopAndCheck(c, ws);
      assert.ok(acked > 50);
      assert.deepEqual(missing, []);
    } finally {
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
          started = c
            .coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: victim })
            .then((r) => void (jobId = String(d(r).id)));
        },
      });
      await started;
      await waitUntil('cleanOutServer ended', 60_000, async () =>
        ['Finished', 'Failed'].includes(
          String(d((await c.request(c.coordinatorUrl, `/_admin/cluster/queryAgencyJob?id=${jobId}`)).body).status),
        ),
      );
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
