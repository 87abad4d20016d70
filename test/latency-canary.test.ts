// The latency canary moves like any other collection (patch 'canary-moves'): the whole migrationWorkflow through
// Temporal, Transit's real agency and probe activities against the simulated cluster (new DB servers started
// beforehand, the in-memory world for Kubernetes and DNS, as the benchmark runs it). Read from the agency, not from
// Transit: the canary exists with a copy on a source DB server once MoveShards has created it; when MoveShards has
// ended (MoveAgents begins) every copy of it is on the new servers; when the migration has completed it is gone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { arangoRef, simActivities, startSim, type SimCluster } from './harness/sim';
import { addNewServers } from './harness/migrate';
import { worldSpec } from './harness/specs';
import { waitFor } from './harness/procs';
import { World } from '../src/sim/world';
import { rehearsalActivities } from '../src/rehearse/activities';
import { createLatencyProbeActivities } from '../src/activities/latency-probe';
import { fileCredentialReader } from '../src/activities/agency';
import { CANARY_COLLECTION, type MigrationReport } from '../src/shared/types';
import { TASK_QUEUE } from '../src/shared/controls';

let server: DevServer;
let c: SimCluster;
before(async () => {
  server = await startDevServer();
  c = await startSim({
    agents: 3,
    dbServers: 3,
    coordinators: 1,
    targetNumberOfDBServers: null,
    databases: [{ name: 'shop', collections: [{ name: 'orders', numberOfShards: 6, replicationFactor: 2 }] }],
  });
});
after(async () => {
  await c?.stop();
  await server?.stop();
});

/** The canary's copies per shard (Plan), or null while it does not exist. */
async function canaryPlan(): Promise<string[][] | null> {
  const r = (await c.agencyRead([`/arango/Plan/Collections/_system`])) as {
    arango?: {
      Plan?: { Collections?: { _system?: Record<string, { name?: string; shards?: Record<string, string[]> }> } };
    };
  };
  const col = Object.values(r.arango?.Plan?.Collections?._system ?? {}).find((x) => x.name === CANARY_COLLECTION);
  return col ? Object.values(col.shards ?? {}).map((s) => s.map((id) => id.replace(/^_/, ''))) : null;
}

describe('the latency canary (simulated cluster, through Temporal)', () => {
  it(
    'is created in MoveShards on source and new servers, moves to the new ones with the rest, and is gone at the end',
    { timeout: 300_000 },
    async () => {
      const acts = simActivities();
      const arango = arangoRef(c);
      const sources = (await acts.readShardPlan({ migrationId: 'canary', arango })).servers.map((s) => s.id);
      const targets = await addNewServers(c, acts, arango);
      const world = new World({ dbServers: targets.length, collections: [], syncMs: 0 });
      await world.start();
      const probes = createLatencyProbeActivities({ readCredential: fileCredentialReader(), region: 'eu' });
      const w = await startWorker({
        connection: await server.nativeConnection(),
        taskQueue: `${TASK_QUEUE}-canary`,
        activities: { ...rehearsalActivities(world.url, targets), ...probes },
      });
      // Released in `finally` too: a failed assertion must not leave the workflow held (the worker would not stop).
      const gate = world.gate((name) => name === 'moveAgent');
      try {
        const spec = worldSpec({
          arango: { ...arango, targetEndpoint: c.coordinatorUrl },
          policy: {
            maxConcurrentShardMoves: 4,
            timeouts: { drainSeconds: 0 },
            // A lax objective: this test is about where the canary is, not about the controller.
            latency: { p99Ms: 10_000, windowSeconds: 5, parkAfterSeconds: 0, minSamples: 1 },
          },
        });
        const handle = await server.client.workflow.start('migrationWorkflow', {
          taskQueue: `${TASK_QUEUE}-canary`,
          workflowId: `canary-${Date.now()}`,
          args: [{ spec }],
        });
        // Its first placement, as soon as it exists: ArangoDB spreads a new collection over every DB server.
        const first = await waitFor('the canary to exist', async () => (await canaryPlan()) ?? undefined, {
          timeoutMs: 120_000,
          intervalMs: 50,
        });
        console.log(`canary when created: ${JSON.stringify(first)}`);
        assert.ok(
          first.some((copies) => copies.some((id) => sources.includes(id))),
          'a copy of the canary on a source DB server when it was created',
        );
        // MoveShards has ended: every copy of the canary is on the new DB servers, like every other shard.
        await gate.hit;
        const moved = await canaryPlan();
        console.log(`canary when MoveShards ended: ${JSON.stringify(moved)}`);
        assert.ok(moved, 'the canary is still there when MoveShards ends (it is removed when the migration ends)');
        assert.deepEqual(
          moved.flat().filter((id) => !targets.includes(id)),
          [],
          'every copy of the canary on a new DB server',
        );
        gate.release();
        const report = (await handle.result()) as MigrationReport;
        assert.equal(report.status, 'completed');
        assert.equal(await canaryPlan(), null, 'the canary is gone when the migration has completed');
        const r = await c.request(c.coordinatorUrl, `/_db/_system/_api/collection/${CANARY_COLLECTION}`);
        assert.equal(r.status, 404);
      } finally {
        gate.release();
        await w.stop();
        await world.stop();
      }
    },
  );
});
