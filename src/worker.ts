/**
 * A Transit worker: polls the `transit` task queue, runs the migration workflow and the activities that touch
 * Kubernetes, the ArangoDB agency, DNS and the probes. Several workers may poll the same queue; any of them can
 * finish a migration another one started. SIGINT/SIGTERM shut it down gracefully (in-flight activities get
 * `shutdownGraceTime` to finish; the server hands unfinished work to another worker).
 */
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import { dataConverter } from './codec';
import { connectionOptions, explainConnectError, temporalSettings, type SettingsInput } from './connection';
import { TASK_QUEUE } from './shared/controls';

export interface WorkerOptions extends SettingsInput {
  taskQueue?: string;
  codecKeyFile?: string;
  /** Prebuilt workflow bundle (production image); default: bundle src/workflows at start. */
  workflowBundlePath?: string;
  /** Prometheus endpoint of the SDK's and Transit's metrics, e.g. 0.0.0.0:9464. */
  metricsAddress?: string;
  logLevel?: LogLevel;
  activities?: Partial<ActivityDeps>;
  maxConcurrentActivities?: number;
}

let runtimeInstalled = false;
function installRuntime(o: WorkerOptions): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger(o.logLevel ?? 'INFO'),
    telemetryOptions: o.metricsAddress ? { metrics: { prometheus: { bindAddress: o.metricsAddress } } } : undefined,
  });
}

export async function createWorker(o: WorkerOptions = {}): Promise<{ worker: Worker; connection: NativeConnection }> {
  installRuntime(o);
  const settings = temporalSettings(o);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(settings));
  } catch (e) {
    throw explainConnectError(settings, e);
  }
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    ...(o.workflowBundlePath ? { workflowBundle: { codePath: o.workflowBundlePath } } : { workflowsPath: require.resolve('./workflows') }),
    activities: createActivities(o.activities),
    dataConverter: await dataConverter({ keyFile: o.codecKeyFile }),
    shutdownGraceTime: '30s',
    // A worker that dies with a workflow task in its sticky queue: hand it to another worker quickly.
    stickyQueueScheduleToStartTimeout: '3s',
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 50,
    maxCachedWorkflows: 200,
  });
  return { worker, connection };
}

/** Runs until SIGINT/SIGTERM (the Runtime installs those handlers and shuts the worker down). */
export async function runWorker(o: WorkerOptions = {}): Promise<void> {
  const { worker, connection } = await createWorker(o);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorker({ metricsAddress: process.env.TRANSIT_METRICS_ADDRESS }).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
