// The topology file that seeds a simulated cluster (YAML or JSON): members per role, databases, collections,
// documents per shard, bytes per document, per-server bandwidth, and optional timing for tests.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseBandwidth } from './bandwidth.js';

const bandwidth = z.union([z.number().nonnegative(), z.string()]);

const collectionSchema = z.object({
  name: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_-]*$/),
  numberOfShards: z.number().int().positive().optional(),
  replicationFactor: z.number().int().positive().optional(),
  writeConcern: z.number().int().positive().optional(),
  distributeShardsLike: z.string().optional(),
  documentsPerShard: z.number().int().nonnegative().default(0),
  bytesPerDocument: z.number().positive().optional(),
});

const timingSchema = z
  .object({
    heartbeatMs: z.number().positive(),
    okThreshold: z.number().positive(),
    gracePeriod: z.number().positive(),
    supervisionFrequency: z.number().positive(),
    startupGrace: z.number().nonnegative(),
    electionTimeoutMin: z.number().positive(),
    electionTimeoutMax: z.number().positive(),
    leaderRetrySeconds: z.number().positive(),
    removeServerSeconds: z.number().nonnegative(),
    /** --agency.compaction-step-size: committed log entries between agency snapshots. */
    compactionStep: z.number().int().positive(),
    /** --sim.failed-leader-timeout (s): FailedLeader/FailedFollower jobs older than this fail ("Timed out."). */
    failedLeaderTimeout: z.number().positive(),
    /** --sim.move-shard-timeout (s): MoveShard (leader) aborts after this long in Pending. */
    moveShardTimeout: z.number().positive(),
    /** --sim.move-shard-follower-timeout (s): MoveShard (follower) aborts after this long in Pending. */
    moveShardFollowerTimeout: z.number().positive(),
    /** --agency.supervision-expired-servers-grace-period (s). */
    expiredServersGrace: z.number().positive(),
  })
  .partial();

export const topologySchema = z.object({
  name: z.string().default('sim'),
  agents: z.number().int().positive().default(3),
  dbServers: z.number().int().positive().default(3),
  coordinators: z.number().int().positive().default(1),
  /** Per DB server and direction: bytes/s or "100MB/s", "1Gbit/s", "unbounded". */
  bandwidth: bandwidth.default('unbounded'),
  bytesPerDocument: z.number().positive().default(1024),
  /**
   * Target/NumberOfDBServers after start-up: "auto" = the initial number of DB servers, as kube-arangodb's
   * cluster-scaling integration sets it (the auto-shrink trap is armed); null = disarmed.
   */
  targetNumberOfDBServers: z.union([z.literal('auto'), z.null(), z.number().int().positive()]).default('auto'),
  timing: timingSchema.default({}),
  databases: z
    .array(
      z.object({
        name: z.string().regex(/^[a-zA-Z][a-zA-Z0-9_-]*$/),
        collections: z.array(collectionSchema).default([]),
      }),
    )
    .default([]),
});

export type Topology = z.infer<typeof topologySchema>;
export type TopologyInput = z.input<typeof topologySchema>;
export type Timing = Required<z.infer<typeof timingSchema>>;

export function parseTopology(input: unknown): Topology {
  const t = topologySchema.parse(input ?? {});
  parseBandwidth(t.bandwidth);
  for (const db of t.databases) {
    const names = new Set(db.collections.map((c) => c.name));
    for (const c of db.collections) {
      if (c.distributeShardsLike && !names.has(c.distributeShardsLike)) {
        throw new Error(
          `topology: ${db.name}/${c.name} has distributeShardsLike ${c.distributeShardsLike}, which is not defined before it`,
        );
      }
      if ((c.replicationFactor ?? 1) > t.dbServers) {
        throw new Error(
          `topology: ${db.name}/${c.name} has replicationFactor ${c.replicationFactor} but only ${t.dbServers} DB servers`,
        );
      }
    }
  }
  return t;
}

export function loadTopology(file: string): Topology {
  return parseTopology(parseYaml(readFileSync(file, 'utf8')));
}

/** Timing defaults: ArangoDB's own where it has them, a little faster where tests would otherwise crawl. */
export function timingWithDefaults(t: Partial<Timing> = {}): Timing {
  return {
    heartbeatMs: t.heartbeatMs ?? 1000,
    okThreshold: t.okThreshold ?? 5,
    gracePeriod: t.gracePeriod ?? 10,
    supervisionFrequency: t.supervisionFrequency ?? 1,
    startupGrace: t.startupGrace ?? 55,
    electionTimeoutMin: t.electionTimeoutMin ?? 1,
    electionTimeoutMax: t.electionTimeoutMax ?? 5,
    leaderRetrySeconds: t.leaderRetrySeconds ?? 30,
    removeServerSeconds: t.removeServerSeconds ?? 60,
    compactionStep: t.compactionStep ?? 5000,
    failedLeaderTimeout: t.failedLeaderTimeout ?? 4620,
    moveShardTimeout: t.moveShardTimeout ?? 43200,
    moveShardFollowerTimeout: t.moveShardFollowerTimeout ?? 10000,
    expiredServersGrace: t.expiredServersGrace ?? 3600,
  };
}
