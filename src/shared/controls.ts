/**
 * Every control of the migration workflow, declared once and imported by the workflow, the client, the CLI and
 * the tests, so that names and argument types cannot drift. The constant's name is the wire name plus its kind
 * (`pauseSignal` ↔ 'pause'); a unit test checks that rule.
 *
 * Signals are fire-and-forget and work from the Web UI's Signal dialog with one JSON payload. Updates are used
 * where the caller needs acceptance or a reason for refusal (approve, setConcurrency). Queries never change state.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { ApplicationFailure, defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { MigrationPlanView, MigrationProgress, Timeline } from './types';

/** The one task queue Transit's workers poll. */
export const TASK_QUEUE = 'transit';

/**
 * The task queue of the client-latency probes of one region (policy.latency.probeFrom "each-region"): a worker
 * started with `--region R` polls it beside its main queue; `transit worker --probe-only --region R` polls only it.
 */
export function probeTaskQueue(taskQueue: string, region: string): string {
  return `${taskQueue}-probe-${region}`;
}
/** Workflow type name, as the Web UI's Start Workflow form needs it. */
export const WORKFLOW_TYPE = 'migrationWorkflow';

/** Optional note from the operator, kept in the workflow log; all control inputs are single JSON objects. */
export interface ControlNote {
  reason?: string;
  by?: string;
}

export const pauseSignal = defineSignal<[ControlNote?]>('pause');
export const resumeSignal = defineSignal<[ControlNote?]>('resume');
export const abortSignal = defineSignal<[ControlNote?]>('abort');
export const rollbackSignal = defineSignal<[ControlNote?]>('rollback');

export interface ApproveInput extends ControlNote {}
export interface ApproveResult {
  approved: true;
  phase: string;
}
export const approveUpdate = defineUpdate<ApproveResult, [ApproveInput]>('approve');

export interface SetConcurrencyInput {
  maxConcurrentShardMoves: number;
}
export interface SetConcurrencyResult {
  previous: number;
  current: number;
}
export const setConcurrencyUpdate = defineUpdate<SetConcurrencyResult, [SetConcurrencyInput]>('setConcurrency');

/**
 * An update refused by its validator: non-retryable, the message says what was expected and what came. The Web
 * UI and `temporal workflow update` send any JSON, so validators check the shape before anything else.
 */
export function rejectUpdate(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'UpdateRejectedError');
}

/** setConcurrency's validator: exactly {"maxConcurrentShardMoves": <integer 1..1000>}. */
export function checkSetConcurrencyInput(arg: unknown): asserts arg is SetConcurrencyInput {
  const n = isMapping(arg) ? arg.maxConcurrentShardMoves : undefined;
  const extra = isMapping(arg) ? Object.keys(arg).filter((k) => k !== 'maxConcurrentShardMoves') : [];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1000 || extra.length > 0) {
    throw rejectUpdate(`setConcurrency: expected {"maxConcurrentShardMoves": <integer 1..1000>}, got ${shown(arg)}`);
  }
}

/** The optional note of signals and of approve: nothing, or {"by"?: string, "reason"?: string}. */
export function checkControlNote(control: string, arg: unknown): asserts arg is ControlNote | undefined {
  if (arg === undefined || arg === null) return;
  const ok =
    isMapping(arg) &&
    Object.entries(arg).every(([k, v]) => (k === 'by' || k === 'reason') && (v === undefined || typeof v === 'string'));
  if (!ok) throw rejectUpdate(`${control}: expected nothing or {"by"?: string, "reason"?: string}, got ${shown(arg)}`);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** What the caller sent, short (never a long string: it could be anything). */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? typeof v; // a function or symbol has no JSON
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export const progressQuery = defineQuery<MigrationProgress>('progress');
export const planQuery = defineQuery<MigrationPlanView | null>('plan');
export const timelineQuery = defineQuery<Timeline | null>('timeline');

/** Descriptions the Web UI lists next to each control (through the workflow metadata query). */
export const CONTROL_DESCRIPTIONS = {
  pause:
    'Stop at the next safe point (between shard steps); in-flight copies keep every shard safe. Input: {"reason"?}',
  resume: 'Continue after pause, or retry the step that failed. Input: {"reason"?}',
  abort:
    'Stop safely and end the migration: in-flight shard moves finish, the cluster is left consistent, and the result reports what is where. Input: {"reason"?}',
  rollback:
    'Undo back to the source, newest step first (refused from Decommission on: the point of no return). Input: {"reason"?}',
  approve: 'Let a migration that requires approval continue past AwaitApproval. Input: {"by"?, "reason"?}',
  setConcurrency: 'Change how many shard groups move at once. Input: {"maxConcurrentShardMoves": <integer 1..1000>}',
  progress: 'Phase, shards and bytes done/total, ETA, per-phase timings, last error, paused?',
  plan: 'The migration plan: members per side, shard groups, bytes, and the steps in order',
  timeline: 'Progress and ETA over time while shards move (bounded samples, for reports)',
} as const;

/** Search attributes (Keyword), registered on the server; plain text, never anything sensitive. */
export const SA_MIGRATION_PHASE = defineSearchAttributeKey('MigrationPhase', SearchAttributeType.KEYWORD);
export const SA_SOURCE_CLUSTER = defineSearchAttributeKey('SourceCluster', SearchAttributeType.KEYWORD);
export const SA_TARGET_CLUSTER = defineSearchAttributeKey('TargetCluster', SearchAttributeType.KEYWORD);
export const SA_DEPLOYMENT = defineSearchAttributeKey('Deployment', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = {
  MigrationPhase: 'Keyword',
  SourceCluster: 'Keyword',
  TargetCluster: 'Keyword',
  Deployment: 'Keyword',
} as const;

/** The workflow ID of the migration of one deployment: one running migration per deployment and target. */
export function migrationWorkflowId(spec: {
  deployment: { name: string; namespace: string };
  target: { context: string };
}): string {
  return `transit-${spec.deployment.namespace}-${spec.deployment.name}-to-${spec.target.context}`;
}
