/**
 * A production worker (src/worker.ts createWorker + run, as runWorker does: JSON logs, Prometheus metrics, activity interceptor, codec,
 * mTLS/API key settings from the environment) in its own process, with its activities bound to the in-memory
 * world. The production tests scrape it, grep its logs, count what it ran and SIGKILL it.
 *
 *   node --import tsx test/harness/transit-worker.ts <worldUrl>
 *   env: TEMPORAL_* (connection), TRANSIT_CODEC_KEY_FILE, TRANSIT_METRICS_ADDRESS, TRANSIT_TASK_QUEUE,
 *        TRANSIT_WORKER_IDENTITY, TRANSIT_WORKFLOW_BUNDLE, TRANSIT_LOG_LEVEL
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorker, writeWorkflowBundle } from '../../src/worker';
import { createWorldActivities } from '../../src/sim/world-activities';
import { spawnProc, waitFor, type Proc } from './procs';
import { ROOT } from './temporal';

let bundle: Promise<string> | null = null;
/** The workflow bundle as a production image has it (writeWorkflowBundle: with the failure converter), once per process. */
export function productionBundleFile(): Promise<string> {
  bundle ??= (async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'transit-prod-bundle-')), 'workflow-bundle.js');
    const noop = () => undefined;
    await writeWorkflowBundle(path, {
      logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m) },
    });
    return path;
  })();
  return bundle;
}

/** Written to stderr once the worker polls (whatever the log level). */
export const READY = 'transit-worker: polling';

export interface TransitWorkerProc extends Proc {
  /** Every line the worker wrote (stdout and stderr), in order. */
  lines: string[];
  metricsUrl: string | null;
}

/** Starts the worker and waits until it polls (its JSON log says RUNNING); fails with its output if it exits. */
export async function spawnTransitWorker(opts: {
  worldUrl: string;
  env: Record<string, string | undefined>;
  name?: string;
  metricsPort?: number;
  timeoutMs?: number;
}): Promise<TransitWorkerProc> {
  const lines: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.metricsPort) env.TRANSIT_METRICS_ADDRESS = `127.0.0.1:${opts.metricsPort}`;
  const p = spawnProc(
    opts.name ?? 'transit-worker',
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/harness/transit-worker.ts'), opts.worldUrl],
    {
      cwd: ROOT,
      env,
      onLine: (l) => lines.push(l),
    },
  );
  try {
    await waitFor(`worker ${opts.name ?? ''} to poll`, () => lines.some((l) => l.startsWith(READY)), {
      timeoutMs: opts.timeoutMs ?? 60_000,
      check: () => {
        if (p.hasExited()) throw new Error(`worker exited:\n${p.tail()}`);
      },
    });
  } catch (e) {
    await p.stop(2000);
    throw e;
  }
  return Object.assign(p, {
    lines,
    metricsUrl: opts.metricsPort ? `http://127.0.0.1:${opts.metricsPort}/metrics` : null,
  });
}

if (require.main === module) {
  const worldUrl = process.argv[2];
  if (!worldUrl) {
    console.error('usage: transit-worker <worldUrl>');
    process.exit(2);
  }
  // What runWorker does, plus one line on stderr once polling starts.
  (async () => {
    const { worker, connection } = await createWorker({
      taskQueue: process.env.TRANSIT_TASK_QUEUE,
      metricsAddress: process.env.TRANSIT_METRICS_ADDRESS,
      workflowBundlePath: process.env.TRANSIT_WORKFLOW_BUNDLE,
      identity: process.env.TRANSIT_WORKER_IDENTITY,
      logLevel: (process.env.TRANSIT_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO',
      activityImplementations: createWorldActivities(worldUrl),
    });
    const running = worker.run();
    process.stderr.write(`${READY}\n`);
    try {
      await running;
    } finally {
      await connection.close();
    }
  })().catch((e) => {
    console.error(`transit-worker: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
