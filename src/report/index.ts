/**
 * `transit report`: one self-contained HTML file about a migration, built from Temporal alone — the workflow's
 * history (every run of a continue-as-new chain) and, while its worker answers, the `progress` query — or from
 * exported history files (`temporal workflow show --output json`).
 */
import type { Client } from '@temporalio/client';
import type { DataConverter, LoadedDataConverter } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { dataConverter } from '../codec';
import { progressQuery, timelineQuery } from '../shared/controls';
import type { MigrationProgress, Timeline } from '../shared/types';
import { allCharts } from './charts';
import { extractReport, type ReportData } from './extract';
import { fetchHistories, readHistoryFiles, type History } from './history';
import { renderHtml } from './html';

export type { ReportData } from './extract';
export { historyFromJson, readHistoryFiles } from './history';

export interface BuiltReport {
  html: string;
  data: ReportData;
}

/** The report of the given runs (oldest first). */
export async function buildReport(
  runs: History[],
  converter: LoadedDataConverter | DataConverter,
  opts: {
    workflowId?: string;
    live?: MigrationProgress | null;
    liveTimeline?: Timeline | null;
    asOf?: number;
    now?: Date;
  } = {},
): Promise<BuiltReport> {
  const loaded =
    'payloadConverter' in converter && 'failureConverter' in converter && 'payloadCodecs' in converter
      ? (converter as LoadedDataConverter)
      : loadDataConverter(converter as DataConverter);
  const data = await extractReport(runs, loaded, opts);
  const charts = await allCharts(data);
  return { html: renderHtml(data, charts, opts.now ?? new Date()), data };
}

/** From exported history files (one per run); payloads decrypted with the codec key file, if any. */
export async function reportFromFiles(paths: string[], opts: { codecKeyFile?: string } = {}): Promise<BuiltReport> {
  const runs = readHistoryFiles(paths);
  return buildReport(runs, await dataConverter({ keyFile: opts.codecKeyFile }));
}

/**
 * From Temporal: the workflow's runs and, when the migration is still open and a worker answers within
 * `queryTimeoutMs`, its progress now.
 */
export async function reportFromTemporal(
  client: Client,
  workflowId: string,
  opts: { runId?: string; queryTimeoutMs?: number } = {},
): Promise<BuiltReport> {
  const runs = await fetchHistories(client, workflowId, { runId: opts.runId });
  const last = runs.at(-1)?.events?.at(-1);
  const closed =
    !!last &&
    !!(
      last.workflowExecutionCompletedEventAttributes ||
      last.workflowExecutionFailedEventAttributes ||
      last.workflowExecutionTerminatedEventAttributes ||
      last.workflowExecutionCanceledEventAttributes ||
      last.workflowExecutionTimedOutEventAttributes
    );
  let live: MigrationProgress | null = null;
  let liveTimeline: Timeline | null = null;
  if (!closed) {
    const timeout = opts.queryTimeoutMs ?? 5000;
    const handle = client.workflow.getHandle(workflowId);
    live = await client.withDeadline(Date.now() + timeout, () => handle.query(progressQuery)).catch(() => null); // no worker polling now: the history alone
    if (live)
      liveTimeline = await client
        .withDeadline(Date.now() + timeout, () => handle.query(timelineQuery))
        .catch(() => null); // a worker of a release without the query
  }
  return buildReport(runs, client.options.loadedDataConverter, { workflowId, live, liveTimeline, asOf: Date.now() });
}
