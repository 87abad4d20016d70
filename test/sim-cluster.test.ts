// The simulated cluster behind the agency: documents through arangojs, collections and clones, synchronous
// replication and writeConcern, supervision jobs (moveShard, cleanOutServer with random destinations,
// resignLeadership), failover, maintenance mode, the auto-shrink trap, removeServer, the bandwidth model, and
// members run as arangod-style processes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import { Database } from 'arangojs';
import { isArangoError } from 'arangojs/errors';
import { HttpClient } from '../src/sim/net';
import { bearerHeader, signSuperuserJwt } from '../src/sim/jwt';
import { arangoDb, startSim, waitUntil, type SimCluster } from './harness/sim';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});

async function job(c: SimCluster, id: string): Promise<Dict> {
  const r = await c.request(c.coordinatorUrl, `/_admin/cluster/queryAgencyJob?id=${id}`);
  return d(r.body);
}

async function waitJob(c: SimCluster, id: string, ms = 30_000): Promise<Dict> {
  let j: Dict = {};
  await waitUntil(`job ${id} done`, ms, async () => {
    j = await job(c, id);
    return j.status === 'Finished' || j.status === 'Failed';
  });
  return j;
}

async function planOf(
  c: SimCluster,
  coll: string,
): Promise<{ shard: string; plan: string[]; current: string[]; cid: string }[]> {
  return (await c.shardStates()).filter((s) => s.name === coll);
}

describe('simulated cluster', () => {
  let c: SimCluster;
  let db: Database;

  before(async () => {
    c = await startSim({
      agents: 3,
      dbServers: 4,
      coordinators: 1,
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'shop',
          collections: [
            { name: 'orders', numberOfShards: 4, replicationFactor: 2, documentsPerShard: 20 },
            { name: 'lines', distributeShardsLike: 'orders', documentsPerShard: 10 },
            { name: 'strict', numberOfShards: 1, replicationFactor: 2, writeConcern: 2 },
          ],
        },
      ],
    });
    db = arangoDb(c, 'shop');
  });
  after(async () => {
    await c?.stop();
  });

  test('documents: save, document, remove, saveAll and documents work through arangojs with ArangoDB result shapes', async () => {
    const orders = db.collection('orders');
    const saved = await orders.save({ _key: 'k1', total: 3 });
    assert.equal(saved._id, 'orders/k1');
    assert.equal(saved._key, 'k1');
    assert.match(saved._rev, /^\d+$/);
    const doc = await orders.document('k1');
    assert.equal(doc.total, 3);
    assert.equal(doc._id, 'orders/k1');
    await assert.rejects(
      orders.save({ _key: 'k1' }),
      (e: unknown) => isArangoError(e) && e.errorNum === 1210 && e.code === 409,
    );
    const auto = await orders.save({ any: true });
    assert.match(auto._key, /^\d+$/);
    const many = await orders.saveAll([{ _key: 'm1' }, { _key: 'm2' }, { _key: 'k1' }]);
    assert.equal((many[2] as unknown as Dict).errorNum, 1210);
    const got = await orders.documents(['m1', 'm2', 'nope']);
    assert.equal(got.length, 3);
    assert.equal(got[0]._key, 'm1');
    await orders.remove('k1');
    assert.equal(await orders.document('k1', { graceful: true }), null);
    await assert.rejects(orders.remove('k1'), (e: unknown) => isArangoError(e) && e.errorNum === 1202);
  });

  test('collections: shards, replicationFactor, writeConcern; clones sit on their prototype servers; per-shard counts and sizes', async () => {
    const props = await db.collection('lines').properties();
    assert.equal(props.distributeShardsLike, 'orders');
    assert.equal(props.numberOfShards, 4);
    const orders = await planOf(c, 'orders');
    const lines = await planOf(c, 'lines');
    const sortNum = <T extends { shard: string }>(x: T[]): T[] =>
      [...x].sort((a, b) => Number(a.shard.slice(1)) - Number(b.shard.slice(1)));
    sortNum(orders).forEach((o, i) => assert.deepEqual(sortNum(lines)[i].plan, o.plan));
    assert.ok(orders.every((s) => s.plan.length === 2 && new Set(s.plan).size === 2));
    const count = d(await c.coordinatorCall('GET', '/_db/shop/_api/collection/lines/count?details=true'))
      .count as Record<string, number>;
    assert.deepEqual(Object.values(count), [10, 10, 10, 10]);
    const fig = d(await c.coordinatorCall('GET', '/_db/shop/_api/collection/lines/figures'));
    assert.equal(d(fig.figures).documentsSize, 40 * 1024);
    const dist = d(d(await c.coordinatorCall('GET', '/_db/shop/_admin/cluster/shardDistribution')).results);
    assert.ok(d(dist.orders).Plan && d(dist.orders).Current);
    const ep = d(await c.coordinatorCall('GET', '/_api/cluster/endpoints'));
    assert.deepEqual(ep.endpoints, [{ endpoint: c.coordinators[0].endpoint }]);
  });

  test('a write is acknowledged only once every in-sync follower holds it; with too few in-sync copies writeConcern refuses writes', async () => {
    const strict = db.collection('strict');
    await strict.save({ _key: 'a' });
    const [s] = await planOf(c, 'strict');
    for (const id of s.current) {
      const m = c.memberById(id)!;
      assert.ok(
        m.dbServer!.shardDocuments(s.shard).some((x) => x._key === 'a'),
        `${id} holds the acknowledged write`,
      );
    }
    const follower = c.memberById(s.plan[1])!;
    await follower.stop();
    await assert.rejects(strict.save({ _key: 'b' }), (e: unknown) => isArangoError(e) && e.errorNum === 1429);
    await assert.rejects(
      strict.save({ _key: 'c' }),
      (e: unknown) => isArangoError(e) && e.errorNum === 1429 && e.code === 403,
    );
    assert.equal((await strict.document('a'))._key, 'a', 'reads keep working');
    await c.restart(follower);
    await waitUntil('follower back in sync', 20_000, async () => (await planOf(c, 'strict'))[0].current.length === 2);
    await strict.save({ _key: 'd' });
  });

  test('moveShard moves a leader with the resign protocol; remainsFollower false drops the old leader', async () => {
    const [s] = await planOf(c, 'orders');
    const to = c.dbServers.map((m) => m.id).find((id) => !s.plan.includes(id))!;
    const r = d(
      await c.coordinatorCall('POST', '/_db/shop/_admin/cluster/moveShard', {
        collection: 'orders',
        shard: s.shard,
        fromServer: s.plan[0],
        toServer: to,
        remainsFollower: false,
      }),
    );
    assert.equal(r.code, 202);
    const j = await waitJob(c, String(r.id));
    assert.equal(j.status, 'Finished', JSON.stringify(j));
    await c.waitConverged(20_000);
    const after = (await planOf(c, 'orders')).find((x) => x.shard === s.shard)!;
    assert.deepEqual(after.plan, [to, s.plan[1]]);
    const clone = await planOf(c, 'lines');
    assert.ok(
      clone.some((x) => x.plan[0] === to && x.plan[1] === s.plan[1]),
      'the clone shard moved with its prototype',
    );
    const bad = await c.request(c.coordinatorUrl, '/_db/shop/_admin/cluster/moveShard', {
      method: 'POST',
      body: { collection: 'lines', shard: clone[0].shard, fromServer: clone[0].plan[0], toServer: to },
    });
    assert.equal(bad.status, 403);
  });

  test('cancelAgencyJob aborts a moveShard that cannot start; rebalance reports pending and to-do moves', async () => {
    const [s] = await planOf(c, 'orders');
    const to = c.dbServers.map((m) => m.id).find((id) => !s.plan.includes(id))!;
    // Hold the shard so the job stays in ToDo.
    await c.agencyWrite([[{ [`/arango/Supervision/Shards/${s.shard}`]: 'held-by-test' }]]);
    const r = d(
      await c.coordinatorCall('POST', '/_db/shop/_admin/cluster/moveShard', {
        collection: 'orders',
        shard: s.shard,
        fromServer: s.plan[0],
        toServer: to,
      }),
    );
    const reb = d(d(await c.coordinatorCall('GET', '/_admin/cluster/rebalance')).result);
    assert.equal(Number(reb.todoMoveShards) + Number(reb.pendingMoveShards), 1);
    const cancel = d(await c.coordinatorCall('POST', '/_admin/cluster/cancelAgencyJob', { id: r.id }));
    assert.equal(cancel.status, 'aborted');
    const j = await waitJob(c, String(r.id));
    assert.equal(j.status, 'Failed');
    const again = await c.request(c.coordinatorUrl, '/_admin/cluster/cancelAgencyJob', {
      method: 'POST',
      body: { id: r.id },
    });
    assert.equal(again.status, 412);
    await c.agencyWrite([[{ [`/arango/Supervision/Shards/${s.shard}`]: { op: 'delete' } }]]);
    assert.deepEqual((await planOf(c, 'orders')).find((x) => x.shard === s.shard)!.plan, s.plan);
  });

  test('resignLeadership hands every leadership to an in-sync follower', async () => {
    const victim = (await planOf(c, 'orders'))[1].plan[0];
    const r = d(await c.coordinatorCall('POST', '/_admin/cluster/resignLeadership', { server: victim }));
    assert.equal((await waitJob(c, String(r.id))).status, 'Finished');
    await c.waitConverged(20_000);
    assert.ok((await c.shardStates()).every((s) => s.plan[0] !== victim));
  });

  test('cleanOutServer moves every shard away to random servers not being cleaned, then lists the server as cleaned', async () => {
    const victim = c.dbServers[3].id;
    const r = d(await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: victim }));
    const j = await waitJob(c, String(r.id), 60_000);
    assert.equal(j.status, 'Finished', JSON.stringify(j));
    await c.waitConverged(20_000);
    const states = await c.shardStates();
    assert.ok(states.every((s) => !s.plan.includes(victim) && !s.current.includes(victim)));
    const ns = d(await c.coordinatorCall('GET', '/_admin/cluster/numberOfServers'));
    assert.deepEqual(ns.cleanedServers, [victim]);
    // The destinations were other (possibly old) servers, chosen by supervision, not by us.
    const finished = d(d(d((await c.agencyRead(['/arango/Target/Finished'])).arango).Target).Finished);
    const subs = Object.values(finished)
      .map(d)
      .filter((x) => x.parentJob === String(r.id));
    assert.ok(subs.length > 0 && subs.every((x) => x.toServer !== victim));
    await c.coordinatorCall('PUT', '/_admin/cluster/numberOfServers', { cleanedServers: [] });
  });

  test('a FAILED leader fails over to an in-sync follower without losing acknowledged writes; maintenance mode holds supervision back', async () => {
    const orders = db.collection('orders');
    const keys = Array.from({ length: 30 }, (_, i) => `fo-${i}`);
    for (const k of keys) await orders.save({ _key: k });
    await c.coordinatorCall('PUT', '/_admin/cluster/maintenance', 'on');
    assert.equal(d(await c.coordinatorCall('GET', '/_admin/cluster/maintenance')).result, 'Maintenance');
    const [s] = await planOf(c, 'orders');
    const leader = c.memberById(s.plan[0])!;
    await leader.stop();
    await new Promise((r) => setTimeout(r, 5500));
    assert.equal(
      (await planOf(c, 'orders')).find((x) => x.shard === s.shard)!.plan[0],
      s.plan[0],
      'no failover in maintenance mode',
    );
    await c.coordinatorCall('PUT', '/_admin/cluster/maintenance', 'off');
    await waitUntil(
      'failover',
      30_000,
      async () => (await planOf(c, 'orders')).find((x) => x.shard === s.shard)!.current[0] === s.plan[1],
    );
    const missing = [];
    for (const k of keys) if (!(await orders.document(k, { graceful: true }))) missing.push(k);
    assert.deepEqual(missing, []);
    await c.restart(leader);
    await c.waitConverged(30_000);
  });

  test('removeServer refuses a server that holds shards and removes a FAILED one that holds none', async () => {
    const busy = (await planOf(c, 'orders'))[0].plan[0];
    const cleaned = c.dbServers[3];
    const holdsNone = async () =>
      (await c.shardStates()).every((s) => !s.plan.includes(cleaned.id) && !s.current.includes(cleaned.id));
    if (!(await c.shardStates()).every((s) => !s.plan.includes(cleaned.id))) {
      // Supervision may have placed a replacement follower on it since (addFollower picks at random): drain it.
      const r = d(await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server: cleaned.id }));
      assert.equal((await waitJob(c, String(r.id), 60_000)).status, 'Finished');
      await c.waitConverged(20_000);
    }
    // Current follows Plan after the server's next maintenance round (a follower that Plan dropped a moment ago may
    // still be listed in Current): wait for both.
    await waitUntil('the server holds no shard in Plan or Current', 20_000, holdsNone);
    await cleaned.stop();
    const no = await c.request(c.coordinatorUrl, '/_admin/cluster/removeServer', {
      method: 'POST',
      body: { server: busy },
    });
    assert.equal(no.status, 412);
    await waitUntil(
      'FAILED',
      20_000,
      async () =>
        d(
          d(d(d((await c.agencyRead([`/arango/Supervision/Health/${cleaned.id}`])).arango).Supervision).Health)[
            cleaned.id
          ],
        ).Status === 'FAILED',
    );
    const yes = await c.request(c.coordinatorUrl, '/_admin/cluster/removeServer', { method: 'POST', body: cleaned.id });
    assert.equal(yes.status, 200);
    const a = await c.agencyRead([
      `/arango/Plan/DBServers/${cleaned.id}`,
      `/arango/Current/ServersRegistered/${cleaned.id}`,
    ]);
    assert.deepEqual(d(d(a.arango).Plan).DBServers ?? {}, {});
  });

  test('auto-shrink: Target/NumberOfDBServers below the number of servers makes supervision clean out the last server ID', async () => {
    const ids = c.dbServers
      .filter((m) => m.running)
      .map((m) => m.id)
      .sort();
    await c.coordinatorCall('PUT', '/_admin/cluster/numberOfServers', { numberOfDBServers: ids.length - 1 });
    let found: Dict | undefined;
    await waitUntil('a cleanOutServer job by supervision', 20_000, async () => {
      const a = d(d(await c.agencyRead(['/arango/Target'])).arango);
      const all = ['ToDo', 'Pending', 'Finished', 'Failed'].flatMap((q) => Object.values(d(d(d(a.Target)[q]))).map(d));
      found = all.find((j) => j.type === 'cleanOutServer' && j.creator === 'supervision');
      return Boolean(found);
    });
    assert.equal(found!.server, ids.at(-1));
    await c.coordinatorCall('PUT', '/_admin/cluster/numberOfServers', { numberOfDBServers: null });
  });
});

describe('simulated bandwidth', () => {
  test('a copy takes its bytes over the bandwidth, and copies from one leader share its send link', async () => {
    const bw = 20e6;
    const c = await startSim({
      agents: 1,
      dbServers: 4,
      coordinators: 1,
      bandwidth: bw,
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'b',
          collections: [
            { name: 'big', numberOfShards: 1, replicationFactor: 1, documentsPerShard: 200, bytesPerDocument: 50_000 },
          ],
        },
      ],
    });
    try {
      const [s] = (await c.shardStates()).filter((x) => x.name === 'big');
      const others = c.dbServers.map((m) => m.id).filter((id) => id !== s.plan[0]);
      const bytes = 200 * 50_000;
      // Three followers at once: the leader sends 3 × 10 MB at 20 MB/s → at least 1.5 s. (The shard lock keeps
      // supervision's removeFollower away from the over-replicated shard meanwhile.)
      const t0 = Date.now();
      const w = await c.agencyWrite([
        [
          {
            [`/arango/Plan/Collections/b/${s.cid}/shards/${s.shard}`]: [s.plan[0], ...others],
            '/arango/Plan/Version': { op: 'increment' },
            [`/arango/Supervision/Shards/${s.shard}`]: 'test',
          },
        ],
      ]);
      assert.equal(w.status, 200);
      await c.waitConverged(30_000);
      const took = (Date.now() - t0) / 1000;
      const bound = (3 * bytes) / bw;
      assert.ok(took >= bound * 0.98, `took ${took} s, lower bound ${bound} s`);
      assert.ok(took <= bound * 1.25 + 1, `took ${took} s, lower bound ${bound} s: sharing wastes bandwidth`);
      const leader = c.memberById(s.plan[0])!.dbServer!;
      assert.equal(leader.sendLink.bytes, 3 * bytes);
    } finally {
      await c.stop();
    }
  });
});

describe('simulated members as processes', () => {
  test('members started as node src/sim/arangod.ts with arangod arguments form a cluster that serves documents', async () => {
    const c = await startSim(
      {
        agents: 3,
        dbServers: 2,
        coordinators: 1,
        databases: [
          { name: 'p', collections: [{ name: 'docs', numberOfShards: 2, replicationFactor: 2, documentsPerShard: 5 }] },
        ],
      },
      { processes: true },
    );
    try {
      const db = arangoDb(c, 'p');
      await db.collection('docs').save({ _key: 'x' });
      assert.equal((await db.collection('docs').count()).count, 11);
      assert.ok(c.agents.every((a) => a.proc?.pid));
      const leader = (await c.agencyLeader())!;
      await leader.stop();
      await c.waitForAgencyLeader(20_000);
      await db.collection('docs').save({ _key: 'y' });
    } finally {
      await c.stop();
    }
  });
});

describe('transit sim up and pod-like name resolution', () => {
  test('sim up prints one stable JSON line with the endpoints and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/sim/up.ts', '--topology', 'examples/topology.yaml', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (b: Buffer) => {
          buf += b.toString();
          if (buf.includes('\n')) resolve(buf.split('\n')[0]);
        });
        child.once('exit', (code) => reject(new Error(`sim up exited early (${code})`)));
        setTimeout(() => reject(new Error('sim up printed nothing')), 90_000).unref();
      });
      const j = JSON.parse(line) as Dict;
      assert.deepEqual(Object.keys(j), ['coordinators', 'agents', 'dbServers', 'jwtSecretFile', 'dataDir']);
      assert.equal((j.coordinators as string[]).length, 2);
      assert.equal((j.agents as Dict[]).length, 3);
      assert.deepEqual(Object.keys((j.dbServers as Dict[])[0]), ['id', 'shortName', 'endpoint']);
      const db = new Database({
        url: (j.coordinators as string[])[0],
        databaseName: 'shop',
        auth: { token: signSuperuserJwt(readFileSync(String(j.jwtSecretFile), 'utf8')) },
      });
      assert.equal((await db.collection('orderLines').count()).count, 6 * 1500);
      db.close();
    } finally {
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) =>
        child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c)),
      );
      assert.equal(code, 0);
    }
  });

  test('members resolve host names in endpoints through TRANSIT_DNS_SERVER with the search domain, and bind to TRANSIT_SOURCE_ADDRESS', async () => {
    const net = `127.${30 + Math.floor(Math.random() * 200)}.${1 + Math.floor(Math.random() * 250)}`;
    const records: Record<string, string> = {
      'agent-a.ns1.svc.cluster.local': `${net}.1`,
      'db-a.ns1.svc.cluster.local': `${net}.2`,
    };
    const queried: string[] = [];
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const q = packet.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      queried.push(name);
      const ip = records[name];
      const answer = packet.encode({
        type: 'response',
        id: q.id,
        flags: ip ? packet.AUTHORITATIVE_ANSWER : packet.AUTHORITATIVE_ANSWER | 3,
        questions: q.questions,
        answers: ip ? [{ type: 'A', name, ttl: 5, data: ip }] : [],
      });
      sock.send(answer, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const dnsServer = `127.0.0.1:${sock.address().port}`;
    const dir = mkdtempSync(join(tmpdir(), 'transit-sim-dns-'));
    const secret = 'dns-test-secret';
    writeFileSync(join(dir, 'jwt'), secret);
    const env = (ip: string) => ({
      ...process.env,
      TRANSIT_DNS_SERVER: dnsServer,
      TRANSIT_DNS_SEARCH: 'ns1.svc.cluster.local svc.cluster.local',
      TRANSIT_SOURCE_ADDRESS: ip,
    });
    const common = [
      '--server.jwt-secret-keyfile',
      join(dir, 'jwt'),
      '--agency.supervision-ok-threshold',
      '2',
      '--sim.supervision-startup-grace',
      '0.5',
    ];
    const agent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/sim/arangod.ts',
        '--server.endpoint',
        `tcp://${net}.1:8529`,
        '--agency.activate',
        'true',
        '--agency.size',
        '1',
        '--agency.my-address',
        'tcp://agent-a:8529',
        '--agency.supervision',
        'true',
        '--database.directory',
        join(dir, 'a'),
        ...common,
      ],
      { env: env(`${net}.1`), stdio: 'ignore' },
    );
    const dbs = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/sim/arangod.ts',
        '--server.endpoint',
        `tcp://${net}.2:8529`,
        '--cluster.my-role',
        'PRIMARY',
        '--cluster.my-address',
        'tcp://db-a:8529',
        '--cluster.agency-endpoint',
        'tcp://agent-a:8529',
        '--database.directory',
        join(dir, 'd'),
        ...common,
      ],
      { env: env(`${net}.2`), stdio: 'ignore' },
    );
    const client = new HttpClient({ dnsServer, dnsSearch: ['ns1.svc.cluster.local'] }, bearerHeader(secret, 'test'));
    try {
      let reg: Dict = {};
      await waitUntil('DB server registered under its name', 60_000, async () => {
        const r = await client
          .request('tcp://agent-a:8529', '/_api/agency/read', {
            body: [['/arango/Current/ServersRegistered', '/arango/Supervision/Health']],
          })
          .catch(() => undefined);
        reg = d(d(d((r?.body as unknown[] | undefined)?.[0]).arango).Current).ServersRegistered as Dict;
        const health = d(d(d((r?.body as unknown[] | undefined)?.[0]).arango).Supervision).Health as Dict;
        return (
          Object.values(d(reg)).some((x) => d(x).endpoint === 'tcp://db-a:8529') &&
          Object.values(d(health)).some((x) => d(x).Status === 'GOOD')
        );
      });
      assert.ok(queried.includes('agent-a.ns1.svc.cluster.local'), 'short names are tried with the search domain');
      await assert.rejects(client.request('tcp://nowhere:8529', '/_api/version'), /ENOTFOUND/);
      // Outbound sockets leave from the member's own address (what the region proxies look at).
      let seen = '';
      const srv = http.createServer((req, res) => {
        seen = req.socket.remoteAddress ?? '';
        res.end('{}');
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const bound = new HttpClient({ sourceAddress: `${net}.9` }, () => '');
      await bound.request(`tcp://127.0.0.1:${(srv.address() as { port: number }).port}`, '/');
      bound.close();
      srv.close();
      assert.equal(seen, `${net}.9`);
    } finally {
      client.close();
      agent.kill('SIGTERM');
      dbs.kill('SIGTERM');
      await Promise.all(
        [agent, dbs].map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))),
      );
      sock.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
