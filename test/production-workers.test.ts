/**
 * Several production workers on one task queue (each its own process, src/worker.ts, activities bound to the
 * in-memory world): a migration's activities spread across them — counted per worker from the identities in
 * the workflow history, and cross-checked against each worker's own Prometheus counters — and SIGKILLing the
 * worker that holds an in-flight activity in the middle of MoveShards loses nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { productionBundleFile, spawnTransitWorker, type TransitWorkerProc } from './harness/transit-worker';
import { spawnWorldWorker, workflowBundleFile } from './harness/worker';
import { temporal } from '@temporalio/proto';
import { eventTimeMs } from '../src/report/history';
import { World } from '../src/sim/world';
import { worldSpec } from './harness/specs';
import { freePorts, waitFor } from './harness/procs';
import { histograms, scrape } from './harness/prometheus';
import { TransitClient } from '../src/client';
import type { MigrationReport } from '../src/shared/types';

const fig = (name: string, v: unknown) =>
  console.log(`FIGURE ${name}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);

let server: DevServer;
/** A production worker process's environment on this test's server: its task queue, bundle and identity. */
const workerEnv = (taskQueue: string, bundlePath: string, identity: string) => ({
  TEMPORAL_ADDRESS: server.address,
  TRANSIT_TASK_QUEUE: taskQueue,
  TRANSIT_WORKFLOW_BUNDLE: bundlePath,
  TRANSIT_WORKER_IDENTITY: identity,
  TRANSIT_LOG_LEVEL: 'WARN',
});
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe('three workers on one task queue', () => {
  it(
    'share a migration’s activities, and a SIGKILLed one in the middle loses nothing',
    { timeout: 240_000 },
    async () => {
      const bundlePath = await productionBundleFile();
      const world = new World({
        syncMs: 700,
        collections: [
          { name: 'orders', shards: 12, replicationFactor: 2, clones: 1, bytes: 4000 },
          { name: 'users', shards: 6, replicationFactor: 3, bytes: 2000 },
        ],
      });
      await world.start();
      const taskQueue = `three-${Date.now()}`;
      const ports = await freePorts(3);
      const names = ['worker-a', 'worker-b', 'worker-c'];
      const workers: TransitWorkerProc[] = [];
      const client = await TransitClient.connect({ address: server.address });
      try {
        for (const [i, name] of names.entries()) {
          workers.push(
            await spawnTransitWorker({
              worldUrl: world.url,
              name,
              metricsPort: ports[i],
              env: workerEnv(taskQueue, bundlePath, name),
            }),
          );
        }
        const spec = worldSpec() as any;
        spec.policy.maxConcurrentShardMoves = 4;
        const { workflowId } = await client.startMigration(spec, { taskQueue, workflowId: `three-${Date.now()}` });
        const handle = client.handle(workflowId);

        // In the middle of MoveShards: hold the next waitForShardMoves in the world, so it is surely in flight,
        // and SIGKILL the worker running it.
        const before = await waitFor(
          'shards moving',
          async () => {
            const p = await client.getProgress(workflowId);
            return p.phase === 'MoveShards' && p.shardsDone >= 4 ? p : undefined;
          },
          { timeoutMs: 90_000, intervalMs: 50 },
        );
        const gate = world.gate((name) => name === 'waitForShardMoves');
        await gate.hit;
        const pending = await waitFor(
          'the held activity on its worker',
          async () => {
            const d = await handle.describe();
            const raw = (d.raw.pendingActivities ?? []).find(
              (a) =>
                a.activityType?.name === 'waitForShardMoves' &&
                a.lastWorkerIdentity &&
                names.includes(a.lastWorkerIdentity),
            );
            return raw
              ? {
                  id: raw.activityId!,
                  type: raw.activityType!.name!,
                  on: raw.lastWorkerIdentity!,
                  attempt: raw.attempt ?? 1,
                }
              : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 20 },
        );
        const victim = workers[names.indexOf(pending.on)]!;
        const killedAt = Date.now();
        process.kill(victim.pid, 'SIGKILL');
        await victim.exited;
        gate.release();
        // Its heartbeats stop: after the heartbeat timeout the server gives the activity to another worker.
        await waitFor(
          'progress after the kill',
          async () => (await client.getProgress(workflowId)).shardsDone > before.shardsDone,
          { timeoutMs: 90_000, intervalMs: 50 },
        );
        fig(
          `SIGKILL of ${pending.on} (during ${pending.type}) → progress resumed (s)`,
          ((Date.now() - killedAt) / 1000).toFixed(1),
        );

        const report = (await client.result(workflowId)) as MigrationReport;
        assert.equal(report.status, 'completed');
        // Nothing lost, nothing done twice, every group whole on the target.
        const s = world.snapshot();
        assert.equal(s.groupsOnTarget, world.groups.length);
        assert.deepEqual(s.underReplicated, []);
        assert.deepEqual(s.overReplicated, []);
        assert.equal(s.locked, 0);
        assert.equal(s.groupsMixed, 0);
        assert.deepEqual(world.duplicateEffects(), []);
        assert.equal(report.shardsOnTarget, report.shardsTotal);

        // Who ran what: the identity in each ActivityTaskStarted (the attempt that finished) and WorkflowTaskStarted.
        const history = await handle.fetchHistory();
        const activities: Record<string, number> = {};
        const workflowTasks: Record<string, number> = {};
        const scheduled = new Map<number, string>();
        for (const e of history.events ?? []) {
          const id = Number(e.eventId);
          if (e.activityTaskScheduledEventAttributes)
            scheduled.set(id, e.activityTaskScheduledEventAttributes.activityId ?? '');
          const a = e.activityTaskStartedEventAttributes;
          if (a?.identity) {
            activities[a.identity] = (activities[a.identity] ?? 0) + 1;
          }
          const w = e.workflowTaskStartedEventAttributes;
          if (w?.identity) workflowTasks[w.identity] = (workflowTasks[w.identity] ?? 0) + 1;
        }
        fig('activities per worker', activities);
        fig('workflow tasks per worker', workflowTasks);
        for (const n of names)
          assert.ok((activities[n] ?? 0) > 0, `${n} ran activities (${JSON.stringify(activities)})`);
        // The activity that was running on the killed worker finished on another one, in a later attempt.
        const retried = (history.events ?? []).find((e) => {
          const a = e.activityTaskStartedEventAttributes;
          return a && scheduled.get(Number(a.scheduledEventId)) === pending.id;
        })?.activityTaskStartedEventAttributes;
        assert.ok(
          retried && retried.identity !== pending.on && (retried.attempt ?? 1) > pending.attempt,
          `activity ${pending.id} finished by ${retried?.identity} in attempt ${retried?.attempt}, after the killed ${pending.on}`,
        );

        // Each survivor's own counters agree with the history (every attempt it ran is counted there).
        for (const w of workers.filter((x) => x !== victim)) {
          const m = (await scrape(w.metricsUrl!)).metrics;
          const ran = histograms(m, 'temporal_activity_execution_latency')
            .filter((h) => h.labels.task_queue === taskQueue)
            .reduce((n, h) => n + h.count, 0);
          const name = names[workers.indexOf(w)]!;
          assert.ok(
            ran >= (activities[name] ?? 0) && ran > 0,
            `${name}: ${ran} executions in its metrics, ${activities[name]} in the history`,
          );
        }
      } finally {
        for (const w of workers) await w.stop();
        await client.close();
        await world.stop();
      }
    },
  );
});

/**
 * One worker, SIGKILLed while MoveShards waits on the agency; a new worker started after the kill (no standby).
 * A production worker that starts takes the running migration off the dead worker's sticky queue (src/worker.ts
 * takeOverStickiness): the history after the kill shows no workflow task that timed out waiting there. The twin: a
 * plain SDK worker as the new one does not, and the history shows the sticky schedule-to-start timeout (even started as a standby before the kill).
 */
describe('a worker SIGKILLed mid-MoveShards, a new one started after it', () => {
  const stickyTimeoutsAfter = async (client: TransitClient, workflowId: string, since: number) => {
    const h = await client.handle(workflowId).fetchHistory();
    return (h.events ?? []).filter(
      (e) =>
        eventTimeMs(e) >= since &&
        e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT &&
        e.workflowTaskTimedOutEventAttributes?.timeoutType ===
          temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
    ).length;
  };

  async function killAndReplace(newWorker: 'production' | 'plain sdk') {
    const bundlePath = await productionBundleFile();
    const world = new World({
      syncMs: 700,
      collections: [{ name: 'orders', shards: 12, replicationFactor: 2, clones: 1, bytes: 4000 }],
    });
    await world.start();
    const taskQueue = `takeover-${Date.now()}`;
    const client = await TransitClient.connect({ address: server.address });
    const procs: { stop(): Promise<unknown> }[] = [];
    try {
      const a = await spawnTransitWorker({
        worldUrl: world.url,
        name: 'worker-a',
        env: workerEnv(taskQueue, bundlePath, 'worker-a'),
      });
      procs.push(a);
      const spec = worldSpec() as any;
      spec.policy.maxConcurrentShardMoves = 3;
      const { workflowId } = await client.startMigration(spec, { taskQueue, workflowId: `takeover-${Date.now()}` });
      await waitFor(
        'shards moving',
        async () => {
          const p = await client.getProgress(workflowId);
          return p.phase === 'MoveShards' && p.shardsDone >= 2 ? p : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 50 },
      );
      const spawnB = async () =>
        newWorker === 'production'
          ? spawnTransitWorker({
              worldUrl: world.url,
              name: 'worker-b',
              env: workerEnv(taskQueue, bundlePath, 'worker-b'),
            })
          : spawnWorldWorker({
              address: server.address,
              taskQueue,
              worldUrl: world.url,
              bundlePath: await workflowBundleFile(),
              name: 'worker-b',
            });
      // The plain worker is started before the kill (a warm standby, the kinder case): the retried wait then ends
      // well inside the server's 10 s window in which it still counts the dead worker's sticky queue as polled.
      if (newWorker === 'plain sdk') procs.push(await spawnB());
      const gate = world.gate((name) => name === 'waitForShardMoves');
      await gate.hit;
      const killedAt = Date.now();
      process.kill(a.pid, 'SIGKILL');
      await a.exited;
      gate.release();
      if (newWorker === 'production') procs.push(await spawnB());
      const report = (await client.result(workflowId)) as MigrationReport;
      assert.equal(report.status, 'completed');
      const s = world.snapshot();
      assert.equal(s.groupsOnTarget, world.groups.length);
      assert.deepEqual(s.underReplicated, []);
      assert.deepEqual(world.duplicateEffects(), []);
      return stickyTimeoutsAfter(client, workflowId, killedAt);
    } finally {
      for (const p of procs) await p.stop();
      await client.close();
      await world.stop();
    }
  }

  it(
    'a production worker takes the migration off the dead worker’s sticky queue at once',
    { timeout: 180_000 },
    async () => {
      assert.equal(await killAndReplace('production'), 0, 'workflow tasks that timed out on the dead sticky queue');
    },
  );

  it(
    'twin: a plain SDK worker leaves it there until the sticky schedule-to-start timeout',
    { timeout: 180_000 },
    async () => {
      assert.ok((await killAndReplace('plain sdk')) >= 1, 'a workflow task timed out on the dead sticky queue');
    },
  );
});
