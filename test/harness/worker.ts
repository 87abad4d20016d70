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
import { quietRuntime, ROOT } from './temporal';
import { spawnProc, waitFor, type Proc } from './procs';

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
}): Promise<{ worker: Worker; done: Promise<void>; stop(): Promise<void> }> {
  quietRuntime();
  const worker = await Worker.create({
    connection: opts.connection,
    taskQueue: opts.taskQueue,
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
