/**
 * A Transit worker: polls the `transit` task queue, runs the migration workflow and the activities that touch
 * Kubernetes, the ArangoDB agency, DNS and the probes. Several workers may poll the same queue; any of them can
 * finish a migration another one started. SIGINT/SIGTERM shut it down gracefully (in-flight activities get
 * `shutdownGraceTime` to finish; the server hands unfinished work to another worker).
 *
 * Operations: JSON logs on stdout (TRANSIT_LOG_FORMAT=text for the SDK's plain format), the SDK's and Transit's
 * metrics on a Prometheus endpoint (metricsAddress / TRANSIT_METRICS_ADDRESS), payloads encrypted with the
 * codec key file (TRANSIT_CODEC_KEY_FILE), mTLS or an API key to Temporal (src/connection.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type Logger,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from './activities';
import type { TransitActivities } from './activities/contract';
import { dataConverter } from './codec';
import {
  checkTlsFiles,
  connectionOptions,
  diagnoseConnectError,
  temporalSettings,
  type SettingsInput,
} from './connection';
import { activityWorkerOptions, JsonLogger, telemetryOptions } from './observability';
import { probeTaskQueue, TASK_QUEUE } from './shared/controls';

export interface WorkerOptions extends SettingsInput {
  taskQueue?: string;
  codecKeyFile?: string;
  /** Prebuilt workflow bundle (production image); default: bundle src/workflows at start. */
  workflowBundlePath?: string;
  /** Prometheus endpoint of the SDK's and Transit's metrics, e.g. 0.0.0.0:9464. */
  metricsAddress?: string;
  logLevel?: LogLevel;
  /** 'json' (default; env TRANSIT_LOG_FORMAT) or 'text'. */
  logFormat?: 'json' | 'text';
  /** Where JSON log lines go (default stdout). */
  logWrite?: (line: string) => void;
  activities?: Partial<ActivityDeps>;
  /**
   * The region this worker runs in (env TRANSIT_WORKER_REGION): the version checks it prints say where they were
   * measured from, "worker (eu) → us coordinators (cross region)"; unset, "worker (region unknown)".
   */
  region?: string;
  /** Use these activity implementations instead of createActivities (embedding, tests). */
  activityImplementations?: TransitActivities;
  maxConcurrentActivities?: number;
  /** Worker identity in workflow histories (default: pid@hostname; in Kubernetes the pod name). */
  identity?: string;
  /**
   * Let the server hand new activities straight back to the worker that scheduled them (default false). Off,
   * every activity goes through the task queue, so one migration's activities spread over all workers: more
   * hands for its waits, and a worker that dies takes only its share with it, not the workflow's whole batch.
   */
  eagerActivities?: boolean;
}

let runtimeInstalled = false;
/** The Runtime can be installed once per process, before any connection: logger and telemetry are set here. */
export function installRuntime(
  o: Pick<WorkerOptions, 'logLevel' | 'logFormat' | 'logWrite' | 'metricsAddress'> = {},
): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = o.logLevel ?? 'INFO';
  const format = o.logFormat ?? (process.env.TRANSIT_LOG_FORMAT === 'text' ? 'text' : 'json');
  const logger: Logger = format === 'text' ? new DefaultLogger(level) : new JsonLogger(level, o.logWrite);
  try {
    Runtime.install({ logger, telemetryOptions: telemetryOptions({ metricsAddress: o.metricsAddress }) });
  } catch (e) {
    // Embedded in a process that made its own Runtime first: keep it, and say what is not applied.
    Runtime.instance().logger.warn(
      `Temporal Runtime already set up by this process: Transit's log format and metrics endpoint are not applied (${(e as Error).message})`,
      { sdkComponent: 'worker' },
    );
  }
}

/**
 * The prebuilt workflow bundle of a production image. It must include Transit's failure converter: with a
 * prebuilt bundle the SDK ignores the data converter's failureConverterPath inside the workflow sandbox, so
 * failures raised by workflow code would be stored with plain-text messages despite the codec.
 *   node -e "require('./lib/src/worker').writeWorkflowBundle('lib/workflow-bundle.js')"
 */
export async function writeWorkflowBundle(outPath: string, opts: { logger?: Logger } = {}): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    failureConverterPath: require.resolve('./failure-converter'),
    logger: opts.logger,
  });
  await writeFile(outPath, code);
}

/** Only Transit's failure converter has this source text (src/failure-converter.ts). */
const FAILURE_CONVERTER_MARK = 'encodeCommonAttributes: true';

async function checkBundle(path: string, encrypted: boolean): Promise<void> {
  if (!encrypted) return;
  const code = await readFile(path, 'utf8').catch((e: Error) => {
    throw new Error(
      `cannot read the workflow bundle ${path} (--workflow-bundle / TRANSIT_WORKFLOW_BUNDLE): ${e.message}`,
    );
  });
  if (!code.includes(FAILURE_CONVERTER_MARK)) {
    Runtime.instance().logger.warn(
      `the workflow bundle ${path} was built without Transit's failure converter: messages of failures raised in workflow code will be stored in plain text; build it with writeWorkflowBundle() (src/worker.ts)`,
      { sdkComponent: 'worker' },
    );
  }
}

/** What every worker of this process shares: the connection, the data converter and the activities. */
async function prepare(o: WorkerOptions) {
  installRuntime(o);
  const settings = temporalSettings(o);
  checkTlsFiles(settings);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(connectionOptions(settings));
  } catch (e) {
    throw await diagnoseConnectError(settings, e);
  }
  try {
    const converter = await dataConverter({ keyFile: o.codecKeyFile });
    if (o.workflowBundlePath) await checkBundle(o.workflowBundlePath, !!converter.payloadCodecs?.length);
    const deps = { ...o.activities, region: o.region ?? o.activities?.region };
    // createActivities registers every credential it reads with the log redaction (src/activities/credentials.ts).
    const activities = o.activityImplementations ?? createActivities(deps);
    return { settings, connection, converter, activities };
  } catch (e) {
    await connection.close().catch(() => undefined);
    throw e;
  }
}

type Prepared = Awaited<ReturnType<typeof prepare>>;
type ProbeArgs = Parameters<TransitActivities['probeClientLatency']>[0];

async function mainWorker(o: WorkerOptions, p: Prepared): Promise<Worker> {
  const taskQueue = o.taskQueue ?? TASK_QUEUE;
  const worker = await Worker.create({
    connection: p.connection,
    namespace: p.settings.namespace,
    taskQueue,
    ...(o.identity ? { identity: o.identity } : {}),
    ...(o.workflowBundlePath
      ? { workflowBundle: { codePath: o.workflowBundlePath } }
      : { workflowsPath: require.resolve('./workflows') }),
    activities: p.activities,
    // Heartbeats every HEARTBEAT_EVERY_MS, each one sent: a heartbeat timeout of a few seconds notices a dead worker.
    ...activityWorkerOptions(),
    dataConverter: p.converter,
    shutdownGraceTime: '30s',
    // A worker that dies with a workflow task in its sticky queue: hand it to another worker quickly.
    stickyQueueScheduleToStartTimeout: '3s',
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 50,
    maxEagerActivityReservationsPerWorkflowTask: o.eagerActivities ? 3 : 0,
    maxCachedWorkflows: 200,
  });
  await takeOverStickiness(p.connection, p.settings.namespace, taskQueue);
  return worker;
}

/**
 * A worker that starts takes the running migrations of its task queue off any other worker's sticky queue: after
 * a worker dies (SIGKILL, a lost node) Temporal would hold each migration's next workflow task on the dead
 * worker's sticky queue for the sticky schedule-to-start timeout before handing it on. The cost is one replay of
 * each running migration on its next task (a live worker's cache entry is not used once). Best effort: a failure
 * is logged and the worker starts anyway.
 */
async function takeOverStickiness(connection: NativeConnection, namespace: string, taskQueue: string): Promise<void> {
  const svc = connection.workflowService;
  try {
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await svc.listWorkflowExecutions({
        namespace,
        query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
        pageSize: 100,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const w of page.executions ?? [])
        if (w.execution) await svc.resetStickyTaskQueue({ namespace, execution: w.execution });
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
  } catch (e) {
    Runtime.instance().logger.warn(
      `could not take running migrations off other workers' sticky queues (they continue after the sticky timeout): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/**
 * The client-latency probes of this worker's region (policy.latency.probeFrom "each-region"): only
 * probeClientLatency, on task queue <task queue>-probe-<region>, so the probes run from where this worker sits.
 */
function regionProbeWorker(o: WorkerOptions & { region: string }, p: Prepared): Promise<Worker> {
  return Worker.create({
    connection: p.connection,
    namespace: p.settings.namespace,
    taskQueue: probeTaskQueue(o.taskQueue ?? TASK_QUEUE, o.region),
    ...(o.identity ? { identity: `${o.identity} (probes ${o.region})` } : {}),
    activities: { probeClientLatency: (a: ProbeArgs) => p.activities.probeClientLatency(a) },
    ...activityWorkerOptions(),
    dataConverter: p.converter,
    shutdownGraceTime: '30s',
    maxConcurrentActivityTaskExecutions: 8,
  });
}

export async function createWorker(o: WorkerOptions = {}): Promise<{ worker: Worker; connection: NativeConnection }> {
  const p = await prepare(o);
  try {
    return { worker: await mainWorker(o, p), connection: p.connection };
  } catch (e) {
    await p.connection.close().catch(() => undefined);
    throw e;
  }
}

/**
 * The workers `transit worker` runs: the main one (workflow and every activity) and, with a region, the probe
 * worker of that region beside it on the same connection; with `probeOnly`, the probe worker alone (a region
 * whose clients the probes must see but where no main worker runs).
 */
export async function createWorkers(
  o: WorkerOptions & { probeOnly?: boolean } = {},
): Promise<{ workers: Worker[]; connection: NativeConnection }> {
  const region = o.region?.trim();
  if (o.probeOnly && !region)
    throw new Error('--probe-only needs --region (or TRANSIT_WORKER_REGION): the region whose probes this worker runs');
  const p = await prepare(o);
  try {
    const workers: Worker[] = [];
    if (!o.probeOnly) workers.push(await mainWorker(o, p));
    if (region) workers.push(await regionProbeWorker({ ...o, region }, p));
    return { workers, connection: p.connection };
  } catch (e) {
    await p.connection.close().catch(() => undefined);
    throw e;
  }
}

/** Runs until SIGINT/SIGTERM (the Runtime installs those handlers and shuts the workers down). */
export async function runWorker(o: WorkerOptions & { probeOnly?: boolean } = {}): Promise<void> {
  const { workers, connection } = await createWorkers(o);
  try {
    await Promise.all(workers.map((w) => w.run()));
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
