/**
 * The typed client other services use to start and steer migrations; the CLI is a thin layer over it.
 *
 *   const transit = await TransitClient.connect({ address: 'temporal:7233' });
 *   const { workflowId } = await transit.startMigration(spec);
 *   await transit.watch(workflowId, (p) => console.log(p.phase, p.shardsDone, '/', p.shardsTotal));
 */
import { Client, Connection, WorkflowIdConflictPolicy, type WorkflowHandle } from '@temporalio/client';
import {
  CLIENT_CHANNEL_ARGS,
  checkTlsFiles,
  connectionOptions,
  diagnoseConnectError,
  temporalSettings,
  type SettingsInput,
  type TemporalSettings,
} from './connection';
import { dataConverter } from './codec';
import { assertValidSpec } from './spec/validate';
import {
  abortSignal,
  approveUpdate,
  migrationWorkflowId,
  pauseSignal,
  planQuery,
  progressQuery,
  resumeSignal,
  rollbackSignal,
  SA_DEPLOYMENT,
  SA_MIGRATION_PHASE,
  SA_SOURCE_CLUSTER,
  SA_TARGET_CLUSTER,
  setConcurrencyUpdate,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  type ApproveResult,
  type ControlNote,
  type SetConcurrencyResult,
} from './shared/controls';
import {
  PHASES,
  POINT_OF_NO_RETURN,
  type MigrationPlanView,
  type MigrationProgress,
  type MigrationReport,
} from './shared/types';
import type { MigrationInput } from './workflows/migration';
import type { BuiltReport } from './report';

export { InvalidSpecError } from './spec/validate';

/** Rollback refused: the migration has passed the point of no return (or has ended). */
export class RollbackRefusedError extends Error {
  override readonly name = 'RollbackRefusedError';
}

export interface StartOptions {
  /** Default: `transit-<namespace>-<deployment>-to-<target context>`: one running migration per deployment and target. */
  workflowId?: string;
  taskQueue?: string;
  /** Test knob: continue-as-new after this many history events. */
  continueAsNewAfterEvents?: number;
}

export class TransitClient {
  private constructor(
    readonly client: Client,
    private readonly connection: Connection,
    readonly settings: TemporalSettings,
  ) {}

  static async connect(opts: SettingsInput & { codecKeyFile?: string } = {}): Promise<TransitClient> {
    const settings = temporalSettings(opts);
    checkTlsFiles(settings);
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({
        ...connectionOptions(settings),
        connectTimeout: 10_000,
        channelArgs: CLIENT_CHANNEL_ARGS,
      });
      await connection.workflowService.getSystemInfo({});
    } catch (e) {
      await connection?.close().catch(() => undefined);
      throw await diagnoseConnectError(settings, e);
    }
    const client = new Client({
      connection,
      namespace: settings.namespace,
      dataConverter: await dataConverter({ keyFile: opts.codecKeyFile }),
    });
    return new TransitClient(client, connection, settings);
  }

  /**
   * Validates the spec (throws InvalidSpecError listing every problem) and starts the migration with the parsed
   * spec (defaults applied, credential references resolved), which the workflow checks once more on its input.
   */
  async startMigration(rawSpec: unknown, opts: StartOptions = {}): Promise<{ workflowId: string; runId: string }> {
    const spec = assertValidSpec(rawSpec);
    const workflowId = opts.workflowId ?? migrationWorkflowId(spec);
    const input: MigrationInput = {
      spec,
      migrationId: workflowId,
      continueAsNewAfterEvents: opts.continueAsNewAfterEvents,
    };
    const handle = await this.client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: opts.taskQueue ?? TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      typedSearchAttributes: [
        { key: SA_MIGRATION_PHASE, value: PHASES[0] },
        { key: SA_SOURCE_CLUSTER, value: `${spec.source.region}/${spec.source.context}` },
        { key: SA_TARGET_CLUSTER, value: `${spec.target.region}/${spec.target.context}` },
        { key: SA_DEPLOYMENT, value: `${spec.deployment.namespace}/${spec.deployment.name}` },
      ],
      staticSummary: `Migrate ${spec.deployment.namespace}/${spec.deployment.name}: ${spec.source.region} → ${spec.target.region}`,
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  }

  handle(workflowId: string): WorkflowHandle {
    return this.client.workflow.getHandle(workflowId);
  }

  getProgress(workflowId: string): Promise<MigrationProgress> {
    return this.handle(workflowId).query(progressQuery);
  }

  getPlan(workflowId: string): Promise<MigrationPlanView | null> {
    return this.handle(workflowId).query(planQuery);
  }

  pause(workflowId: string, note: ControlNote = {}): Promise<void> {
    return this.handle(workflowId).signal(pauseSignal, note);
  }

  resume(workflowId: string, note: ControlNote = {}): Promise<void> {
    return this.handle(workflowId).signal(resumeSignal, note);
  }

  abort(workflowId: string, note: ControlNote = {}): Promise<void> {
    return this.handle(workflowId).signal(abortSignal, note);
  }

  /** Refuses up front (RollbackRefusedError) when the migration is at or past Decommission; the workflow re-checks. */
  async rollback(workflowId: string, note: ControlNote = {}): Promise<void> {
    const p = await this.getProgress(workflowId);
    if (p.direction === 'forward' && PHASES.indexOf(p.phase) >= PHASES.indexOf(POINT_OF_NO_RETURN)) {
      throw new RollbackRefusedError(
        `rollback refused: ${workflowId} is in ${p.phase}, at or past the point of no return (${POINT_OF_NO_RETURN})`,
      );
    }
    if (['completed', 'aborted', 'rolledBack'].includes(p.status)) {
      throw new RollbackRefusedError(`rollback refused: ${workflowId} has already ended (${p.status})`);
    }
    await this.handle(workflowId).signal(rollbackSignal, note);
  }

  approve(workflowId: string, note: ControlNote = {}): Promise<ApproveResult> {
    return this.handle(workflowId).executeUpdate(approveUpdate, { args: [note] });
  }

  setConcurrency(workflowId: string, maxConcurrentShardMoves: number): Promise<SetConcurrencyResult> {
    return this.handle(workflowId).executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves }] });
  }

  result(workflowId: string): Promise<MigrationReport> {
    return this.handle(workflowId).result() as Promise<MigrationReport>;
  }

  /** Calls onProgress until the migration ends (or the signal aborts), then returns its report. */
  async watch(
    workflowId: string,
    onProgress: (p: MigrationProgress) => void,
    opts: { intervalMs?: number; signal?: AbortSignal } = {},
  ): Promise<MigrationReport> {
    const done = this.result(workflowId);
    let finished = false;
    void done.then(
      () => (finished = true),
      () => (finished = true),
    );
    while (!finished && !opts.signal?.aborted) {
      try {
        onProgress(await this.getProgress(workflowId));
      } catch {
        /* no worker polling right now: keep waiting */
      }
      await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000))]);
    }
    const report = await done;
    try {
      onProgress(await this.getProgress(workflowId));
    } catch {
      /* closed and no worker: the report says it all */
    }
    return report;
  }

  /**
   * The HTML report of a migration (`transit report`): from its Temporal history (every run of a continue-as-new
   * chain) and, while it is open and a worker answers, its progress now. `html` is one self-contained file.
   */
  async report(workflowId: string, opts: { runId?: string; queryTimeoutMs?: number } = {}): Promise<BuiltReport> {
    const { reportFromTemporal } = require('./report') as typeof import('./report');
    return reportFromTemporal(this.client, workflowId, opts);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
