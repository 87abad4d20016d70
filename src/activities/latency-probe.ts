/**
 * Client-latency probes: requests that behave like clients — single-document reads and writes through the
 * coordinators, keep-alive connections — on a canary collection whose shards sit on every DB server, so a server
 * slowed by shard copies shows in the probes. The controller (src/workflows/latency.ts) takes one summary per
 * window.
 *
 * History budget: one `probeClientLatency` call measures a whole window (windowSeconds) and returns one summary
 * (counts and percentiles, not samples), so a window costs the workflow one activity — a handful of events — however
 * many requests it made.
 *
 * The canary: `transit_latency_canary` in `_system`, 2 shards per DB server, replicationFactor min(2, DB servers),
 * one document per shard whose key the cluster maps to that shard (`responsibleShard`). Transit creates it before
 * MoveShards (`ensureLatencyCanary`, idempotent), moves it like any other collection, and removes it at the end
 * (`removeLatencyCanary`, idempotent). A probe worker per region (TRANSIT_REGION, TRANSIT_SOURCE_ADDRESS) on its
 * own task queue measures from that region; the targets default to the spec's source and target coordinators.
 */
import { Context } from '@temporalio/activity';
import { Database } from 'arangojs';
import type { CredentialRef } from '../spec/schema';
import type { MigrationRef } from './contract';
import { mintSuperuserJwt } from './agency';
import { percentile } from '../workflows/latency';

export const CANARY_DATABASE = '_system';
export const CANARY_COLLECTION = 'transit_latency_canary';

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
     * Probes for one window: `concurrency` loops per target region, each reading then writing a canary key (keys in
     * turn, so every shard and DB server is touched), until `windowMs` has passed. Returns one summary.
     */
    async probeClientLatency(
      a: MigrationRef & {
        keys: string[];
        windowMs: number;
        concurrency?: number;
        /** Pause after each read+write of a loop (ms; default 20): the probes are clients, not load. */
        pauseMs?: number;
        targets?: ProbeTargetRef[];
      },
    ): Promise<ClientLatencySummary> {
      const startMs = now();
      const until = startMs + a.windowMs;
      const all: number[] = [];
      let errors = 0;
      let reads = 0;
      let writes = 0;
      let lastError: string | undefined;
      const byRegion: ClientLatencySummary['byRegion'] = [];
      let seq = 0;
      await Promise.all(
        targetsOf(a).map(async (t) => {
          const db = await connect(a, t.url);
          const coll = db.collection(CANARY_COLLECTION);
          const xs: number[] = [];
          let errs = 0;
          const timed = async (f: () => Promise<unknown>): Promise<void> => {
            const t0 = performance.now();
            try {
              await f();
              const ms = performance.now() - t0;
              xs.push(ms);
              all.push(ms);
            } catch (e) {
              errs += 1;
              errors += 1;
              lastError = (e as Error).message;
            }
          };
          await Promise.all(
            Array.from({ length: a.concurrency ?? 2 }, async () => {
              while (now() < until && a.keys.length) {
                const key = a.keys[seq++ % a.keys.length]!;
                await timed(() => coll.document(key));
                reads += 1;
                await timed(() => coll.update(key, { v: seq, at: now() }));
                writes += 1;
                heartbeat({ samples: all.length, errors });
                const pause = a.pauseMs ?? 20;
                if (pause > 0) await new Promise((r) => setTimeout(r, pause));
              }
            }),
          );
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
