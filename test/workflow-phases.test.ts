/**
 * The migration workflow on the real Temporal dev server, against the in-memory world: the phase sequence and
 * the end state it leaves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker, withWorldMigration } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { progressQuery, resumeSignal, TASK_QUEUE } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe('the end of MoveShards: a copy still re-syncing (Plan ≠ Current) is checked again, not parked at once', () => {
  const run = async (resyncing: number) => {
    const world = new World({ syncMs: 50 });
    await world.start();
    world.resyncing = resyncing;
    let report!: MigrationReport;
    let parked: { phase: string; lastError: string | null } | null = null;
    await withWorldMigration(server, world, `resync-${resyncing}`, async (handle) => {
      const watch = (async () => {
        for (;;) {
          const p = await handle.query(progressQuery).catch(() => null);
          if (p && p.paused && !parked) {
            parked = { phase: p.phase, lastError: p.lastError };
            await handle.signal(resumeSignal, {});
          }
          if (p && ['completed', 'failed', 'rolledBack', 'aborted'].includes(p.status)) return;
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      report = (await handle.result()) as MigrationReport;
      await watch;
    });
    const checks = world.calls.filter((c) => c.name === 'verifyConvergence').length;
    return { report, parked: parked as { phase: string; lastError: string | null } | null, checks, world };
  };

  it('one failed check: checked again 10 s later, completes without parking', async () => {
    const r = await run(1);
    assert.equal(r.report.status, 'completed');
    assert.equal(r.parked, null, 'never parked');
    // MoveShards: the failed check and the one that passed; CutoverDNS one; Decommission two (its re-convergence,
    // then its own check).
    assert.equal(r.checks, 5);
    assert.equal(r.world.snapshot().groupsOnTarget, r.world.groups.length);
  });

  it('twin: a copy that stays out of sync parks MoveShards at the third failed check, naming it; resumed, it completes', async () => {
    const r = await run(3);
    assert.equal(r.parked?.phase, 'MoveShards');
    assert.match(r.parked?.lastError ?? '', /^verifyConvergence: not converged: a copy is still re-syncing/);
    assert.equal(r.report.status, 'completed');
  });
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
