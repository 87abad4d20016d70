/**
 * The full end-to-end reliability matrix, too long for CI (`npm test` runs one rollback end to end and the
 * complete control matrix against the in-memory world): for each phase boundary, a fresh environment (two API
 * servers, the simulated cluster, BIND, Temporal, clients writing through DNS), a migration, and a rollback
 * requested as the boundary is crossed. Each run must end with everything back on the source, DNS at the
 * source, Transit's objects gone, 0 acknowledged writes lost and 0 failed requests outside the cutover windows.
 *
 *   scripts/netns-run node --import tsx scripts/e2e-matrix.ts [--json] [--only MoveShards,CutoverDNS]
 */
import { TransitClient } from '../src/client';
import type { MigrationPhase, MigrationReport } from '../src/shared/types';
import { startEnvironment } from '../test/harness/environment';

const BOUNDARIES: MigrationPhase[] = [
  'Plan',
  'BridgeNetworks',
  'ProvisionTarget',
  'MoveShards',
  'MoveAgents',
  'CutoverDNS',
  'Drain',
];
const json = process.argv.includes('--json');
const onlyArg = process.argv[process.argv.indexOf('--only') + 1];
const only = process.argv.includes('--only') && onlyArg ? onlyArg.split(',') : null;

async function rollbackAt(phase: MigrationPhase): Promise<Record<string, unknown>> {
  const env = await startEnvironment({ wan: { inRegionMs: 2, crossRegionMs: 20 }, dnsTtl: 2 });
  const t0 = Date.now();
  try {
    await env.startWorker();
    const clients = env.loadClients(1, { intervalMs: 80 });
    clients.forEach((c) => c.start());
    const client = await TransitClient.connect({ address: env.temporal.address });
    const { workflowId } = await client.startMigration(env.spec);
    let requested = false;
    let report: MigrationReport | null = null;
    while (!report) {
      const p = await client.getProgress(workflowId).catch(() => null);
      if (p && p.phase === phase && !requested) {
        requested = true;
        await client.rollback(workflowId, { reason: `matrix: rollback entering ${phase}` });
      }
      if (p && ['rolledBack', 'completed', 'aborted'].includes(p.status)) report = await client.result(workflowId);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 3000));
    await Promise.all(clients.map((c) => c.stop()));
    const lost = (await Promise.all(clients.map((c) => c.verify()))).flat();
    const progress = await client.getProgress(workflowId).catch(() => null);
    const cut = progress?.phaseTimings.find((t) => t.phase === 'CutoverDNS');
    const failures = clients.flatMap((c) => c.stats.failures);
    // Requests may fail only while a DNS change is in flight: from the forward cutover to the end of the rollback.
    const outside = failures.filter((f) => !cut || f.at < cut.startedAt).length;
    await client.close();
    const ok =
      report.status === 'rolledBack' &&
      report.shardsOnSource === report.shardsTotal &&
      !report.bridgePresent &&
      !report.targetMembersPresent &&
      report.agentsOnTarget === 0 &&
      report.dnsValues.join() === new URL(env.sourceUrl).hostname &&
      lost.length === 0 &&
      outside === 0;
    return {
      boundary: `→ ${phase}`,
      ok,
      status: report.status,
      shardsOnSource: `${report.shardsOnSource}/${report.shardsTotal}`,
      dns: report.dnsValues,
      acked: clients.reduce((a, c) => a + c.stats.acked.length, 0),
      lost: lost.length,
      failed: failures.length,
      failedOutsideCutover: outside,
      rollbackSeconds: report.phaseSeconds.Rollback ?? null,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    await env.stop();
  }
}

async function main(): Promise<number> {
  let failed = 0;
  for (const b of BOUNDARIES) {
    if (only && !only.includes(b)) continue;
    const r = await rollbackAt(b).catch((e) => ({ boundary: `→ ${b}`, ok: false, error: (e as Error).message }));
    if (!r.ok) failed++;
    process.stdout.write(json ? `${JSON.stringify(r)}\n` : `${r.ok ? 'ok  ' : 'FAIL'} rollback ${JSON.stringify(r)}\n`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
