// Read helpers over an agency tree (`/arango/...`), shared by supervision, DB servers and coordinators. Each
// member uses them on its own copy of the tree (the agent's readDB, or a member's poll-fed replica).
import type { Store } from './store.js';

export type Dict = Record<string, any>;

export interface CollectionPlan {
  id: string;
  name: string;
  numberOfShards: number;
  replicationFactor: number | 'satellite';
  writeConcern: number;
  distributeShardsLike?: string;
  shards: Record<string, string[]>;
  isBuilding?: boolean;
  deleted?: boolean;
  simBytesPerDocument?: number;
  [k: string]: unknown;
}

export interface ShardCurrent {
  servers: string[];
  failoverCandidates?: string[];
  error?: boolean;
}

export function asDict(v: unknown): Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {};
}

export function asArray(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

/** Shard ids in ArangoDB's numeric order ("s100" < "s1000"); clone shard i belongs with prototype shard i. */
export function sortShards(ids: string[]): string[] {
  const num = (s: string): number => Number(/(\d+)$/.exec(s)?.[1] ?? 0);
  return [...ids].sort((a, b) => num(a) - num(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export const stripResign = (s: string): string => (s.startsWith('_') ? s.slice(1) : s);

export class ClusterView {
  private sorted = new Map<string, string[]>();
  private clones = new Map<string, string[]>();

  /** A view of `store` as it is now; its memoised indexes assume the store does not change while it is used. */
  constructor(private store: Store) {}

  private sortedShardsOf(db: string, cid: string, coll: CollectionPlan): string[] {
    const key = `${db}/${cid}`;
    let s = this.sorted.get(key);
    if (!s) {
      s = sortShards(Object.keys(asDict(coll.shards)));
      this.sorted.set(key, s);
    }
    return s;
  }

  private clonesOf(db: string, cid: string): string[] {
    if (!this.clones.has(`${db}/`)) {
      for (const [ccid, c] of Object.entries(this.planCollections(db))) {
        if (!c.distributeShardsLike || ccid === c.distributeShardsLike) continue;
        const k = `${db}/${c.distributeShardsLike}`;
        this.clones.set(k, [...(this.clones.get(k) ?? []), ccid]);
      }
      this.clones.set(`${db}/`, []);
    }
    return this.clones.get(`${db}/${cid}`) ?? [];
  }

  get(path: string): any {
    return this.store.get(path);
  }

  planCollections(db: string): Record<string, CollectionPlan> {
    return asDict(this.store.get(`/arango/Plan/Collections/${db}`)) as Record<string, CollectionPlan>;
  }

  /** Plan/Databases/<db>/replicationVersion ("1" when absent). */
  replicationVersion(db: string): string {
    const r = asDict(this.store.get(`/arango/Plan/Databases/${db}`)).replicationVersion;
    return r === undefined ? '1' : String(r);
  }

  planDatabases(): string[] {
    return Object.keys(asDict(this.store.get('/arango/Plan/Collections')));
  }

  collection(db: string, cid: string): CollectionPlan | undefined {
    const c = this.store.get(`/arango/Plan/Collections/${db}/${cid}`);
    return c && typeof c === 'object' ? (c as unknown as CollectionPlan) : undefined;
  }

  current(db: string, cid: string, shard: string): ShardCurrent | undefined {
    const c = this.store.get(`/arango/Current/Collections/${db}/${cid}/${shard}`);
    return c && typeof c === 'object' ? (c as unknown as ShardCurrent) : undefined;
  }

  /** The prototype shard and all distributeShardsLike clones' shards at the same position. */
  group(db: string, cid: string, shard: string): { cid: string; shard: string }[] {
    const colls = this.planCollections(db);
    const proto = colls[cid];
    if (!proto) return [];
    const idx = this.sortedShardsOf(db, cid, proto).indexOf(shard);
    const out = [{ cid, shard }];
    if (idx < 0) return out;
    for (const ccid of this.clonesOf(db, cid)) {
      const c = colls[ccid];
      const s = c ? this.sortedShardsOf(db, ccid, c)[idx] : undefined;
      if (s) out.push({ cid: ccid, shard: s });
    }
    return out;
  }

  dbServers(): string[] {
    return Object.keys(asDict(this.store.get('/arango/Plan/DBServers')));
  }

  coordinators(): string[] {
    return Object.keys(asDict(this.store.get('/arango/Plan/Coordinators')));
  }

  health(id: string): string | undefined {
    return this.store.get(`/arango/Supervision/Health/${id}/Status`) as string | undefined;
  }

  endpointOf(id: string): string | undefined {
    return asDict(this.store.get(`/arango/Current/ServersRegistered/${id}`)).endpoint as string | undefined;
  }

  shortName(id: string): string | undefined {
    return asDict(this.store.get(`/arango/Target/MapUniqueToShortID/${id}`)).ShortName as string | undefined;
  }

  /** Resolves a server ID or short name to the ID. */
  resolveServer(idOrShort: string): string | undefined {
    const map = asDict(this.store.get('/arango/Target/MapUniqueToShortID'));
    if (map[idOrShort]) return idOrShort;
    for (const [id, v] of Object.entries(map)) if (asDict(v).ShortName === idOrShort) return id;
    if (this.dbServers().includes(idOrShort) || this.coordinators().includes(idOrShort)) return idOrShort;
    return undefined;
  }

  cleaned(): string[] {
    return asArray(this.store.get('/arango/Target/CleanedServers'));
  }

  toBeCleaned(): string[] {
    return asArray(this.store.get('/arango/Target/ToBeCleanedServers'));
  }

  failedServers(): string[] {
    return Object.keys(asDict(this.store.get('/arango/Target/FailedServers')));
  }

  /** Plan/DBServers minus cleaned, to-be-cleaned and failed servers (JOB availableServers). */
  availableServers(): string[] {
    const out = new Set([...this.cleaned(), ...this.toBeCleaned(), ...this.failedServers()]);
    return this.dbServers().filter((s) => !out.has(s));
  }

  inMaintenance(id: string): boolean {
    const m = asDict(this.store.get(`/arango/Current/MaintenanceDBServers/${id}`));
    return m.Mode === 'maintenance';
  }

  jobs(queue: 'ToDo' | 'Pending' | 'Finished' | 'Failed'): Record<string, Dict> {
    return asDict(this.store.get(`/arango/Target/${queue}`)) as Record<string, Dict>;
  }

  /** Every (db, prototype collection, shard) triple. */
  *prototypeShards(): Generator<{ db: string; cid: string; coll: CollectionPlan; shard: string; servers: string[] }> {
    for (const db of this.planDatabases()) {
      for (const [cid, coll] of Object.entries(this.planCollections(db))) {
        if (coll.distributeShardsLike) continue;
        for (const shard of sortShards(Object.keys(asDict(coll.shards)))) {
          yield { db, cid, coll, shard, servers: asArray(coll.shards[shard]) };
        }
      }
    }
  }

  *allShards(): Generator<{ db: string; cid: string; coll: CollectionPlan; shard: string; servers: string[] }> {
    for (const db of this.planDatabases()) {
      for (const [cid, coll] of Object.entries(this.planCollections(db))) {
        for (const shard of Object.keys(asDict(coll.shards))) {
          yield { db, cid, coll, shard, servers: asArray(coll.shards[shard]) };
        }
      }
    }
  }
}

/** Current.servers equals Plan as sets with the same leader (ClusterHelpers::compareServerLists). */
export function inSyncLists(plan: string[], current: string[] | undefined): boolean {
  if (!current || current.length === 0 || plan.length === 0) return false;
  if (plan[0] !== current[0]) return false;
  const a = new Set(plan);
  const b = new Set(current);
  return a.size === b.size && [...a].every((x) => b.has(x));
}

export function planPath(db: string, cid: string, shard: string): string {
  return `/arango/Plan/Collections/${db}/${cid}/shards/${shard}`;
}

export function currentServersPath(db: string, cid: string, shard: string): string {
  return `/arango/Current/Collections/${db}/${cid}/${shard}/servers`;
}
