/**
 * A shard group that waits on supervision does not wait for ever once supervision has acted (issue: nothing stalls).
 * The migration workflow on the real Temporal dev server against the in-memory world: as the engine submits its first
 * MoveShard jobs, one group loses a follower in Plan (as RemoveFollower or a failed follower's removal leave it), so its
 * job is refused ("planChanged") and the engine waits for supervision to add a copy; 3 s later the world's
 * "supervision" adds it back (AddFollower). Asserted from the world's Plan: every group ends on the target, and the
 * engine re-read that group's Plan (readShardServers) rather than finishing by accident.
 * Twin: the same, with the world answering those re-reads with nothing (the engine's view as before patch
 * 'refresh-waiting-groups'): the group stays on the source, nothing in flight, the migration still running.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { withWorldMigration } from './harness/worker';
import { World } from '../src/sim/world';
import { progressQuery } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

async function run(
  name: string,
  blind: boolean,
  check: (o: { world: World; handle: any; key: string }) => Promise<void>,
) {
  const world = new World({ syncMs: 20 });
  world.blindPlanReads = blind;
  await world.start();
  const gate = world.gate((n) => n === 'submitShardMoves');
  await withWorldMigration(server, world, name, async (handle) => {
    await gate.hit;
    // One group of the batch loses its follower in Plan before the jobs are written: its job is refused.
    const g = world.groups.find((x) => x.plan.length === 2)!;
    const follower = g.plan[1]!;
    g.plan = [g.plan[0]!];
    g.inSync.delete(follower);
    gate.release();
    // Supervision's AddFollower, a little later: the copy is back (in sync at once in this world).
    await sleep(3000);
    g.plan = [...g.plan, follower];
    g.inSync.add(follower);
    await check({ world, handle, key: g.key });
  });
}

describe('a group waiting on supervision', () => {
  it('sees supervision add the copy (re-reads its Plan) and the migration completes on the target', async () => {
    await run('waits-refresh', false, async ({ world, handle, key }) => {
      const r = (await handle.result()) as MigrationReport;
      assert.equal(r.status, 'completed');
      const s = world.snapshot();
      assert.equal(s.groupsOnTarget, world.groups.length, 'every group on the target');
      assert.deepEqual(s.underReplicated, []);
      assert.ok(
        world.calls.some((c) => c.name === 'readShardServers'),
        `the engine re-read the Plan of the waiting group ${key}`,
      );
    });
  });

  it('twin: without the re-read, the group stays on the source with nothing in flight', async () => {
    await run('waits-blind', true, async ({ world, handle, key }) => {
      await sleep(20_000);
      const g = world.groups.find((x) => x.key === key)!;
      const s = world.snapshot();
      assert.equal(s.openJobs, 0, 'nothing in flight');
      const p = await handle.query(progressQuery);
      assert.equal(p.phase, 'MoveShards', 'still in MoveShards');
      assert.equal(p.status, 'running');
      assert.ok(s.groupsOnTarget < world.groups.length, `group ${key} not moved: ${JSON.stringify(g.plan)}`);
      await handle.terminate('twin: stalled as expected');
    });
  });
});
