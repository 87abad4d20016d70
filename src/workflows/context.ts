/**
 * MigrationContext: the state of one run and the machinery every phase uses — steps with pause-on-failure, safe
 * points, continue-as-new, phase timings and publishing (Web UI details, search attribute, metrics).
 *
 * Concurrency contract: the control handlers (handlers.ts) are synchronous and only set flags or read state, so
 * they never interleave with a step half-way; the phases act on those flags only at safe points (between steps).
 */
import {
  ApplicationFailure,
  ActivityFailure,
  condition,
  continueAsNew,
  allHandlersFinished,
  isCancellation,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { TransitActivities, MemberInfo } from '../activities/contract';
import { SA_MIGRATION_PHASE } from '../shared/controls';
import type { MigrationPhase, MigrationReport, PhaseLabel } from '../shared/types';
import type { MigrationSpec } from '../spec/schema';
import { activityProxies } from './activities';
import { workflowNow } from './clock';
import type { CheckedInput, MigrationInput } from './input';
import { emitMigrationMetrics } from './metrics';
import { settleAll } from './shard-mover';
import { currentDetailsMarkdown, initialState, isBeyondPointOfNoReturn, type MigrationState } from './state';

type ActivityName = keyof TransitActivities;
type ActivityArg<K extends ActivityName> = Parameters<TransitActivities[K]>[0];
type ActivityResult<K extends ActivityName> = Awaited<ReturnType<TransitActivities[K]>>;

/** Thrown at a safe point when a rollback was requested: the workflow then runs the rollback. */
export class RollbackRequested extends Error {}
/** Thrown at a safe point when an abort was requested: the workflow then ends as aborted. */
export class AbortRequested extends Error {}

export class MigrationContext {
  s: MigrationState;
  private acts: TransitActivities | null = null;
  /** True while the shard engine runs: an abort then first lets in-flight groups finish. */
  inShardEngine = false;
  /** > 0 while step sequences run side by side: a continue-as-new then would abandon the other's activity. */
  private concurrentSections = 0;
  private lastLabel: PhaseLabel | null = null;
  /** The servers each shard group must end on, for the Plan and direction they were derived from (shard-runs.ts). */
  desiredCache: { plan: unknown; direction: string; desired: string[][] } | null = null;

  constructor(input: CheckedInput) {
    const id = input.migrationId ?? workflowInfo().workflowId;
    this.s = input.state ?? initialState(id, input.spec, input.continueAsNewAfterEvents);
    if (input.state) this.acts = activityProxies(this.s.spec);
  }

  /** The activities, with the timeouts of the validated spec. */
  useSpec(spec: MigrationSpec): void {
    this.acts = activityProxies(spec);
  }

  get a(): TransitActivities {
    if (!this.acts) throw new Error('activities used before the spec was validated');
    return this.acts;
  }

  ref() {
    return { migrationId: this.s.migrationId, spec: this.s.spec };
  }

  /**
   * The coordinators Transit talks to. Any coordinator serves the whole cluster, so use one that will outlive
   * the current step: the source's until the point of no return (Decommission removes them), then the target's;
   * back on the source during a rollback (which removes the target's).
   */
  arango() {
    const spec = this.s.spec;
    const targetUrl = spec.arango.targetEndpoint ?? this.s.dns.targetUrl;
    const useTarget = targetUrl && isBeyondPointOfNoReturn(this.s);
    return { endpoint: useTarget ? targetUrl : spec.arango.endpoint, jwtSecret: spec.arango.jwtSecret };
  }

  allMembers(): MemberInfo[] {
    const agents = this.s.agents.map((agent) => agent.member);
    const others = (this.s.inventory?.members ?? []).filter((m) => m.role !== 'agent');
    return [...agents, ...others, ...this.s.targetMembers];
  }

  sourceServerIds(): string[] {
    const target = new Set(this.s.targetServerIds);
    return (this.s.plan?.servers ?? []).map((x) => x.id).filter((id) => !target.has(id));
  }

  sourceCoordinatorIds(): string[] {
    return (this.s.inventory?.members ?? []).filter((m) => m.role === 'coordinator').map((m) => m.id);
  }

  targetCoordinatorIds(): string[] {
    return this.s.targetMembers.filter((m) => m.role === 'coordinator').map((m) => m.id);
  }

  /**
   * One activity as a step, labelled with the activity's name and `detail` (the label `lastError` and the logs
   * show). `args` is evaluated when the activity is scheduled — after the step's safe point, again on a retry.
   */
  call<K extends ActivityName>(
    name: K,
    args: () => ActivityArg<K>,
    detail?: string | number,
  ): Promise<ActivityResult<K>> {
    return this.step(detail === undefined ? name : `${name} ${detail}`, () => {
      const activity = this.a[name] as unknown as (a: ActivityArg<K>) => Promise<ActivityResult<K>>;
      return activity(args());
    });
  }

  /**
   * Runs one step. A final failure (non-retryable, or retries exhausted) parks the migration with the error
   * in `lastError`; resume retries the step, rollback or abort end it. A spec that fails validation ends the
   * workflow at once: nothing has been changed.
   */
  async step<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      // Every step boundary is a safe point: the cluster is consistent between steps.
      await this.safePoint();
      try {
        return await fn();
      } catch (e) {
        if (isCancellation(e) || !(e instanceof ActivityFailure)) throw e;
        const cause = e.cause;
        const type = cause instanceof ApplicationFailure ? cause.type : undefined;
        const message = cause?.message ?? e.message;
        if (type === 'InvalidSpecError') {
          throw ApplicationFailure.nonRetryable(
            `invalid migration spec, nothing was changed: ${message}`,
            'InvalidSpecError',
          );
        }
        this.s.lastError = `${what}: ${message}`;
        log.warn('step failed; migration parked until resume, rollback or abort', {
          migrationId: this.s.migrationId,
          phase: this.s.phase,
          step: what,
          error: message,
          type,
        });
        this.s.pauseRequested = true;
        await this.safePoint();
      }
    }
  }

  /** Between steps: continue-as-new when history grows, then rollback, abort and pause take effect. */
  async safePoint(): Promise<void> {
    await this.maybeContinueAsNew();
    // In the shard engine an abort first lets in-flight groups finish; past the point of no return it is ignored.
    const deferAbort = this.inShardEngine || isBeyondPointOfNoReturn(this.s);
    for (;;) {
      if (this.s.rollbackRequested && this.s.direction === 'forward') throw new RollbackRequested();
      if (this.s.abortRequested && !deferAbort && this.s.direction === 'forward') throw new AbortRequested();
      if (!this.s.pauseRequested) return;
      this.s.parked = true;
      const resumeStatus = this.s.status;
      this.s.status = 'paused';
      this.publish();
      await condition(
        () =>
          !this.s.pauseRequested ||
          this.s.abortRequested ||
          (this.s.rollbackRequested && this.s.direction === 'forward'),
      );
      this.s.parked = false;
      this.s.status = resumeStatus === 'paused' ? 'running' : resumeStatus;
      if (this.s.abortRequested && deferAbort) this.s.pauseRequested = false;
      this.publish();
    }
  }

  /** Runs step sequences side by side (settleAll); no continue-as-new happens meanwhile. */
  async concurrently(tasks: (() => Promise<void>)[]): Promise<void> {
    this.concurrentSections++;
    try {
      await settleAll(tasks);
    } finally {
      this.concurrentSections--;
    }
  }

  private async maybeContinueAsNew(): Promise<void> {
    if (this.concurrentSections > 0) return;
    const info = workflowInfo();
    const limit = this.s.continueAsNewAfterEvents;
    if (!info.continueAsNewSuggested && !(limit > 0 && info.historyLength >= limit)) return;
    await condition(allHandlersFinished);
    if (this.concurrentSections > 0) return;
    this.s.run += 1;
    log.info('continuing as new', {
      migrationId: this.s.migrationId,
      phase: this.s.phase,
      historyLength: info.historyLength,
      run: this.s.run,
    });
    await continueAsNew<(input: MigrationInput) => Promise<MigrationReport>>({
      spec: this.s.spec,
      migrationId: this.s.migrationId,
      state: this.s,
    });
  }

  enter(phase: MigrationPhase): void {
    this.s.phase = phase;
    this.s.label = phase;
    this.s.lastError = null;
    this.startTiming(phase);
    this.publish();
  }

  startTiming(phase: MigrationPhase | 'Rollback'): void {
    this.s.phaseTimings.push({ phase, startedAt: workflowNow() });
  }

  endTiming(phase: MigrationPhase | 'Rollback'): void {
    const t = [...this.s.phaseTimings].reverse().find((x) => x.phase === phase && x.endedAt === undefined);
    if (t) {
      t.endedAt = workflowNow();
      t.seconds = Math.round((t.endedAt - t.startedAt) / 100) / 10;
    }
  }

  /** Current details (Web UI) and the MigrationPhase search attribute follow every change. */
  publish(): void {
    setCurrentDetails(currentDetailsMarkdown(this.s));
    if (this.s.label !== this.lastLabel) {
      this.lastLabel = this.s.label;
      upsertSearchAttributes([{ key: SA_MIGRATION_PHASE, value: this.s.label }]);
      log.info(`migration ${this.s.label === this.s.phase ? 'entered' : 'is'} ${this.s.label}`, {
        migrationId: this.s.migrationId,
        phase: this.s.phase,
        status: this.s.status,
        direction: this.s.direction,
      });
    }
    // Prometheus gauges (no commands, nothing during replay): phase, shards, bytes, moves in flight, latency.
    emitMigrationMetrics(this.s);
  }
}
