// The simulator's supervision as upstream ArangoDB runs it (src/sim/README.md names the functions): a shard lock
// that is not a job holds a failover back until the failedLeader job times out ("Timed out.", never re-created);
// a blocked failed* job in ToDo starves every other ToDo job; a MoveShard in Pending that holds the lock is
// aborted and the failover goes through; failedFollower jobs; MoveShard read locks, failure reasons and
// cancellation; a distributeShardsLike collection waits for its prototype's shard locks; shardDistribution's
// total == current quirk; replication 2 databases; per-server maintenance; expired servers. Outcomes are read
// from the agency.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { timingWithDefaults } from '../src/sim/topology';
import { startSim, waitUntil, type SimCluster } from './harness/sim';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('simulated supervision follows upstream', () => {
  let c: SimCluster;
  const servers: string[] = [];

  const arango = async (...path: string[]): Promise<unknown> => {
    const a = await c.agencyRead([`/arango/${path.join('/')}`]);
    let x: unknown = a.arango;
    for (const p of path.join('/').split('/')) x = d(x)[p];
    return x;
  };
  const jobs = async (q: string): Promise<Record<string, Dict>> => d(await arango('Target', q)) as Record<string, Dict>;
  const findJob = async (id: string): Promise<{ q: string; job: Dict } | undefined> => {
    for (const q of ['ToDo', 'Pending', 'Finished', 'Failed']) {
      const j = (await jobs(q))[id];
      if (j) return { q, job: j };
    }
    return undefined;
  };
  const waitDone = async (id: string, ms = 30_000): Promise<{ q: string; job: Dict }> => {
    let f: { q: string; job: Dict } | undefined;
    await waitUntil(`job ${id} done`, ms, async () => {
      f = await findJob(id);
      return f?.q === 'Finished' || f?.q === 'Failed';
    });
    return f!;
  };
  const plan = async (
    name: string,
    db = 'fid',
  ): Promise<{ cid: string; shard: string; plan: string[]; current: string[] }[]> =>
    (await c.shardStates())
      .filter((s) => s.name === name && s.db === db)
      .sort((a, b) => Number(a.shard.slice(1)) - Number(b.shard.slice(1)));
  /** A MoveShard job exactly as MoveShard::create writes it (id from Sync/LatestID, like ClusterInfo::uniqid). */
  const submitMoveShard = async (o: {
    db?: string;
    cid: string;
    shard: string;
    from: string;
    to: string;
    isLeader: boolean;
  }): Promise<string> => {
    await c.agencyWrite([[{ '/arango/Sync/LatestID': { op: 'increment' } }]]);
    const id = String(await arango('Sync', 'LatestID'));
    const w = await c.agencyWrite([
      [
        {
          [`/arango/Target/ToDo/${id}`]: {
            creator: 'transit-test',
            type: 'moveShard',
            database: o.db ?? 'fid',
            collection: o.cid,
            shard: o.shard,
            fromServer: o.from,
            toServer: o.to,
            isLeader: o.isLeader,
            remainsFollower: o.isLeader,
            jobId: id,
            timeCreated: new Date().toISOString(),
            tryUndo: false,
          },
        },
      ],
    ]);
    assert.equal(w.status, 200);
    return id;
  };
  const lock = (shard: string, value: string) => c.agencyWrite([[{ [`/arango/Supervision/Shards/${shard}`]: value }]]);
  const unlock = (shard: string) => c.agencyWrite([[{ [`/arango/Supervision/Shards/${shard}`]: { op: 'delete' } }]]);

  before(async () => {
    c = await startSim({
      agents: 1,
      dbServers: 5,
      coordinators: 1,
      targetNumberOfDBServers: null,
      bandwidth: '20MB/s',
      timing: { failedLeaderTimeout: 8, expiredServersGrace: 15 },
      databases: [
        {
          name: 'fid',
          collections: [
            { name: 'held', numberOfShards: 1, replicationFactor: 2, documentsPerShard: 5 },
            { name: 'spread', numberOfShards: 5, replicationFactor: 2, documentsPerShard: 5 },
            { name: 'other', numberOfShards: 1, replicationFactor: 2, documentsPerShard: 5 },
            { name: 'big', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 1000, bytesPerDocument: 50_000 },
            {
              name: 'slow',
              numberOfShards: 1,
              replicationFactor: 2,
              documentsPerShard: 2000,
              bytesPerDocument: 50_000,
            },
          ],
        },
      ],
    });
    servers.push(...c.dbServers.map((m) => m.id!).sort());
  });
  after(async () => {
    await c?.stop();
  });

  test('the real start-up grace is the default; the harness passes a short one', () => {
    assert.equal(timingWithDefaults().startupGrace, 55);
    assert.equal(timingWithDefaults().failedLeaderTimeout, 4620);
    assert.equal(timingWithDefaults().moveShardTimeout, 43200);
    assert.equal(timingWithDefaults().expiredServersGrace, 3600);
  });

  test('MoveShard: read locks on both servers for every running job, upstream failure reasons, cancellation aborts (3) with Plan reverted', async () => {
    const [b0, b1] = await plan('big');
    const to = servers.find((s) => s !== b0.plan[0] && s !== b1.plan[0])!;
    const j0 = await submitMoveShard({ cid: b0.cid, shard: b0.shard, from: b0.plan[0], to, isLeader: true });
    const j1 = await submitMoveShard({ cid: b1.cid, shard: b1.shard, from: b1.plan[0], to, isLeader: true });
    await waitUntil(
      'both moves pending',
      20_000,
      async () => (await findJob(j0))?.q === 'Pending' && (await findJob(j1))?.q === 'Pending',
    );
    const readLocks = await arango('Supervision', 'DBServers', to);
    assert.deepEqual(
      [...(readLocks as string[])].sort(),
      [j0, j1].sort(),
      'two MoveShard jobs read-lock the same toServer at once',
    );
    assert.deepEqual(await arango('Supervision', 'DBServers', b0.plan[0]), [j0]);
    assert.equal(await arango('Supervision', 'Shards', b0.shard), j0);
    // cleanOutServer needs a write lock: it waits in ToDo while MoveShard jobs read-lock the server
    const co = d(await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: to }));
    await sleep(1500);
    assert.equal((await findJob(String(co.id)))?.q, 'ToDo', 'cleanOutServer waits for the read locks');
    await c.coordinatorCall('POST', '/_admin/cluster/cancelAgencyJob', { id: co.id });
    assert.equal((await waitDone(String(co.id))).q, 'Failed');
    // cancelAgencyJob → Target/Pending/<id>/abort → MoveShard::abort before the switch: Plan reverted, locks released
    const r = await c.request(c.coordinatorUrl, '/_admin/cluster/cancelAgencyJob', {
      method: 'POST',
      body: { id: j1 },
    });
    assert.equal(r.status, 200);
    const f1 = await waitDone(j1);
    assert.equal(f1.q, 'Failed');
    assert.equal(f1.job.reason, 'job aborted (3): Killed via API');
    assert.equal((await plan('big'))[1].plan[0], b1.plan[0]);
    const f0 = await waitDone(j0, 60_000);
    assert.equal(f0.q, 'Finished');
    assert.equal((await plan('big'))[0].plan[0], to);
    assert.equal(await arango('Supervision', 'DBServers', to), undefined, 'the last read lock removes the node');
    assert.equal(await arango('Supervision', 'Shards', b0.shard), undefined);
    // failure reasons as MoveShard::start gives them
    const [o] = await plan('other');
    const notLeader = await submitMoveShard({
      cid: o.cid,
      shard: o.shard,
      from: o.plan[1],
      to: servers.find((s) => !o.plan.includes(s))!,
      isLeader: true,
    });
    assert.equal((await waitDone(notLeader)).job.reason, 'fromServer must be the leader in plan for shard');
    const planned = await submitMoveShard({
      cid: o.cid,
      shard: o.shard,
      from: o.plan[1],
      to: o.plan[0],
      isLeader: false,
    });
    assert.equal((await waitDone(planned)).job.reason, 'toServer must not be planned for a following shard');
    const [s0] = await plan('spread');
    const clone = await submitMoveShard({
      cid: s0.cid,
      shard: s0.shard,
      from: s0.plan[0],
      to: 'PRMR-nope',
      isLeader: true,
    });
    assert.equal((await waitDone(clone)).job.reason, 'toServer does not exist as DBServer in Plan');
  });

  test('a distributeShardsLike collection is not created while a prototype shard is locked, and is once the lock is gone', async () => {
    const [o] = await plan('other');
    await lock(o.shard, 'transit-test');
    let done = false;
    const creating = c
      .coordinatorCall('POST', '/_db/fid/_api/collection', { name: 'otherClone', distributeShardsLike: 'other' })
      .then((x) => ((done = true), x));
    await sleep(3000);
    assert.equal(done, false, 'creation waits');
    assert.equal((await plan('otherClone')).length, 0, 'no Plan entry while the prototype shard is locked');
    await unlock(o.shard);
    await creating;
    const [clone] = await plan('otherClone');
    assert.deepEqual(clone.plan, (await plan('other'))[0].plan);
  });

  test('replication 2: the database is created as such; MoveShard refuses it; per-server maintenance goes through Target', async () => {
    await c.coordinatorCall('POST', '/_db/_system/_api/database', { name: 'r2', options: { replicationVersion: '2' } });
    assert.equal(d(await arango('Plan', 'Databases', 'r2')).replicationVersion, '2');
    assert.deepEqual(await arango('Target', 'CollectionGroups', 'r2'), {});
    await c.coordinatorCall('POST', '/_db/r2/_api/collection', { name: 'x', numberOfShards: 1, replicationFactor: 1 });
    const [x] = await plan('x', 'r2');
    const id = await submitMoveShard({
      db: 'r2',
      cid: x.cid,
      shard: x.shard,
      from: x.plan[0],
      to: servers.find((s) => s !== x.plan[0])!,
      isLeader: true,
    });
    const f = await waitDone(id);
    assert.equal(f.q, 'Failed');
    assert.match(String(f.job.reason), /replicationVersion 2/);
    const s = servers[0];
    await c.coordinatorCall('PUT', `/_admin/cluster/maintenance/${s}`, { mode: 'maintenance', timeout: 60 });
    assert.equal(d(await arango('Target', 'MaintenanceDBServers', s)).Mode, 'maintenance');
    assert.equal(d(await arango('Current', 'MaintenanceDBServers', s)).Mode, 'maintenance');
    await c.coordinatorCall('PUT', `/_admin/cluster/maintenance/${s}`, { mode: 'normal' });
    assert.equal(await arango('Current', 'MaintenanceDBServers', s), undefined);
  });

  test('FailedLeader aborts an abortable MoveShard in Pending that holds the lock, then fails over', async () => {
    const [b] = await plan('big');
    const rf1 = await submitMoveShard({
      cid: b.cid,
      shard: b.shard,
      from: b.plan[0],
      to: servers.find((x) => x !== b.plan[0])!,
      isLeader: false,
    });
    const f = await waitDone(rf1);
    assert.equal(f.q, 'Failed');
    assert.equal(f.job.reason, 'fromServer must be a follower in plan for shard');
    // FailedLeader::start aborts the abortable lock holder (even before its own precondition, leader FAILED, is
    // checked): a failedLeader job written for a healthy leader aborts a pending leader move, then fails itself.
    const [s0] = await plan('slow');
    const lm = await submitMoveShard({
      cid: s0.cid,
      shard: s0.shard,
      from: s0.plan[0],
      to: servers.find((x) => !s0.plan.includes(x))!,
      isLeader: true,
    });
    await waitUntil('leader move pending', 20_000, async () => (await findJob(lm))?.q === 'Pending');
    const flId = `${lm}-fl`;
    await c.agencyWrite([
      [
        {
          [`/arango/Target/ToDo/${flId}`]: {
            creator: 'transit-test',
            type: 'failedLeader',
            database: 'fid',
            collection: s0.cid,
            shard: s0.shard,
            fromServer: s0.plan[0],
            jobId: flId,
            timeCreated: new Date().toISOString(),
          },
        },
      ],
    ]);
    const aborted = await waitDone(lm);
    assert.equal(aborted.q, 'Failed');
    assert.equal(aborted.job.reason, 'job aborted (3): failed leader requests abort');
    const fl = await waitDone(flId);
    assert.equal(fl.q, 'Failed');
    assert.equal(fl.job.reason, `Server ${s0.plan[0]} no longer failing.`);
    assert.equal((await plan('slow'))[0].plan[0], s0.plan[0], 'the move was reverted');
    await waitUntil('slow back to two copies', 30_000, async () => {
      const [x] = await plan('slow');
      return x.plan.length === 2 && x.current.length === 2;
    });
    // The real thing: a follower move in Pending, then its shard's leader fails.
    const [s] = await plan('slow');
    const dest = servers.find((x) => !s.plan.includes(x))!;
    const mv = await submitMoveShard({ cid: s.cid, shard: s.shard, from: s.plan[1], to: dest, isLeader: false });
    await waitUntil('move pending', 20_000, async () => (await findJob(mv))?.q === 'Pending');
    const victim = c.memberById(s.plan[0])!;
    await victim.stop();
    const out = await waitDone(mv, 30_000);
    assert.equal(out.q, 'Failed');
    // Upstream runs Pending jobs after ToDo jobs in a round: MoveShard's own check usually sees the FAILED server
    // first; FailedLeader::start aborts it otherwise. Either way MoveShard::abort reverts Plan before the switch.
    assert.match(String(out.job.reason), /^job aborted \(3\): (failed leader requests abort|failed server in Plan)$/);
    await waitUntil(
      'failover to the in-sync follower',
      30_000,
      async () => (await plan('slow'))[0].plan[0] === s.plan[1],
    );
    await waitUntil(
      'shard lock released',
      20_000,
      async () => (await arango('Supervision', 'Shards', s.shard)) === undefined,
    );
    await c.restart(victim);
    await waitUntil(
      'victim back',
      30_000,
      async () =>
        d(await arango('Supervision', 'Health', victim.id!)).Status === 'GOOD' &&
        d(await arango('Target', 'FailedServers'))[victim.id!] === undefined,
    );
  });

  test('a FAILED leader behind a non-job lock: no failover, starvation of other ToDo jobs, "Timed out." and never re-created; failedFollower jobs', async () => {
    const [h] = await plan('held');
    const leader = h.plan[0];
    const before = (await c.shardStates()).filter(
      (x) => x.db === 'fid' && ['held', 'spread', 'other', 'slow'].includes(x.name),
    ); // rf 2, no clones
    const leads = before
      .filter((x) => x.plan[0] === leader)
      .map((x) => x.shard)
      .sort();
    const follows = before
      .filter((x) => x.plan.indexOf(leader) > 0)
      .map((x) => x.shard)
      .sort();
    await lock(h.shard, 'transit-test');
    await c.memberById(leader)!.stop();
    let fl: [string, Dict] | undefined;
    await waitUntil('failedLeader job for the locked shard', 30_000, async () => {
      fl = Object.entries(await jobs('ToDo')).find(([, j]) => j.type === 'failedLeader' && j.shard === h.shard);
      return Boolean(fl);
    });
    const [flId, flJob] = fl!;
    const fsId = String(flJob.creator);
    assert.equal(d((await jobs('Pending'))[fsId]).type, 'failedServer');
    // starvation: a moveShard on a shard that has nothing to do with the failed server stays in ToDo
    const o = (await plan('spread')).find((x) => !x.plan.includes(leader))!;
    const mover = servers.find((s) => s !== leader && !o.plan.includes(s))!;
    const ms = await submitMoveShard({ cid: o.cid, shard: o.shard, from: o.plan[0], to: mover, isLeader: true });
    await sleep(2000);
    assert.equal((await findJob(flId))?.q, 'ToDo', 'the failedLeader job is still blocked');
    assert.equal((await findJob(ms))?.q, 'ToDo', 'the moveShard is held back while a failed* job sits in ToDo');
    const subJobs = Object.values({
      ...(await jobs('ToDo')),
      ...(await jobs('Pending')),
      ...(await jobs('Finished')),
      ...(await jobs('Failed')),
    }).filter((j) => j.creator === fsId);
    const failedFollowers = subJobs.filter((j) => j.type === 'failedFollower');
    assert.deepEqual(
      subJobs
        .filter((j) => j.type === 'failedLeader')
        .map((j) => String(j.shard))
        .sort(),
      leads,
      'one failedLeader job per shard it led',
    );
    assert.deepEqual(
      failedFollowers.map((j) => String(j.shard)).sort(),
      follows,
      'one failedFollower job per shard it followed',
    );
    const timedOut = await waitDone(flId, 40_000);
    assert.equal(timedOut.q, 'Failed');
    assert.equal(timedOut.job.reason, 'Timed out.');
    assert.equal((await plan('held'))[0].plan[0], leader, 'no failover while the lock is held');
    assert.equal(await arango('Supervision', 'Shards', h.shard), 'transit-test', 'a ToDo job never releases the lock');
    await unlock(h.shard);
    await waitDone(fsId, 30_000);
    await sleep(2000);
    const again = Object.values({ ...(await jobs('ToDo')), ...(await jobs('Pending')) }).filter(
      (j) => j.type === 'failedLeader' && j.shard === h.shard,
    );
    assert.equal(again.length, 0, 'the failedLeader job is not re-created');
    assert.equal((await plan('held'))[0].plan[0], leader, 'still no failover after the lock is gone');
    for (const j of failedFollowers) {
      const f = await waitDone(String(j.jobId));
      assert.equal(f.q, 'Finished');
      assert.ok(typeof f.job.toServer === 'string');
    }
    assert.equal((await waitDone(ms)).q, 'Finished', 'the starved moveShard runs once no failed* job is in ToDo');
  });

  test('shard distribution: progress only per collection; a follower that does not answer leaves current == total, reported as current 0', async () => {
    const dead = servers.find((x) => !c.memberById(x)!.running)!;
    await c.waitConverged(30_000).catch(() => undefined);
    const o = (await plan('spread')).find(
      (x) => !x.plan.includes(dead) && x.plan.length === 2 && x.current.length === 2,
    )!;
    await lock(o.shard, 'transit-test');
    await c.agencyWrite([
      [
        {
          [`/arango/Plan/Collections/fid/${o.cid}/shards/${o.shard}`]: [...o.plan, dead],
          '/arango/Plan/Version': { op: 'increment' },
        },
      ],
    ]);
    const whole = d(d(await c.coordinatorCall('GET', '/_db/fid/_admin/cluster/shardDistribution')).results);
    assert.equal(
      d(d(d(whole.spread).Plan)[o.shard]).progress,
      undefined,
      'getDistributionForDatabase reports no progress',
    );
    assert.equal((d(d(d(whole.spread).Plan)[o.shard]).followers as string[]).length, 2);
    const dist = d(
      d(await c.coordinatorCall('GET', '/_db/fid/_admin/cluster/collectionShardDistribution?collection=spread'))
        .results,
    );
    const pr = d(d(d(d(dist.spread).Plan)[o.shard]).progress);
    assert.equal(pr.total, 5);
    assert.equal(pr.current, 0);
    assert.equal(pr.followerPercent, 100); // the in-sync follower counts as a full copy
    await c.agencyWrite([
      [
        {
          [`/arango/Plan/Collections/fid/${o.cid}/shards/${o.shard}`]: o.plan,
          '/arango/Plan/Version': { op: 'increment' },
        },
      ],
    ]);
    await unlock(o.shard);
  });

  test('cleanupExpiredServers: a server without heartbeat past the grace period is removed if it holds no shard, kept if it does', async () => {
    const holder = servers.find((x) => !c.memberById(x)!.running)!; // still leads the 'held' shard
    const idle = await c.addDBServer();
    await waitUntil(
      'new server GOOD',
      30_000,
      async () => d(await arango('Supervision', 'Health', idle.id!)).Status === 'GOOD',
    );
    await idle.stop();
    await waitUntil(
      'expired server removed',
      60_000,
      async () => d(await arango('Plan', 'DBServers'))[idle.id!] === undefined,
    );
    assert.equal(await arango('Supervision', 'Health', idle.id!), undefined);
    assert.equal(await arango('Target', 'MapUniqueToShortID', idle.id!), undefined);
    assert.equal(await arango('Current', 'ServersRegistered', idle.id!), undefined);
    assert.ok(d(await arango('Plan', 'DBServers'))[holder] !== undefined, 'a server that still holds a shard stays');
  });
});

describe('a leader restarted while it resigns (MoveShard switching leadership)', () => {
  let c: SimCluster;
  const at = async (path: string): Promise<unknown> => {
    let x: unknown = await c.agencyRead([path]);
    for (const p of path.slice(1).split('/')) x = d(x)[p];
    return x;
  };
  before(async () => {
    // A long grace period: the leader is down for a moment only, never FAILED (no abort, no failover).
    c = await startSim({
      agents: 1,
      dbServers: 3,
      coordinators: 1,
      targetNumberOfDBServers: null,
      timing: { gracePeriod: 60 },
      databases: [
        { name: 'rs', collections: [{ name: 'c', numberOfShards: 1, replicationFactor: 2, documentsPerShard: 10 }] },
      ],
    });
  });
  after(async () => {
    await c?.stop();
  });

  test('Current names it "_<id>" once it is back (Maintenance adjustResignState), so the switch goes through and the shard has a leader', async () => {
    const [s] = (await c.shardStates()).filter((x) => x.db === 'rs' && x.name === 'c');
    const [leader, follower] = s.plan;
    const victim = c.memberById(leader)!;
    await victim.stop(); // down before it could resign: Current keeps naming it leader
    await c.agencyWrite([[{ '/arango/Sync/LatestID': { op: 'increment' } }]]);
    const id = String(await at('/arango/Sync/LatestID'));
    await c.agencyWrite([
      [
        {
          [`/arango/Target/ToDo/${id}`]: {
            creator: 'transit-test',
            type: 'moveShard',
            database: 'rs',
            collection: s.cid,
            shard: s.shard,
            fromServer: leader,
            toServer: follower,
            isLeader: true,
            remainsFollower: true,
            jobId: id,
            timeCreated: new Date().toISOString(),
            tryUndo: false,
          },
        },
      ],
    ]);
    const planned = `/arango/Plan/Collections/rs/${s.cid}/shards/${s.shard}`;
    await waitUntil('MoveShard asks the leader to resign', 20_000, async () => {
      const p = await at(planned);
      return Array.isArray(p) && p[0] === `_${leader}`;
    });
    assert.deepEqual(
      d(await at(`/arango/Current/Collections/rs/${s.cid}/${s.shard}`)).servers,
      [leader, follower],
      'the stopped leader never resigned',
    );
    await c.restart(victim);
    await waitUntil('the job finished', 30_000, async () => (await at(`/arango/Target/Finished/${id}`)) !== undefined);
    await waitUntil('the follower leads in Plan and Current', 20_000, async () => {
      const cur = d(await at(`/arango/Current/Collections/rs/${s.cid}/${s.shard}`)).servers;
      return ((await at(planned)) as string[])[0] === follower && Array.isArray(cur) && cur[0] === follower;
    });
    const docs = d(await c.coordinatorCall('GET', `/_db/rs/_api/collection/c/count`));
    assert.equal(docs.count, 10, 'the shard serves through its new leader');
  });
});
