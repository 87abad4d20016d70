// waitForShardMoves on the simulated cluster reports a copy job whose new copy is in sync before the job ends (patch
// latency-copies-synced): what MoveShard::pendingLeader waits for before it resigns the old leader, switches and
// removes it — supervision rounds in which no byte moves. Read from the agency itself: when the wait returns, the
// new server is in Current's servers of the shard while the job is still open (not in Target/Finished); a second
// wait, told the copy is known to be in sync, returns only when the job ends. Its twin: a wait not given the job's
// toServer reports nothing of the kind and returns only when the job ends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { arangoDb, arangoRef, simActivities, startSim, type SimCluster } from './harness/sim';
import { asDict, at } from '../src/activities/agency/paths';
import type { ShardKey } from '../src/activities/agency-types';

describe('waitForShardMoves and copies in sync (simulated cluster)', () => {
  let c: SimCluster;
  before(async () => {
    c = await startSim({ agents: 3, dbServers: 4, coordinators: 1, targetNumberOfDBServers: null, databases: [] });
  });
  after(async () => c?.stop());

  /** Moves the leader of the collection's only shard to a DB server that holds no copy; returns the job's key. */
  async function submitLeaderMove(name: string) {
    const act = simActivities();
    const ref = arangoRef(c);
    const db = arangoDb(c, '_system');
    const col = db.collection(name);
    await col.create({ numberOfShards: 1, replicationFactor: 2 } as never);
    await col.saveAll(Array.from({ length: 200 }, (_, i) => ({ _key: `k${i}`, v: i })));
    const plan = await act.readShardPlan({ migrationId: 'm', arango: ref });
    const cp = plan.collections.find((x) => x.name === name)!;
    const [shard, idx] = cp.shards[0]!;
    const servers = idx.map((i) => plan.servers[i]!.id);
    const to = plan.servers.map((s) => s.id).find((s) => !servers.includes(s))!;
    const key: ShardKey = { database: '_system', collectionId: cp.collectionId, shard, clones: [] };
    const r = await act.submitShardMoves({
      migrationId: 'm',
      arango: ref,
      moves: [
        { ...key, expected: servers, fromServer: servers[0]!, toServer: to, isLeader: true, remainsFollower: false },
      ],
    });
    const s = r.results[0]!;
    assert.equal(s.result, 'submitted', JSON.stringify(s));
    return { act, ref, key, to, jobId: (s as { jobId: string }).jobId };
  }

  const currentServers = async (k: ShardKey) => {
    const p = `/arango/Current/Collections/${k.database}/${k.collectionId}/${k.shard}/servers`;
    return (at(await c.agencyRead([p]), p) as string[] | undefined) ?? [];
  };
  const jobList = async (jobId: string) => {
    const read = asDict(await c.agencyRead(['/arango/Target']));
    return (['ToDo', 'Pending', 'Finished', 'Failed'] as const).find(
      (q) => at(read, `/arango/Target/${q}/${jobId}`) !== undefined,
    );
  };

  /** One mode-'any' wait on a single job (60 s at most). */
  const waitAny = (m: Awaited<ReturnType<typeof submitLeaderMove>>, job: { toServer?: string; synced?: boolean }) =>
    m.act.waitForShardMoves({
      migrationId: 'm',
      arango: m.ref,
      jobs: [{ ...m.key, jobId: m.jobId, ...job }],
      mode: 'any',
      timeoutSeconds: 60,
    });

  test('a copy in sync is reported while its job still runs; the next wait returns at its end', async () => {
    const m = await submitLeaderMove('synced');
    const { key, to, jobId } = m;
    const first = await waitAny(m, { toServer: to, synced: false });
    assert.deepEqual(first.ended, [], 'the job had not ended');
    assert.deepEqual(first.synced, [0], 'the new copy was reported in sync');
    assert.ok((await currentServers(key)).includes(to), `${to} in Current's servers`);
    const second = await waitAny(m, { toServer: to, synced: true });
    assert.deepEqual(
      second.ended.map((e) => e.status),
      ['finished'],
    );
    assert.equal(await jobList(jobId), 'Finished', 'the agency has the job in Target/Finished');
    assert.equal((await currentServers(key))[0], to, 'the new server leads');
  });

  test('twin: a wait not given the toServer returns only when the job has ended', async () => {
    const m = await submitLeaderMove('unsynced');
    const r = await waitAny(m, {});
    assert.equal(r.synced, undefined);
    assert.deepEqual(
      r.ended.map((e) => e.status),
      ['finished'],
    );
    assert.equal(await jobList(m.jobId), 'Finished');
  });
});
