/**
 * `transit rehearse` (src/rehearse/) on the end-to-end topology: the real Temporal server, two real Kubernetes
 * API servers, the simulated ArangoDB source in pods, real BIND. Run through scripts/netns-run (npm test does).
 *
 * 1. A rehearsal with a fault schedule (the DNS server that takes updates stopped for 10 s as the cutover starts) touches
 *    nothing: the source's Plan/Version, the resourceVersion of every object Transit could write in both clusters
 *    (Services, Endpoints, EndpointSlices, Pods, PVCs, Secrets, the ArangoDeployment) and the DNS record on both
 *    BIND servers are the same after it as before.
 * 2. The real migration then runs on the same environment with the same fault struck the same way (the BIND
 *    primary stopped for 10 s as CutoverDNS starts): it ends the way the rehearsal did. The rehearsal's predicted
 *    phase durations against the real ones are printed (a figure: durations are not asserted; the target is
 *    MoveShards and total within 15 %). Both sides are
 *    simulated ArangoDB (the copy and the "real" source alike): the point is that the prediction machinery is right.
 *    (A worker SIGKILL is rehearsed in scripts/rehearse-faults.ts, not here: its cost depends on which activity was
 *    in flight — up to a short activity's 60 s start-to-close timeout — so two runs of it differ by up to a minute.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TransitClient } from '../src/client';
import { validateSpec } from '../src/spec/validate';
import { rehearse, type Rehearsal } from '../src/rehearse';
import { parseFaultSchedule } from '../src/rehearse/faults';
import { formatRehearsal } from '../src/cli/commands/rehearse';
import type { MigrationProgress } from '../src/shared/types';
import type { MigrationSpec } from '../src/spec/schema';
import { startEnvironment, NAMESPACE, type Environment } from './harness/environment';
import { kubeRequest, type ClusterHandle } from './harness/kube';
import type { Proc } from './harness/procs';
import { ROOT } from './harness/temporal';

const ARTIFACTS = join(ROOT, 'test-artifacts');

const fig = (name: string, value: unknown) =>
  console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

/** Every kind of object Transit could write, in the namespace of either cluster. */
const KINDS = [
  '/api/v1/namespaces/NS/services',
  '/api/v1/namespaces/NS/endpoints',
  '/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices',
  '/api/v1/namespaces/NS/pods',
  '/api/v1/namespaces/NS/persistentvolumeclaims',
  '/api/v1/namespaces/NS/secrets',
  '/apis/database.arangodb.com/v1/namespaces/NS/arangodeployments',
];

interface Snapshot {
  planVersion: number;
  objects: Record<string, string>;
  dns: Record<string, string>;
}

async function objectVersions(c: ClusterHandle): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const k of KINDS) {
    const path = k.replace('NS', NAMESPACE);
    const r = await kubeRequest(c, 'GET', path);
    assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 200)}`);
    for (const o of (JSON.parse(r.body) as { items: { metadata: { name: string; resourceVersion: string } }[] }).items)
      out[`${c.name}:${path.split('/').at(-1)}/${o.metadata.name}`] = o.metadata.resourceVersion;
  }
  return out;
}

async function snapshot(env: Environment, spec: MigrationSpec): Promise<Snapshot> {
  const plan = await env.activities().readShardPlan({ migrationId: 'snapshot', arango: spec.arango });
  const dns: Record<string, string> = {};
  for (const server of env.bind.servers) {
    const r = new Resolver({ timeout: 2000, tries: 2 });
    r.setServers([server]);
    const a = await r.resolve4('db.example.test', { ttl: true });
    dns[server] = a.map((x) => `${x.address}/${x.ttl}`).join(',');
  }
  return {
    planVersion: plan.planVersion,
    objects: { ...(await objectVersions(env.clusters.eu)), ...(await objectVersions(env.clusters.us)) },
    dns,
  };
}

describe('transit rehearse on the end-to-end topology', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({
      wan: { inRegionMs: 2, crossRegionMs: 20 },
      dnsTtl: 2,
      log: (l) => console.log(`[env] ${l}`),
    });
  });
  after(async () => {
    await env?.stop();
  });

  it(
    'touches nothing, ends as the real run does under the same fault, and prints its prediction against the real run',
    { timeout: 900_000 },
    async () => {
      const v = validateSpec(env.spec);
      assert.ok(v.ok, JSON.stringify(v));
      const spec = v.spec;
      const faults = parseFaultSchedule({
        faults: [{ fault: 'dns-server-stop', at: { phase: 'CutoverDNS' }, seconds: 10 }],
      });
      const client = await TransitClient.connect({ address: env.temporal.address });
      try {
        const before = await snapshot(env, spec);
        fig('before the rehearsal', {
          planVersion: before.planVersion,
          objects: Object.keys(before.objects).length,
          dns: before.dns,
        });
        assert.ok(
          Object.keys(before.objects).some((k) => k.includes('arangodeployments/')),
          'the deployment is listed',
        );
        const r: Rehearsal = await rehearse({
          spec,
          acts: env.activities(),
          client,
          workerEnv: { ...process.env, TEMPORAL_ADDRESS: env.temporal.address },
          faults,
          bandwidthBytesPerSecond: Infinity,
          bandwidthSource: 'the environment has no link limit',
          // The environment's WAN between the regions (one-way 20 ms each way): what --rtt-ms would give.
          crossRegionRttMs: 40,
          log: (l) => console.log(`[rehearse] ${l}`),
        });
        for (const l of formatRehearsal(r)) console.log(`[rehearse] ${l}`);
        const afterRehearsal = await snapshot(env, spec);
        assert.equal(afterRehearsal.planVersion, before.planVersion, "the source's Plan/Version");
        assert.deepEqual(afterRehearsal.objects, before.objects, 'resourceVersion of every object in both clusters');
        assert.deepEqual(afterRehearsal.dns, before.dns, 'the DNS record on both BIND servers');
        assert.equal(r.faults.length, 1, 'the fault struck');
        assert.match(r.faults[0]!.transit, /(switchRecord|waitForPropagation|readRecord) retried/, 'what Transit did');
        assert.ok((r.faults[0]!.blockedSeconds ?? 0) >= 10, `blocked for the outage: ${JSON.stringify(r.faults[0])}`);
        // The rehearsal's own report (what --report writes): from Temporal, the rehearsal's workflow.
        const built = await client.report(r.workflowId);
        mkdirSync(ARTIFACTS, { recursive: true });
        writeFileSync(join(ARTIFACTS, 'rehearsal-report.html'), built.html);
        assert.equal(built.data.status, r.ended);
        assert.ok(
          built.data.phases.some((p) => p.phase === 'MoveShards'),
          'the report shows MoveShards',
        );
        assert.ok(r.bytesCrossingRegions > 0, 'the copy moved bytes into its target DB servers');

        // The real run, with the same fault struck the same way: the DNS primary (the server updates go to)
        // stopped for 10 s as the cutover starts.
        const worker: Proc = await env.spawnWorker('transit', 'worker-0');
        const { workflowId } = await client.startMigration(env.spec);
        let struck = false;
        let restart: Promise<void> | null = null;
        let last: MigrationProgress | null = null;
        for (;;) {
          const p = await client.getProgress(workflowId).catch(() => null);
          if (p) {
            last = p;
            if (!struck && p.phase === 'CutoverDNS') {
              struck = true;
              await env.bind.stopServer('primary');
              restart = new Promise((res) => setTimeout(res, 10_000)).then(() => env.bind.startServer('primary'));
            }
            // Nobody pauses this run: paused means parked by a step that failed.
            if (['completed', 'rolledBack', 'aborted', 'failed'].includes(p.status) || p.paused) break;
          }
          await new Promise((res) => setTimeout(res, 250));
        }
        await restart;
        assert.ok(struck, 'the real run met the fault');
        const report = await client.result(workflowId);
        const realEnded = last!.paused ? `parked: ${last!.lastError}` : report.status;
        assert.equal(r.ended, 'completed', 'the rehearsal completed');
        assert.equal(realEnded, r.ended, 'the real run ended as the rehearsal did');
        const actual = (phase: string) => report.phaseSeconds[phase] ?? 0;
        const realTotal = Object.values(report.phaseSeconds).reduce((n, x) => n + x, 0);
        const rows = [
          ...r.phases.map((p) => ({ phase: p.phase, predicted: p.p50Seconds, actual: actual(p.phase) })),
          { phase: 'total', predicted: r.total.p50Seconds, actual: Math.round(realTotal * 10) / 10 },
        ].map((x) => ({
          ...x,
          errorPct: x.actual ? Math.round(((x.predicted - x.actual) / x.actual) * 1000) / 10 : null,
        }));
        const ms = rows.find((x) => x.phase === 'MoveShards')!;
        const total = rows.at(-1)!;
        const within = (x: { predicted: number; actual: number }) =>
          Math.abs(x.predicted - x.actual) <= 0.15 * x.actual;
        // A figure, not an assertion (durations are never asserted: a loaded machine moves them): the issue's
        // target is MoveShards and total within 15 %.
        fig('rehearsal prediction vs actual (simulated ArangoDB on both sides; seconds)', rows);
        fig('rehearsal within 15 % of the real run', { moveShards: within(ms), total: within(total) });
        assert.ok(ms.actual > 0 && ms.predicted > 0, 'both runs timed MoveShards');
        process.kill(worker.pid, 'SIGTERM');
      } finally {
        await client.close();
      }
    },
  );
});
