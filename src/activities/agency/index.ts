// The agency and coordinator activities. createAgencyActivities(deps) returns plain async functions that the
// worker registers as Temporal activities and tests call directly. Written against ArangoDB's real HTTP API
// (arangojs, and route() for the agency and /_admin paths), so they run unchanged against a real cluster or the
// simulator. Every activity is idempotent; long waits heartbeat and stop on cancellation; the JWT secret is read
// from the credential reference inside the activity and never returned.
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import type {
  AddShardFollowerArgs,
  ArangoRef,
  AutoShrinkSetting,
  ClusterHealth,
  CredentialRef,
  MigrationArgs,
  MoveShardLeadershipArgs,
  RegisteredServer,
  RemoveShardFollowerArgs,
  ShardPlan,
  SubmitShardMoveResult,
  SubmitShardMovesArgs,
  WaitForShardInSyncArgs,
  WaitForShardInSyncResult,
  WaitForShardMovesArgs,
  WaitForShardMovesResult,
  ShardKey,
} from '../agency-types';
import { ArangoClient, mintSuperuserJwt } from './client';
import { makeWaits, type WaitHooks, type Waits } from './waits';
import { readShardPlan } from './plan';
import { addShardFollower, moveShardLeadership, removeShardFollower, waitForShardInSync } from './shards';
import { cancelShardMoves, readShardServers, submitShardMoves, waitForShardMoves } from './jobs';
import { verifyShardCopies, type VerifyShardCopiesArgs, type VerifyShardCopiesResult } from './verify';
import {
  changeReplicationFactor,
  type ChangeReplicationFactorArgs,
  type ReplicationChangeOutcome,
} from './replication';
import {
  checkAgentReplaceable,
  checkClusterHealth,
  neutraliseAutoShrink,
  removeServer,
  restoreAutoShrink,
  verifyConvergence,
  waitForAgentCaughtUp,
  waitForServerRegistered,
} from './cluster';

export * from './errors';
export { mintSuperuserJwt, endpointToUrl } from './client';
export { lockValue } from './paths';
export { AUTO_SHRINK_RECORD } from './cluster';

export interface AgencyActivityDeps {
  /** Returns the JWT secret a credential reference points at (a file, or a Kubernetes Secret key). */
  readCredential(ref: CredentialRef): Promise<string>;
  /** Time source and sleep for waits (default: Date.now and timers). */
  clock?: { now(): number; sleep?(ms: number, signal?: AbortSignal): Promise<void> };
  /** Outside an activity: heartbeat sink and cancellation signal (inside one, the activity context is used). */
  heartbeat?: (details: unknown) => void;
  signal?: AbortSignal;
  /** Between polls of waits (default 1000 ms). */
  pollIntervalMs?: number;
  /** How long one agency call keeps retrying 503/connection errors before a retryable failure (default 20 s). */
  agencyRetryMs?: number;
  /** Per HTTP request (default 30 s). */
  requestTimeoutMs?: number;
  /** moveShardLeadership: longest wait for resign and take-over before a retryable failure (default 120 s). */
  leaderMoveTimeoutMs?: number;
  /** removeShardFollower: how long to wait for replicationFactor in-sync copies before refusing (default 30 s). */
  inSyncGraceMs?: number;
  /** Rewrites cluster-internal endpoints (tcp://member:8529) to addresses this worker can reach. */
  mapEndpoint?: (endpoint: string) => string;
}

/** A readCredential for `{ file }` references; `{ secret }` references go to `readSecret` when given. */
export function fileCredentialReader(
  readSecret?: (s: Extract<CredentialRef, { secret: unknown }>['secret']) => Promise<string>,
): (ref: CredentialRef) => Promise<string> {
  return async (ref) => {
    if ('file' in ref) return readFile(ref.file, 'utf8');
    if (readSecret) return readSecret(ref.secret);
    throw ApplicationFailure.nonRetryable(
      `no reader for Kubernetes Secret references (${ref.secret.name}/${ref.secret.key})`,
      'CredentialError',
    );
  };
}

export function createAgencyActivities(deps: AgencyActivityDeps) {
  const pollMs = deps.pollIntervalMs ?? 1000;
  const hooks = (): WaitHooks => ({
    heartbeat: deps.heartbeat,
    signal: deps.signal,
    now: deps.clock?.now,
    sleep: deps.clock?.sleep,
  });

  async function withClient<T>(arango: ArangoRef, fn: (client: ArangoClient, waits: Waits) => Promise<T>): Promise<T> {
    let secret: string;
    try {
      secret = (await deps.readCredential(arango.jwtSecret)).trim();
    } catch (e) {
      if (e instanceof ApplicationFailure) throw e;
      throw ApplicationFailure.nonRetryable(
        `cannot read the cluster's JWT secret from ${JSON.stringify(arango.jwtSecret)}: ${(e as Error).message}`,
        'CredentialError',
      );
    }
    if (!secret)
      throw ApplicationFailure.nonRetryable(
        `the JWT secret at ${JSON.stringify(arango.jwtSecret)} is empty`,
        'CredentialError',
      );
    const waits = makeWaits(hooks());
    const client = new ArangoClient(arango, mintSuperuserJwt(secret, waits.now()), {
      waits,
      agencyRetryMs: deps.agencyRetryMs ?? 20_000,
      requestTimeoutMs: deps.requestTimeoutMs ?? 30_000,
      mapEndpoint: deps.mapEndpoint ?? ((e) => e),
    });
    try {
      return await fn(client, waits);
    } finally {
      client.close();
    }
  }

  return {
    /** Reads Plan, servers and sizes into the compact ShardPlan (prototypes with aligned clones). Read-only. */
    readShardPlan: (a: MigrationArgs): Promise<ShardPlan> => withClient(a.arango, (c) => readShardPlan(c)),

    /**
     * Writes one ArangoDB MoveShard job per move into Target/ToDo (only where Plan is still `expected` and every copy's
     * server is GOOD); finds its own job again on a retry. Supervision runs the jobs; Transit holds no lock.
     */
    submitShardMoves: (a: SubmitShardMovesArgs): Promise<{ results: SubmitShardMoveResult[] }> =>
      withClient(a.arango, (c, w) => submitShardMoves(c, a, () => w.now())),

    /** This worker's time, for the shard engine's clock (job-engine.ts, EngineClock). Touches nothing. */
    readClock: async (_a: { migrationId: string }): Promise<{ at: number }> => ({ at: hooks().now?.() ?? Date.now() }),

    /** The Plan servers of these shards (one agency read): for groups that wait on supervision. Read-only. */
    readShardServers: (a: {
      migrationId: string;
      arango: ArangoRef;
      shards: ShardKey[];
    }): Promise<{ servers: string[][] }> => withClient(a.arango, (c) => readShardServers(c, a)),

    /** Waits (heartbeating) until any/all of these jobs ended (Finished, Failed or gone); reports copy progress. */
    waitForShardMoves: (a: WaitForShardMovesArgs): Promise<WaitForShardMovesResult> =>
      withClient(a.arango, (c, w) => waitForShardMoves(c, w, a, pollMs)),

    /** Count and checksum of each group's source and target copy, each computed by its own DB server; bounded retries. */
    verifyShardCopies: (a: VerifyShardCopiesArgs): Promise<VerifyShardCopiesResult> =>
      withClient(a.arango, (c, w) => verifyShardCopies(c, w, a)),

    /**
     * Sets prototypes' replicationFactor (only from `from`, through the coordinator) and waits, heartbeating, until
     * supervision has added or removed the copies on every shard of them and their clones.
     */
    changeReplicationFactor: (a: ChangeReplicationFactorArgs): Promise<{ results: ReplicationChangeOutcome[] }> =>
      withClient(a.arango, (c, w) => changeReplicationFactor(c, w, a)),

    /** Asks supervision (cancelAgencyJob) to abort this migration's open jobs; returns those that were open. */
    cancelShardMoves: (a: MigrationArgs & { jobIds: string[] }): Promise<{ open: string[] }> =>
      withClient(a.arango, (c) => cancelShardMoves(c, a)),

    /** Appends `add` to each group's Plan (from exactly `expected`) and takes the shard lock. Idempotent. */
    addShardFollower: (a: AddShardFollowerArgs): Promise<{ results: ('added' | 'alreadyDone')[] }> =>
      withClient(a.arango, (c) => addShardFollower(c, a)),

    /** Waits (heartbeating) until any/all groups have `servers` in Current; returns what is in sync at the timeout. */
    waitForShardInSync: (a: WaitForShardInSyncArgs): Promise<WaitForShardInSyncResult> =>
      withClient(a.arango, (c, w) => waitForShardInSync(c, w, a, pollMs)),

    /** Moves leadership from → to with the resign protocol; `to` must be in sync everywhere. Idempotent. */
    moveShardLeadership: (a: MoveShardLeadershipArgs): Promise<{ results: ('moved' | 'alreadyDone')[] }> =>
      withClient(a.arango, (c, w) =>
        moveShardLeadership(c, w, a, { pollMs: Math.min(pollMs, 250), timeoutMs: deps.leaderMoveTimeoutMs ?? 120_000 }),
      ),

    /** Removes followers keeping ≥ replicationFactor in-sync copies (never the leader), and releases the lock. */
    removeShardFollower: (a: RemoveShardFollowerArgs): Promise<{ results: ('removed' | 'alreadyDone')[] }> =>
      withClient(a.arango, (c, w) =>
        removeShardFollower(c, w, a, { pollMs: Math.min(pollMs, 500), graceMs: deps.inSyncGraceMs ?? 30_000 }),
      ),

    /** Releases Transit's lock on these shards where it is still ours (abort and rollback paths). */

    checkClusterHealth: (a: { arango: ArangoRef }): Promise<ClusterHealth> =>
      withClient(a.arango, (c) => checkClusterHealth(c)),

    /** Waits until every endpoint is registered (Current/ServersRegistered) and GOOD. */
    waitForServerRegistered: (a: {
      arango: ArangoRef;
      endpoints: string[];
      timeoutSeconds: number;
    }): Promise<{ servers: RegisteredServer[] }> =>
      withClient(a.arango, (c, w) => waitForServerRegistered(c, w, a, pollMs)),

    /** Makes Target/NumberOfDBServers null or ≥ atLeast; returns (and records) what it was. Idempotent. */
    neutraliseAutoShrink: (a: { arango: ArangoRef; atLeast: number }): Promise<{ previous: AutoShrinkSetting }> =>
      withClient(a.arango, (c) => neutraliseAutoShrink(c, a.atLeast)),

    /** Puts back the numbers neutraliseAutoShrink returned (or the given ones). */
    restoreAutoShrink: (a: { arango: ArangoRef; previous: AutoShrinkSetting }): Promise<void> =>
      withClient(a.arango, (c) => restoreAutoShrink(c, a.previous)),

    /** Refuses when replacing `agentId` now would lose quorum or the agency has no stable leader. */
    checkAgentReplaceable: (a: { arango: ArangoRef; agentId: string }): Promise<void> =>
      withClient(a.arango, (c, w) => checkAgentReplaceable(c, w, a.agentId)),

    /** Waits until the agent at `endpoint` is `agentId`, in the pool at that endpoint, and caught up. */
    waitForAgentCaughtUp: (a: {
      arango: ArangoRef;
      agentId: string;
      endpoint: string;
      timeoutSeconds: number;
    }): Promise<{ commitIndex: number }> =>
      withClient(a.arango, (c, w) => waitForAgentCaughtUp(c, w, a, Math.min(pollMs, 500))),

    /** removeServer for a server in no Plan/Current shard list (else InvariantViolationError). */
    removeServer: (a: { arango: ArangoRef; serverId: string }): Promise<'removed' | 'alreadyGone'> =>
      withClient(a.arango, (c) => removeServer(c, a.serverId)),

    /** Plan equals Current for every shard, no job pending, no Transit lock, `mustNotHold` servers hold nothing. */
    verifyConvergence: (a: { arango: ArangoRef; mustNotHold?: string[] }): Promise<{ shards: number; ok: true }> =>
      withClient(a.arango, (c) => verifyConvergence(c, a.mustNotHold)),
  };
}

export type AgencyActivities = ReturnType<typeof createAgencyActivities>;
