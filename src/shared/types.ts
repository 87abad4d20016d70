/**
 * Types shared by workflow, activities, client and CLI. Pure declarations: nothing here may touch Node built-ins
 * (the workflow sandbox imports it).
 */
import type { MigrationSpec } from '../spec/schema';

/** The phases of a migration, in order. `Decommission` is the point of no return. */
export const PHASES = [
  'Validate',
  'Plan',
  'AwaitApproval',
  'BridgeNetworks',
  'ProvisionTarget',
  'MoveShards',
  'MoveAgents',
  'CutoverDNS',
  'Drain',
  'Decommission',
  'Complete',
] as const;
export type MigrationPhase = (typeof PHASES)[number];

/** The collection (in _system) the client-latency probes read and write (src/activities/latency-probe.ts). */
export const CANARY_COLLECTION = 'transit_latency_canary';

/** Rollback is allowed before this phase starts, refused once it has. */
export const POINT_OF_NO_RETURN: MigrationPhase = 'Decommission';

/** What the search attribute `MigrationPhase` shows: a phase, or how the run ended / what it is doing. */
export type PhaseLabel = MigrationPhase | 'RollingBack' | 'RolledBack' | 'Aborted' | 'Failed';

export type MigrationStatus =
  'running' | 'paused' | 'awaitingApproval' | 'rollingBack' | 'completed' | 'aborted' | 'rolledBack' | 'failed';

export type Region = string;

/** One "version check" (`GET /_api/version`) round trip summary for a region pair in one phase. */
export interface LatencySample {
  phase: string;
  from: Region;
  to: Region;
  /** What was measured, e.g. "coordinator eu → DB server us (nodeVersion)". */
  path: string;
  samples: number;
  p50Ms: number;
  p95Ms: number;
}

export interface PhaseTiming {
  phase: MigrationPhase | 'Rollback';
  startedAt: number;
  endedAt?: number;
  seconds?: number;
}

/** Returned by the `progress` query and by `transit status --json`. */
export interface MigrationProgress {
  migrationId: string;
  phase: MigrationPhase;
  label: PhaseLabel;
  status: MigrationStatus;
  direction: 'forward' | 'backward';
  paused: boolean;
  pauseRequested: boolean;
  shardsDone: number;
  shardsTotal: number;
  shardsInFlight: number;
  bytesDone: number;
  bytesTotal: number;
  agentsMoved: number;
  agentsTotal: number;
  etaSeconds: number | null;
  /**
   * The ETA as a band from this run's own throughput: P50 from the median byte rate over the recent windows, P90 from
   * their 10th-percentile rate (the slower windows); null before there are enough samples (or no rate in them).
   */
  etaBand?: { p50Seconds: number; p90Seconds: number | null } | null;
  concurrency: number;
  phaseTimings: PhaseTiming[];
  lastError: string | null;
  /** Why the last rollback request was refused, if it was. */
  rollbackRefusedReason: string | null;
  approved: boolean;
  latency: LatencySample[];
  /** How many runs (continue-as-new) the migration has used so far, this one included. */
  run: number;
  /** The status as a person reads it, e.g. "paused — 5 copies finishing" while a pause waits for copies in flight. */
  statusText?: string;
  /** Copies in flight that keep copying (and counting bytes) while a requested pause waits for them. */
  copiesFinishing?: number;
  /** Shards compared before their last source copy went (patch 'verify-before-remove'), and the cost per group. */
  verification?: {
    shardsVerified: number;
    shardsUnverified: number;
    groupsVerified: number;
    medianMs: number | null;
    maxMs: number | null;
    /**
     * policy.verifyReplicationFactorOne: bytes of the temporary second copies of replicationFactor-1 groups (the
     * price of verifying them; in bytesTotal/bytesDone too), and the collections raised right now.
     */
    extraCopyBytes?: number;
    raisedCollections?: string[];
  };
  /** policy.latency: the controller's cap, the probes' last window and why the cap last changed. */
  clientLatency?: {
    cap: number;
    /** What the cap bounds: copy jobs in flight (since LATENCY_COPIES_PATCH) or moves in flight (runs before it). */
    capOn?: 'copies' | 'moves';
    objectiveMs: number;
    p99Ms: number | null;
    p50Ms: number | null;
    samples: number;
    action: string;
    reason: string;
    /** policy.latency.probeFrom "each-region": the last window per region (the worst decides). */
    regions?: { region: string; p99Ms: number | null; samples: number; problem?: string }[];
  };
}

/** "eu p99 12 ms (240 samples), us no measurement: no probe worker answered on …" — the per-region probe windows. */
export function probeRegionsText(regions: NonNullable<MigrationProgress['clientLatency']>['regions']): string {
  return (regions ?? [])
    .map((r) =>
      r.problem
        ? `${r.region} no measurement: ${r.problem}`
        : `${r.region} p99 ${r.p99Ms ?? '–'} ms (${r.samples} samples)`,
    )
    .join('; ');
}

/** Returned by the `plan` query and by `transit plan`. */
export interface MigrationPlanView {
  migrationId: string;
  source: { context: string; region: string; namespace: string };
  target: { context: string; region: string; namespace: string };
  networkMode: MigrationSpec['network']['mode'];
  phases: MigrationPhase[];
  members: { role: string; source: string[]; target: string[] }[];
  shardGroups: number;
  shards: number;
  bytes: number;
  databases: number;
  collections: number;
  /** One sentence per step, sorted, as a dry run would perform them. */
  steps: string[];
}

/** What a finished (completed, aborted, rolled back) migration reports: what is where. */
/**
 * The run's timeline (MigrationState.timeline, in the result and the `timeline` query): one sample at most every
 * `everyMs` while shards move, forward or back; its JSON stays under TIMELINE_BYTES (256 KB) however long the
 * migration and however many shards — when full, every other sample goes and `everyMs` doubles. Carried across
 * continue-as-new with the state.
 */
export interface Timeline {
  everyMs: number;
  /** JSON bytes of `samples`. */
  bytes: number;
  /**
   * [time ms, bytes done, bytes total, shards done, shards total, moves in flight, ETA s, ETA P50 s, ETA P90 s,
   * direction]: -1 where the ETA (or its band) was not known yet; direction 0 forward, 1 back (rollback).
   */
  samples: number[][];
}

export const TIMELINE_FIELDS = [
  't',
  'bytesDone',
  'bytesTotal',
  'shardsDone',
  'shardsTotal',
  'inFlight',
  'eta',
  'etaP50',
  'etaP90',
  'direction',
] as const;

export interface MigrationReport {
  migrationId: string;
  status: MigrationStatus;
  phase: MigrationPhase;
  shardsOnSource: number;
  shardsOnTarget: number;
  /** Shards in the middle of a move (extra copies on both sides; consistent and safe). */
  shardsMoving: number;
  shardsTotal: number;
  bytesMoved: number;
  agentsOnTarget: number;
  agentsTotal: number;
  dnsValues: string[];
  bridgePresent: boolean;
  targetMembersPresent: boolean;
  phaseSeconds: Record<string, number>;
  latency: LatencySample[];
  lastError: string | null;
  summary: string;
  /** The command that writes this migration's HTML report (phases, moves, throughput, version checks, steps). */
  reportCommand?: string;
  /** The run's timeline of progress and ETA samples (absent in migrations started before it was kept). */
  timeline?: Timeline;
}
