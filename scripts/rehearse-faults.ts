/**
 * Every fault kind of `transit rehearse`, each rehearsed once on the end-to-end topology (the real Temporal, two
 * real Kubernetes API servers, the simulated ArangoDB source in pods, real BIND): a table of when it struck, how
 * long progress stalled, what Transit did and how the migration ended, with the predicted total. The faults strike
 * the simulated copy only; after every rehearsal the source's Plan/Version is checked unchanged. Not in CI (about
 * 8 minutes); test/rehearse.test.ts runs one of them (worker SIGKILL) against a real run.
 *
 *   scripts/netns-run node --import tsx scripts/rehearse-faults.ts [--speed N] [--bandwidth 8MB/s] [--rtt-ms 40] [--json]
 */
import { TransitClient } from '../src/client';
import { validateSpec } from '../src/spec/validate';
import { rehearse } from '../src/rehearse';
import { FAULT_KINDS, parseFaultSchedule, type FaultKind } from '../src/rehearse/faults';
import { parseBandwidth } from '../src/sim/bandwidth';
import { startEnvironment } from '../test/harness/environment';

/** Where each fault strikes: where it can hurt (agents while they move, DNS while it switches). */
const AT: Record<FaultKind, { phase: string; fraction?: number }> = {
  'kill-source-dbserver': { phase: 'MoveShards', fraction: 0.3 },
  'kill-target-dbserver': { phase: 'MoveShards', fraction: 0.3 },
  'agency-leader': { phase: 'MoveShards', fraction: 0.5 },
  'bridge-down': { phase: 'MoveShards', fraction: 0.3 },
  'worker-sigkill': { phase: 'MoveShards', fraction: 0.5 },
  'dns-server-stop': { phase: 'CutoverDNS' },
  'halve-link': { phase: 'MoveShards', fraction: 0.1 },
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (n: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : undefined);
  const speed = Number(flag('--speed') ?? 1);
  const bandwidth = flag('--bandwidth');
  const rtt = Number(flag('--rtt-ms') ?? 0);
  const json = argv.includes('--json');
  const env = await startEnvironment({ wan: { inRegionMs: 2, crossRegionMs: 20 }, dnsTtl: 2 });
  const v = validateSpec(env.spec);
  if (!v.ok) throw new Error(v.problems.join('; '));
  const client = await TransitClient.connect({ address: env.temporal.address });
  interface Row {
    fault: string;
    struckAtSeconds: number | null;
    blockedSeconds: number | null;
    transit: string;
    ended: string;
    predictedTotalSeconds: number;
    moveShardsSeconds: number | null;
    rehearsalWallSeconds: number;
    sourcePlanVersionUnchanged: boolean;
    arango: 'simulated';
  }
  const rows: Row[] = [];
  try {
    const planVersion = async () =>
      (await env.activities().readShardPlan({ migrationId: 'check', arango: v.spec.arango })).planVersion;
    const before = await planVersion();
    for (const kind of FAULT_KINDS) {
      const t0 = Date.now();
      const r = await rehearse({
        spec: v.spec,
        acts: env.activities(),
        client,
        workerEnv: { ...process.env, TEMPORAL_ADDRESS: env.temporal.address },
        faults: parseFaultSchedule({ faults: [{ fault: kind, at: AT[kind] }] }),
        speed,
        bandwidthBytesPerSecond: bandwidth ? parseBandwidth(bandwidth) : Infinity,
        bandwidthSource: bandwidth ? `--bandwidth ${bandwidth}` : 'unbounded',
        crossRegionRttMs: rtt,
        timeoutSeconds: 900,
      });
      const f = r.faults[0];
      const after = await planVersion();
      const row: Row = {
        fault: f?.fault ?? `${kind} (did not strike)`,
        struckAtSeconds: f?.atSeconds ?? null,
        blockedSeconds: f?.blockedSeconds ?? null,
        transit: f?.transit ?? '',
        ended: r.ended,
        predictedTotalSeconds: r.total.p50Seconds,
        moveShardsSeconds: r.moveShards?.p50Seconds ?? null,
        rehearsalWallSeconds: Math.round((Date.now() - t0) / 1000),
        sourcePlanVersionUnchanged: after === before,
        arango: 'simulated',
      };
      rows.push(row);
      if (json) console.log(JSON.stringify(row));
      else console.error(`${kind}: ${r.ended}`);
    }
  } finally {
    await client.close();
    await env.stop();
  }
  if (json) return;
  console.log(
    `\nRehearsal fault table — simulated ArangoDB copy of the end-to-end topology, speed ×${speed}, links ${bandwidth ?? 'unbounded'}, round trip between regions ${rtt} ms\n`,
  );
  console.log(
    '| fault | struck at s | progress stalled s | what Transit did | ended | predicted total s | source Plan/Version unchanged |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.fault} | ${r.struckAtSeconds ?? '-'} | ${r.blockedSeconds ?? 'to the end'} | ${r.transit.slice(0, 140)} | ${r.ended.slice(0, 120)} | ${r.predictedTotalSeconds} | ${r.sourcePlanVersionUnchanged} |`,
    );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
