/**
 * Data-safety checks that ask the cluster, through ordinary client calls (arangojs), never Transit:
 *
 * - `lostAcknowledged`: which acknowledged keys can no longer be read (the "0 acknowledged writes lost" check);
 * - `collectionDigest`: a collection's document count and content checksum (`GET /_api/collection/<c>/checksum`
 *   with revisions and data: every shard leader hashes its own copy, the coordinator XORs them);
 * - `documentsDigest`: the same digest computed here from documents read through `/_api/cursor`, for a subset
 *   (e.g. only the seeded documents of a collection clients also write to);
 * - `copyChecksums`: the checksum of every copy of every shard, asked of each DB server directly.
 */
import type { Database } from 'arangojs';
import { aql } from 'arangojs/aql';
import { checksumOf } from '../../src/sim/checksum';

type Dict = Record<string, unknown>;

/**
 * The acknowledged keys that are not readable now, in the order given. Reads in batches through
 * `PUT /_api/document/<c>?onlyget=true` (arangojs `collection.documents`); a key counts as lost when the answer
 * for it is an error or another document. Read failures of the whole batch are retried, then thrown (a check
 * that cannot read must not report "nothing lost").
 */
export async function lostAcknowledged(
  db: Database,
  collection: string,
  keys: Iterable<string>,
  o: { batch?: number; attempts?: number } = {},
): Promise<string[]> {
  const all = [...keys];
  const batch = o.batch ?? 500;
  const lost: string[] = [];
  for (let i = 0; i < all.length; i += batch) {
    const part = all.slice(i, i + batch);
    let got: (Dict | null)[] | undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < (o.attempts ?? 5) && !got; attempt++) {
      try {
        got = (await db.collection(collection).documents(part)) as unknown as (Dict | null)[];
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
      }
    }
    if (!got) throw new Error(`lostAcknowledged: cannot read ${collection}: ${(lastError as Error)?.message}`);
    part.forEach((k, j) => {
      const d = got![j];
      if (!d || d.error || d._key !== k) lost.push(k);
    });
  }
  return lost;
}

export interface Digest {
  count: number;
  /** Unsigned 64-bit decimal: XOR over documents of a hash of key, _rev and data. */
  checksum: string;
}

/** Count (`/_api/collection/<c>/count`) and checksum with revisions and data, from the cluster. */
export async function collectionDigest(db: Database, collection: string): Promise<Digest> {
  const c = db.collection(collection);
  const [{ count }, { checksum }] = await Promise.all([c.count(), c.checksum({ withRevisions: true, withData: true })]);
  return { count, checksum: String(checksum) };
}

/** Every document of a collection, read through the cursor API in batches. */
export async function readAll(db: Database, collection: string, batchSize = 1000): Promise<Dict[]> {
  const cursor = await db.query(aql`FOR doc IN ${db.collection(collection)} RETURN doc`, { batchSize });
  return (await cursor.all()) as Dict[];
}

/** The digest of a set of documents, computed here the way the servers compute it. */
export function documentsDigest(docs: Dict[]): Digest {
  return { count: docs.length, checksum: checksumOf(docs, true, true).checksum };
}

/** For every shard of a collection: each Plan server's copy checksum, asked of that DB server directly. */
export async function copyChecksums(
  db: Database,
  collection: string,
  endpointOf: (serverId: string) => string,
  token: string,
): Promise<Record<string, Record<string, string>>> {
  const shards = ((await db.collection(collection).shards(true)) as unknown as { shards: Record<string, string[]> })
    .shards;
  const out: Record<string, Record<string, string>> = {};
  for (const [shard, servers] of Object.entries(shards)) {
    out[shard] = {};
    for (const s of servers) {
      const url = `${endpointOf(s)}/_db/${encodeURIComponent(db.name)}/_api/collection/${shard}/checksum?withRevisions=true&withData=true`;
      const r = await fetch(url, { headers: { authorization: `bearer ${token}` } });
      const b = (await r.json()) as Dict;
      out[shard][s] = r.status === 200 ? String(b.checksum) : `HTTP ${r.status} ${b.errorMessage ?? ''}`;
    }
  }
  return out;
}
