// What everyday clients send, answered by the simulated cluster and called through arangojs's own methods:
// document update/replace (single and batch), onlyget reads, the storage engine, collection checksums (per
// collection through a coordinator, and per shard copy on each DB server), AQL cursors with batch continuation
// for the few simulated query forms, and ArangoDB's error shape for everything else. Also: the acknowledged-
// writes check (test/harness/data-check.ts) detects a real loss and reports exactly the lost keys.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from 'arangojs';
import { aql } from 'arangojs/aql';
import { isArangoError } from 'arangojs/errors';
import { shardIndexForKey } from '../src/sim/hash';
import { arangoDb, ContinuousWriter, startSim, type SimCluster } from './harness/sim';
import { collectionDigest, copyChecksums, documentsDigest, lostAcknowledged, readAll } from './harness/data-check';

type Dict = Record<string, unknown>;

describe('simulated cluster: the client API', () => {
  let c: SimCluster;
  let db: Database;

  before(async () => {
    c = await startSim({
      agents: 1,
      dbServers: 3,
      coordinators: 2,
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'shop',
          collections: [
            { name: 'orders', numberOfShards: 3, replicationFactor: 2, documentsPerShard: 40 },
            { name: 'single', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 30 },
            { name: 'scratch', numberOfShards: 3, replicationFactor: 2, documentsPerShard: 0 },
          ],
        },
      ],
    });
    db = arangoDb(c, 'shop');
  });
  after(async () => {
    await c?.stop();
  });

  test('update (PATCH) and replace (PUT), single and batch', async () => {
    const col = db.collection('scratch');
    await col.saveAll(
      Array.from({ length: 10 }, (_, i) => ({ _key: `d${i}`, n: i, nested: { a: 1, b: 2 }, tag: 'x' })),
    );
    const u = await col.update('d1', { n: 101, nested: { b: 3 }, tag: null }, { returnNew: true, returnOld: true });
    assert.equal(u._key, 'd1');
    assert.equal(u._id, 'scratch/d1');
    assert.ok(u._oldRev && u._rev !== u._oldRev, 'a new revision');
    assert.deepEqual({ n: u.old!.n, nested: u.old!.nested }, { n: 1, nested: { a: 1, b: 2 } });
    assert.deepEqual(
      { n: u.new!.n, nested: u.new!.nested, tag: u.new!.tag },
      { n: 101, nested: { a: 1, b: 3 }, tag: null },
    );
    const k = await col.update(
      'd2',
      { tag: null, nested: { a: 9 } },
      { keepNull: false, mergeObjects: false, returnNew: true },
    );
    assert.ok(!('tag' in k.new!), 'keepNull=false removes the attribute');
    assert.deepEqual(k.new!.nested, { a: 9 });
    const r = await col.replace('d3', { only: 'this' }, { returnNew: true });
    assert.deepEqual(
      Object.keys(r.new!).filter((x) => !x.startsWith('_')),
      ['only'],
    );
    assert.equal((await col.document('d3')).n, undefined, 'replace drops the other attributes');
    // Batch: updateAll / replaceAll with a missing key among them (per-item error, the others applied).
    const ua = await col.updateAll(
      [
        { _key: 'd4', n: 4000 },
        { _key: 'nope', n: 1 },
        { _key: 'd5', n: 5000 },
      ],
      { returnNew: true },
    );
    assert.equal(ua.length, 3);
    assert.equal((ua[0] as Dict & { new: Dict }).new.n, 4000);
    assert.equal((ua[1] as Dict).error, true);
    assert.equal((ua[1] as Dict).errorNum, 1202);
    assert.equal((ua[2] as Dict & { new: Dict }).new.n, 5000);
    const ra = await col.replaceAll([
      { _key: 'd6', r: 6 },
      { _key: 'd7', r: 7 },
    ]);
    assert.equal(ra.length, 2);
    assert.deepEqual(
      [(await col.document('d6')).r, (await col.document('d7')).r, (await col.document('d7')).n],
      [6, 7, undefined],
    );
    // Revision preconditions: If-Match (single) and ignoreRevs=false (batch) answer 412 / errorNum 1200.
    const cur = await col.document('d8');
    await assert.rejects(
      col.update('d8', { n: 1 }, { ifMatch: '123' }),
      (e: unknown) => isArangoError(e) && e.code === 412 && e.errorNum === 1200,
    );
    const ok = await col.update('d8', { n: 88 }, { ifMatch: cur._rev });
    assert.equal(ok._oldRev, cur._rev);
    const stale = await col.replaceAll([{ _key: 'd8', _rev: cur._rev, z: 1 }], { ignoreRevs: false });
    assert.equal((stale[0] as Dict).errorNum, 1200);
    await assert.rejects(
      col.update('missing', { n: 1 }),
      (e: unknown) => isArangoError(e) && e.code === 404 && e.errorNum === 1202,
    );
    // The change reached every copy: per-copy checksums agree.
    const per = await copyChecksums(db, 'scratch', (id) => c.memberById(id)!.url, c.jwt());
    for (const [shard, copies] of Object.entries(per))
      assert.equal(new Set(Object.values(copies)).size, 1, `${shard}: ${JSON.stringify(copies)}`);
  });

  test('insert with overwriteMode ignore, replace, update, conflict', async () => {
    const col = db.collection('scratch');
    const first = await col.save({ _key: 'ow', a: 1, keep: true });
    const ign = await col.save({ _key: 'ow', a: 2 }, { overwriteMode: 'ignore' });
    assert.equal(ign._rev, first._rev, 'ignore keeps the stored document');
    assert.equal((await col.document('ow')).a, 1);
    const upd = await col.save({ _key: 'ow', a: 3 }, { overwriteMode: 'update' });
    assert.equal(upd._oldRev, first._rev);
    assert.deepEqual([(await col.document('ow')).a, (await col.document('ow')).keep], [3, true]);
    await col.save({ _key: 'ow', a: 4 }, { overwriteMode: 'replace' });
    assert.deepEqual([(await col.document('ow')).a, (await col.document('ow')).keep], [4, undefined]);
    await assert.rejects(
      col.save({ _key: 'ow', a: 5 }, { overwriteMode: 'conflict' }),
      (e: unknown) => isArangoError(e) && e.code === 409 && e.errorNum === 1210,
    );
    await assert.rejects(col.save({ _key: 'ow', a: 5 }), (e: unknown) => isArangoError(e) && e.errorNum === 1210);
  });

  test('onlyget=true (collection.documents) and onlyget=1', async () => {
    const col = db.collection('orders');
    const got = (await col.documents(['orders-0', 'orders-1', 'no-such-key'])) as unknown as Dict[];
    assert.deepEqual(
      got.slice(0, 2).map((d) => d._key),
      ['orders-0', 'orders-1'],
    );
    assert.equal(got[2].error, true);
    assert.equal(got[2].errorNum, 1202);
    const raw = await db.route('_api/document/orders').put(['orders-2', { _key: 'orders-3' }], { onlyget: 1 });
    assert.deepEqual(
      (raw.parsedBody as Dict[]).map((d) => d._key),
      ['orders-2', 'orders-3'],
    );
    assert.equal((await col.document('orders-4'))._id, 'orders/orders-4');
  });

  test('GET /_api/engine', async () => {
    const e = await db.engine();
    assert.equal(e.name, 'rocksdb');
    assert.ok(e.supports?.indexes?.includes('persistent'));
  });

  test('collection checksum: per collection on the coordinator = XOR of the per-copy checksums each DB server computes from its own copy', async () => {
    const col = db.collection('orders');
    const plain = await col.checksum();
    const revs = await col.checksum({ withRevisions: true });
    const data = await col.checksum({ withRevisions: true, withData: true });
    assert.match(plain.checksum, /^\d+$/);
    assert.equal(plain.name, 'orders');
    assert.ok(BigInt(plain.revision) > 0n);
    assert.equal(
      new Set([plain.checksum, revs.checksum, data.checksum]).size,
      3,
      'revisions and data change the checksum',
    );
    assert.deepEqual(await col.checksum(), plain, 'deterministic');
    // The client-side digest of the documents read through a cursor equals the server's.
    assert.deepEqual(documentsDigest(await readAll(db, 'orders', 7)), await collectionDigest(db, 'orders'));
    // Per copy: every copy of every shard, asked of its DB server directly; XOR of the leaders' = the collection's.
    const per = await copyChecksums(db, 'orders', (id) => c.memberById(id)!.url, c.jwt());
    let x = 0n;
    for (const [shard, copies] of Object.entries(per)) {
      assert.equal(Object.keys(copies).length, 2, `${shard}: two copies`);
      assert.equal(new Set(Object.values(copies)).size, 1, `${shard}: copies agree ${JSON.stringify(copies)}`);
      x ^= BigInt(Object.values(copies)[0]);
    }
    assert.equal(x.toString(), data.checksum);
    // Each server hashes its own store: damage one follower's copy behind the cluster's back → only that copy differs.
    const shards = ((await col.shards(true)) as unknown as { shards: Record<string, string[]> }).shards;
    const [shard, servers] = Object.entries(shards)[0];
    const follower = c.memberById(servers[1])!.dbServer!;
    const copy = follower.copies.get(shard)!;
    const victim = [...copy.docs.keys()][0];
    const saved = copy.docs.get(victim)!;
    copy.docs.delete(victim);
    try {
      const damaged = await copyChecksums(db, 'orders', (id) => c.memberById(id)!.url, c.jwt());
      assert.notEqual(
        damaged[shard][servers[1]],
        damaged[shard][servers[0]],
        'the damaged follower copy has another checksum',
      );
      assert.equal(damaged[shard][servers[0]], per[shard][servers[0]], 'the leader copy is unchanged');
      assert.equal(
        (await col.checksum({ withRevisions: true, withData: true })).checksum,
        data.checksum,
        'the collection checksum reads the leaders',
      );
    } finally {
      copy.docs.set(victim, saved);
    }
    // A shard on a DB server that holds no copy of it: 404 in ArangoDB's error shape.
    const other = c.dbServers.find((m) => !servers.includes(m.id))!;
    const r = await c.request(other.url, `/_db/shop/_api/collection/${shard}/checksum`);
    assert.equal(r.status, 404);
    assert.equal((r.body as Dict).errorNum, 1203);
  });

  test('AQL cursors: the three simulated forms, batches continued with POST and PUT, DELETE', async () => {
    const orders = db.collection('orders');
    // FOR doc IN @@collection RETURN doc, in batches of 7 (120 documents → 18 batches).
    const cursor = await db.query(aql`FOR doc IN ${orders} RETURN doc`, { batchSize: 7, count: true });
    assert.equal(cursor.count, 120);
    assert.ok(cursor.batches.hasMore, 'more batches on the server');
    const all = (await cursor.all()) as Dict[];
    assert.equal(all.length, 120);
    assert.equal(new Set(all.map((d) => d._key)).size, 120);
    assert.ok(all.every((d) => typeof d._id === 'string' && (d._id as string).startsWith('orders/')));
    // LIMIT n and LIMIT offset, n (literal and bound).
    assert.equal((await (await db.query('FOR d IN @@c LIMIT 5 RETURN d', { '@c': 'orders' })).all()).length, 5);
    const page = (await (await db.query(aql`FOR doc IN ${orders} LIMIT ${10}, ${4} RETURN doc`)).all()) as Dict[];
    assert.deepEqual(
      page.map((d) => d._key),
      all.slice(10, 14).map((d) => d._key),
    );
    // Counts.
    assert.deepEqual(await (await db.query(aql`RETURN LENGTH(${orders})`)).all(), [120]);
    assert.deepEqual(
      await (
        await db.query('FOR doc IN @@collection COLLECT WITH COUNT INTO n RETURN n', { '@collection': 'single' })
      ).all(),
      [60],
    );
    // Continuation by PUT (older clients) and POST, then DELETE of an open cursor; a deleted cursor is gone.
    const first = (
      await db
        .route('_api/cursor')
        .post({ query: 'FOR doc IN @@c RETURN doc', bindVars: { '@c': 'orders' }, batchSize: 50 })
    ).parsedBody as Dict;
    assert.equal(first.code, 201);
    assert.equal((first.result as unknown[]).length, 50);
    const second = (await db.route(`_api/cursor/${first.id}`).put()).parsedBody as Dict;
    assert.equal((second.result as unknown[]).length, 50);
    assert.equal(second.hasMore, true);
    const third = (await db.route(`_api/cursor/${first.id}`).post()).parsedBody as Dict;
    assert.equal((third.result as unknown[]).length, 20);
    assert.equal(third.hasMore, false);
    // Behind a load balancer: a continuation or DELETE reaching another coordinator is forwarded to the one that
    // holds the cursor (its short ID is in the cursor id), as RestCursorHandler::forwardingTarget does.
    const other = arangoDb(c, 'shop', c.coordinators[1]!.url);
    const lb = (
      await db
        .route('_api/cursor')
        .post({ query: 'FOR doc IN @@c RETURN doc', bindVars: { '@c': 'orders' }, batchSize: 100 })
    ).parsedBody as Dict;
    const rest = (await other.route(`_api/cursor/${lb.id}`).post()).parsedBody as Dict;
    assert.deepEqual([(rest.result as unknown[]).length, rest.hasMore], [20, false]);
    const lb2 = (
      await other
        .route('_api/cursor')
        .post({ query: 'FOR doc IN @@c RETURN doc', bindVars: { '@c': 'orders' }, batchSize: 100 })
    ).parsedBody as Dict;
    assert.equal((await db.route(`_api/cursor/${lb2.id}`).delete()).status, 202);
    await assert.rejects(
      other.route(`_api/cursor/${lb2.id}`).post(),
      (e: unknown) => isArangoError(e) && e.errorNum === 1600,
    );
    const open = await db.query(aql`FOR doc IN ${orders} RETURN doc`, { batchSize: 10 });
    await open.kill();
    await assert.rejects(
      db.route(`_api/cursor/${open.batches.id}`).post(),
      (e: unknown) => isArangoError(e) && e.code === 404 && e.errorNum === 1600,
    );
  });

  test('anything else answers ArangoDB error shape saying it is not simulated', async () => {
    await assert.rejects(
      db.query('FOR d IN @@c FILTER d.n > 3 RETURN d', { '@c': 'orders' }),
      (e: unknown) => isArangoError(e) && e.code === 501 && /not simulated/.test(e.message),
    );
    await assert.rejects(
      db.query('FOR d IN orders RETURN d'),
      (e: unknown) => isArangoError(e) && /not simulated/.test(e.message),
    );
    await assert.rejects(
      db.route('_api/foxx').get(),
      (e: unknown) => isArangoError(e) && e.code === 404 && /not simulated/.test(e.message),
    );
    await assert.rejects(
      db.collection('orders').truncate(),
      (e: unknown) => isArangoError(e) && /not simulated/.test(e.message),
    );
  });

  test('the acknowledged-writes check reports exactly the keys of a real loss', async () => {
    // A replicationFactor-1 shard whose only copy is dropped (Plan points at an empty new server, the wrong order
    // a migration must never take): every acknowledged key of that shard is gone, the other shard's are not.
    const col = db.collection('single');
    const keys = Array.from({ length: 40 }, (_, i) => `acked-${i}`);
    await col.saveAll(keys.map((k) => ({ _key: k })));
    // The writer the data-safety tests use, its acknowledged keys checked by the same function.
    const w = new ContinuousWriter(db, 'single', 2, 'cw');
    await new Promise((r) => setTimeout(r, 300));
    await w.stop();
    assert.ok(w.acked.size > 0);
    assert.deepEqual(await w.missing(), []);
    const seeded = (await readAll(db, 'single')).map((d) => String(d._key)).filter((k) => k.startsWith('single-'));
    assert.deepEqual(await lostAcknowledged(db, 'single', [...keys, ...seeded]), [], 'nothing lost yet');
    const states = (await c.shardStates()).filter((s) => s.name === 'single');
    const shardNames = states.map((s) => s.shard).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    const victim = states.find((s) => s.shard === shardNames[0])!;
    const empty = c.dbServers.map((m) => m.id).find((id) => !victim.plan.includes(id))!;
    const pw = await c.agencyWrite([
      [
        {
          [`/arango/Plan/Collections/shop/${victim.cid}/shards/${victim.shard}`]: [empty],
          '/arango/Plan/Version': { op: 'increment' },
        },
      ],
    ]);
    assert.equal(pw.status, 200);
    await c.waitConverged(30_000);
    const inVictim = (k: string): boolean => shardIndexForKey(k, shardNames.length) === 0;
    const expected = [...keys, ...seeded].filter(inVictim);
    assert.ok(
      expected.length > 0 && expected.length < keys.length + seeded.length,
      `the victim shard held ${expected.length} keys`,
    );
    const lost = await lostAcknowledged(db, 'single', [...keys, ...seeded]);
    assert.deepEqual(lost, expected, 'exactly the keys of the dropped copy');
    assert.deepEqual(
      await w.missing(),
      [...w.acked].filter(inVictim),
      "ContinuousWriter.missing (the negative data-safety test's check) too",
    );
    // The digest sees it too.
    assert.equal(
      (await collectionDigest(db, 'single')).count,
      keys.length + seeded.length + w.acked.size - expected.length - [...w.acked].filter(inVictim).length,
    );
  });
});
