/**
 * Workflow histories for the report: from Temporal (every run of a continue-as-new chain, oldest first) or from
 * exported history JSON (proto3 JSON of temporal.api.history.v1.History, as `temporal workflow show --output json`
 * and the Web UI's download write it, and as test/histories/ holds them).
 *
 * The JSON is read with the protojson of the protobufjs copy that @temporalio/proto is built with: in this install
 * @temporalio/common's historyFromJSON throws "type must be a Type" (two protobufjs copies; see
 * test/histories/history-json.ts). Enum values written in PascalCase (older tools: "WorkflowExecutionStarted")
 * are normalised to their constant names first, as the SDK's historyFromJSON does.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';

export type History = proto.temporal.api.history.v1.IHistory;
export type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const fromProto = createRequire(require.resolve('@temporalio/proto'));
const protojson = fromProto('protobufjs/ext/protojson') as {
  fromJson(type: unknown, json: unknown, options?: object): unknown;
};
const historyType = (proto as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

const ENUM_FIELDS: [string, string][] = [
  ['eventType', 'EVENT_TYPE'],
  ['kind', 'TASK_QUEUE_KIND'],
  ['initiator', 'CONTINUE_AS_NEW_INITIATOR'],
  ['retryState', 'RETRY_STATE'],
  ['parentClosePolicy', 'PARENT_CLOSE_POLICY'],
  ['workflowIdReusePolicy', 'WORKFLOW_ID_REUSE_POLICY'],
];

function constantCase(value: string, prefix: string): string {
  if (value.startsWith(prefix)) return value;
  return `${prefix}_${value.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** PascalCase enum values (e.g. "ActivityTaskScheduled") → constant names ("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"). */
function normaliseEnums(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normaliseEnums);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const e = ENUM_FIELDS.find(([f]) => f === k);
    out[k] = e && typeof x === 'string' ? constantCase(x, e[1]) : normaliseEnums(x);
  }
  return out;
}

/** One exported history (parsed JSON) as a History message; throws TypeError when it is not one. */
export function historyFromJson(json: unknown): History {
  const h = json as { events?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(h.events))
    throw new TypeError('not a workflow history: expected an object with an array of events');
  const loaded = protojson.fromJson(historyType, normaliseEnums(json), { ignoreUnknownFields: true });
  if (!loaded) throw new TypeError('not a workflow history');
  return loaded as History;
}

/** Reads exported history files (one per run of a continue-as-new chain, in any order; sorted oldest first). */
export function readHistoryFiles(paths: string[]): History[] {
  const runs = paths.map((p) => {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (e) {
      throw new Error(`${p}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      return historyFromJson(JSON.parse(text));
    } catch (e) {
      throw new Error(`${p}: ${(e as Error).message}`);
    }
  });
  return orderRuns(runs);
}

/** Runs of one chain oldest first (runs of a continue-as-new chain follow one another in time). */
export function orderRuns(runs: History[]): History[] {
  return [...runs].sort((a, b) => eventTimeMs(a.events?.[0]) - eventTimeMs(b.events?.[0]));
}

/** Milliseconds since the epoch of an event (NaN when it has no time). */
export function eventTimeMs(e: HistoryEvent | undefined): number {
  return timestampMs(e?.eventTime);
}

/** Milliseconds since the epoch of a protobuf Timestamp as the SDK decodes it (NaN when there is none). */
export function timestampMs(t: HistoryEvent['eventTime']): number {
  if (!t) return NaN;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/**
 * Every run of the migration from Temporal, oldest first: the latest run (or `runId`), then back along
 * continuedExecutionRunId while the namespace still holds the earlier runs (at most `maxRuns`).
 */
export async function fetchHistories(
  client: Client,
  workflowId: string,
  opts: { runId?: string; maxRuns?: number } = {},
): Promise<History[]> {
  const runs: History[] = [];
  let runId: string | undefined = opts.runId;
  for (let i = 0; i < (opts.maxRuns ?? 1000); i++) {
    let h: History;
    try {
      h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    } catch (e) {
      if (runs.length > 0) break; // an earlier run past the namespace's retention: report what is left
      throw e;
    }
    runs.unshift(h);
    runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) break;
  }
  return runs;
}
