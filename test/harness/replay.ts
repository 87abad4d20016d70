/**
 * Determinism guard: replays workflow histories against the current workflow code (Worker.runReplayHistories).
 */
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workflowBundle } from './worker';
import { TEMPORAL_CLI } from './temporal';
import { dataConverter } from '../../src/codec';

/**
 * Replays every closed migrationWorkflow history on the server; throws naming every history that fails. With the
 * server's address, each failing history is also exported (`temporal workflow show --output json`) to a file the
 * error names, so that a CI failure can be examined after the server is gone.
 */
export async function replayAll(client: Client, address?: string): Promise<number> {
  const histories = client.workflow
    .list({ query: `WorkflowType = 'migrationWorkflow' AND ExecutionStatus != 'Running'` })
    .intoHistories();
  let n = 0;
  const failures: string[] = [];
  for await (const r of Worker.runReplayHistories(
    { workflowBundle: await workflowBundle(), dataConverter: await dataConverter() },
    histories,
  )) {
    n++;
    if (!r.error) continue;
    let saved = '';
    if (address) {
      const dir = join(tmpdir(), 'transit-replay-failures');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${r.workflowId}-${r.runId}.json`);
      writeFileSync(file, await historyJson(address, r.workflowId, r.runId));
      saved = ` (history saved to ${file})`;
    }
    failures.push(`${r.workflowId}/${r.runId}${saved}: ${r.error.message}`);
  }
  if (failures.length) throw new Error(`replay failed for ${failures.length} histories:\n${failures.join('\n')}`);
  return n;
}

/** Every run of a workflow ID (continue-as-new chain) with its history length. */
export async function runsOf(client: Client, workflowId: string): Promise<{ runId: string; events: number }[]> {
  const out: { runId: string; events: number }[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    out.push({ runId: w.runId, events: w.historyLength });
  }
  return out;
}

/**
 * A history exported the way an operator does it: `temporal workflow show --output json` (what the Web UI's
 * download gives too). (The SDK's historyToJSON fails here: @temporalio/common 1.24.0 pulls protobufjs 8
 * while the generated protos come from protobufjs 7.)
 */
export async function historyJson(address: string, workflowId: string, runId?: string): Promise<string> {
  const args = ['workflow', 'show', '--address', address, '--workflow-id', workflowId, '--output', 'json'];
  if (runId) args.push('--run-id', runId);
  const { stdout } = await promisify(execFile)(TEMPORAL_CLI, args, { maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}
