/**
 * `transit plan`'s dry run (src/cli/dry-run.ts) against the in-memory world: it changes nothing in the world,
 * and the shard assignment it prints is the one the workflow then carries out — read from the world's own Plan
 * after the migration, not from Transit's report. Its twin shows both checks fail when the invariant is broken.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { TASK_QUEUE } from '../src/shared/controls';
import { PHASES, type MigrationReport } from '../src/shared/types';
import { validateSpec } from '../src/spec/validate';
import { dryRun, formatDryRun, type DryRun } from '../src/cli/dry-run';

// Groups of different sizes over 4 DB servers: the scheduler's load balance and its ID tie-breaks both matter.
const COLLECTIONS = [
  { name: 'orders', shards: 5, replicationFactor: 2, clones: 1, bytes: 9000 },
  { name: 'users', shards: 4, replicationFactor: 3, bytes: 4000 },
  { name: 'events', shards: 6, replicationFactor: 1, bytes: 2500 },
];

function parsedSpec() {
  const r = validateSpec(worldSpec());
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.spec;
}

/** What the world holds that a migration would change: Plans, members, DNS, bridge, auto-shrink, side effects. */
function worldState(world: World): string {
  return JSON.stringify({
    plans: world.groups.map((g) => [g.key, g.plan, [...g.inSync].sort()]),
    targetMembers: world.targetMembers.map((m) => m.podName),
    registered: [...world.registered.keys()],
    agents: [...world.agentsSide],
    dns: world.dns,
    bridge: [...world.bridge],
    autoShrink: world.autoShrink,
    effects: world.effects.length,
    jobs: world.jobs.size,
  });
}

/**
 * The dry run's assignment against the world's Plan: placeholder i stands for the target DB server whose ID
 * sorts i-th. Returns the groups where they differ (empty: the same assignment).
 */
function assignmentMismatches(plan: DryRun, world: World): string[] {
  const targetIds = [...world.registered.values()]
    .filter((r) => r.role === 'dbserver')
    .map((r) => r.id)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(targetIds.length, plan.targetDbServers.length, 'one target DB server per placeholder');
  const real = new Map(plan.targetDbServers.map((p, i) => [p, targetIds[i]!]));
  const out: string[] = [];
  for (const g of plan.groups) {
    const expected = g.to.map((p) => real.get(p) ?? `unknown placeholder ${p}`);
    const actual = world.groups.find((x) => x.key === g.key)?.plan;
    if (JSON.stringify(actual) !== JSON.stringify(expected))
      out.push(`${g.key}: plan says ${expected.join(',')}, world has ${actual?.join(',')}`);
  }
  return out;
}

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe('transit plan (dry run)', () => {
  it('changes nothing, and lists the target assignment the workflow then carries out', async () => {
    const world = new World({ syncMs: 50, dbServers: 4, collections: COLLECTIONS });
    await world.start();
    const acts = createWorldActivities(world.url);
    const taskQueue = `${TASK_QUEUE}-dry-run`;
    const w = await startWorker({ connection: await server.nativeConnection(), taskQueue, activities: acts });
    try {
      const before = worldState(world);
      const callsBefore = world.calls.length;
      const plan = await dryRun(acts, parsedSpec(), 'dry-run');
      assert.equal(worldState(world), before, 'the dry run changed the world');
      assert.deepEqual([...new Set(world.calls.slice(callsBefore).map((c) => c.name))].sort(), [
        'checkClusterHealth',
        'preflight',
        'readRecord',
        'readShardPlan',
        'readSourceDeployment',
      ]);
      const groups = world.groups.length;
      assert.equal(plan.groups.length, groups);
      // Every phase but AwaitApproval (the spec does not require approval), in order.
      assert.deepEqual(
        plan.phases,
        PHASES.filter((p) => p !== 'AwaitApproval'),
      );
      assert.deepEqual(
        plan.create.map((c) => [c.role, c.mirrors.length]),
        [
          ['dbserver', 4],
          ['coordinator', 2],
        ],
      );
      // Every group gains all its servers on the target: its size once per copy.
      const expectedCopy = world.groups.reduce((n, g) => n + g.bytes * g.rf, 0);
      assert.equal(plan.bytesToCopy, expectedCopy);
      const text = formatDryRun(plan);
      assert.equal(text.filter((l) => l.startsWith('  db/')).length, groups, 'one line per shard group');
      // The pre-start estimate counts one MoveShard job per new copy and one for the leader change: every server of
      // every group is new.
      assert.equal(
        plan.estimate.jobs,
        world.groups.reduce((n, g) => n + g.rf + 1, 0),
      );
      assert.equal(plan.estimate.groupsMoving, groups);
      assert.ok(plan.estimate.p90Seconds >= plan.estimate.p50Seconds && plan.estimate.p50Seconds > 0);
      assert.ok(text.some((l) => /^Estimate before start: MoveShards about .* \(P50\), .* \(P90\)/.test(l)));
      console.log(`FIGURE dry run: ${groups} groups, ${plan.bytesToCopy} bytes to copy (in-memory world)`);

      const handle = await server.client.workflow.start('migrationWorkflow', {
        taskQueue,
        workflowId: `dry-run-then-migrate-${Date.now()}`,
        args: [{ spec: worldSpec() }],
      });
      const report = (await handle.result()) as MigrationReport;
      assert.equal(report.status, 'completed');
      assert.deepEqual(assignmentMismatches(plan, world), []);

      // The twin: the same checks catch a changed world and a different assignment.
      const afterMigration = worldState(world);
      await acts.bridgeNetworks({ migrationId: 'dry-run-twin', spec: parsedSpec(), members: world.sourceMembers });
      assert.notEqual(worldState(world), afterMigration, 'a write is seen by the nothing-changed check');
      const rotated = {
        ...plan,
        groups: plan.groups.map((g, i) => ({ ...g, to: plan.groups[(i + 1) % groups]!.to })),
      };
      assert.ok(assignmentMismatches(rotated, world).length > 0, 'a different assignment is seen as different');
    } finally {
      await w.stop();
      await world.stop();
    }
  });
});
