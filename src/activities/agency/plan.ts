// readShardPlan: one atomic agency read of Plan (collections, DB servers), registrations and health, turned into
// the compact ShardPlan the workflow schedules from: prototypes with their distributeShardsLike clones aligned
// shard by shard, and bytes per group from the coordinator's per-shard counts and average document size.
import type { ShardPlan, ServerStatus } from '../agency-types';
import type { ArangoClient } from './client';
import { UnsupportedClusterError } from './errors';
import { asDict, asStrings, at, sortShards, strip, type Dict } from './paths';

interface CollectionEntry {
  id: string;
  name: string;
  replicationFactor: unknown;
  writeConcern?: number;
  minReplicationFactor?: number;
  distributeShardsLike?: string;
  shards: Record<string, unknown>;
  deleted?: boolean;
  isSmartChild?: boolean;
}

async function limit<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

/** Per-shard byte estimates of one collection: count per shard × average document size (figures). */
async function shardBytes(client: ArangoClient, db: string, name: string): Promise<Record<string, number>> {
  const counts = await client.coordinatorJson('GET', `/_api/collection/${encodeURIComponent(name)}/count`, undefined, {
    db,
    search: { details: 'true' },
  });
  const perShard = asDict(counts.count);
  const total = Object.values(perShard).reduce<number>((a, x) => a + (typeof x === 'number' ? x : 0), 0);
  let avg = 1;
  if (total > 0) {
    const fig = await client.coordinatorJson('GET', `/_api/collection/${encodeURIComponent(name)}/figures`, undefined, {
      db,
    });
    const size = Number(asDict(fig.figures).documentsSize ?? 0);
    if (size > 0) avg = size / total;
  }
  const out: Record<string, number> = {};
  for (const [s, c] of Object.entries(perShard)) out[s] = Math.round((typeof c === 'number' ? c : 0) * avg);
  return out;
}

export async function readShardPlan(client: ArangoClient): Promise<ShardPlan> {
  const read = await client.agencyRead([
    '/arango/Plan/Collections',
    '/arango/Plan/Version',
    '/arango/Plan/DBServers',
    '/arango/Current/ServersRegistered',
    '/arango/Supervision/Health',
    '/arango/Target/MapUniqueToShortID',
    '/arango/Plan/Databases',
  ]);
  // Replication 2 (3.12): Plan follows Target/CollectionGroups and supervision skips enforceReplication there, so
  // the MoveShard jobs Transit relies on behave differently. Refuse before anything is changed.
  const v2 = Object.entries(asDict(at(read, '/arango/Plan/Databases')))
    .filter(([, d]) => String(asDict(d).replicationVersion ?? '1') === '2')
    .map(([name]) => name);
  if (v2.length) {
    throw new UnsupportedClusterError(
      `database(s) ${v2.join(', ')} use replicationVersion "2" (ArangoDB 3.12 replicated logs, Plan derived from Target/CollectionGroups): Transit moves replication-1 databases only — nothing was changed; abort this migration, or move those databases out (dump/restore into a replication-1 database) and start again`,
      { databases: v2 },
    );
  }
  const planColls = asDict(at(read, '/arango/Plan/Collections'));
  const registered = asDict(at(read, '/arango/Current/ServersRegistered'));
  const health = asDict(at(read, '/arango/Supervision/Health'));
  const shortNames = asDict(at(read, '/arango/Target/MapUniqueToShortID'));

  const serverIds = new Set(Object.keys(asDict(at(read, '/arango/Plan/DBServers'))));
  for (const colls of Object.values(planColls)) {
    for (const c of Object.values(asDict(colls))) {
      for (const list of Object.values(asDict(asDict(c).shards)))
        for (const s of asStrings(list)) serverIds.add(strip(s));
    }
  }
  const ids = [...serverIds].sort();
  const index = new Map(ids.map((id, i) => [id, i]));
  const status = (id: string): ServerStatus => {
    const s = asDict(health[id]).Status;
    return s === 'GOOD' || s === 'BAD' || s === 'FAILED' ? s : 'UNCLEAR';
  };
  const plan: ShardPlan = {
    planVersion: Number(at(read, '/arango/Plan/Version') ?? 0),
    servers: ids.map((id) => ({
      id,
      shortName: String(asDict(shortNames[id]).ShortName ?? ''),
      endpoint: String(asDict(registered[id]).endpoint ?? ''),
      status: status(id),
    })),
    collections: [],
    skipped: [],
  };

  const work: { db: string; entry: CollectionEntry; clones: CollectionEntry[] }[] = [];
  for (const [db, collsRaw] of Object.entries(planColls).sort(([a], [b]) => a.localeCompare(b))) {
    const colls = asDict(collsRaw) as Record<string, CollectionEntry>;
    const ultimate = (c: CollectionEntry): CollectionEntry => {
      let cur = c;
      for (let i = 0; i < 10 && cur.distributeShardsLike && colls[cur.distributeShardsLike]; i++)
        cur = colls[cur.distributeShardsLike];
      return cur;
    };
    for (const c of Object.values(colls).sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))) {
      if (c.deleted || c.distributeShardsLike) continue;
      if (c.replicationFactor === 'satellite') {
        plan.skipped!.push({
          database: db,
          name: c.name,
          reason: 'satellite collection: one copy on every DB server; not moved shard by shard',
        });
        continue;
      }
      const clones = Object.values(colls).filter(
        (x) => !x.deleted && x.distributeShardsLike && x.id !== c.id && ultimate(x).id === c.id,
      );
      work.push({ db, entry: c, clones });
    }
  }

  const bytes = new Map<string, Record<string, number>>();
  const names = work.flatMap((w) =>
    [w.entry, ...w.clones].map((c) => ({ db: w.db, name: c.name, key: `${w.db}/${c.id}` })),
  );
  await limit(names, 8, async (n) => {
    bytes.set(n.key, await shardBytes(client, n.db, n.name));
  });

  for (const { db, entry, clones } of work) {
    const protoShards = sortShards(Object.keys(entry.shards ?? {}));
    const cloneShards = clones.map((c) => sortShards(Object.keys(c.shards ?? {})));
    const pb = bytes.get(`${db}/${entry.id}`) ?? {};
    plan.collections.push({
      database: db,
      collectionId: entry.id,
      name: entry.name,
      replicationFactor: Number(entry.replicationFactor ?? 1),
      writeConcern: Number(entry.writeConcern ?? entry.minReplicationFactor ?? 1),
      clones: clones.map((c, i) => ({ collectionId: c.id, name: c.name, shards: cloneShards[i] })),
      shards: protoShards.map((s, i) => {
        let b = pb[s] ?? 0;
        clones.forEach((c, j) => {
          const cs = cloneShards[j][i];
          if (cs) b += (bytes.get(`${db}/${c.id}`) ?? {})[cs] ?? 0;
        });
        return [s, asStrings(entry.shards[s]).map((x) => index.get(strip(x))!), b] as [string, number[], number];
      }),
    });
  }
  if (plan.skipped!.length === 0) delete plan.skipped;
  return plan;
}

export type { Dict };
