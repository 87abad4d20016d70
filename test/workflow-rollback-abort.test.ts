/**
 * An abort that meets a rollback, on the real Temporal dev server against the in-memory world. A rollback is
 * itself the way out: an abort sent while it runs, or one still pending when it starts, must not stop the shard
 * engine half-way back (its loop would then spin without a command: a stuck workflow task). The rollback ends
 * with every group whole on the source, read from the world.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import { startDevServer, type DevServer } from './harness/temporal';
import { withWorldMigration } from './harness/worker';
import { World, type WorldOptions } from '../src/sim/world';
import { waitFor } from './harness/procs';
import { abortSignal, progressQuery, rollbackSignal } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

const slowShards: WorldOptions = {
  syncMs: 400,
  collections: [
    { name: 'orders', shards: 8, replicationFactor: 2, clones: 1, bytes: 4000 },
    { name: 'users', shards: 4, replicationFactor: 3, bytes: 2000 },
  ],
};

async function inWorld(name: string, fn: (c: { world: World; handle: WorkflowHandle }) => Promise<void>) {
  const world = new World(slowShards);
  await world.start();
  await withWorldMigration(server, world, name, (handle) => fn({ world, handle }));
}

const progress = (handle: WorkflowHandle, what: string, ok: (p: any) => boolean) =>
  waitFor(
    what,
    async () => {
      const p = await handle.query(progressQuery);
      return ok(p) ? p : undefined;
    },
    { timeoutMs: 60_000 },
  );

/** The rollback's result, or a failure naming what the workflow is stuck on (the SDK retries a stuck task). */
async function resultWithin(handle: WorkflowHandle, ms: number): Promise<MigrationReport> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void handle
        .query(progressQuery)
        .catch(() => null)
        .then((p) => {
          const state = p ? `${p.status} in ${p.phase}` : 'no answer to a query';
          reject(new Error(`no result after ${ms / 1000} s: ${state}`));
        });
    }, ms);
  });
  try {
    return (await Promise.race([handle.result(), stuck])) as MigrationReport;
  } finally {
    clearTimeout(timer);
  }
}

function assertAllOnSource(world: World): void {
  const s = world.snapshot();
  assert.equal(s.groupsOnSource, world.groups.length, 'every group back on the source');
  assert.deepEqual(s.underReplicated, []);
  assert.deepEqual(s.overReplicated, []);
  assert.equal(s.groupsMixed, 0);
  assert.deepEqual(s.targetMembers, []);
  assert.equal(s.bridgeObjects, 0);
}

describe('an abort meets a rollback', () => {
  it('abort while the rollback moves shards back: ignored, the rollback finishes', { timeout: 150_000 }, async () => {
    await inWorld('abort-in-rollback', async ({ world, handle }) => {
      await progress(handle, 'groups on the target', (p) => p.phase === 'MoveShards' && p.shardsDone >= 4);
      await handle.signal(rollbackSignal, { reason: 'test' });
      await progress(handle, 'rolling back', (p) => p.status === 'rollingBack');
      await handle.signal(abortSignal, { reason: 'test' });
      const r = await resultWithin(handle, 60_000);
      assert.equal(r.status, 'rolledBack');
      assertAllOnSource(world);
    });
  });

  it('abort pending when a rollback starts: the rollback still finishes', { timeout: 150_000 }, async () => {
    await inWorld('abort-then-rollback', async ({ world, handle }) => {
      await progress(handle, 'groups on the target', (p) => p.phase === 'MoveShards' && p.shardsDone >= 4);
      // The abort waits for the groups in flight; the rollback arrives before the engine stops.
      await handle.signal(abortSignal, { reason: 'test' });
      await handle.signal(rollbackSignal, { reason: 'test' });
      const r = await resultWithin(handle, 60_000);
      assert.equal(r.status, 'rolledBack');
      assertAllOnSource(world);
    });
  });
});
