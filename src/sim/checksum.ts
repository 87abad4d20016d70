// The collection checksum the way ArangoDB computes it (arangod/VocBase/Methods/Collections.cpp,
// `Collections::checksum`): every document contributes one 64-bit hash — of `_key`, plus of `_rev` with
// `withRevisions`, plus of every other attribute name and value with `withData` — and the hashes are XORed, so
// the result does not depend on order. A DB server computes it over ITS OWN copy of a shard; a coordinator XORs
// the shards' checksums and takes the largest revision (arangod/Cluster/ClusterMethods.cpp,
// `checksumOnCoordinator`). Real ArangoDB hashes with VelocyPack's fasthash; the simulator uses two FNV-1a
// 32-bit halves, so the numbers differ from a real server's, the properties (order-independent, per copy,
// combinable per shard) do not.
import { fnv1a } from './hash.js';

const M64 = (1n << 64n) - 1n;

/** 64-bit hash of a string from two independent 32-bit FNV-1a hashes, optionally seeded. */
export function hash64(s: string, seed = 0n): bigint {
  const lo = Number(seed & 0xffffffffn);
  const hi = Number((seed >> 32n) & 0xffffffffn);
  const a = fnv1a(s, (0x811c9dc5 ^ lo) >>> 0);
  const b = fnv1a(s, (0x01234567 ^ hi) >>> 0);
  return (BigInt(a) << 32n) | BigInt(b);
}

/** JSON with object keys sorted at every level (VelocyPack's normalizedHash is independent of key order too). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** One document's contribution (`localHash` upstream). */
export function documentHash(doc: Record<string, unknown>, withRevisions: boolean, withData: boolean): bigint {
  let h = hash64(String(doc._key));
  if (withRevisions) h = (h + hash64(String(doc._rev ?? ''))) & M64;
  if (withData) {
    const attrs = Object.keys(doc)
      .filter((k) => k !== '_key' && k !== '_rev' && k !== '_id')
      .sort();
    const seed = hash64(String(BigInt(attrs.length) ^ 0xf00ba44ba5n), 0xdeadf054n);
    for (const k of attrs) {
      h ^= hash64(k, seed) ^ 0xba5befd00dn;
      h = (h + (hash64(canonicalJson(doc[k]), seed) ^ 0xd4129f526421n)) & M64;
    }
  }
  return h & M64;
}

export interface Checksum {
  /** Unsigned 64-bit decimal, as ArangoDB answers it. */
  checksum: string;
  /** Largest `_rev` among the documents ("0" if none). */
  revision: string;
}

/** The checksum of one shard copy (or of any set of documents). */
export function checksumOf(
  docs: Iterable<Record<string, unknown>>,
  withRevisions: boolean,
  withData: boolean,
): Checksum {
  let x = 0n;
  let rev = 0n;
  for (const d of docs) {
    x ^= documentHash(d, withRevisions, withData);
    const r = /^\d+$/.test(String(d._rev ?? '')) ? BigInt(String(d._rev)) : 0n;
    if (r > rev) rev = r;
  }
  return { checksum: x.toString(), revision: rev.toString() };
}

/** Combines shard checksums as a coordinator does: XOR of the checksums, the largest revision. */
export function combineChecksums(parts: Checksum[]): Checksum {
  let x = 0n;
  let rev = 0n;
  for (const p of parts) {
    x ^= BigInt(p.checksum);
    const r = BigInt(p.revision || '0');
    if (r > rev) rev = r;
  }
  return { checksum: x.toString(), revision: rev.toString() };
}
