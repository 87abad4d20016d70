/**
 * What the report shows, read from the workflow's history alone (and, for a running migration, the `progress`
 * query): phases from the MigrationPhase search attribute upserts (Temporal's event times), steps from activity
 * events, pauses and parked time from signals and failed steps, shard and byte movement from the shard engine's
 * activity inputs and results, version-check latency from the probes' results. Payloads are decoded with the
 * project's data converter (src/codec.ts); without the key, what is not encrypted (phases, step names, times,
 * attempts) is still shown.
 */
import type { LoadedDataConverter } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { LatencySample, MigrationProgress, MigrationReport, Timeline } from '../shared/types';
import { SA_MIGRATION_PHASE } from '../shared/controls';
import { eventTimeMs, type History, type HistoryEvent } from './history';

type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

export type StepOutcome = 'completed' | 'failed' | 'timed out' | 'canceled' | 'running';

/** One activity call of the workflow: one row of the step table. */
export interface StepRow {
  /** 1-based, in the order the workflow scheduled them (across runs). */
  index: number;
  /** Run of the continue-as-new chain (1-based). */
  run: number;
  /** MigrationPhase label when the step was scheduled. */
  phase: string;
  activity: string;
  /** What the step acted on (agent, server, number of shard groups, probe phase …), when the input is readable. */
  detail: string;
  scheduledAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Temporal's attempt count of the last attempt (retries by the activity's retry policy). */
  attempts: number;
  outcome: StepOutcome;
  error: string | null;
  /** The earlier failed step this one runs again (after resume), if any. */
  retryOf: number | null;
}

/** Operator pause (signal) or parked (a step failed, the cluster was unhealthy): until resume/rollback/abort. */
export interface Hold {
  kind: 'paused' | 'parked';
  phase: string;
  start: number;
  end: number;
  /** Still holding when the history ends. */
  open: boolean;
  reason: string;
}

export interface PhaseBar {
  phase: string;
  start: number;
  end: number;
  open: boolean;
}

export interface MovePoint {
  t: number;
  /** Shards (prototypes and clones) whose Plan servers, as last reported, are all new (target) DB servers. */
  shardsOnTarget: number;
  shardsTotal: number;
  /** Bytes copied by finished moves plus the reported progress of moves in flight. */
  bytesCopied: number;
}

/** Bytes one DB server sent or received in a time bucket, as MoveShard job progress reports it. */
export interface ServerRate {
  t0: number;
  t1: number;
  server: string;
  direction: 'send' | 'receive';
  bytesPerSecond: number;
}

export interface LatencyPoint extends LatencySample {
  t: number;
}

export interface ControlEvent {
  t: number;
  kind: 'signal' | 'update';
  name: string;
  note: string;
}

export interface ReportData {
  workflowId: string;
  title: string;
  runs: number;
  /** completed, failed, continued… of the last run, or running. */
  status: string;
  startedAt: number;
  endedAt: number;
  open: boolean;
  phases: PhaseBar[];
  holds: Hold[];
  steps: StepRow[];
  moves: MovePoint[];
  rates: ServerRate[];
  /** Width of the throughput buckets (ms). */
  rateBucketMs: number;
  latency: LatencyPoint[];
  controls: ControlEvent[];
  engine: 'jobs' | 'lock' | null;
  result: MigrationReport | null;
  failure: string | null;
  live: MigrationProgress | null;
  /**
   * Progress and ETA over time: the workflow's result, else the live `timeline` query, else the state the last
   * continue-as-new carried; null in migrations started before the timeline was kept.
   */
  timeline: Timeline | null;
  /** Payloads that could not be decoded (no codec key): what is missing from the report. */
  undecodable: number;
  notes: string[];
}

interface Group {
  shards: number;
  bytes: number;
  servers: string[];
}

interface Job {
  group: string;
  from: string;
  to: string;
  bytes: number;
  copied: number;
  lastT: number;
}

/** A [t0, t1] span that moved `bytes` from one server to another, for the throughput chart. */
interface Segment {
  t0: number;
  t1: number;
  from: string;
  to: string;
  bytes: number;
}

type Any = Record<string, any>;

const PHASE_ATTRIBUTE = SA_MIGRATION_PHASE.name;

const groupId = (k: { database: string; collectionId: string; shard: string }) =>
  `${k.database}/${k.collectionId}/${k.shard}`;

/** Builds the report's data from the runs of one migration (oldest first). */
export async function extractReport(
  runs: History[],
  converter: LoadedDataConverter,
  opts: {
    workflowId?: string;
    live?: MigrationProgress | null;
    liveTimeline?: Timeline | null;
    asOf?: number;
  } = {},
): Promise<ReportData> {
  if (runs.length === 0 || !runs[0]!.events?.length) throw new Error('no history events to report on');
  let undecodable = 0;
  const decode = async (p: Payloads): Promise<Any | undefined> => {
    if (!p?.payloads?.length) return undefined;
    try {
      return await decodeFromPayloadsAtIndex<Any>(converter, 0, p.payloads);
    } catch {
      undecodable++;
      return undefined;
    }
  };
  const failureText = async (f: temporal.api.failure.v1.IFailure | null | undefined): Promise<string> => {
    if (!f) return 'unknown failure';
    try {
      const e = (await decodeOptionalFailureToOptionalError(converter, f)) as (Error & { cause?: Error }) | undefined;
      const parts: string[] = [];
      for (let x: (Error & { cause?: unknown }) | undefined = e; x && parts.length < 4; x = x.cause as typeof x)
        if (x.message && !parts.includes(x.message)) parts.push(x.message);
      return parts.join(': ') || 'unknown failure';
    } catch {
      undecodable++;
      return f.message === 'Encoded failure' ? '(encrypted failure: pass the codec key)' : (f.message ?? 'failure');
    }
  };

  const t0 = eventTimeMs(runs[0]!.events[0]);
  let label = '';
  let workflowId = opts.workflowId ?? '';
  let title = '';
  const phases: PhaseBar[] = [];
  const holds: Hold[] = [];
  const steps: StepRow[] = [];
  const controls: ControlEvent[] = [];
  const latency: LatencyPoint[] = [];
  const moves: MovePoint[] = [];
  const segments: Segment[] = [];
  const notes: string[] = [];
  let result: MigrationReport | null = null;
  let failure: string | null = null;
  let status = 'running';
  let endedAt = t0;
  let engine: ReportData['engine'] = null;
  let carriedTimeline: Timeline | null = null;

  // Shard bookkeeping: groups by prototype shard; servers of the first Plan read are the source servers.
  const groups = new Map<string, Group>();
  let sourceServers: Set<string> | null = null;
  const jobs = new Map<string, Job>();
  let bytesFinished = 0;
  const snapshot = (t: number) => {
    if (!sourceServers) return;
    let on = 0;
    let total = 0;
    for (const g of groups.values()) {
      total += g.shards;
      if (g.servers.length > 0 && g.servers.every((s) => !sourceServers!.has(s))) on += g.shards;
    }
    let inFlight = 0;
    for (const j of jobs.values()) inFlight += Math.min(j.copied, j.bytes);
    moves.push({ t, shardsOnTarget: on, shardsTotal: total, bytesCopied: bytesFinished + inFlight });
  };
  const readPlan = (plan: Any) => {
    const servers: { id: string }[] = plan.servers ?? [];
    if (!sourceServers) sourceServers = new Set(servers.map((s) => s.id));
    for (const c of plan.collections ?? []) {
      for (const [shard, idx, bytes] of c.shards ?? []) {
        groups.set(groupId({ database: c.database, collectionId: c.collectionId, shard }), {
          shards: 1 + (c.clones?.length ?? 0),
          bytes: Number(bytes) || 0,
          servers: (idx as number[]).map((i) => servers[i]?.id ?? String(i)),
        });
      }
    }
  };
  const progressJob = (j: Job, t: number, copied: number) => {
    const c = Math.min(j.bytes, Math.max(j.copied, copied));
    if (c > j.copied) segments.push({ t0: j.lastT, t1: t, from: j.from, to: j.to, bytes: c - j.copied });
    j.copied = c;
    j.lastT = t;
  };

  const openHold = (kind: Hold['kind'], t: number, reason: string) => {
    const cur = holds.at(-1);
    if (cur && cur.open) return;
    holds.push({ kind, phase: label || 'Validate', start: t, end: t, open: true, reason });
  };
  const closeHold = (t: number, kinds: Hold['kind'][]) => {
    const cur = holds.at(-1);
    if (cur && cur.open && kinds.includes(cur.kind)) {
      cur.end = t;
      cur.open = false;
    }
  };

  const setLabel = (p: temporal.api.common.v1.IPayload | null | undefined, t: number) => {
    if (!p) return;
    const value = String(defaultPayloadConverter.fromPayload(p));
    if (value === label) return;
    const last = phases.at(-1);
    if (last) {
      last.end = t;
      last.open = false;
    }
    phases.push({ phase: value, start: t, end: t, open: true });
    label = value;
  };

  for (let r = 0; r < runs.length; r++) {
    const events = runs[r]!.events ?? [];
    const byScheduled = new Map<number, StepRow>();
    const inputs = new Map<number, Any | undefined>();
    for (const e of events) {
      const t = eventTimeMs(e);
      endedAt = Math.max(endedAt, t);
      const id = Number(e.eventId);
      const a = e as HistoryEvent;
      if (a.workflowExecutionStartedEventAttributes) {
        status = 'running';
        setLabel(a.workflowExecutionStartedEventAttributes.searchAttributes?.indexedFields?.[PHASE_ATTRIBUTE], t);
        const input = await decode(a.workflowExecutionStartedEventAttributes.input);
        if (input) {
          workflowId ||= String(input.migrationId ?? '');
          const sp = input.spec ?? input.state?.spec;
          if (sp?.deployment && !title)
            title = `${sp.deployment.namespace}/${sp.deployment.name}: ${sp.source?.region} (${sp.source?.context}) → ${sp.target?.region} (${sp.target?.context})`;
          // A continued run carries the state: the Plan it started from (so a chain's later run alone still charts).
          if (input.state?.plan && !sourceServers) readPlan(input.state.plan);
          if (input.state?.timeline?.samples) carriedTimeline = input.state.timeline as Timeline;
        }
      } else if (a.upsertWorkflowSearchAttributesEventAttributes) {
        setLabel(a.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields?.[PHASE_ATTRIBUTE], t);
      } else if (a.activityTaskScheduledEventAttributes) {
        const at = a.activityTaskScheduledEventAttributes;
        const input = await decode(at.input);
        const activity = at.activityType?.name ?? '?';
        if (typeof input?.migrationId === 'string') workflowId ||= input.migrationId;
        const row: StepRow = {
          index: steps.length + 1,
          run: r + 1,
          phase: label,
          activity,
          detail: stepDetail(activity, input),
          scheduledAt: t,
          startedAt: null,
          endedAt: null,
          attempts: 0,
          outcome: 'running',
          error: null,
          retryOf: null,
        };
        const failed = [...steps]
          .reverse()
          .find((s) => s.outcome !== 'completed' && s.outcome !== 'running' && s.activity === activity);
        if (failed && failed.detail === row.detail && !steps.some((s) => s.retryOf === failed.index))
          row.retryOf = failed.index;
        steps.push(row);
        byScheduled.set(id, row);
        inputs.set(id, input);
        // A parked workflow schedules nothing: a new step means it was resumed.
        closeHold(t, ['parked']);
      } else if (a.activityTaskStartedEventAttributes) {
        const row = byScheduled.get(Number(a.activityTaskStartedEventAttributes.scheduledEventId));
        if (row) {
          row.startedAt = t;
          row.attempts = a.activityTaskStartedEventAttributes.attempt ?? 1;
        }
      } else if (a.activityTaskCompletedEventAttributes) {
        const sid = Number(a.activityTaskCompletedEventAttributes.scheduledEventId);
        const row = byScheduled.get(sid);
        if (!row) continue;
        row.endedAt = t;
        row.outcome = 'completed';
        const out = await decode(a.activityTaskCompletedEventAttributes.result);
        const input = inputs.get(sid);
        if (out === undefined) continue;
        switch (row.activity) {
          case 'readShardPlan':
            readPlan(out);
            snapshot(t);
            break;
          case 'probeVersionChecks':
            for (const l of out as unknown as LatencySample[]) latency.push({ ...l, t });
            break;
          case 'checkClusterHealth':
            if (out.healthy === false) openHold('parked', t, `cluster not healthy: ${(out.problems ?? []).join('; ')}`);
            break;
          case 'submitShardMoves': {
            engine = 'jobs';
            for (const res of out.results ?? []) {
              const m = input?.moves?.[res.index];
              if (!m || res.result !== 'submitted' || jobs.has(String(res.jobId))) continue;
              const g = groups.get(groupId(m));
              // The new copy syncs from the group's leader; a follower taking over the lead copies nothing.
              const inPlace = m.isLeader && m.remainsFollower;
              jobs.set(String(res.jobId), {
                group: groupId(m),
                from: String(m.expected?.[0] ?? m.fromServer),
                to: String(m.toServer),
                bytes: inPlace ? 0 : (g?.bytes ?? 0),
                copied: 0,
                lastT: t,
              });
            }
            break;
          }
          case 'waitForShardMoves': {
            const ids: string[] = (input?.jobs ?? []).map((j: Any) => String(j.jobId));
            for (const p of out.progress ?? []) {
              const j = jobs.get(ids[p.index]!);
              if (j) progressJob(j, t, Number(p.bytesCopied) || 0);
            }
            for (const x of out.ended ?? []) {
              const jid = ids[x.index]!;
              const j = jobs.get(jid);
              const k = input?.jobs?.[x.index];
              const g = k ? groups.get(groupId(k)) : undefined;
              if (g && Array.isArray(x.servers) && x.servers.length) g.servers = x.servers.map(String);
              if (!j) continue;
              const effective =
                x.status === 'finished' ||
                (x.status === 'gone' && !!g && g.servers.includes(j.to) && !g.servers.includes(j.from));
              if (effective) {
                progressJob(j, t, j.bytes);
                bytesFinished += j.bytes;
              }
              jobs.delete(jid);
            }
            snapshot(t);
            break;
          }
          case 'cancelShardMoves':
            break;
          case 'addShardFollower':
          case 'moveShardLeadership':
          case 'removeShardFollower': {
            engine = 'lock';
            for (const m of input?.moves ?? []) {
              const g = groups.get(groupId(m));
              if (!g) continue;
              if (row.activity === 'addShardFollower') {
                const add: string[] = (m.add ?? []).map(String);
                g.servers = [...new Set([...(m.expected ?? g.servers).map(String), ...add])];
                for (const to of add) {
                  segments.push({ t0: row.scheduledAt, t1: t, from: g.servers[0]!, to, bytes: g.bytes });
                  bytesFinished += g.bytes;
                }
              } else if (row.activity === 'moveShardLeadership') {
                g.servers = [String(m.to), ...g.servers.filter((s) => s !== String(m.to))];
              } else {
                const rm = new Set((m.remove ?? []).map(String));
                g.servers = g.servers.filter((s) => !rm.has(s));
              }
            }
            snapshot(t);
            break;
          }
        }
      } else if (
        a.activityTaskFailedEventAttributes ||
        a.activityTaskTimedOutEventAttributes ||
        a.activityTaskCanceledEventAttributes
      ) {
        const x =
          a.activityTaskFailedEventAttributes ??
          a.activityTaskTimedOutEventAttributes ??
          a.activityTaskCanceledEventAttributes!;
        const row = byScheduled.get(Number(x.scheduledEventId));
        if (!row) continue;
        row.endedAt = t;
        if (a.activityTaskCanceledEventAttributes) {
          row.outcome = 'canceled';
          row.error = 'canceled';
          continue;
        }
        row.outcome = a.activityTaskFailedEventAttributes ? 'failed' : 'timed out';
        const f = a.activityTaskFailedEventAttributes?.failure ?? a.activityTaskTimedOutEventAttributes?.failure;
        row.error = await failureText(f);
        openHold('parked', t, `${row.activity}${row.detail ? ` ${row.detail}` : ''}: ${row.error}`);
      } else if (a.workflowExecutionSignaledEventAttributes) {
        const s = a.workflowExecutionSignaledEventAttributes;
        const note = await decode(s.input);
        const name = s.signalName ?? '?';
        controls.push({ t, kind: 'signal', name, note: noteText(note) });
        if (name === 'pause') openHold('paused', t, noteText(note) || 'pause requested');
        else if (name === 'resume' || name === 'rollback' || name === 'abort') closeHold(t, ['paused', 'parked']);
      } else if (a.workflowExecutionUpdateAcceptedEventAttributes) {
        const req = a.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input;
        const args = await decode(req?.args);
        controls.push({ t, kind: 'update', name: req?.name ?? '?', note: noteText(args) });
      } else if (a.workflowExecutionCompletedEventAttributes) {
        status = 'completed';
        result = ((await decode(a.workflowExecutionCompletedEventAttributes.result)) as MigrationReport) ?? null;
        if (typeof result?.migrationId === 'string') workflowId ||= result.migrationId;
      } else if (a.workflowExecutionFailedEventAttributes) {
        status = 'failed';
        failure = await failureText(a.workflowExecutionFailedEventAttributes.failure);
      } else if (a.workflowExecutionContinuedAsNewEventAttributes) {
        status = 'continued as new';
      } else if (a.workflowExecutionTerminatedEventAttributes) {
        status = 'terminated';
        failure = `terminated: ${a.workflowExecutionTerminatedEventAttributes.reason ?? ''}`;
      } else if (a.workflowExecutionCanceledEventAttributes) {
        status = 'canceled';
      } else if (a.workflowExecutionTimedOutEventAttributes) {
        status = 'timed out';
      }
    }
  }

  const open = status === 'running' || status === 'continued as new';
  // An open history read from Temporal runs until now; an exported one until its last event.
  const end = open && opts.asOf !== undefined ? Math.max(endedAt, opts.asOf) : endedAt;
  const lastPhase = phases.at(-1);
  if (lastPhase) {
    lastPhase.end = end;
    lastPhase.open = open;
  }
  const lastHold = holds.at(-1);
  if (lastHold?.open) {
    lastHold.end = end;
    lastHold.open = open;
  }
  if (!title) title = workflowId;
  if (undecodable > 0)
    notes.push(
      `${undecodable} payloads could not be decoded (encrypted: pass --codec-key-file or set TRANSIT_CODEC_KEY_FILE): step details, shard movement, latency and the result are missing.`,
    );
  const { rates, bucketMs } = bucketRates(segments, t0, end);
  return {
    workflowId,
    title,
    runs: runs.length,
    status,
    startedAt: t0,
    endedAt: end,
    open,
    phases,
    holds,
    steps,
    moves,
    rates,
    rateBucketMs: bucketMs,
    latency,
    controls,
    engine,
    result,
    failure,
    live: opts.live ?? null,
    timeline: result?.timeline ?? opts.liveTimeline ?? carriedTimeline,
    undecodable,
    notes,
  };
}

function noteText(v: Any | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'object') return String(v);
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null && x !== '') parts.push(`${k}: ${x}`);
  return parts.join(', ');
}

function stepDetail(activity: string, input: Any | undefined): string {
  if (!input) return '';
  switch (activity) {
    case 'moveAgent':
      return `${input.agent?.id ?? '?'} → ${input.to ?? '?'}`;
    case 'checkAgentReplaceable':
    case 'waitForAgentCaughtUp':
      return String(input.agentId ?? '');
    case 'removeServer':
      return String(input.serverId ?? '');
    case 'submitShardMoves':
    case 'addShardFollower':
    case 'moveShardLeadership':
    case 'removeShardFollower':
      return `${input.moves?.length ?? 0} shard groups`;
    case 'waitForShardMoves':
      return `${input.jobs?.length ?? 0} jobs (${input.mode ?? 'any'})`;
    case 'waitForShardInSync':
      return `${input.shards?.length ?? 0} shard groups`;
    case 'cancelShardMoves':
      return `${input.jobIds?.length ?? 0} jobs`;
    case 'probeVersionChecks':
      return String(input.phase ?? '');
    case 'switchRecord':
    case 'restoreRecord':
      return `${(input.from ?? []).join(',')} → ${(input.to ?? []).join(',')}${input.ttl !== undefined ? ` (TTL ${input.ttl})` : ''}`;
    case 'readClientEndpoint':
      return String(input.side ?? '');
    case 'decommissionSourceMembers':
    case 'removeTargetMembers':
      return `${input.names?.length ?? 0} members`;
    case 'provisionTargetMembers':
    case 'bridgeNetworks':
      return input.members ? `${input.members.length} members` : '';
    case 'verifyConvergence':
      return input.mustNotHold?.length ? `not on ${input.mustNotHold.join(', ')}` : '';
    default:
      return '';
  }
}

/** Spreads every span's bytes evenly over its time and sums them per server, direction and time bucket. */
function bucketRates(segments: Segment[], t0: number, t1: number): { rates: ServerRate[]; bucketMs: number } {
  const span = Math.max(1000, t1 - t0);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].map((s) => s * 1000);
  const bucketMs = steps.find((s) => span / s <= 80) ?? 3600_000;
  const sums = new Map<string, number>();
  for (const s of segments) {
    if (s.bytes <= 0) continue;
    const a = Math.max(t0, s.t0);
    const b = Math.max(a + 1, s.t1);
    for (let k = Math.floor((a - t0) / bucketMs); t0 + k * bucketMs < b; k++) {
      const lo = Math.max(a, t0 + k * bucketMs);
      const hi = Math.min(b, t0 + (k + 1) * bucketMs);
      if (hi <= lo) continue;
      const part = (s.bytes * (hi - lo)) / (b - a);
      for (const [server, dir] of [
        [s.from, 'send'],
        [s.to, 'receive'],
      ] as const) {
        const key = `${k}\u0000${server}\u0000${dir}`;
        sums.set(key, (sums.get(key) ?? 0) + part);
      }
    }
  }
  const rates: ServerRate[] = [];
  for (const [key, bytes] of sums) {
    const [k, server, direction] = key.split('\u0000') as [string, string, 'send' | 'receive'];
    const start = t0 + Number(k) * bucketMs;
    rates.push({ t0: start, t1: start + bucketMs, server, direction, bytesPerSecond: bytes / (bucketMs / 1000) });
  }
  rates.sort((x, y) => x.t0 - y.t0 || x.server.localeCompare(y.server) || x.direction.localeCompare(y.direction));
  return { rates, bucketMs };
}
