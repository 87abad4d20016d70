// `transit rehearse --spec FILE`: the migration rehearsed on a simulated copy of the live source (src/rehearse/):
// the source is only read; the workflow runs on its own task queue against the copy; faults strike on schedule.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { connectClient, connectionEnv, printJson, readSpecFile, withConnection, type ConnectionFlags } from '../common';
import type { Rehearsal } from '../../rehearse';

type Flags = ConnectionFlags & {
  spec: string;
  faults?: string;
  speed: string;
  bandwidth?: string;
  podStartSeconds?: string;
  rttMs?: string;
  kubeconfig?: string;
  json?: boolean;
  report?: string;
  timeoutSeconds?: string;
};

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`${name}: expected a positive number, got ${v}`);
  return n;
}

const s = (x: number) => `${x.toFixed(1)} s`;

/** The rehearsal as text: predictions first, then how it was made. */
export function formatRehearsal(r: Rehearsal): string[] {
  const scale = r.speed === 1 ? '' : ` (rehearsed at ×${r.speed}, scaled back)`;
  const lines = [
    `Rehearsal ${r.workflowId} on a SIMULATED copy: ${r.ended}`,
    `Links: ${r.bandwidth.bytesPerSecond === null ? 'unbounded' : `${(r.bandwidth.bytesPerSecond / 1e6).toFixed(1)} MB/s per DB server and direction`} (${r.bandwidth.source}); pod start ${r.podStart.seconds} s (${r.podStart.source}); round trip between regions ${r.crossRegionRttMs ? `${r.crossRegionRttMs} ms (--rtt-ms)` : 'none modelled'}`,
    `Predicted duration per phase${scale}:`,
    ...r.phases.map(
      (p) =>
        `  ${p.phase.padEnd(16)} P50 ${s(p.p50Seconds).padStart(9)}  P90 ${s(p.p90Seconds).padStart(9)}   (rehearsed ${s(p.rehearsedSeconds)})`,
    ),
    `  ${'total'.padEnd(16)} P50 ${s(r.total.p50Seconds).padStart(9)}  P90 ${s(r.total.p90Seconds).padStart(9)}`,
    `Bytes crossing regions: ${r.bytesCrossingRegions} (simulated copy's link counters); plan: ${r.plan.bytesToCopy} to copy`,
    `Peak moves in flight: ${r.peakMovesInFlight}`,
    `Step plan: ${r.plan.phases.join(' → ')}; create ${r.plan.create.map((c) => `${c.mirrors.length} ${c.role}s`).join(', ')}; move ${r.plan.agents.length} agents; ${r.plan.groupsMoving} of ${r.plan.totals.groups} shard groups move; DNS ${r.plan.dns.name} (TTL ${r.plan.dns.ttl} s)`,
    `Copy: ${r.copy.agents} agents, ${r.copy.dbServers} + ${r.copy.targets} DB servers, ${r.copy.coordinators} coordinators; supervision settings from the source: ${r.copy.settings.join(', ') || "none (ArangoDB's defaults)"}`,
  ];
  for (const f of r.faults)
    lines.push(
      `Fault ${f.fault}: at ${f.atSeconds === null ? '-' : s(f.atSeconds)}, blocked ${f.blockedSeconds === null ? 'until the end' : s(f.blockedSeconds)}; ${f.transit}; ended ${f.ended}`,
    );
  return lines;
}

export function register(program: Command): void {
  withConnection(
    program
      .command('rehearse')
      .description(
        'rehearse the migration on a simulated copy of the live source (read-only there): predicted phase durations, bytes, faults on a schedule',
      )
      .requiredOption('--spec <file>', 'YAML or JSON spec of the real migration')
      .option('--faults <file>', 'fault schedule (YAML/JSON): what breaks, at which phase and fraction')
      .option('--speed <n>', 'compress time: links × N, modelled waits ÷ N; predictions scaled back', '1')
      .option(
        '--bandwidth <rate>',
        "each DB server's link rate per direction, e.g. 100MB/s (default: policy.bandwidthBytesPerSecond; none: unbounded)",
      )
      .option(
        '--pod-start-seconds <s>',
        "how long a pod takes to start in the target (default: what the source's pods took, creation → Ready)",
      )
      .option('--rtt-ms <ms>', 'round trip between the two regions (there is no bridge to probe before a migration)')
      .option('--kubeconfig <file>', 'kubeconfig with the source and target contexts (default: KUBECONFIG)')
      .option('--json', 'print the rehearsal as one JSON line')
      .option('--report <file>', "write the rehearsal's HTML report (transit report of its workflow)")
      .option('--timeout-seconds <s>', 'give up after this long', String(6 * 3600)),
  ).action(async (o: Flags) => {
    const speed = positive('--speed', o.speed);
    const podStartSeconds = o.podStartSeconds === undefined ? undefined : Number(o.podStartSeconds);
    if (podStartSeconds !== undefined && !(Number.isFinite(podStartSeconds) && podStartSeconds >= 0))
      throw new Error(`--pod-start-seconds: expected seconds ≥ 0, got ${o.podStartSeconds}`);
    const crossRegionRttMs = Number(o.rttMs ?? 0);
    if (!(Number.isFinite(crossRegionRttMs) && crossRegionRttMs >= 0))
      throw new Error(`--rtt-ms: expected milliseconds ≥ 0, got ${o.rttMs}`);
    const spec = readSpecFile(o.spec);
    const { loadFaultSchedule } = require('../../rehearse/faults') as typeof import('../../rehearse/faults');
    const faults = o.faults ? loadFaultSchedule(o.faults) : [];
    const { parseBandwidth } = require('../../sim/bandwidth') as typeof import('../../sim/bandwidth');
    let bandwidth = Infinity;
    let bandwidthSource =
      'unbounded: no --bandwidth and no policy.bandwidthBytesPerSecond — MoveShards from job latencies only';
    if (o.bandwidth !== undefined) {
      try {
        bandwidth = parseBandwidth(o.bandwidth);
      } catch (e) {
        throw new Error(`--bandwidth: ${(e as Error).message}`);
      }
      bandwidthSource = `--bandwidth ${o.bandwidth}`;
    } else if (spec.policy.bandwidthBytesPerSecond) {
      bandwidth = spec.policy.bandwidthBytesPerSecond;
      bandwidthSource = 'policy.bandwidthBytesPerSecond';
    }
    const { createActivities } = require('../../activities') as typeof import('../../activities');
    const acts = createActivities(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {});
    const { rehearse } = require('../../rehearse') as typeof import('../../rehearse');
    const client = await connectClient(o);
    try {
      const r = await rehearse({
        spec,
        acts,
        client,
        // The rehearsal's worker process connects as this command does.
        workerEnv: connectionEnv(o),
        faults,
        speed,
        bandwidthBytesPerSecond: bandwidth,
        bandwidthSource,
        podStartSeconds,
        crossRegionRttMs,
        timeoutSeconds: o.timeoutSeconds ? positive('--timeout-seconds', o.timeoutSeconds) : undefined,
        log: (l) => (o.json ? process.stderr.write(`${l}\n`) : console.log(l)),
      });
      if (o.report) {
        const built = await client.report(r.workflowId);
        writeFileSync(o.report, built.html);
      }
      if (o.json) printJson(r);
      else for (const line of formatRehearsal(r)) console.log(line);
      if (o.report && !o.json) console.log(`Report: ${o.report}`);
    } finally {
      await client.close();
    }
  });
}
