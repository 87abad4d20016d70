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

/** One MoveShard job Transit asks ArangoDB's supervision to run (MoveShard::create's fields). */
export interface ShardMove {
  /** The group's Plan servers the move was computed from (leader first): the job is written only if Plan still is this. */
  expected: string[];
  fromServer: string;
  toServer: string;
  isLeader: boolean;
  remainsFollower: boolean;
}

export interface SubmitShardMovesArgs extends MigrationArgs {
  moves: (ShardKey & ShardMove)[];
}

/**
 * Per move: `submitted` (a new job, or the one of this migration already in ToDo/Pending for that shard),
 * `planChanged` (Plan is no longer `expected`: nothing written; `servers` is Plan now), or `waiting` (toServer
 * is not GOOD yet: nothing written; `health` says what it is).
 */
export type SubmitShardMoveResult =
  | { index: number; result: 'submitted'; jobId: string; existing: boolean }
  | { index: number; result: 'planChanged'; servers: string[] }
  | { index: number; result: 'waiting'; health: string; failed?: string[] };

export interface WaitForShardMovesArgs extends MigrationArgs {
  /**
   * `toServer` (since the patch latency-copies-synced, for copy jobs under a latency cap on copies): the activity also
   * reads Current and reports the job in `synced` once its new copy is in sync — `toServer` in Current's servers of
   * every shard of the group, what MoveShard::pendingLeader / pendingFollower wait for before the leader switch or the
   * removal; the copy then loads no link any more. `synced`: the caller already knows (a mode-'any' wait returns
   * when a job it does not know yet gets in sync, as when one ends).
   */
  jobs: (ShardKey & { jobId: string; toServer?: string; synced?: boolean })[];
  mode: 'any' | 'all';
  timeoutSeconds: number;
}

export interface ShardMoveOutcome {
  index: number;
  /** finished: Target/Finished; failed: Target/Failed (aborted, refused, timed out); gone: in no list any more. */
  status: 'finished' | 'failed' | 'gone';
  reason?: string;
  /** The prototype shard's Plan servers now (leader first, resign marks stripped). */
  servers: string[];
}

export interface WaitForShardMovesResult {
  /** Jobs that ended (in any order). */
  ended: ShardMoveOutcome[];
  /** For jobs still running: copy progress of the new copy (bytes of prototype + clones). */
  progress: { index: number; bytesCopied: number; bytesTotal: number }[];
  /** Jobs still in ToDo, with why supervision has not started them when that can be told. */
  queued: { index: number; reason: string }[];
  /** Running jobs given a `toServer` whose new copy is in sync in Current (absent in results recorded before). */
  synced?: number[];
  /**
   * When the activity read this (ms since the epoch, its own clock). The workflow's bandwidth estimator times copy
   * progress by it, not by the workflow task's time: a worker that took a migration over has been seen to run its
   * first workflow task with the previous task's time while a replay of the same history uses the task's own time,
   * so an estimate timed by the task differed between the run and its replay (a nondeterminism error). Results
   * recorded before this field carry none; the workflow then uses its own time, as those runs did. Since the patch
   * engine-recorded-clock it also moves the engine's clock forward (EngineClock in job-engine.ts).
   */
  at?: number;
}
