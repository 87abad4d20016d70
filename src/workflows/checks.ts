/** Checks the phases repeat: the cluster's health (parks until it is healthy) and the latency probes. */
import type { MigrationPhase } from '../shared/types';
import type { MigrationContext } from './context';

/** Parks the migration while the cluster is not healthy; resume checks again. */
export async function requireHealthy(m: MigrationContext): Promise<void> {
  for (;;) {
    const h = await m.call('checkClusterHealth', () => ({ arango: m.arango() }));
    if (h.healthy) return;
    m.s.lastError = `cluster not healthy: ${h.problems.join('; ')} — fix it, then send resume`;
    m.s.pauseRequested = true;
    await m.safePoint();
  }
}

/** Latency from the worker to the coordinators of both sides, recorded at the end of a phase. */
export async function probe(m: MigrationContext, phase: MigrationPhase): Promise<void> {
  const spec = m.s.spec;
  // After Decommission the source coordinators are gone: nothing to measure there.
  const targets =
    phase === 'Complete'
      ? []
      : [{ region: spec.source.region, url: spec.arango.endpoint, label: 'worker → source coordinators' }];
  const targetUrl = spec.arango.targetEndpoint ?? m.s.dns.targetUrl;
  if (targetUrl) targets.push({ region: spec.target.region, url: targetUrl, label: 'worker → target coordinators' });
  const samples = await m.call('probeVersionChecks', () => ({ ...m.ref(), phase, targets }), phase);
  m.s.latency.push(...samples);
  m.publish();
}
