/**
 * MigrationState: everything the workflow knows, carried whole across continue-as-new. The workflow only
 * advances it; progress, ETA, the plan view, pause points and rollback all read it. Pure: no I/O, no Temporal.
 */
import type { DeploymentInventory, DnsRecordValue, MemberInfo } from '../activities/contract';
import type { ShardPlan } from '../activities/agency-types';
import type { MigrationSpec } from '../spec/schema';
import type { ClientLatencyStatus } from './latency';
import {
  PHASES,
  POINT_OF_NO_RETURN,
  probeRegionsText,
  type LatencySample,
  type MigrationPhase,
  type MigrationPlanView,
  type MigrationProgress,
  type MigrationReport,
  type MigrationStatus,
  type PhaseLabel,
  type PhaseTiming,
  type Timeline,
} from '../shared/types';
import { groupShardCount, indexPlan, totals } from './plan';

/** Per shard group: 0 pending → 1 followerAdded → 2 inSync → 3 leaderMoved → 4 sourceRemoved (done). */
export const STEP = { pending: 0, followerAdded: 1, inSync: 2, leaderMoved: 3, done: 4 } as const;

/** One run of the shard engine: forward (to the target) or backward (a rollback, back to the source). */
export interface ShardRun {
  direction: 'forward' | 'backward';
  /** policy.latency: what the controller's cap bounds in this run (LATENCY_COPIES_PATCH), for progress and status. */
  latencyCapOn?: 'copies' | 'moves';
  /**
   * Plan as read when this run began (the `from` servers of every group); null when it equals the state's
   * `plan`, so a 10,000-shard plan is not carried twice across continue-as-new. The servers each group must
   * end on are derived from it (deterministically), not stored.
   */
  plan: ShardPlan | null;
  steps: number[];
  /** Bytes copied so far for in-flight groups (group → bytes), for progress. */
  copied: Record<number, number>;
  /** When each in-flight group started (workflow time, ms), to enforce timeouts.shardSyncSeconds. */
  startedAt: Record<number, number>;
  /**
   * Which engine moves this run: 'jobs' = ArangoDB MoveShard jobs (runs started since the moveshard-jobs patch;
   * steps are then 0 pending, 1 moving, 4 done); absent = the lock-holding engine of earlier releases.
   */
  engine?: 'jobs';
  /** jobs engine: the state of each moving group (removed when it is done). */
  moving?: Record<number, GroupMove>;
  /** jobs engine since patch 'verify-before-remove': groups compared before their last source copy went. */
  verification?: RunVerification;
  /** Copies in flight that keep copying while a pause waits for them (0 or absent: none). */
  finishing?: number;
  /**
   * Patch 'raise-rf1-to-verify': Plan servers of groups whose collection Transit raised after this run's Plan was
   * read (supervision added a follower), until the group starts (group → servers, leader first).
   */
  planned?: Record<number, string[]>;
}

/**
 * A collection whose replicationFactor Transit raised so that its shards can be verified before their only source
 * copy goes (patch 'raise-rf1-to-verify'). Recorded before the change is asked for, removed once it is undone, so
 * a new run (after continue-as-new, a rollback or an abort) finds and restores it.
 */
export interface RaisedCollection {
  database: string;
  /** The prototype; its distributeShardsLike clones follow it. */
  collectionId: string;
  name: string;
  /** The user's replicationFactor (restored afterwards) and Transit's temporary one. */
  original: number;
  raised: number;
  /** 'raising': supervision has not added every copy yet; 'raised': it has; 'restoring': set back, copies going. */
  phase: 'raising' | 'raised' | 'restoring';
  /** changeReplicationFactor calls that came back 'waiting' in a row (bounded: then the migration parks). */
  waits: number;
}

/** What the verification of a run found (counts survive the groups; the times are the last VERIFY_SAMPLES). */
export interface RunVerification {
  verifiedGroups: number;
  verifiedShards: number;
  /** Shards whose group had no target copy to compare with before the move (replicationFactor 1). */
  unverifiedShards: number;
  /** Wall time of each group's check (ms), newest last. */
  ms: number[];
  /**
   * Bytes of the temporary copies supervision makes for raised collections (one per group: patch
   * 'raise-rf1-to-verify'), planned and copied: counted in progress as bytes to move, since they are moved.
   */
  extraBytes?: number;
  extraBytesDone?: number;
}

/** A moving group of the jobs engine: one MoveShard job at a time, until its servers are the desired ones. */
export interface GroupMove {
  /** The job in flight (an agency job id), or null between jobs. */
  job: string | null;
  /** The move the job carries out. */
  from: string;
  to: string;
  leader: boolean;
  /** The group's Plan servers as last seen (leader first). */
  servers: string[];
  /** Moves finished, and moves the group needs in all (new copies). */
  done: number;
  total: number;
  /** Jobs of this group that failed in a row (aborted by failover, refused …), and the last reason. */
  failures: number;
  reason?: string;
  /** Workflow time (ms) before which no new job is submitted (back-off after a failed job). */
  notBefore?: number;
  /** Workflow time (ms) since which the group's leader is seen FAILED without ArangoDB failing it over. */
  leaderFailedSince?: number;
  /** Compared (and how) before leadership left the source or its last source copy went; or why it could not be. */
  verified?: { ms: number; attempts: number; documents: number; source: string; target: string } | 'unverifiable';
  /** The job in flight is a leader swap to a follower (copies nothing). */
  swap?: boolean;
  /** The job in flight's new copy is in sync in Current (LATENCY_SYNCED_PATCH): it loads no link any more. */
  synced?: boolean;
  /** Workflow time (ms) since which the group waits on supervision (a copy too few or too many in Plan). */
  waitingSince?: number;
}

export interface MigrationState {
  migrationId: string;
  spec: MigrationSpec;
  run: number;
  phase: MigrationPhase;
  status: MigrationStatus;
  label: PhaseLabel;
  direction: 'forward' | 'backward';
  completedPhases: MigrationPhase[];
  phaseTimings: PhaseTiming[];
  inventory: DeploymentInventory | null;
  targetMembers: MemberInfo[];
  targetServerIds: string[];
  /** The Plan as read in the Plan phase: where every shard started. */
  plan: ShardPlan | null;
  shards: ShardRun | null;
  agents: { id: string; side: 'source' | 'target'; member: MemberInfo }[];
  autoShrinkPrevious: { numberOfDBServers: number | null; numberOfCoordinators: number | null } | null;
  dns: {
    before: DnsRecordValue | null;
    targetValues: string[] | null;
    targetUrl: string | null;
    switched: boolean;
    ttlLowered: boolean;
  };
  bridge: boolean;
  latency: LatencySample[];
  /** Collections whose replicationFactor Transit raised for verification and has not restored yet. */
  raisedReplication?: RaisedCollection[];
  /** policy.latency (patch 'latency-cap'): the controller's state, the canary's keys, the probes' last window. */
  clientLatency?: ClientLatencyStatus;
  /**
   * The canary was created before MoveShards read the Plan (patch 'canary-moves'): it moves like any collection and
   * is removed when the migration ends, not when an engine run returns.
   */
  canaryInPlan?: boolean;
  concurrency: number;
  approved: boolean;
  pauseRequested: boolean;
  parked: boolean;
  abortRequested: boolean;
  rollbackRequested: boolean;
  rollbackRefusedReason: string | null;
  lastError: string | null;
  /**
   * (time ms, bytes done, shard groups done) samples for the ETA, newest last, at most ETA_SAMPLES; states carried
   * from before groups were sampled hold (time, bytes) pairs.
   */
  etaSamples: ([number, number] | [number, number, number])[];
  /** Progress and ETA over time (recordTimeline), bounded; absent in states carried from before it was kept. */
  timeline?: Timeline;
  bytesMovedTotal: number;
  /** Tests force continue-as-new after this many history events (0 = only when the server suggests it). */
  continueAsNewAfterEvents: number;
}

export const ETA_SAMPLES = 20;

/** The timeline's byte cap (JSON of its samples) and its first sampling interval. */
export const TIMELINE_BYTES = 256 * 1024;
export const TIMELINE_FIRST_EVERY_MS = 5000;

/**
 * Adds a sample to the timeline when `everyMs` has passed since the last one, or when the run has just finished
 * (the moment the ETA reached zero is the actual end the predictions are judged by). Over TIMELINE_BYTES, every
 * other sample goes (the first and the last stay) and the interval doubles. Pure state: no command, so no patch.
 */
export function recordTimeline(
  s: MigrationState,
  now: number,
  /** Every group of the run done (sampleEta has just counted them; otherwise counted here). */
  finished = !!s.shards && s.shards.steps.every((x) => x === STEP.done),
): void {
  const tl = (s.timeline ??= { everyMs: TIMELINE_FIRST_EVERY_MS, bytes: 2, samples: [] });
  const last = tl.samples.at(-1);
  const direction = s.shards?.direction === 'backward' ? 1 : 0;
  const lastFinished = !!last && last[1]! >= last[2]! && last[3]! >= last[4]! && last[9] === direction;
  if (last && now - last[0]! < tl.everyMs && !(finished && !lastFinished)) return;
  if (last && finished && lastFinished) return;
  const p = shardProgress(s);
  const eta = etaSeconds(s, p);
  const band = etaBand(s, p);
  const x = [
    now,
    p.bytesDone,
    p.bytesTotal,
    p.shardsDone,
    p.shardsTotal,
    p.inFlight,
    eta ?? -1,
    band?.p50Seconds ?? -1,
    band?.p90Seconds ?? -1,
    direction,
  ];
  tl.samples.push(x);
  tl.bytes += JSON.stringify(x).length + (tl.samples.length > 1 ? 1 : 0);
  while (tl.bytes > TIMELINE_BYTES && tl.samples.length > 2) {
    const kept = tl.samples.filter((_, i) => i % 2 === 0 || i === tl.samples.length - 1);
    tl.samples = kept;
    tl.everyMs *= 2;
    tl.bytes = JSON.stringify(kept).length;
  }
}

/** The plan the current shard run started from. */
export function runPlan(s: MigrationState): ShardPlan {
  const p = s.shards?.plan ?? s.plan;
  if (!p) throw new Error('no shard plan yet');
  return p;
}

export function initialState(migrationId: string, spec: MigrationSpec, continueAsNewAfterEvents = 0): MigrationState {
  return {
    migrationId,
    spec,
    run: 1,
    phase: 'Validate',
    status: 'running',
    label: 'Validate',
    direction: 'forward',
    completedPhases: [],
    phaseTimings: [],
    inventory: null,
    targetMembers: [],
    targetServerIds: [],
    plan: null,
    shards: null,
    agents: [],
    autoShrinkPrevious: null,
    dns: { before: null, targetValues: null, targetUrl: null, switched: false, ttlLowered: false },
    bridge: false,
    latency: [],
    concurrency: spec.policy.maxConcurrentShardMoves,
    approved: !spec.policy.requireApproval,
    pauseRequested: false,
    parked: false,
    abortRequested: false,
    rollbackRequested: false,
    rollbackRefusedReason: null,
    lastError: null,
    etaSamples: [],
    bytesMovedTotal: 0,
    continueAsNewAfterEvents,
  };
}

export function nextPhase(p: MigrationPhase, requireApproval: boolean): MigrationPhase | null {
  const i = PHASES.indexOf(p);
  let n = PHASES[i + 1] ?? null;
  if (n === 'AwaitApproval' && !requireApproval) n = PHASES[i + 2] ?? null;
  return n;
}

export function isBeyondPointOfNoReturn(s: MigrationState): boolean {
  return PHASES.indexOf(s.phase) >= PHASES.indexOf(POINT_OF_NO_RETURN) && s.direction === 'forward';
}

/** Shard progress of the current run (or of the finished forward run). */
export function shardProgress(s: MigrationState): {
  groupsDone: number;
  groups: number;
  shardsDone: number;
  shardsTotal: number;
  inFlight: number;
  bytesDone: number;
  bytesTotal: number;
} {
  const run = s.shards;
  if (!run) {
    const t = s.plan ? totals(indexPlan(s.plan)) : { groups: 0, shards: 0, bytes: 0 };
    return {
      groupsDone: 0,
      groups: t.groups,
      shardsDone: 0,
      shardsTotal: t.shards,
      inFlight: 0,
      bytesDone: 0,
      bytesTotal: t.bytes,
    };
  }
  const ix = indexPlan(runPlan(s));
  let groupsDone = 0;
  let shardsDone = 0;
  let shardsTotal = 0;
  let inFlight = 0;
  let bytesDone = 0;
  let bytesTotal = 0;
  // Per collection, not per group through groupShardCount/groupBytes (a binary search each): this runs on every
  // progress publish, 100,000 groups at scale.
  ix.plan.collections.forEach((col, c) => {
    const n = 1 + col.clones.length;
    col.shards.forEach((sh, i) => {
      const b = sh[2];
      shardsTotal += n;
      bytesTotal += b;
      const st = run.steps[ix.offsets[c]! + i]!;
      if (st === STEP.done) {
        groupsDone++;
        shardsDone += n;
        bytesDone += b;
      } else if (st > STEP.pending) {
        inFlight++;
        bytesDone += st >= STEP.inSync ? b : Math.min(b, run.copied[ix.offsets[c]! + i] ?? 0);
      }
    });
  });
  // The temporary copies of raised replicationFactor-1 collections are bytes moved too.
  bytesTotal += run.verification?.extraBytes ?? 0;
  bytesDone += run.verification?.extraBytesDone ?? 0;
  return { groupsDone, groups: ix.count, shardsDone, shardsTotal, inFlight, bytesDone, bytesTotal };
}

/** Verification figures of the current run: shards verified, not verifiable, and the cost per group (ms). */
export function verificationOf(s: MigrationState): {
  shardsVerified: number;
  shardsUnverified: number;
  groupsVerified: number;
  medianMs: number | null;
  maxMs: number | null;
  extraCopyBytes?: number;
  raisedCollections?: string[];
} | null {
  const v = s.shards?.verification;
  if (!v) return null;
  const xs = [...v.ms].sort((a, b) => a - b);
  const raised = s.raisedReplication ?? [];
  return {
    shardsVerified: v.verifiedShards,
    shardsUnverified: v.unverifiedShards,
    groupsVerified: v.verifiedGroups,
    medianMs: xs.length ? xs[Math.floor(xs.length / 2)]! : null,
    maxMs: xs.length ? xs[xs.length - 1]! : null,
    ...(v.extraBytes ? { extraCopyBytes: v.extraBytes } : {}),
    ...(raised.length ? { raisedCollections: raised.map((r) => `${r.database}/${r.name}`) } : {}),
  };
}

/** The status as a person reads it: "paused — 5 copies finishing" while a pause waits for copies in flight. */
export function statusText(s: MigrationState): string {
  const n = s.shards?.finishing ?? 0;
  if (s.pauseRequested && !s.parked && n > 0) return `paused — ${n} ${n === 1 ? 'copy' : 'copies'} finishing`;
  return s.pauseRequested && !s.parked ? `${s.status} (pause requested)` : s.status;
}

/**
 * The rate of one quantity over a stretch of samples (per second), from index i to j: column 1 bytes done, column 2
 * shard groups done (samples recorded before groups were sampled have none: null).
 */
function rateOf(xs: MigrationState['etaSamples'], i: number, j: number, col: 1 | 2): number | null {
  const a = xs[i]!;
  const b = xs[j]!;
  if (b[0] <= a[0] || a[col] === undefined || b[col] === undefined) return null;
  return ((b[col]! - a[col]!) * 1000) / (b[0] - a[0]);
}

/**
 * ETA from this run's recent rates: the bytes still to copy at the byte rate, and the shard groups still to finish
 * at the group rate — the later of the two. Bytes alone ran 30–50 % early when MoveShard jobs, not links, are the
 * limit (`npm run bench`'s ETA table: a group's bytes are in sync long before its leader switch and last job end).
 * Falls back to the planned bandwidth when there is no rate yet.
 */
export function etaSeconds(s: MigrationState, p = shardProgress(s)): number | null {
  const remaining = p.bytesTotal - p.bytesDone;
  const groupsLeft = p.groups - p.groupsDone;
  if (s.phase !== 'MoveShards' && s.status !== 'rollingBack') return null;
  if (remaining <= 0 && groupsLeft <= 0) return 0;
  const xs = s.etaSamples;
  if (xs.length >= 2) {
    const last = xs.length - 1;
    const byBytes = etaFrom(remaining, rateOf(xs, 0, last, 1));
    const byGroups = etaFrom(groupsLeft, rateOf(xs, 0, last, 2));
    const eta = laterOf(byBytes, byGroups);
    if (eta !== null && Number.isFinite(eta)) return Math.round(eta);
  }
  const bw = s.spec.policy.bandwidthBytesPerSecond;
  const servers = Math.max(1, s.targetServerIds.length);
  return bw ? Math.round(Math.max(0, remaining) / (bw * servers)) : null;
}

/** Seconds for `left` at `rate`: 0 with nothing left, null without a rate, Infinity at a rate of zero. */
function etaFrom(left: number, rate: number | null): number | null {
  if (left <= 0) return 0;
  if (rate === null) return null;
  return rate > 0 ? left / rate : Infinity;
}

function laterOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/**
 * The ETA band from this run's samples (etaSamples, the last ETA_SAMPLES): the rates over every window spanning half
 * the samples — of bytes and of shard groups done; for each, P50 from the median rate, P90 from the 10th-percentile
 * rate (null when that window moved nothing); the band takes the later of the two at each quantile (etaSeconds).
 * Copy progress arrives in bursts, so windows, not single intervals. Null before 4 samples.
 */
export function etaBand(
  s: MigrationState,
  p = shardProgress(s),
): { p50Seconds: number; p90Seconds: number | null } | null {
  if (s.phase !== 'MoveShards' && s.status !== 'rollingBack') return null;
  const remaining = p.bytesTotal - p.bytesDone;
  const groupsLeft = p.groups - p.groupsDone;
  if (remaining <= 0 && groupsLeft <= 0) return { p50Seconds: 0, p90Seconds: 0 };
  const xs = s.etaSamples;
  if (xs.length < 4) return null;
  const w = Math.floor(xs.length / 2);
  const band = (col: 1 | 2, left: number): { p50: number | null; p90: number | null } | null => {
    const rates: number[] = [];
    for (let i = 0; i + w < xs.length; i++) {
      const r = rateOf(xs, i, i + w, col);
      if (r !== null) rates.push(r);
    }
    if (!rates.length) return null;
    if (left <= 0) return { p50: 0, p90: 0 };
    rates.sort((a, b) => a - b);
    const median = rates[Math.floor((rates.length - 1) / 2)]!;
    const slow = rates[Math.floor((rates.length - 1) * 0.1)]!;
    return { p50: median > 0 ? left / median : null, p90: slow > 0 ? left / slow : null };
  };
  const b = band(1, remaining);
  const g = band(2, groupsLeft);
  if (!b && !g) return null;
  const parts = [b, g].filter((x): x is { p50: number | null; p90: number | null } => x !== null);
  // A quantity whose median window moved nothing (groups finishing slower than a window) cannot set the P50; it
  // still makes the P90 unknown.
  const known = parts.filter((x) => x.p50 !== null);
  if (!known.length) return null;
  const p50 = Math.max(...known.map((x) => x.p50!));
  const p90 = parts.some((x) => x.p90 === null) ? null : Math.max(...parts.map((x) => x.p90!));
  return { p50Seconds: Math.round(p50), p90Seconds: p90 === null ? null : Math.round(p90) };
}

export function progressOf(s: MigrationState): MigrationProgress {
  const p = shardProgress(s);
  return {
    migrationId: s.migrationId,
    phase: s.phase,
    label: s.label,
    status: s.status,
    direction: s.direction,
    paused: s.parked,
    pauseRequested: s.pauseRequested,
    shardsDone: p.shardsDone,
    shardsTotal: p.shardsTotal,
    shardsInFlight: p.inFlight,
    bytesDone: p.bytesDone,
    bytesTotal: p.bytesTotal,
    agentsMoved: s.agents.filter((a) => a.side === 'target').length,
    agentsTotal: s.agents.length,
    etaSeconds: etaSeconds(s, p),
    etaBand: etaBand(s, p),
    concurrency: s.concurrency,
    phaseTimings: s.phaseTimings,
    lastError: s.lastError,
    rollbackRefusedReason: s.rollbackRefusedReason,
    approved: s.approved,
    latency: s.latency,
    run: s.run,
    statusText: statusText(s),
    copiesFinishing: s.pauseRequested && !s.parked ? (s.shards?.finishing ?? 0) : 0,
    ...(verificationOf(s) ? { verification: verificationOf(s)! } : {}),
    ...(clientLatencyOf(s) ? { clientLatency: clientLatencyOf(s)! } : {}),
  };
}

/** The client-latency controller as progress shows it (policy.latency and a controller that has started). */
function clientLatencyOf(s: MigrationState): MigrationProgress['clientLatency'] | null {
  const c = s.clientLatency;
  const objective = s.spec.policy.latency;
  if (!c || !objective) return null;
  return {
    cap: Math.max(1, Math.min(c.control.cap, s.concurrency)),
    objectiveMs: objective.p99Ms,
    p99Ms: c.last?.p99Ms ?? c.control.lastP99Ms,
    p50Ms: c.last?.p50Ms ?? null,
    samples: c.control.lastSamples,
    action: c.control.lastAction,
    reason: c.control.reason,
    ...(s.shards?.latencyCapOn ? { capOn: s.shards.latencyCapOn } : {}),
    ...(c.last?.regions
      ? {
          regions: c.last.regions.map((r) => ({
            region: r.region,
            p99Ms: r.p99Ms,
            samples: r.samples,
            ...(r.problem ? { problem: r.problem } : {}),
          })),
        }
      : {}),
  };
}

export function planView(s: MigrationState): MigrationPlanView | null {
  if (!s.plan || !s.inventory) return null;
  const t = totals(indexPlan(s.plan));
  const roles = ['agent', 'dbserver', 'coordinator'] as const;
  const members = roles.map((role) => ({
    role,
    source: s.inventory!.members.filter((m) => m.role === role).map((m) => m.podName),
    target:
      role === 'agent'
        ? s.inventory!.members.filter((m) => m.role === role).map((m) => `${m.podName} (same ID, moved)`)
        : s.inventory!.members.filter((m) => m.role === role).map((m) => targetMemberName(m.podName)),
  }));
  const sp = s.spec;
  const steps = [
    `bridge networks (${sp.network.mode}) between ${sp.source.context} and ${sp.target.context}`,
    `provision ${members[1]!.target.length} DB servers and ${members[2]!.target.length} coordinators in ${sp.target.context}/${sp.target.namespace}`,
    `move ${t.groups} shard groups (${t.shards} shards, ${t.bytes} bytes) to the target DB servers, at most ${s.concurrency} at once`,
    `move ${members[0]!.source.length} agents one at a time, keeping quorum`,
    `switch DNS ${sp.dns.name} from ${s.dns.before?.values.join(',') ?? '(current value)'} to the target coordinators, then wait for propagation`,
    `drain the source coordinators`,
    `decommission the source members (point of no return) and remove the bridge`,
  ];
  return {
    migrationId: s.migrationId,
    source: { context: sp.source.context, region: sp.source.region, namespace: sp.source.namespace },
    target: { context: sp.target.context, region: sp.target.region, namespace: sp.target.namespace },
    networkMode: sp.network.mode,
    phases: PHASES.filter((p) => p !== 'AwaitApproval' || sp.policy.requireApproval),
    members,
    shardGroups: t.groups,
    shards: t.shards,
    bytes: t.bytes,
    databases: t.databases,
    collections: t.collections,
    steps,
  };
}

/** Target members are named after their source member with a "-t" suffix, so both can coexist. */
export function targetMemberName(sourcePodName: string): string {
  return `${sourcePodName}-t`;
}

export function reportOf(s: MigrationState, summary: string, workflowId?: string): MigrationReport {
  let onSource = 0;
  let onTarget = 0;
  let total = 0;
  const run = s.shards;
  if (run) {
    const ix = indexPlan(runPlan(s));
    // A forward run moves groups to the target; a backward run (rollback) moves them back to the source.
    for (let g = 0; g < ix.count; g++) {
      const n = groupShardCount(ix, g);
      total += n;
      const done = run.steps[g] === STEP.done;
      const pending = run.steps[g] === STEP.pending;
      if (run.direction === 'forward' ? done : pending) onTarget += n;
      else if (run.direction === 'forward' ? pending : done) onSource += n;
    }
  } else if (s.plan) {
    total = totals(indexPlan(s.plan)).shards;
    onSource = total;
  }
  const phaseSeconds: Record<string, number> = {};
  for (const t of s.phaseTimings) phaseSeconds[t.phase] = (phaseSeconds[t.phase] ?? 0) + (t.seconds ?? 0);
  return {
    migrationId: s.migrationId,
    status: s.status,
    phase: s.phase,
    shardsOnSource: onSource,
    shardsOnTarget: onTarget,
    shardsMoving: total - onSource - onTarget,
    shardsTotal: total,
    bytesMoved: s.bytesMovedTotal,
    agentsOnTarget: s.agents.filter((a) => a.side === 'target').length,
    agentsTotal: s.agents.length,
    dnsValues: s.dns.switched ? (s.dns.targetValues ?? []) : (s.dns.before?.values ?? []),
    bridgePresent: s.bridge,
    targetMembersPresent: s.targetMembers.length > 0,
    phaseSeconds,
    latency: s.latency,
    lastError: s.lastError,
    summary,
    ...(workflowId ? { reportCommand: `transit report ${workflowId} --out ${s.migrationId}.html` } : {}),
    ...(s.timeline ? { timeline: s.timeline } : {}),
  };
}

/** The markdown the Web UI shows as "Current Details". */
export function currentDetailsMarkdown(s: MigrationState): string {
  const p = progressOf(s);
  const pct = (a: number, b: number) => (b ? `${Math.floor((100 * a) / b)}%` : '–');
  // Lists, not tables: the Web UI's Markdown renderer runs table cells together ("Agents moved0 / 3").
  const item = (name: string, value: string) => `- **${name}:** ${value}`;
  const lines = [
    `## Transit migration \`${s.spec.deployment.namespace}/${s.spec.deployment.name}\``,
    `**${s.spec.source.region} (${s.spec.source.context}) → ${s.spec.target.region} (${s.spec.target.context})**, network: ${s.spec.network.mode}`,
    '',
    item('Phase', `**${s.label}**`),
    item('Status', statusText(s)),
    item(
      'Shards',
      `${p.shardsDone} / ${p.shardsTotal} (${pct(p.shardsDone, p.shardsTotal)}), in flight ${p.shardsInFlight}`,
    ),
    ...(p.verification
      ? [
          item(
            'Verified',
            `${p.verification.shardsVerified} shards (${p.verification.groupsVerified} groups compared before the source copy went${p.verification.medianMs === null ? '' : `, median ${p.verification.medianMs} ms, max ${p.verification.maxMs} ms each`})${p.verification.shardsUnverified ? `; ${p.verification.shardsUnverified} not verifiable (replicationFactor 1)` : ''}`,
          ),
        ]
      : []),
    item('Bytes', `${p.bytesDone} / ${p.bytesTotal} (${pct(p.bytesDone, p.bytesTotal)})`),
    item('Agents moved', `${p.agentsMoved} / ${p.agentsTotal}`),
    item(
      'ETA',
      `${p.etaSeconds === null ? '–' : `${p.etaSeconds} s`}${p.etaBand ? ` (P50 ${p.etaBand.p50Seconds} s, P90 ${p.etaBand.p90Seconds ?? '–'} s)` : ''}`,
    ),
    item('Concurrency', String(p.concurrency)),
    ...(p.clientLatency
      ? [
          item(
            'Client latency',
            `p99 ${p.clientLatency.p99Ms ?? '–'} ms (objective ${p.clientLatency.objectiveMs} ms, ${p.clientLatency.samples} samples); ${p.clientLatency.capOn ?? 'moves'} in flight ≤ ${p.clientLatency.cap}: ${p.clientLatency.reason}`,
          ),
          ...(p.clientLatency.regions ? [item('Probes by region', probeRegionsText(p.clientLatency.regions))] : []),
        ]
      : []),
  ];
  if (s.spec.policy.requireApproval)
    lines.push(item('Approved', s.approved ? 'yes' : 'no — send the `approve` update'));
  if (p.lastError) lines.push(item('Last error', p.lastError.slice(0, 300)));
  if (p.rollbackRefusedReason) lines.push(item('Rollback refused', p.rollbackRefusedReason));
  if (s.latency.length) {
    lines.push('', '### Version check latency', '');
    for (const l of s.latency.slice(-12))
      lines.push(`- ${l.phase}, ${l.from} → ${l.to}: p50 ${l.p50Ms} ms, p95 ${l.p95Ms} ms`);
  }
  return lines.join('\n');
}
