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
  /** The DB servers added by the first test (GOOD, empty at first). */
  const newIds: string[] = [];

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
  // TakeoverShardLeadership::handleLeadership + RestReplicationHandler::handleCommandSetTheLeader: after a planned
  // switch (the old leader resigned), the servers in Current still hold every acknowledged write, and the new leader
  // keeps them as in-sync followers — its first Current entry lists them. A simulator whose new leader started with
  // no followers (Current = [new leader] until each follower copied again) left a shard whose new leader died
  // right after the switch with no failover candidate: FailedLeader waited for ever (the new-leader × transit-dead
  // cell of the failover matrix).
  test(
    'a planned leader move: the new leader keeps the in-sync followers, so its death right after the switch fails over',
    { timeout: 180_000 },
    async () => {
      assert.ok(newIds.length >= 3, 'the first test added the new DB servers');
      const [s0] = (await c.shardStates()).filter((s) => s.name === 'orders');
      const { cid, shard } = s0!;
      const leader = s0!.plan[0]!;
      const to = newIds.find((x) => !s0!.plan.includes(x))!;
      writer = new ContinuousWriter(arangoDb(c, 'shop'), 'orders', 2, 'planned');
      await waitUntil('client writes', 60_000, () => writer!.acked.size >= 100, 100);
      const inSync = (await c.shardStates()).find((x) => x.shard === shard)!.current;
      assert.equal(inSync[0], leader);
      assert.ok(inSync.length >= 2, `in sync before the move: ${JSON.stringify(inSync)}`);

      // Every value Current takes from now on, in order (the agency's log), not only the latest.
      let index = (await c.agencyPoll(0)).commitIndex + 1;
      const curPath = `/arango/Current/Collections/shop/${cid}/${shard}`;
      const job = d(
        await c.coordinatorCall('POST', '/_admin/cluster/moveShard', {
          database: 'shop',
          collection: 'orders',
          shard,
          fromServer: leader,
          toServer: to,
          remainsFollower: false,
        }),
      );
      let first: string[] | undefined;
      const deadline = Date.now() + 120_000;
      while (!first) {
        assert.ok(Date.now() < deadline, `${to} never reported itself leader of ${shard} in Current`);
        const p = await c.agencyPoll(index, 1);
        for (const e of p.log) {
          index = Math.max(index, e.index + 1);
          const op = d(e.query[curPath]);
          const servers = (op.op === 'set' ? d(op.new) : op).servers;
          if (!first && Array.isArray(servers) && servers[0] === to) first = servers as string[];
        }
      }
      await c.memberById(to)!.stop(); // SIGKILL, the moment the new leader took over

      // Upstream, the servers that were in sync stay in sync across the switch (the resigned leader among them).
      assert.deepEqual(
        [...first].sort(),
        [to, ...inSync].sort(),
        `the new leader's first Current entry lists the in-sync servers: ${JSON.stringify(first)}`,
      );
      let last = { plan: [] as string[], current: [] as string[] };
      await waitUntil('a serving leader again (FailedLeader picks one of the in-sync followers)', 90_000, async () => {
        const s = (await c.shardStates()).find((x) => x.shard === shard)!;
        last = { plan: s.plan, current: s.current };
        return last.plan[0] !== to && !last.plan[0]!.startsWith('_') && last.current[0] === last.plan[0];
      }).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(last)}`));
      assert.ok(inSync.includes(last.plan[0]!), `the new leader ${last.plan[0]} was in sync before the move`);
      // The job ended either way: finished (the switch was complete) or aborted forward by failover ("(2)").
      const t = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
      const id = String(job.id);
      assert.ok(d(t.Finished)[id] || /aborted \(2\)/.test(String(d(d(t.Failed)[id]).reason)), `job ${id} ended`);

      await writer.stop();
      assert.ok(writer.acked.size > 0);
      assert.deepEqual(await writer.missing(), [], 'no acknowledged write lost');
      writer = undefined;
    },
  );
});
