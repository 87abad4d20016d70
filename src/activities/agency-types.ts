// Types of the agency and coordinator activities (src/activities/agency/), shared with the workflow through
// `import type`. Compact on purpose: a ShardPlan of 10,000 shards must fit one Temporal payload well under 512 KB.

import type { CredentialRef } from '../spec/schema';

/** Where the cluster's JWT secret lives (the spec's type); activities read it, it never travels in history. */
export type { CredentialRef };

export interface ArangoRef {
  /** A coordinator URL, http(s)://host:port (tcp:// and ssl:// are accepted and mapped). */
  endpoint: string;
  jwtSecret: CredentialRef;
  database?: string;
  /**
   * Agent endpoints to start from (tcp://… or http://…). Default: discovered from the coordinator's
   * /_admin/cluster/health; afterwards the agency pool (and 307 redirects) are followed.
   */
  agencyEndpoints?: string[];
}

/** A prototype shard and its distributeShardsLike clones' shards at the same position (they move together). */
export interface ShardKey {
  database: string;
  collectionId: string;
  shard: string;
  clones: { collectionId: string; shard: string }[];
}

export type ServerStatus = 'GOOD' | 'BAD' | 'FAILED' | 'UNCLEAR';

export interface ShardPlan {
  planVersion: number;
  /** DB servers; the indices in `shards` point here. */
  servers: { id: string; shortName: string; endpoint: string; status: ServerStatus }[];
  /** Prototypes only; clones ride along. */
  collections: {
    database: string;
    collectionId: string;
    name: string;
    replicationFactor: number;
    writeConcern: number;
    clones: { collectionId: string; name: string; shards: string[] /* aligned with prototype shards */ }[];
    /** [shard, servers (Plan order, leader first, as indices into `servers`), bytes (prototype + clones)] */
    shards: [shard: string, servers: number[], bytes: number][];
  }[];
  /** Collections left out (satellite collections, …) with the reason. */
  skipped?: { database: string; name: string; reason: string }[];
}

export interface MigrationArgs {
  migrationId: string;
  arango: ArangoRef;
}

export interface AddShardFollowerArgs extends MigrationArgs {
  moves: (ShardKey & { expected: string[] /* Plan servers before */; add: string[] })[];
}

export interface WaitForShardInSyncArgs extends MigrationArgs {
  shards: (ShardKey & { servers: string[] /* must all be in Current, servers[0] leader */ })[];
  mode: 'any' | 'all';
  timeoutSeconds: number;
}

export interface WaitForShardInSyncResult {
  /** Indices into `shards` that are in sync now. */
  inSync: number[];
  /** For shards not in sync: copy progress (bytes of prototype + clones). */
  progress: { index: number; bytesCopied: number; bytesTotal: number }[];
  /** Shards whose sync cannot progress by itself (a planned server is FAILED, …). */
  stalled?: { index: number; reason: string }[];
}

export interface MoveShardLeadershipArgs extends MigrationArgs {
  moves: (ShardKey & { from: string; to: string })[];
}

export interface RemoveShardFollowerArgs extends MigrationArgs {
  moves: (ShardKey & { remove: string[]; replicationFactor: number })[];
}

export interface ServerInfo {
  id: string;
  shortName: string;
  endpoint: string;
  status: ServerStatus;
}

export interface ClusterHealth {
  healthy: boolean;
  problems: string[];
  dbServers: ServerInfo[];
  coordinators: ServerInfo[];
  agents: { id: string; endpoint: string; leader: boolean; commitIndex?: number }[];
  maintenance: boolean;
}

export interface RegisteredServer {
  endpoint: string;
  id: string;
  shortName: string;
  role: 'dbserver' | 'coordinator';
}

export interface AutoShrinkSetting {
  numberOfDBServers: number | null;
  numberOfCoordinators: number | null;
}
