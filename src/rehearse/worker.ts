/**
 * A rehearsal's worker process (also the benchmark's): Transit's production worker (src/worker.ts createWorker:
 * same Worker options, interceptors, cache) running migrationWorkflow from a prebuilt bundle, with the
 * rehearsal's activities (src/rehearse/activities.ts). Its own process so that a fault can SIGKILL it.
 *
 *   argv: <task queue> <world URL> <bundle path> [target DB server IDs, comma-separated (the benchmark's)]
 *   Temporal connection: the environment, as for every worker (TEMPORAL_ADDRESS, TLS, API key, codec key).
 */
import { createWorker } from '../worker';
import { rehearsalActivities } from './activities';

async function main(): Promise<void> {
  const [taskQueue, worldUrl, bundlePath, targetList] = process.argv.slice(2);
  if (!taskQueue || !worldUrl || !bundlePath)
    throw new Error('usage: rehearse/worker <taskQueue> <worldUrl> <bundlePath> [targetIds]');
  const { worker, connection } = await createWorker({
    taskQueue,
    workflowBundlePath: bundlePath,
    activityImplementations: rehearsalActivities(worldUrl, targetList ? targetList.split(',') : []),
    logLevel: 'WARN',
    logFormat: 'text',
  });
  console.log('worker ready');
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
