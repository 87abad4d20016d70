// A worker process with Transit's real activities, bound to the end-to-end environment:
// argv = config file (from test/harness/environment.ts), task queue.
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { ServiceMap } from './environment';
import { workerAddress } from './network';
import { activityWorkerOptions } from '../../src/observability';
import { dataConverter } from '../../src/codec';

async function main(): Promise<void> {
  const [configFile, taskQueue = 'transit'] = process.argv.slice(2);
  const cfg = JSON.parse(readFileSync(configFile!, 'utf8')) as {
    address: string;
    kubeconfigPath: string;
    bundlePath?: string;
  };
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const map = new ServiceMap(cfg.kubeconfigPath);
  await map.start();
  const connection = await NativeConnection.connect({ address: cfg.address });
  const worker = await Worker.create({
    // As production workers do: every running activity heartbeats (short activities have a heartbeat timeout).
    ...activityWorkerOptions(),
    connection,
    taskQueue,
    dataConverter: await dataConverter(),
    ...(cfg.bundlePath
      ? { workflowBundle: { codePath: cfg.bundlePath } }
      : { workflowsPath: require.resolve('../../src/workflows') }),
    activities: createActivities({
      kubeconfigPath: cfg.kubeconfigPath,
      kube: {
        probe: {
          via: 'service',
          localAddress: (side) => workerAddress(side === 'source' ? 'eu' : 'us'),
          timeoutMs: 30_000,
        },
      },
      agency: { mapEndpoint: (e) => map.map(e) },
    }),
    stickyQueueScheduleToStartTimeout: '3s',
  });
  console.log('worker ready');
  try {
    await worker.run();
  } finally {
    map.stop();
    await connection.close();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
