// Agency paths and small readers over agency read results (which keep full paths: {"arango":{"Plan":…}}).
import type { ShardKey } from '../agency-types';

export type Dict = Record<string, unknown>;

export function asDict(v: unknown): Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {};
}

export function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The value at an absolute agency path inside a read result. */
export function at(read: unknown, path: string): unknown {
  let node: unknown = read;
  for (const p of path.split('/').filter(Boolean)) {
    node = asDict(node)[p];
    if (node === undefined) return undefined;
  }
  return node;
}

export const planShardPath = (db: string, cid: string, shard: string): string =>
  `/arango/Plan/Collections/${db}/${cid}/shards/${shard}`;
export const currentShardPath = (db: string, cid: string, shard: string): string =>
  `/arango/Current/Collections/${db}/${cid}/${shard}`;
/** Current's in-sync servers of a shard (leader first), as maintenance reports them. */
export const currentServersPath = (db: string, cid: string, shard: string): string =>
  `${currentShardPath(db, cid, shard)}/servers`;
export const lockPath = (shard: string): string => `/arango/Supervision/Shards/${shard}`;
export const healthStatusPath = (id: string): string => `/arango/Supervision/Health/${id}/Status`;
export const PLAN_VERSION = '/arango/Plan/Version';

/** The value Transit writes into Supervision/Shards/<shard> while it owns a shard. */
export const lockValue = (migrationId: string): string => `transit-${migrationId}`;
export const isTransitLock = (v: unknown): boolean => typeof v === 'string' && v.startsWith('transit-');

export const strip = (s: string): string => (s.startsWith('_') ? s.slice(1) : s);

/** Shard ids in numeric order ("s99" before "s100"): clone shard i belongs with prototype shard i. */
export function sortShards(ids: string[]): string[] {
  const n = (s: string): number => Number(/(\d+)$/.exec(s)?.[1] ?? 0);
  return [...ids].sort((a, b) => n(a) - n(b) || a.localeCompare(b));
}

/** Prototype first, then the clones: every (collectionId, shard) a group step touches. */
export function groupMembers(k: ShardKey): { collectionId: string; shard: string }[] {
  return [{ collectionId: k.collectionId, shard: k.shard }, ...k.clones];
}

export function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Paths to read for a batch of groups: Plan and Current of every member, and the prototype's lock. */
export function groupReadPaths(keys: ShardKey[], extra: string[] = []): string[] {
  const out = new Set<string>(extra);
  for (const k of keys) {
    for (const m of groupMembers(k)) {
      out.add(planShardPath(k.database, m.collectionId, m.shard));
      out.add(currentShardPath(k.database, m.collectionId, m.shard));
    }
    out.add(lockPath(k.shard));
  }
  return [...out];
}

/** Plan lists and Current server lists of a group, as read. */
export interface GroupState {
  plans: string[][];
  currents: string[][];
  candidates: string[][];
  lock: unknown;
}

export function groupState(read: unknown, k: ShardKey): GroupState {
  const members = groupMembers(k);
  return {
    plans: members.map((m) => asStrings(at(read, planShardPath(k.database, m.collectionId, m.shard)))),
    currents: members.map((m) =>
      asStrings(asDict(at(read, currentShardPath(k.database, m.collectionId, m.shard))).servers),
    ),
    candidates: members.map((m) =>
      asStrings(asDict(at(read, currentShardPath(k.database, m.collectionId, m.shard))).failoverCandidates),
    ),
    lock: at(read, lockPath(k.shard)),
  };
}
