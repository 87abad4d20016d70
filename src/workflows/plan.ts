/**
 * Pure helpers over the compact ShardPlan (agency-types.ts): a shard *group* is a prototype shard plus the
 * shards of its distributeShardsLike clones with the same index; groups move together. Groups are numbered
 * 0..n-1 in plan order. Deterministic, no I/O: the workflow and the planner both use them.
 */
import type { ShardKey, ShardPlan } from '../activities/agency-types';

export interface GroupIndex {
  plan: ShardPlan;
  /** offsets[c] = number of groups before collection c. */
  offsets: number[];
  count: number;
}

/** Each Plan object is indexed once (Plans are never changed in place; a fresh read is a new object). */
const indexed = new WeakMap<ShardPlan, GroupIndex>();

/** The group index of a Plan: built on first use, then the same object for every caller (a progress publish too). */
export function indexPlan(plan: ShardPlan): GroupIndex {
  const known = indexed.get(plan);
  if (known) return known;
  const offsets: number[] = [];
  let n = 0;
  for (const c of plan.collections) {
    offsets.push(n);
    n += c.shards.length;
  }
  const ix = { plan, offsets, count: n };
  indexed.set(plan, ix);
  return ix;
}

function locate(ix: GroupIndex, g: number): [number, number] {
  // Binary search for the last offset <= g.
  let lo = 0;
  let hi = ix.offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ix.offsets[mid]! <= g) lo = mid;
    else hi = mid - 1;
  }
  return [lo, g - ix.offsets[lo]!];
}

export function groupKey(ix: GroupIndex, g: number): ShardKey {
  const [c, s] = locate(ix, g);
  const col = ix.plan.collections[c]!;
  return {
    database: col.database,
    collectionId: col.collectionId,
    shard: col.shards[s]![0],
    clones: col.clones.map((cl) => ({ collectionId: cl.collectionId, shard: cl.shards[s]! })),
  };
}

/** Plan servers of group g (leader first), as server IDs. */
export function groupServers(ix: GroupIndex, g: number): string[] {
  const [c, s] = locate(ix, g);
  return ix.plan.collections[c]!.shards[s]![1].map((i) => ix.plan.servers[i]!.id);
}

export function groupBytes(ix: GroupIndex, g: number): number {
  const [c, s] = locate(ix, g);
  return ix.plan.collections[c]!.shards[s]![2];
}

export function groupReplicationFactor(ix: GroupIndex, g: number): number {
  const [c] = locate(ix, g);
  return ix.plan.collections[c]!.replicationFactor;
}

/** Index (into plan.collections) of the prototype collection group g belongs to. */
export function groupCollection(ix: GroupIndex, g: number): number {
  return locate(ix, g)[0];
}

/** Number of shards (prototype + clones) in group g. */
export function groupShardCount(ix: GroupIndex, g: number): number {
  const [c] = locate(ix, g);
  return 1 + ix.plan.collections[c]!.clones.length;
}

export function groupLabel(ix: GroupIndex, g: number): string {
  const k = groupKey(ix, g);
  return `${k.database}/${k.collectionId}/${k.shard}${k.clones.length ? ` (+${k.clones.length} clones)` : ''}`;
}

export function totals(ix: GroupIndex): {
  groups: number;
  shards: number;
  bytes: number;
  databases: number;
  collections: number;
} {
  let shards = 0;
  let bytes = 0;
  let collections = 0;
  const dbs = new Set<string>();
  for (const c of ix.plan.collections) {
    dbs.add(c.database);
    collections += 1 + c.clones.length;
    shards += c.shards.length * (1 + c.clones.length);
    for (const s of c.shards) bytes += s[2];
  }
  return { groups: ix.count, shards, bytes, databases: dbs.size, collections };
}
