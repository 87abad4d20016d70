// After a failover that happens while a MoveShard job moves a shard's leader, the shard's followers get in sync
// with the new leader again, as upstream's maintenance re-runs SynchronizeShard against whatever leader Plan and
// Current name: Current lists replicationFactor in-sync servers, and supervision's enforceReplication then takes
// the dead server out of Plan (too many servers, enough in sync). Clients keep writing small documents into a
// collection whose seeded documents are large; those writes cost what they weigh, not the seeded documents' size
// (charging each one 250 kB made the resync after the failover copy hundreds of MB the shard does not hold, so
// Current kept only the new leader for minutes).
// Every member is its own process, so the leader dies as a process does (SIGKILL). Outcomes only, no durations.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ContinuousWriter, arangoDb, startSim, waitUntil, type SimCluster } from './harness/sim';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});

describe('failover while a MoveShard job moves the leader: the followers resync', () => {
  let c: SimCluster;
  let writer: ContinuousWriter | undefined;

  before(async () => {
    c = await startSim(
      {
        agents: 3,
        dbServers: 3,
        coordinators: 1,
        targetNumberOfDBServers: null,
        bandwidth: '1MB/s',
        databases: [
          {
            name: 'shop',
            collections: [
              {
                name: 'orders',
                numberOfShards: 1,
                replicationFactor: 2,
                documentsPerShard: 40,
                bytesPerDocument: 250_000,
              },
            ],
          },
        ],
      },
      { processes: true },
    );
  });
  after(async () => {
    await writer?.stop().catch(() => undefined);
    await c?.stop();
  });

  test(
    'Current regains replicationFactor in-sync servers and Plan drops the dead leader',
    { timeout: 240_000 },
    async () => {
      const added = await Promise.all([c.addDBServer(), c.addDBServer(), c.addDBServer()]);
      const newIds: string[] = [];
      await waitUntil('the new DB servers registered and GOOD', 60_000, async () => {
        const a = d(d(await c.agencyRead(['/arango/Supervision/Health', '/arango/Current/ServersRegistered'])).arango);
        const reg = d(d(a.Current).ServersRegistered);
        const health = d(d(a.Supervision).Health);
        newIds.length = 0;
        for (const m of added) {
          const id = Object.keys(reg).find((k) => d(reg[k]).endpoint === m.endpoint);
          if (id && d(health[id]).Status === 'GOOD') newIds.push(id);
        }
        return newIds.length === added.length;
      });
      // Clients write small documents before and during the move (seeded documents stand for 250 kB each, these
      // are as large as their JSON; charged 250 kB each, a thousand of them would be 250 MB to resync at 1 MB/s).
      writer = new ContinuousWriter(arangoDb(c, 'shop'), 'orders', 2);
      await waitUntil('a thousand client writes', 120_000, () => writer!.acked.size >= 1000, 100);
      const [s0] = (await c.shardStates()).filter((s) => s.name === 'orders');
      const { cid, shard } = s0!;
      const leader = s0!.plan[0]!;
      const to = newIds[0]!;

      // A MoveShard job of the leader to a new server, as MoveShard::create writes it.
      await c.agencyWrite([[{ '/arango/Sync/LatestID': { op: 'increment' } }]]);
      const id = String(d(d(d(await c.agencyRead(['/arango/Sync/LatestID'])).arango).Sync).LatestID);
      const w = await c.agencyWrite([
        [
          {
            [`/arango/Target/ToDo/${id}`]: {
              creator: 'transit-test',
              type: 'moveShard',
              database: 'shop',
              collection: cid,
              shard,
              fromServer: leader,
              toServer: to,
              isLeader: true,
              remainsFollower: false,
              jobId: id,
              timeCreated: new Date().toISOString(),
              tryUndo: false,
            },
          },
        ],
      ]);
      assert.equal(w.status, 200);
      await waitUntil(
        'the leader move in Pending',
        30_000,
        async () => Boolean(d(d(d(d(await c.agencyRead(['/arango/Target/Pending'])).arango).Target).Pending)[id]),
        100,
      );
      await new Promise((r) => setTimeout(r, 1000)); // the new copy is being made
      await c.memberById(leader)!.stop(); // SIGKILL

      const state = async (): Promise<{ plan: string[]; current: string[] }> => {
        const s = (await c.shardStates()).find((x) => x.shard === shard)!;
        return { plan: s.plan, current: s.current };
      };
      await waitUntil('a serving leader again', 120_000, async () => {
        const { plan, current } = await state();
        return plan[0] !== leader && !plan[0]!.startsWith('_') && current[0] === plan[0];
      });
      const failed = d(d(d(d(await c.agencyRead(['/arango/Target/Failed'])).arango).Target).Failed);
      assert.match(String(d(failed[id]).reason), /abort/i, 'failover aborted the MoveShard job');

      // The followers resync with the new leader; supervision restores replicationFactor and drops the dead server.
      let last = { plan: [] as string[], current: [] as string[] };
      await waitUntil('replicationFactor in-sync copies and the dead leader out of Plan', 90_000, async () => {
        last = await state();
        return (
          last.current.length >= 2 &&
          last.current.every((x) => last.plan.includes(x)) &&
          !last.plan.includes(leader) &&
          !last.plan.includes(`_${leader}`)
        );
      }).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(last)}`));
      assert.equal(last.current[0], last.plan[0], 'Current names the Plan leader');
      assert.ok(!last.current.includes(leader), 'the dead server is not in sync');

      await writer.stop();
      assert.ok(writer.acked.size > 0, 'the writer got writes through');
      assert.deepEqual(await writer.missing(), [], 'no acknowledged write lost');
      writer = undefined;
    },
  );
});
