/**
 * Workers for the tests: the workflow bundle is built once per process (bundling costs seconds), and a worker
 * runs in-process or as a child process that a test can SIGKILL.
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleWorkflowCode,
  Worker,
  type NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { TASK_QUEUE } from '../../src/shared/controls';
import { quietRuntime, ROOT, type DevServer } from './temporal';
import { worldSpec } from './specs';
import type { World } from '../../src/sim/world';
import { createWorldActivities } from '../../src/sim/world-activities';
import { spawnProc, waitFor, type Proc } from './procs';
import { activityWorkerOptions } from '../../src/observability';
import { dataConverter } from '../../src/codec';

let bundlePromise: Promise<WorkflowBundleWithSourceMap> | null = null;
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: quietLogger(),
  });
  return bundlePromise;
}

/** The bundle written to a file, for child-process workers. */
export async function workflowBundleFile(): Promise<string> {
  const b = await workflowBundle();
  const path = join(mkdtempSync(join(tmpdir(), 'transit-bundle-')), 'workflows.js');
  writeFileSync(path, b.code);
  return path;
}

export async function startWorker(opts: {
  connection: NativeConnection;
  taskQueue: string;
  activities: object;
  /** Replaces the production data converter (src/codec.ts): a twin test's worker without compression. */
  dataConverter?: DataConverter;
}): Promise<{ worker: Worker; done: Promise<void>; stop(): Promise<void> }> {
  quietRuntime();
  const worker = await Worker.create({
    // As production workers do: every running activity heartbeats (short activities have a heartbeat timeout).
    ...activityWorkerOptions(),
    connection: opts.connection,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter ?? (await dataConverter()),
    workflowBundle: await workflowBundle(),
    activities: opts.activities,
    stickyQueueScheduleToStartTimeout: '2s',
    maxCachedWorkflows: 100,
  });
  const done = worker.run();
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** A worker in its own process (test/harness/world-worker.ts), bound to the in-memory world at worldUrl. */
export async function spawnWorldWorker(opts: {
  address: string;
  taskQueue: string;
  worldUrl: string;
  bundlePath: string;
  name?: string;
}): Promise<Proc> {
  let ready = false;
  const p = spawnProc(
    opts.name ?? 'world-worker',
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'test/harness/world-worker.ts'),
      opts.address,
      opts.taskQueue,
      opts.worldUrl,
      opts.bundlePath,
    ],
    {
      cwd: ROOT,
      onLine: (l) => {
        if (l.includes('worker ready')) ready = true;
      },
    },
  );
  await waitFor('the child worker to start', () => ready, {
    timeoutMs: 60_000,
    check: () => {
      if (p.hasExited()) throw new Error(`worker exited:\n${p.tail()}`);
    },
  });
  return p;
}

function quietLogger() {
  const noop = () => undefined;
  return {
    log: noop,
    trace: noop,
    debug: noop,
    info: noop,
    warn: (m: string) => console.warn(m),
    error: (m: string) => console.error(m),
  };
}

/**
 * A worker on a task queue of its own, bound to the in-memory world (already started and set up by the caller), a
 * migration of the world's spec started there, `fn` run with its handle; the worker and the world are stopped after.
 */
export async function withWorldMigration(
  server: DevServer,
  world: World,
  name: string,
  fn: (handle: WorkflowHandle) => Promise<void>,
): Promise<void> {
  const taskQueue = `${TASK_QUEUE}-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const w = await startWorker({
    connection: await server.nativeConnection(),
    taskQueue,
    activities: createWorldActivities(world.url),
  });
  try {
    const handle = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `${name}-${Date.now()}`,
      args: [{ spec: worldSpec() }],
    });
    await fn(handle);
  } finally {
    await w.stop();
    await world.stop();
  }
}
