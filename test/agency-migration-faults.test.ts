// Failures in the middle of a migration and supervision's traps, against the simulator, with Transit's own shard
// engine: DB servers and the agency leader die mid-move; auto-shrink and an operator's cleanOutServer do not make
// Transit lose or misplace data.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { arangoRef, simActivities, startSim, underReplicated, waitUntil, type SimCluster } from './harness/sim';
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
import { agencyAt } from './harness/failover';

describe('failures in the middle of a move', () => {
  test(
    "DB servers killed mid-move: a new copy's server parks the migration with its name until it is back; a source leader is failed over by ArangoDB and the engine re-plans; nothing is lost",
    { timeout: 300_000 },
    async () => {
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
          Object.values(d(d(d(d(await c.agencyRead(['/arango/Target/Pending'])).arango).Target).Pending))
            .map(d)
            .find((j) => j.type === 'moveShard' && pred(j));
        let job: Dict | undefined;
        await waitUntil('a job copying to a new server', 60_000, async () =>
          Boolean((job = await pendingTo((j) => news.includes(String(j.toServer))))),
        );
        deadTarget = c.memberById(String(job!.toServer))!;
        await deadTarget.stop();
        await waitUntil(
          'the engine parks naming the dead server, which comes back',
          120_000,
          () => parkedWith !== '' && deadTarget!.running,
        );
        assert.match(parkedWith, /FAILED — bring it back and resume, or roll back/);
        // 2) A source leader dies while a job copies its shard to a new server (the engine's first job of a group
        // brings the new leader in as a follower, copying from the source leader; replicationFactor 1: the leader
        // move itself): ArangoDB fails it over, the job ends aborted.
        let leader = '';
        await waitUntil('a job copying from an old leader to a new server', 60_000, async () => {
          const pending = Object.values(d(await agencyAt(c, '/arango/Target/Pending')));
          for (const j of pending.map(d)) {
            // A leader swap (isLeader + remainsFollower) copies nothing: skip it.
            if (j.type !== 'moveShard' || !news.includes(String(j.toServer))) continue;
            if (j.isLeader === true && j.remainsFollower === true) continue;
            const path = `/arango/Plan/Collections/${String(j.database)}/${String(j.collection)}/shards/${String(j.shard)}`;
            const plan = (await agencyAt(c, path)) as string[] | undefined;
            const lead = String(plan?.[0] ?? '').replace(/^_/, '');
            if (olds.includes(lead) && c.memberById(lead)?.running === true) {
              job = j;
              leader = lead;
              return true;
            }
          }
          return false;
        });
        deadLeader = c.memberById(leader)!;
        await deadLeader.stop();
        await waitUntil('the leader move aborted by failover', 60_000, async () => {
          const failed = d(
            d(d(await c.agencyRead([`/arango/Target/Failed/${String(job!.jobId)}`])).arango).Target,
          ).Failed;
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
    },
  );

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
