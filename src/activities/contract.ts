/**
 * The activities the migration workflow calls: their names, inputs and outputs. The workflow proxies exactly this
 * interface (`import type`), the worker registers an object that implements it (`createActivities`), and the
 * in-memory world used by the workflow tests implements it too.
 *
 * Inputs carry references (kube contexts, Secret names, file paths), never credential values: workflow history
 * is stored forever. Every activity is idempotent: calling it again after a lost response gives the same state.
 */
import type { MigrationSpec } from '../spec/schema';
import type { LatencySample } from '../shared/types';
import type { CanaryInfo, ClientLatencySummary, ProbeTargetRef } from './latency-probe';
import type {
  AddShardFollowerArgs,
  AutoShrinkSetting,
  ClusterHealth,
  MoveShardLeadershipArgs,
  RegisteredServer,
  RemoveShardFollowerArgs,
  WaitForShardInSyncArgs,
  WaitForShardInSyncResult,
} from './agency-types';
import type {
  ArangoRef,
  ShardKey,
  ShardPlan,
  SubmitShardMoveResult,
  SubmitShardMovesArgs,
  WaitForShardMovesArgs,
  WaitForShardMovesResult,
} from './agency-types';
import type { VerifyShardCopiesArgs, VerifyShardCopiesResult } from './agency/verify';

export type { ArangoRef, ShardKey, ShardPlan };
export type { VerifyShardCopiesArgs, VerifyShardCopiesResult };
import type { ChangeReplicationFactorArgs, ReplicationChangeOutcome } from './agency/replication';
export type { ChangeReplicationFactorArgs, ReplicationChangeOutcome };

export interface MigrationRef {
  migrationId: string;
  spec: MigrationSpec;
}

export type ServerGroup = 'agent' | 'dbserver' | 'coordinator';
export type Side = 'source' | 'target';

/** One member (pod) of the ArangoDB deployment, as read from Kubernetes. */
export interface MemberInfo {
  /** kube-arangodb member ID, e.g. "PRMR-9xztmg4t" (for agents: the agency ID). */
  id: string;
  role: ServerGroup;
  side: Side;
  podName: string;
  podIP: string | null;
  /** The endpoint the member registered in the agency, e.g. "tcp://arango-dbserver-9xztmg4t:8529". */
  endpoint: string;
  image: string;
  args: string[];
  resources?: Record<string, unknown>;
  storage?: { size: string; storageClassName?: string };
}

export interface DeploymentInventory {
  name: string;
  namespace: string;
  image: string;
  members: MemberInfo[];
  /**
   * How long the source's member pods took from creation to their first Ready (median, seconds; pods that
   * restarted since are left out): what a new member pod should take here — the rehearsal's pod start.
   */
  podStart?: { medianSeconds: number; pods: number };
}

export interface PreflightReport {
  sourcePodCIDRs: string[];
  targetPodCIDRs: string[];
  storageClass: string | null;
  warnings: string[];
}

export interface BridgeReport {
  /** Services (without selector) and their endpoints, per cluster. */
  services: { cluster: Side; name: string; endpoints: string[] }[];
  loadBalancers: { cluster: Side; name: string; address: string; ports: number }[];
}

export interface ProvisionedMember {
  name: string;
  role: ServerGroup;
  podIP: string;
  /** The endpoint the member registers with the agency. */
  endpoint: string;
}

export interface DnsRecordValue {
  name: string;
  type: string;
  values: string[];
  ttl: number;
}

export interface TransitActivities {
  // --- spec
  /** Validates the raw spec (the same schema as the CLI and client); throws a non-retryable InvalidSpecError. */
  validateSpec(a: { spec: unknown }): Promise<MigrationSpec>;

  // --- Kubernetes (src/activities/kube/)
  /** Both API servers reachable, Transit authorised, target namespace usable, CIDRs compatible. */
  preflight(a: MigrationRef): Promise<PreflightReport>;
  readSourceDeployment(a: MigrationRef): Promise<DeploymentInventory>;
  /** Create-or-update the bridge for these members: in each cluster, Services without selector toward the other. */
  bridgeNetworks(a: MigrationRef & { members: MemberInfo[] }): Promise<BridgeReport>;
  /** Create-or-get target members mirroring these source members; waits until Ready. */
  provisionTargetMembers(a: MigrationRef & { members: MemberInfo[] }): Promise<{ members: MemberInfo[] }>;
  /** The client-facing address of a side's coordinators (the value DNS points at). */
  readClientEndpoint(a: MigrationRef & { side: Side }): Promise<{ values: string[]; url: string }>;
  /** Move one agent to the other side: same ID (disaster-recovery-id), new address; old pod removed first. */
  moveAgent(a: MigrationRef & { agent: MemberInfo; to: Side }): Promise<MemberInfo>;
  removeTargetMembers(a: MigrationRef & { names: string[] }): Promise<{ removed: string[] }>;
  decommissionSourceMembers(a: MigrationRef & { names: string[] }): Promise<{ removed: string[] }>;
  /** After Decommission it also settles the end state; `members` (target, with server IDs) label the pods. */
  removeBridge(a: MigrationRef & { members?: MemberInfo[] }): Promise<{ removed: number }>;

  // --- ArangoDB agency and coordinators (src/activities/agency/)
  checkClusterHealth(a: { arango: ArangoRef }): Promise<ClusterHealth>;
  readShardPlan(a: { migrationId: string; arango: ArangoRef }): Promise<ShardPlan>;
  waitForServerRegistered(a: {
    arango: ArangoRef;
    endpoints: string[];
    timeoutSeconds: number;
  }): Promise<{ servers: RegisteredServer[] }>;
  neutraliseAutoShrink(a: { arango: ArangoRef; atLeast: number }): Promise<{ previous: AutoShrinkSetting }>;
  /** Puts back what neutraliseAutoShrink found (rollback), or the given numbers. */
  restoreAutoShrink(a: { arango: ArangoRef; previous: AutoShrinkSetting }): Promise<void>;
  /** The shard engine since the moveshard-jobs patch: ArangoDB MoveShard jobs (src/activities/agency/jobs.ts). */
  submitShardMoves(a: SubmitShardMovesArgs): Promise<{ results: SubmitShardMoveResult[] }>;
  waitForShardMoves(a: WaitForShardMovesArgs): Promise<WaitForShardMovesResult>;
  cancelShardMoves(a: { migrationId: string; arango: ArangoRef; jobIds: string[] }): Promise<{ open: string[] }>;
  /**
   * Since the engine-recorded-clock patch: this worker's time (ms since the epoch). The shard engine starts its clock
   * from it, so that no decision of the engine rests on a workflow task's time (job-engine.ts, EngineClock).
   */
  readClock(a: { migrationId: string }): Promise<{ at: number }>;
  /** Since the refresh-waiting-groups patch: the Plan servers of shards whose group waits on supervision. Read-only. */
  readShardServers(a: { migrationId: string; arango: ArangoRef; shards: ShardKey[] }): Promise<{ servers: string[][] }>;
  /**
   * Since the verify-before-remove patch: before the last source copy of a group goes, its count and checksum
   * against a target copy's, each computed by its own DB server (src/activities/agency/verify.ts). Read-only.
   */
  verifyShardCopies(a: VerifyShardCopiesArgs): Promise<VerifyShardCopiesResult>;
  /**
   * The temporary replicationFactor raise for verifying replicationFactor-1 shards (and its restore): sets the
   * prototypes' factor through the coordinator, only from `from`, and waits for supervision to add or remove the copies.
   */
  changeReplicationFactor(a: ChangeReplicationFactorArgs): Promise<{ results: ReplicationChangeOutcome[] }>;
  /** The lock-holding engine of earlier releases: kept so that migrations started before the patch replay and finish. */
  addShardFollower(a: AddShardFollowerArgs): Promise<{ results: ('added' | 'alreadyDone')[] }>;
  /** `stalled`: groups that cannot get in sync (a planned server is FAILED): the operator must decide. */
  waitForShardInSync(a: WaitForShardInSyncArgs): Promise<WaitForShardInSyncResult>;
  moveShardLeadership(a: MoveShardLeadershipArgs): Promise<{ results: ('moved' | 'alreadyDone')[] }>;
  removeShardFollower(a: RemoveShardFollowerArgs): Promise<{ results: ('removed' | 'alreadyDone')[] }>;
  checkAgentReplaceable(a: { arango: ArangoRef; agentId: string }): Promise<void>;
  waitForAgentCaughtUp(a: { arango: ArangoRef; agentId: string; endpoint: string; timeoutSeconds: number }): Promise<{
    commitIndex: number;
  }>;
  removeServer(a: { arango: ArangoRef; serverId: string }): Promise<'removed' | 'alreadyGone'>;
  verifyConvergence(a: { arango: ArangoRef; mustNotHold?: string[] }): Promise<{ shards: number; ok: true }>;

  // --- DNS (src/activities/dns/)
  readRecord(a: { dns: MigrationSpec['dns'] }): Promise<DnsRecordValue>;
  switchRecord(a: {
    dns: MigrationSpec['dns'];
    from: string[];
    to: string[];
    ttl?: number;
  }): Promise<{ changed: boolean }>;
  waitForPropagation(a: { dns: MigrationSpec['dns']; values: string[]; oldTtl: number }): Promise<{
    propagatedSeconds: number;
    ttlWaitSeconds: number;
  }>;
  restoreRecord(a: {
    dns: MigrationSpec['dns'];
    from: string[];
    to: string[];
    ttl?: number;
  }): Promise<{ changed: boolean }>;

  // --- probes (src/activities/probes.ts)
  /** "Version check" round trips between regions through the coordinators, summarised per region pair. */
  probeVersionChecks(
    a: MigrationRef & {
      phase: string;
      samples?: number;
      /** Default: the source coordinators (spec.arango.endpoint) and, if set, spec.arango.targetEndpoint. */
      targets?: { region: string; url: string; label?: string }[];
    },
  ): Promise<LatencySample[]>;

  // --- client-latency probes (src/activities/latency-probe.ts; policy.latency)
  /** Creates the canary collection (shards on every DB server, a document per shard) if missing. Idempotent. */
  ensureLatencyCanary(a: MigrationRef & { url?: string }): Promise<CanaryInfo>;
  /** Client-like reads and writes of the canary for one window; one summary (the history stays small). */
  probeClientLatency(
    a: MigrationRef & {
      keys: string[];
      windowMs: number;
      ratePerSecond?: number;
      maxOutstanding?: number;
      targets?: ProbeTargetRef[];
    },
  ): Promise<ClientLatencySummary>;
  /** Drops the canary collection. Idempotent. */
  removeLatencyCanary(a: MigrationRef & { url?: string }): Promise<{ removed: boolean }>;
}
