/**
 * Client-latency probes: requests that behave like clients — single-document reads and writes through the
 * coordinators at a fixed rate (open loop), on keep-alive connections — on a canary collection whose shards sit on
 * every DB server, so a server slowed by shard copies shows in the probes. The controller
 * (src/workflows/latency.ts) takes one summary per window.
 *
 * History budget: one `probeClientLatency` call measures a whole window (windowSeconds) and returns one summary
 * (counts and percentiles, not samples), so a window costs the workflow one activity — a handful of events — however
 * many requests it made.
 *
 * The canary: `transit_latency_canary` in `_system`, 2 shards per DB server, replicationFactor min(2, DB servers),
 * one document per shard whose key the cluster maps to that shard (`responsibleShard`). With policy.latency
 * MoveShards creates it before it reads the Plan (`ensureLatencyCanary`, idempotent; patch 'canary-moves') — the
 * target DB servers exist by then, so its shards sit on source and target servers alike — so it is in the plan and
 * moves like any other collection; the migration drops it when it ends (`removeLatencyCanary`, idempotent).
 * (Migrations started before the patch create it when each shard-engine run starts and drop it when the run returns:
 * it never moves.) The probes run where the worker runs
 * (its region names them); with policy.latency.probeFrom "each-region" a probe worker per region runs them on its
 * own task queue (`probeTaskQueue`, src/worker.ts `regionProbeWorker`) and the workflow merges the windows.
 */
import { Context } from '@temporalio/activity';
import { Database } from 'arangojs';
import type { CredentialRef } from '../spec/schema';
import type { MigrationRef } from './contract';
import { mintSuperuserJwt } from './agency';
import { percentile } from '../workflows/latency';
import { CANARY_COLLECTION } from '../shared/types';

export const CANARY_DATABASE = '_system';
export { CANARY_COLLECTION };

export interface LatencyProbeDeps {
  readCredential(ref: CredentialRef): Promise<string>;
  region?: string;
  timeoutMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export interface CanaryInfo {
  database: string;
  collection: string;
  /** One key per shard, with the shard's servers when it was read (leader first). */
  keys: { key: string; shard: string; servers: string[] }[];
  /** DB servers holding a copy of the canary, and those holding none (the probes cannot see them). */
  servers: string[];
  missing: string[];
}

export interface ProbeTargetRef {
  region: string;
  url: string;
}

/** One window of probe samples, summarised (what the controller and progress read). */
export interface ClientLatencySummary {
  /** Where the probes ran from (TRANSIT_REGION of the worker). */
  from: string;
  startMs: number;
  endMs: number;
  samples: number;
  errors: number;
  reads: number;
  writes: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Per target region. */
  byRegion: { region: string; samples: number; errors: number; p50Ms: number | null; p99Ms: number | null }[];
  lastError?: string;
  /**
   * Canary shards whose leader changed during the window (their Plan leader at its start and at its end differ, or
   * either is resigned), and the p99 of the other shards' requests (null when there are none). A write to a shard
   * whose leader resigns waits for the new leader — a stall of the switch itself, which no pacing of copies avoids;
   * the controller tells the two apart (latency.ts). Absent in results recorded before 3 December 2026.
   */
  switchedShards?: number;
  steadyP99Ms?: number | null;
}

const round = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

export function createLatencyProbeActivities(deps: LatencyProbeDeps) {
  const region = deps.region ?? process.env.TRANSIT_REGION ?? 'worker';
  const now = deps.now ?? Date.now;
  const dbs = new Map<string, Database>();
  const connect = async (a: MigrationRef, url: string): Promise<Database> => {
    const token = mintSuperuserJwt(await deps.readCredential(a.spec.arango.jwtSecret));
    const k = `${url} ${token}`;
    let db = dbs.get(k);
    if (!db) {
      db = new Database({ url, databaseName: CANARY_DATABASE, auth: { token }, poolSize: 8, maxRetries: false });
      dbs.set(k, db);
    }
    return db;
  };
  const targetsOf = (a: MigrationRef & { targets?: ProbeTargetRef[] }): ProbeTargetRef[] =>
    a.targets ?? [
      { region: a.spec.source.region, url: a.spec.arango.endpoint },
      ...(a.spec.arango.targetEndpoint ? [{ region: a.spec.target.region, url: a.spec.arango.targetEndpoint }] : []),
    ];

  /** key → shard, per canary (its shard ids); found once through responsibleShard, as ensureLatencyCanary does. */
  const keyShards = new Map<string, Map<string, string>>();
  /** The canary's shards with their Plan leader now, and the shard of each key (GET …/shards?details=true). */
  const canaryShards = async (
    a: MigrationRef & { keys: string[] },
  ): Promise<{ leaders: Record<string, string>; shardOf: Map<string, string> }> => {
    const db = await connect(a, a.spec.arango.endpoint);
    const body = (await db.route(`/_api/collection/${CANARY_COLLECTION}/shards`).get({ details: 'true' }))
      .parsedBody as { shards?: Record<string, string[]> };
    const shards = body.shards ?? {};
    const ids = Object.keys(shards).sort().join(',');
    let shardOf = keyShards.get(ids);
    if (!shardOf || a.keys.some((k) => !shardOf!.has(k))) {
      shardOf = new Map();
      for (const key of a.keys) {
        const r = (await db.route(`/_api/collection/${CANARY_COLLECTION}/responsibleShard`).put({ _key: key }))
          .parsedBody as { shardId?: string };
        if (r.shardId) shardOf.set(key, r.shardId);
      }
      keyShards.set(ids, shardOf);
    }
    return { leaders: Object.fromEntries(Object.entries(shards).map(([sh, s]) => [sh, s[0] ?? ''])), shardOf };
  };

  return {
    /** Creates the canary (if missing) with a document on every shard; reports which DB servers it covers. */
    async ensureLatencyCanary(a: MigrationRef & { url?: string }): Promise<CanaryInfo> {
      const db = await connect(a, a.url ?? a.spec.arango.endpoint);
      const health = (await db.route('/_admin/cluster/health').get()).parsedBody as {
        Health?: Record<string, { Role?: string; Status?: string }>;
      };
      const dbServers = Object.entries(health.Health ?? {})
        .filter(([, h]) => h.Role === 'DBServer' && h.Status !== 'FAILED')
        .map(([id]) => id)
        .sort();
      const n = Math.max(1, dbServers.length);
      const coll = db.collection(CANARY_COLLECTION);
      if (!(await coll.exists())) {
        try {
          await db.createCollection(CANARY_COLLECTION, {
            numberOfShards: 2 * n,
            replicationFactor: Math.min(2, n),
            writeConcern: 1,
          });
        } catch (e) {
          if (!(await coll.exists())) throw e; // created concurrently (a retried activity): fine
        }
      }
      const props = (await db.route(`/_api/collection/${CANARY_COLLECTION}/shards`).get({ details: 'true' }))
        .parsedBody as { shards?: Record<string, string[]> };
      const shards = props.shards ?? {};
      const keys: CanaryInfo['keys'] = [];
      const want = new Set(Object.keys(shards));
      for (let i = 0; want.size > 0 && i < 100 * Object.keys(shards).length + 100; i++) {
        const key = `canary-${i}`;
        const r = (await db.route(`/_api/collection/${CANARY_COLLECTION}/responsibleShard`).put({ _key: key }))
          .parsedBody as { shardId?: string };
        if (r.shardId && want.delete(r.shardId)) keys.push({ key, shard: r.shardId, servers: shards[r.shardId] ?? [] });
        heartbeat({ canaryKeys: keys.length });
      }
      for (const k of keys) await coll.save({ _key: k.key, v: 0 }, { overwriteMode: 'replace' });
      const covered = new Set(Object.values(shards).flat());
      keys.sort((x, y) => (x.shard < y.shard ? -1 : x.shard > y.shard ? 1 : 0));
      return {
        database: CANARY_DATABASE,
        collection: CANARY_COLLECTION,
        keys,
        servers: [...covered].sort(),
        missing: dbServers.filter((s) => !covered.has(s)),
      };
    },

    /**
     * Probes for one window, open loop like the clients they stand for: per target region, `ratePerSecond`
     * requests at fixed intervals, alternating a read and an update of the canary keys in turn (every shard and DB
     * server is touched), each timed from its scheduled start — so a stall is counted for every request it delays
     * (no coordinated omission: a closed loop would send one request during a stall and see one slow sample).
     * Requests still open at the end of the window are awaited; more than `maxOutstanding` open at once are not
     * sent and count as errors. Returns one summary.
     */
    async probeClientLatency(
      a: MigrationRef & {
        keys: string[];
        windowMs: number;
        /** Requests per second per target region (default 50). */
        ratePerSecond?: number;
        /** Open requests per target region beyond which the probe skips and counts an error (default 256). */
        maxOutstanding?: number;
        targets?: ProbeTargetRef[];
      },
    ): Promise<ClientLatencySummary> {
      const startMs = now();
      // Leaders of the canary's shards and which shard each key lives on, at the start (and, below, at the end).
      const first = await canaryShards(a).catch(() => null);
      const all: number[] = [];
      const byKey = new Map<string, number[]>();
      let errors = 0;
      let reads = 0;
      let writes = 0;
      let lastError: string | undefined;
      const byRegion: ClientLatencySummary['byRegion'] = [];
      const rate = Math.max(1, a.ratePerSecond ?? 50);
      const count = a.keys.length ? Math.floor((a.windowMs / 1000) * rate) : 0;
      await Promise.all(
        targetsOf(a).map(async (t) => {
          const db = await connect(a, t.url);
          const coll = db.collection(CANARY_COLLECTION);
          const xs: number[] = [];
          let errs = 0;
          const open = new Set<Promise<void>>();
          const t0 = performance.now();
          for (let i = 0; i < count; i++) {
            const due = t0 + (i * 1000) / rate;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            if (open.size >= (a.maxOutstanding ?? 256)) {
              errs += 1;
              errors += 1;
              lastError = `more than ${a.maxOutstanding ?? 256} probe requests open`;
              continue;
            }
            const key = a.keys[Math.floor(i / 2) % a.keys.length]!; // each key read, then written
            const read = i % 2 === 0;
            if (read) reads += 1;
            else writes += 1;
            const p = (read ? coll.document(key) : coll.update(key, { v: i, at: now() }))
              .then(
                () => {
                  const ms = performance.now() - due;
                  xs.push(ms);
                  all.push(ms);
                  const ks = byKey.get(key);
                  if (ks) ks.push(ms);
                  else byKey.set(key, [ms]);
                },
                (e: unknown) => {
                  errs += 1;
                  errors += 1;
                  lastError = (e as Error).message;
                },
              )
              .finally(() => open.delete(p));
            open.add(p);
            if (i % 50 === 0) heartbeat({ samples: all.length, errors });
          }
          await Promise.all(open);
          byRegion.push({
            region: t.region,
            samples: xs.length,
            errors: errs,
            p50Ms: round(percentile(xs, 0.5)),
            p99Ms: round(percentile(xs, 0.99)),
          });
        }),
      );
      byRegion.sort((x, y) => (x.region < y.region ? -1 : x.region > y.region ? 1 : 0));
      const last = first ? await canaryShards(a).catch(() => null) : null;
      let steady: Pick<ClientLatencySummary, 'switchedShards' | 'steadyP99Ms'> = {};
      if (first && last) {
        const switched = new Set(
          Object.keys(first.leaders).filter((sh) => {
            const l0 = first.leaders[sh] ?? '';
            const l1 = last.leaders[sh] ?? '';
            return l0 !== l1 || l0.startsWith('_') || l1.startsWith('_');
          }),
        );
        const calm = a.keys.flatMap((k) => {
          const sh = first.shardOf.get(k);
          return sh !== undefined && !switched.has(sh) ? (byKey.get(k) ?? []) : [];
        });
        steady = { switchedShards: switched.size, steadyP99Ms: round(percentile(calm, 0.99)) };
      }
      return {
        from: region,
        startMs,
        endMs: now(),
        samples: all.length,
        errors,
        reads,
        writes,
        p50Ms: round(percentile(all, 0.5)),
        p99Ms: round(percentile(all, 0.99)),
        maxMs: round(all.length ? Math.max(...all) : null),
        byRegion,
        ...(lastError ? { lastError } : {}),
        ...steady,
      };
    },

    /** Drops the canary (idempotent). */
    async removeLatencyCanary(a: MigrationRef & { url?: string }): Promise<{ removed: boolean }> {
      const db = await connect(a, a.url ?? a.spec.arango.endpoint);
      const coll = db.collection(CANARY_COLLECTION);
      if (!(await coll.exists())) return { removed: false };
      try {
        await coll.drop();
      } catch (e) {
        if (await coll.exists()) throw e;
      }
      return { removed: true };
    },
  };
}

export type LatencyProbeActivities = ReturnType<typeof createLatencyProbeActivities>;

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}
