/**
 * The workflow under stress, on the real Temporal dev server against the in-memory world: controls in the
 * middle of MoveShards, a SIGKILLed worker, 10,000 shards with bounded history, credentials kept out of history,
 * and every history of this file replayed against the current code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { startDevServer, type DevServer } from './harness/temporal';
import { spawnWorldWorker, startWorker, workflowBundleFile } from './harness/worker';
import { World, type WorldOptions } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { sleep, waitFor } from './harness/procs';
import { historyJson, replayAll, runsOf } from './harness/replay';
import {
  abortSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  rollbackSignal,
  TASK_QUEUE,
} from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

const fig = (name: string, value: unknown) =>
  console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

async function inWorld(
  name: string,
  worldOpts: WorldOptions,
  specPatch: (s: any) => void,
  fn: (c: { world: World; handle: WorkflowHandle; taskQueue: string }) => Promise<void>,
  opts: { worker?: 'in-process' | 'none' } = {},
): Promise<void> {
  const world = new World(worldOpts);
  await world.start();
  const taskQueue = `${TASK_QUEUE}-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const w =
    opts.worker === 'none'
      ? null
      : await startWorker({
          connection: await server.nativeConnection(),
          taskQueue,
          activities: createWorldActivities(world.url),
        });
  try {
    const spec = worldSpec() as any;
    specPatch(spec);
    const handle = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `${name}-${Date.now()}`,
      args: [{ spec }],
    });
    await fn({ world, handle, taskQueue });
  } finally {
    await w?.stop();
    await world.stop();
  }
}

function assertGroupsWhole(world: World): void {
  const s = world.snapshot();
  assert.deepEqual(s.underReplicated, []);
  assert.deepEqual(s.overReplicated, []);
  assert.equal(s.locked, 0);
  assert.equal(s.groupsMixed, 0);
  assert.deepEqual(world.duplicateEffects(), []);
}

const inMoveShards = async (handle: WorkflowHandle, atLeast = 1) =>
  waitFor(
    'shard groups moving',
    async () => {
      const p = await handle.query(progressQuery);
      return p.phase === 'MoveShards' && p.shardsDone >= atLeast ? p : undefined;
    },
    { timeoutMs: 60_000 },
  );

const slowShards: WorldOptions = {
  syncMs: 400,
  collections: [
    { name: 'orders', shards: 8, replicationFactor: 2, clones: 1, bytes: 4000 },
    { name: 'users', shards: 4, replicationFactor: 3, bytes: 2000 },
  ],
};

describe('controls in the middle of MoveShards', () => {
  it(
    'pause parks at the next safe point with in-flight copies safe; resume completes',
    { timeout: 120_000 },
    async () => {
      await inWorld(
        'mid-pause',
        slowShards,
        () => undefined,
        async ({ world, handle }) => {
          await inMoveShards(handle);
          await handle.signal(pauseSignal);
          const parked = await waitFor('parked', async () => {
            const p = await handle.query(progressQuery);
            return p.paused ? p : undefined;
          });
          assert.equal(parked.phase, 'MoveShards');
          const s = world.snapshot();
          assert.deepEqual(s.underReplicated, [], 'every shard keeps replicationFactor in-sync copies while paused');
          const done = parked.shardsDone;
          await sleep(1200);
          assert.equal((await handle.query(progressQuery)).shardsDone, done, 'no progress while paused');
          await handle.signal(resumeSignal);
          const r = (await handle.result()) as MigrationReport;
          assert.equal(r.status, 'completed');
          assertGroupsWhole(world);
          assert.equal(world.snapshot().groupsOnTarget, world.groups.length);
        },
      );
    },
  );

  it(
    'abort lets in-flight moves finish, then stops with every group whole on one side',
    { timeout: 120_000 },
    async () => {
      await inWorld(
        'mid-abort',
        slowShards,
        () => undefined,
        async ({ world, handle }) => {
          await inMoveShards(handle);
          await handle.signal(abortSignal);
          const r = (await handle.result()) as MigrationReport;
          assert.equal(r.status, 'aborted');
          assertGroupsWhole(world);
          const s = world.snapshot();
          assert.ok(
            s.groupsOnTarget > 0 && s.groupsOnSource > 0,
            `a split at the abort point (${s.groupsOnTarget}/${s.groupsOnSource})`,
          );
          assert.equal(r.shardsMoving, 0);
          assert.equal(r.shardsOnSource + r.shardsOnTarget, r.shardsTotal);
          assert.equal(s.dnsSide, 'source', 'DNS still at the source, which still serves');
          assert.ok(r.bridgePresent, 'the bridge stays: members on both sides need it');
        },
      );
    },
  );

  it('rollback moves every group back, removes target members and the bridge', { timeout: 120_000 }, async () => {
    await inWorld(
      'mid-rollback',
      slowShards,
      () => undefined,
      async ({ world, handle }) => {
        await inMoveShards(handle, 3);
        await handle.signal(rollbackSignal);
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'rolledBack');
        assertGroupsWhole(world);
        const s = world.snapshot();
        assert.equal(s.groupsOnSource, world.groups.length);
        assert.equal(s.bridgeObjects, 0);
        assert.deepEqual(s.targetMembers, []);
      },
    );
  });

  it('a failed step parks with the error; resume retries it', { timeout: 120_000 }, async () => {
    await inWorld(
      'park-on-failure',
      slowShards,
      () => undefined,
      async ({ world, handle }) => {
        world.failing.set('bridgeNetworks', 'simulated: LoadBalancer quota exceeded in us');
        const p = await waitFor('parked on the failure', async () => {
          const q = await handle.query(progressQuery);
          return q.paused ? q : undefined;
        });
        assert.match(p.lastError ?? '', /bridgeNetworks: simulated: LoadBalancer quota exceeded/);
        world.failing.clear();
        await handle.signal(resumeSignal);
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
        assertGroupsWhole(world);
      },
    );
  });
});

describe('a worker SIGKILLed during a long activity', () => {
  it('a second worker finishes the migration, and no side effect happens twice', { timeout: 180_000 }, async () => {
    const bundlePath = await workflowBundleFile();
    await inWorld(
      'sigkill',
      { ...slowShards, syncMs: 1500 },
      (s) => (s.policy.maxConcurrentShardMoves = 3),
      async ({ world, handle, taskQueue }) => {
        const a = await spawnWorldWorker({
          address: server.address,
          taskQueue,
          worldUrl: world.url,
          bundlePath,
          name: 'worker-a',
        });
        const before = await inMoveShards(handle, 2);
        // Kill while a waitForShardMoves is in flight.
        await waitFor(
          'a wait in flight',
          () => world.calls.length > 0 && world.calls[world.calls.length - 1]!.name === 'waitForShardMoves',
        );
        const killedAt = Date.now();
        process.kill(a.pid, 'SIGKILL');
        await a.exited;
        const b = await spawnWorldWorker({
          address: server.address,
          taskQueue,
          worldUrl: world.url,
          bundlePath,
          name: 'worker-b',
        });
        const readyAt = Date.now();
        await waitFor(
          'progress on the second worker',
          async () => (await handle.query(progressQuery)).shardsDone > before.shardsDone,
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        const resumedAt = Date.now();
        fig('sigkill→progress resumed (s)', ((resumedAt - killedAt) / 1000).toFixed(1));
        fig('second worker ready→progress (s)', ((resumedAt - readyAt) / 1000).toFixed(1));
        const r = (await handle.result()) as MigrationReport;
        await b.stop();
        assert.equal(r.status, 'completed');
        assertGroupsWhole(world);
        assert.equal(world.snapshot().groupsOnTarget, world.groups.length);
      },
      { worker: 'none' },
    );
  });
});

describe('10,000 shards', () => {
  it('complete (no-op moves) with every run under 10,000 history events', { timeout: 600_000 }, async () => {
    const bundlePath = await workflowBundleFile();
    const collections = Array.from({ length: 50 }, (_, i) => ({
      name: `c${i}`,
      shards: 200,
      replicationFactor: 1 + (i % 3),
      clones: i % 5 === 0 ? 1 : 0,
      bytes: 0,
    }));
    await inWorld(
      'tenk',
      { collections, syncMs: 0 },
      (s) => (s.policy.maxConcurrentShardMoves = 500),
      async ({ world, handle, taskQueue }) => {
        assert.equal(world.groups.length, 10_000);
        const t0 = Date.now();
        const w = await spawnWorldWorker({
          address: server.address,
          taskQueue,
          worldUrl: world.url,
          bundlePath,
          name: 'worker-10k',
        });
        let peakKb = 0;
        const rss = setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'));
            if (m) peakKb = Math.max(peakKb, Number(m[1]));
          } catch {
            /* exited */
          }
        }, 500);
        const r = (await handle.result()) as MigrationReport;
        clearInterval(rss);
        const seconds = (Date.now() - t0) / 1000;
        await w.stop();
        assert.equal(r.status, 'completed');
        assert.equal(world.snapshot().groupsOnTarget, 10_000);
        const runs = await runsOf(server.client, handle.workflowId);
        fig('10k no-op wall time (s)', seconds.toFixed(1));
        fig(
          '10k events per run',
          runs.map((x) => x.events),
        );
        fig('10k worker peak RSS (MB)', Math.round(peakKb / 1024));
        assert.ok(runs.length >= 1);
        for (const run of runs) assert.ok(run.events < 10_000, `run ${run.runId} has ${run.events} events`);
        assertGroupsWhole(world);
      },
      { worker: 'none' },
    );
  });

  it(
    'continue-as-new carries the state: a forced small history limit still completes consistently',
    { timeout: 180_000 },
    async () => {
      const world = new World({
        syncMs: 100,
        collections: [{ name: 'x', shards: 40, replicationFactor: 2, bytes: 100 }],
      });
      await world.start();
      const taskQueue = `${TASK_QUEUE}-can-${Date.now()}`;
      const w = await startWorker({
        connection: await server.nativeConnection(),
        taskQueue,
        activities: createWorldActivities(world.url),
      });
      try {
        const spec = worldSpec() as any;
        spec.policy.maxConcurrentShardMoves = 3;
        const handle = await server.client.workflow.start('migrationWorkflow', {
          taskQueue,
          workflowId: `can-${Date.now()}`,
          args: [{ spec, continueAsNewAfterEvents: 120 }],
        });
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
        const runs = await runsOf(server.client, handle.workflowId);
        assert.ok(runs.length >= 3, `continued as new ${runs.length - 1} times`);
        assertGroupsWhole(world);
        assert.equal(world.snapshot().groupsOnTarget, 40);
      } finally {
        await w.stop();
        await world.stop();
      }
    },
  );
});

describe('credentials', () => {
  it('no credential value appears anywhere in an exported workflow history', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'transit-creds-'));
    const jwt = `jwt-${randomBytes(24).toString('hex')}`;
    const tsig = randomBytes(32).toString('base64');
    writeFileSync(join(dir, 'jwt'), jwt);
    writeFileSync(join(dir, 'tsig'), tsig);
    await inWorld(
      'creds',
      { syncMs: 10 },
      (s) => {
        s.arango.jwtSecret = { file: join(dir, 'jwt') };
        s.dns.tsigKey = { file: join(dir, 'tsig') };
      },
      async ({ world, handle }) => {
        world.credentials = [jwt, tsig];
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
        assert.ok(world.credentialChecks > 10, 'the activities really used the credentials');
        const history = await historyJson(server.address, handle.workflowId);
        const decoded = history + decodePayloads(history);
        for (const secret of [jwt, tsig]) assert.ok(!decoded.includes(secret), 'a credential value is in the history');
        assert.ok(decoded.includes(join(dir, 'jwt')), 'the reference (a path) is there, as it should be');
      },
    );
  });
});

describe('determinism', () => {
  it('every history of this file replays cleanly against the current code', { timeout: 300_000 }, async () => {
    const n = await replayAll(server.client, server.address);
    assert.ok(n >= 8, `replayed ${n} histories`);
  });
});

/** Payload data is base64 in the JSON history: decode every data field too. */
function decodePayloads(json: string): string {
  const out: string[] = [];
  for (const m of json.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g))
    out.push(Buffer.from(m[1]!, 'base64').toString('utf8'));
  return out.join('\n');
}
