// `transit status`: live progress (phase, shards, bytes, ETA, agents; bars on a terminal, lines elsewhere); --json for scripts.
import type { Command } from 'commander';
import type { TransitClient } from '../../client';
import { probeRegionsText, type MigrationProgress, type MigrationReport } from '../../shared/types';
import { connectClient, printJson, withConnection, type ConnectionFlags } from '../common';
import { createProgressDisplay } from '../progress-display';

export function register(program: Command): void {
  withConnection(
    program
      .command('status <workflowId>')
      .description('show progress: phase, shards and bytes, ETA, timings, last error; live until the migration ends')
      .option('--once', 'print the current state and exit')
      .option('--json', 'JSON: one line now (with --watch, one line per change, then the report)')
      .option('--watch', 'with --json: keep printing until the migration ends'),
  ).action(async (id: string, o: ConnectionFlags & { once?: boolean; json?: boolean; watch?: boolean }) => {
    const client = await connectClient(o);
    try {
      if (o.json && !o.watch) printJson(await client.getProgress(id));
      else if (o.once) console.log(formatProgress(await client.getProgress(id)));
      else await watchProgress(client, id, !!o.json);
    } finally {
      await client.close();
    }
  });
}

/** Live view until the migration ends; returns its report. */
export async function watchProgress(client: TransitClient, id: string, json: boolean): Promise<MigrationReport> {
  if (json) {
    let last = '';
    const report = await client.watch(id, (p) => {
      const line = JSON.stringify(p);
      if (line !== last) printJson(p);
      last = line;
    });
    printJson({ report });
    return report;
  }
  const display = createProgressDisplay();
  let report: MigrationReport;
  try {
    report = await client.watch(id, (p) => display.update(p));
  } finally {
    display.stop();
  }
  console.log(formatReport(report));
  return report;
}

export function formatProgress(p: MigrationProgress): string {
  const lines = [
    `${p.migrationId}: ${p.label} (${p.status}${p.pauseRequested && !p.paused ? ', pause requested' : ''})`,
    `  shards ${p.shardsDone}/${p.shardsTotal} (in flight ${p.shardsInFlight}), bytes ${p.bytesDone}/${p.bytesTotal}, ETA ${p.etaSeconds ?? '–'}s${p.etaBand ? ` (P50 ${p.etaBand.p50Seconds}s, P90 ${p.etaBand.p90Seconds ?? '–'}s)` : ''}, concurrency ${p.concurrency}`,
    `  agents moved ${p.agentsMoved}/${p.agentsTotal}, run ${p.run}`,
    ...(p.verification ? [`  ${verificationText(p.verification)}`] : []),
    ...p.phaseTimings.map((t) => `  ${t.phase.padEnd(16)} ${t.seconds !== undefined ? `${t.seconds}s` : 'running'}`),
  ];
  if (p.clientLatency)
    lines.push(
      `  client latency: p99 ${p.clientLatency.p99Ms ?? '–'} ms (objective ${p.clientLatency.objectiveMs} ms), ${p.clientLatency.capOn ?? 'moves'} in flight ≤ ${p.clientLatency.cap} — ${p.clientLatency.reason}`,
      ...(p.clientLatency.regions ? [`  probes by region: ${probeRegionsText(p.clientLatency.regions)}`] : []),
    );
  if (p.lastError) lines.push(`  last error: ${p.lastError}`);
  if (p.rollbackRefusedReason) lines.push(`  ${p.rollbackRefusedReason}`);
  return lines.join('\n');
}

/** "verified 12 shards (6 groups, median 40 ms, max 90 ms each)" — what was compared before a source copy went. */
export function verificationText(v: NonNullable<MigrationProgress['verification']>): string {
  const times = v.medianMs === null ? '' : `, median ${v.medianMs} ms, max ${v.maxMs} ms each`;
  const not = v.shardsUnverified ? `; ${v.shardsUnverified} shards not verifiable (replicationFactor 1)` : '';
  return `verified ${v.shardsVerified} shards before their source copy went (${v.groupsVerified} groups${times})${not}`;
}

export function formatReport(r: MigrationReport): string {
  const lat = r.latency.map(
    (l) => `  ${l.phase.padEnd(16)} ${l.from} → ${l.to}  p50 ${l.p50Ms} ms  p95 ${l.p95Ms} ms  (${l.path})`,
  );
  return [
    `${r.migrationId}: ${r.status} — ${r.summary}`,
    `  shards on source ${r.shardsOnSource}, on target ${r.shardsOnTarget}, moving ${r.shardsMoving} (of ${r.shardsTotal}); bytes moved ${r.bytesMoved}`,
    `  agents on target ${r.agentsOnTarget}/${r.agentsTotal}; DNS → ${r.dnsValues.join(', ')}; bridge ${r.bridgePresent ? 'present' : 'removed'}`,
    `  seconds per phase: ${Object.entries(r.phaseSeconds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    ...(lat.length ? ['  version checks:', ...lat] : []),
    ...(r.lastError ? [`  last error: ${r.lastError}`] : []),
  ].join('\n');
}
