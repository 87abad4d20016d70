/**
 * The migration workflow on the real Temporal dev server, against the in-memory world: the phase sequence and
 * the end state it leaves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { progressQuery, TASK_QUEUE } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe('migration workflow', () => {
  it('runs the phases in order and ends with everything on the target', async () => {
    const world = new World({ syncMs: 50 });
    await world.start();
    const taskQueue = `${TASK_QUEUE}-phases`;
    const w = await startWorker({
      connection: await server.nativeConnection(),
      taskQueue,
      activities: createWorldActivities(world.url),
    });
    try {
      const handle = await server.client.workflow.start('migrationWorkflow', {
        taskQueue,
        workflowId: `phases-${Date.now()}`,
        args: [{ spec: worldSpec() }],
      });
      const report = (await handle.result()) as MigrationReport;
      assert.equal(report.status, 'completed');
      // The outcome says how to get the report of this very run.
      assert.equal(report.reportCommand, `transit report ${handle.workflowId} --out ${report.migrationId}.html`);
      const p = await handle.query(progressQuery);
      assert.deepEqual(
        p.phaseTimings.map((t) => t.phase),
        [
          'Validate',
          'Plan',
          'BridgeNetworks',
          'ProvisionTarget',
          'MoveShards',
          'MoveAgents',
          'CutoverDNS',
          'Drain',
          'Decommission',
          'Complete',
        ],
      );
      const snap = world.snapshot();
      assert.equal(snap.groupsOnTarget, world.groups.length);
      assert.equal(snap.groupsOnSource, 0);
      assert.deepEqual(snap.underReplicated, []);
      assert.equal(snap.dnsSide, 'target');
      assert.equal(snap.bridgeObjects, 0);
      assert.equal(snap.agentsOnTarget, 3);
      assert.deepEqual(
        snap.sourceMembers.filter((n) => !n.includes('agnt')),
        [],
      );
      assert.deepEqual(world.duplicateEffects(), []);
    } finally {
      await w.stop();
      await world.stop();
    }
  });
});
