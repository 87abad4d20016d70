/**
 * Every control at every phase boundary, on the real Temporal dev server against the in-memory world:
 * pause then resume, abort, rollback — and approve. The end state is checked every time, not just the calls.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { waitFor, sleep } from './harness/procs';
import { replayAll } from './harness/replay';
import {
  abortSignal,
  approveUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  rollbackSignal,
  setConcurrencyUpdate,
  TASK_QUEUE,
} from '../src/shared/controls';
import type { MigrationPhase, MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

interface Boundary {
  /** The phase that ends and the phase that starts. */
  from: MigrationPhase;
  to: MigrationPhase;
  /** Matches the last activity call of `from` (or the first of `to` when `from` has none). */
  gate: () => (name: string, a: any) => boolean;
}
const probeOf = (phase: string) => () => (name: string, a: any) => name === 'probeVersionChecks' && a.phase === phase;
const nth = (activity: string, n: number) => () => {
  let seen = 0;
  return (name: string) => name === activity && ++seen === n;
};
const BOUNDARIES: Boundary[] = [
  { from: 'Validate', to: 'Plan', gate: nth('readRecord', 1) },
  { from: 'Plan', to: 'BridgeNetworks', gate: probeOf('Plan') },
  { from: 'BridgeNetworks', to: 'ProvisionTarget', gate: probeOf('BridgeNetworks') },
  { from: 'ProvisionTarget', to: 'MoveShards', gate: probeOf('ProvisionTarget') },
  { from: 'MoveShards', to: 'MoveAgents', gate: probeOf('MoveShards') },
  { from: 'MoveAgents', to: 'CutoverDNS', gate: probeOf('MoveAgents') },
  { from: 'CutoverDNS', to: 'Drain', gate: probeOf('CutoverDNS') },
  // Drain has no activity: the control arrives during Decommission's first check (verifyConvergence 1: MoveShards,
  // 2: before CutoverDNS, 3: Decommission).
  { from: 'Drain', to: 'Decommission', gate: nth('verifyConvergence', 3) },
  { from: 'Decommission', to: 'Complete', gate: nth('removeBridge', 1) },
];
const PAST_POINT_OF_NO_RETURN = new Set<MigrationPhase>(['Decommission', 'Complete']);

async function withRun<T>(
  name: string,
  opts: { requireApproval?: boolean },
  fn: (ctx: { world: World; handle: WorkflowHandle }) => Promise<T>,
): Promise<T> {
  const world = new World({ syncMs: 20 });
  await world.start();
  const taskQueue = `${TASK_QUEUE}-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const w = await startWorker({
    connection: await server.nativeConnection(),
    taskQueue,
    activities: createWorldActivities(world.url),
  });
  try {
    const spec = worldSpec();
    (spec.policy as any).requireApproval = !!opts.requireApproval;
    const handle = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `${name}-${Date.now()}`,
      args: [{ spec }],
    });
    return await fn({ world, handle });
  } finally {
    await w.stop();
    await world.stop();
  }
}

/** Consistent: no half-moved group, every group fully replicated on exactly one side, DNS at a side that serves. */
function assertConsistent(world: World, expectSide?: 'source' | 'target'): void {
  const s = world.snapshot();
  assert.deepEqual(s.underReplicated, [], 'under-replicated groups');
  assert.deepEqual(s.overReplicated, [], 'groups left with extra copies');
  assert.equal(s.locked, 0, 'shard locks left behind');
  assert.equal(s.openJobs, 0, "Transit's MoveShard jobs left open");
  assert.equal(s.groupsMixed, 0, 'groups spread over both sides');
  const side =
    s.groupsOnTarget === world.groups.length ? 'target' : s.groupsOnSource === world.groups.length ? 'source' : 'split';
  assert.notEqual(side, 'split', 'all data on one side');
  if (expectSide) assert.equal(side, expectSide);
  if (s.dnsSide === 'target')
    assert.ok(s.targetMembers.length > 0 || s.sourceMembers.length === 3, 'DNS points at a side with coordinators');
  else
    assert.ok(
      s.sourceMembers.some((m) => m.includes('crdn')),
      'DNS points at the source, which still has coordinators',
    );
  assert.deepEqual(world.duplicateEffects(), [], 'side effects applied twice');
}

function assertRolledBack(world: World): void {
  assertConsistent(world, 'source');
  const s = world.snapshot();
  assert.equal(s.dnsSide, 'source');
  assert.equal(s.bridgeObjects, 0, 'bridge removed');
  assert.deepEqual(s.targetMembers, [], 'target members removed');
  assert.equal(s.agentsOnTarget, 0, 'agents back on the source');
  assert.equal(s.autoShrink, 3, 'auto-shrink setting restored');
}

/** An update rejected by its validator: the reason is in the failure's cause. */
async function rejectedWith(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.match(`${e?.cause?.message ?? ''} ${e?.message ?? ''}`, re);
    return true;
  });
}

async function atBoundary(
  world: World,
  handle: WorkflowHandle,
  b: Boundary,
  control: () => Promise<void>,
): Promise<void> {
  const gate = world.gate(b.gate());
  await gate.hit;
  await control();
  gate.release();
}

describe('controls at every phase boundary', () => {
  for (const b of BOUNDARIES) {
    it(
      `${b.from} → ${b.to}: pause stops before ${b.to} advances, resume completes it`,
      { timeout: 60_000 },
      async () => {
        await withRun(`pause-${b.to}`, {}, async ({ world, handle }) => {
          await atBoundary(world, handle, b, () => handle.signal(pauseSignal, { reason: 'test' }));
          const p = await waitFor('the workflow to park', async () => {
            const q = await handle.query(progressQuery);
            return q.paused ? q : undefined;
          });
          assert.equal(p.phase, b.to);
          assert.equal(p.status, 'paused');
          const calls = world.calls.length;
          await sleep(1500);
          assert.equal(world.calls.length, calls, 'no activity runs while paused');
          await handle.signal(resumeSignal);
          const r = (await handle.result()) as MigrationReport;
          assert.equal(r.status, 'completed');
          assertConsistent(world, 'target');
          assert.equal(world.snapshot().dnsSide, 'target');
        });
      },
    );

    it(
      `${b.from} → ${b.to}: abort leaves a consistent cluster and reports what is where`,
      { timeout: 60_000 },
      async () => {
        await withRun(`abort-${b.to}`, {}, async ({ world, handle }) => {
          await atBoundary(world, handle, b, () => handle.signal(abortSignal, { reason: 'test' }));
          const r = (await handle.result()) as MigrationReport;
          if (PAST_POINT_OF_NO_RETURN.has(b.to)) {
            assert.equal(r.status, 'completed', 'abort is ignored past the point of no return');
          } else {
            assert.equal(r.status, 'aborted');
            assert.equal(r.phase, b.to);
          }
          assertConsistent(world);
          const s = world.snapshot();
          assert.equal(r.shardsOnTarget, s.groupsOnTarget === world.groups.length ? r.shardsTotal : 0);
          assert.deepEqual(r.dnsValues, s.dns);
        });
      },
    );

    it(
      `${b.from} → ${b.to}: rollback ${PAST_POINT_OF_NO_RETURN.has(b.to) ? 'is refused past the point of no return' : 'returns everything to the source'}`,
      { timeout: 60_000 },
      async () => {
        await withRun(`rollback-${b.to}`, {}, async ({ world, handle }) => {
          await atBoundary(world, handle, b, () => handle.signal(rollbackSignal, { reason: 'test' }));
          const r = (await handle.result()) as MigrationReport;
          if (PAST_POINT_OF_NO_RETURN.has(b.to)) {
            assert.equal(r.status, 'completed');
            const p = await handle.query(progressQuery);
            assert.match(p.rollbackRefusedReason ?? '', /point of no return/);
            assertConsistent(world, 'target');
          } else {
            assert.equal(r.status, 'rolledBack');
            assertRolledBack(world);
          }
        });
      },
    );
  }
});

describe('approve and setConcurrency', () => {
  it('waits in AwaitApproval until approved, then completes', { timeout: 60_000 }, async () => {
    await withRun('approve', { requireApproval: true }, async ({ world, handle }) => {
      const p = await waitFor('AwaitApproval', async () => {
        const q = await handle.query(progressQuery);
        return q.status === 'awaitingApproval' ? q : undefined;
      });
      assert.equal(p.phase, 'AwaitApproval');
      assert.equal(world.snapshot().bridgeObjects, 0, 'nothing changed before approval');
      await rejectedWith(
        handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: 0 }] }),
        /expected {"maxConcurrentShardMoves": <integer 1\.\.1000>}, got {"maxConcurrentShardMoves":0}/,
      );
      const c = await handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: 7 }] });
      assert.deepEqual(c, { previous: 4, current: 7 });
      const hold = world.gate((name) => name === 'bridgeNetworks');
      const a = await handle.executeUpdate(approveUpdate, { args: [{ by: 'test' }] });
      assert.equal(a.approved, true);
      await hold.hit;
      await rejectedWith(handle.executeUpdate(approveUpdate, { args: [{}] }), /already approved/);
      hold.release();
      const r = (await handle.result()) as MigrationReport;
      assert.equal(r.status, 'completed');
      assertConsistent(world, 'target');
    });
  });

  it('rejects approve when the migration does not require it', { timeout: 60_000 }, async () => {
    await withRun('approve-not-required', {}, async ({ world, handle }) => {
      await rejectedWith(handle.executeUpdate(approveUpdate, { args: [{}] }), /does not require approval/);
      await handle.result();
      assertConsistent(world, 'target');
    });
  });

  it('rollback while awaiting approval changes nothing', { timeout: 60_000 }, async () => {
    await withRun('approve-rollback', { requireApproval: true }, async ({ world, handle }) => {
      await waitFor('AwaitApproval', async () => (await handle.query(progressQuery)).status === 'awaitingApproval');
      await handle.signal(rollbackSignal);
      const r = (await handle.result()) as MigrationReport;
      assert.equal(r.status, 'rolledBack');
      assertRolledBack(world);
      assert.deepEqual(world.effects, [], 'no side effect at all');
    });
  });
});

describe('determinism', () => {
  it(
    'every history of this file (pause, abort, rollback, approve paths) replays cleanly',
    { timeout: 300_000 },
    async () => {
      const n = await replayAll(server.client, server.address);
      assert.ok(n >= 27, `replayed ${n} histories`);
    },
  );
});
