// A worker process bound to the in-memory world: argv = address, task queue, world URL, workflow bundle path.
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createWorldActivities } from '../../src/sim/world-activities';
import { activityWorkerOptions } from '../../src/observability';
import { dataConverter } from '../../src/codec';

async function main(): Promise<void> {
  const [address, taskQueue, worldUrl, bundlePath] = process.argv.slice(2);
  if (!address || !taskQueue || !worldUrl || !bundlePath)
    throw new Error('usage: world-worker <address> <taskQueue> <worldUrl> <bundlePath>');
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    // As production workers do: every running activity heartbeats (short activities have a heartbeat timeout).
    ...activityWorkerOptions(),
    connection,
    taskQueue,
    dataConverter: await dataConverter(),
    workflowBundle: { codePath: bundlePath },
    activities: createWorldActivities(worldUrl),
    stickyQueueScheduleToStartTimeout: '2s',
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
