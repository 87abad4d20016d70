// Hashing used by the simulator: which shard a document key belongs to (the real server hashes the shard-key
// values with fasthash; the simulator's FNV-1a is just as deterministic) and a per-shard content checksum.
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Index of the responsible shard (shards in numeric order) for a document key. */
export function shardIndexForKey(key: string, numberOfShards: number): number {
  return fnv1a(key) % Math.max(1, numberOfShards);
}

/** Two independent 32-bit hashes of (key, rev), XOR-combined per shard into an order-independent checksum. */
export function docHash(key: string, rev: string): [number, number] {
  const s = `${key}\u0000${rev}`;
  return [fnv1a(s), fnv1a(s, 0x01234567)];
}
