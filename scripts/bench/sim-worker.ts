/**
 * The benchmark's worker process: Transit's production worker (src/worker.ts createWorker: same Worker options,
 * interceptors, cache) running migrationWorkflow from a prebuilt bundle. Its activities are the real agency
 * activities against the simulated ArangoDB cluster (shipped defaults: 1 s agency polling) for everything that
 * reads, moves or checks shards (every agency activity but agents, server removal and health), and the in-memory world (test/harness/world.ts) for Kubernetes, the bridge and DNS.
 * The world has no shards of its own; its target DB servers register as the simulated new DB servers.
 *
 *   argv: <temporal address> <task queue> <world URL> <bundle path> <target DB server IDs, comma-separated>
 */
import type { TransitActivities } from '../../src/activities/contract';
import { createAgencyActivities, fileCredentialReader } from '../../src/activities/agency';
import { createWorker } from '../../src/worker';
import { createWorldActivities } from '../../test/harness/world-activities';

/** Agency activities the world keeps: agents, server removal and health belong to the world's members. */
const WORLD_KEEPS = new Set([
  'waitForServerRegistered',
  'checkAgentReplaceable',
  'waitForAgentCaughtUp',
  'removeServer',
  'checkClusterHealth',
]);

async function main(): Promise<void> {
  const [address, taskQueue, worldUrl, bundlePath, targetList] = process.argv.slice(2);
  if (!address || !taskQueue || !worldUrl || !bundlePath || !targetList)
    throw new Error('usage: sim-worker <address> <taskQueue> <worldUrl> <bundlePath> <targetIds>');
  const targets = targetList.split(',');
  const world = createWorldActivities(worldUrl);
  const agency = createAgencyActivities({ readCredential: fileCredentialReader() }) as unknown as Record<
    string,
    unknown
  >;
  const acts: Record<string, unknown> = { ...world };
  for (const [n, f] of Object.entries(agency)) if (!WORLD_KEEPS.has(n)) acts[n] = f;
  acts.waitForServerRegistered = async (a: Parameters<TransitActivities['waitForServerRegistered']>[0]) => {
    const r = await world.waitForServerRegistered(a);
    let i = 0;
    return {
      servers: r.servers.map((s) => (s.role === 'dbserver' ? { ...s, id: targets[i]!, shortName: targets[i++]! } : s)),
    };
  };
  const { worker, connection } = await createWorker({
    address,
    taskQueue,
    workflowBundlePath: bundlePath,
    activityImplementations: acts as unknown as TransitActivities,
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
