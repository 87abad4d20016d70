/**
 * migrationWorkflow: one durable run of a live migration. This file is the wiring — controls, the phase loop,
 * safe points, continue-as-new — and the Migration class below owns the state and runs the phases.
 *
 * Concurrency contract: all handlers are synchronous and only set flags or read state, so they never interleave
 * with a step half-way; the phase code acts on those flags only at safe points (between steps).
 */
import {
  ApplicationFailure,
  ActivityFailure,
  condition,
  continueAsNew,
  allHandlersFinished,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { TransitActivities, MemberInfo, ShardPlan } from '../activities/contract';
import {
  abortSignal,
  approveUpdate,
  CONTROL_DESCRIPTIONS,
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
  type ControlNote,
} from '../shared/controls';
import { PHASES, type MigrationPhase, type MigrationReport, type PhaseLabel } from '../shared/types';
import { activityProxies, validationProxy } from './activities';
import { checkMigrationInput, specCheckedOnInput, type CheckedInput } from './input';
import { workflowNow } from './clock';
import { checkControlNote, checkSetConcurrencyInput, rejectUpdate } from '../shared/controls';
import { emitMigrationMetrics } from './metrics';
import { groupKey, groupServers, indexPlan, type GroupIndex } from './plan';
import { assignTargets } from './scheduler';
import { jobsInFlight, runJobEngine } from './job-engine';
import { newShardRun, runShardEngine, settleAll } from './shard-mover';
import {
  currentDetailsMarkdown,
  initialState,
  isBeyondPointOfNoReturn,
  nextPhase,
  planView,
  progressOf,
  reportOf,
  runPlan,
  type MigrationState,
} from './state';

export interface MigrationInput {
  /** The migration spec (validated by the first step; see `transit schema`). */
  spec: unknown;
  /** Default: the workflow ID. */
  migrationId?: string;
  /** Test knob: continue-as-new after this many history events (0: when the server suggests it). */
  continueAsNewAfterEvents?: number;
  /** Set by continue-as-new only: the state carried from the previous run. */
  state?: MigrationState;
}

/**
 * Shard runs started after this patch move shards with ArangoDB's MoveShard jobs (job-engine.ts); runs started
 * before it keep the lock-holding engine (shard-mover.ts) so that migrations in flight replay and finish.
 */
export const MOVESHARD_JOBS_PATCH = 'moveshard-jobs';
/** Since this patch, CutoverDNS and Decommission first move again what ArangoDB failed back to the source. */
export const RECONVERGE_PATCH = 'reconverge-before-cutover';

class RollbackRequested extends Error {}
class AbortRequested extends Error {}

/** The migration of one ArangoDB deployment from the source Kubernetes cluster to the target. */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationReport> {
  // Nothing below sees the raw input: a bad one fails the workflow here (InvalidSpecError, not retried).
  const m = new Migration(checkMigrationInput(input));
  m.registerHandlers();
  return m.run();
}

class Migration {
  s: MigrationState;
  private acts: TransitActivities | null = null;

  constructor(input: CheckedInput) {
    const id = input.migrationId ?? workflowInfo().workflowId;
    this.s = input.state ?? initialState(id, input.spec, input.continueAsNewAfterEvents);
    if (input.state) this.acts = activityProxies(this.s.spec);
  }

  /** Registered before the first await, so the Web UI lists every control with its description. */
  registerHandlers(): void {
    const note = (what: string, n?: ControlNote) =>
      log.info(`${what} requested`, { migrationId: this.s.migrationId, phase: this.s.phase, ...n });
    setHandler(
      pauseSignal,
      (n) => {
        note('pause', n);
        this.s.pauseRequested = true;
        this.publish();
      },
      { description: CONTROL_DESCRIPTIONS.pause },
    );
    setHandler(
      resumeSignal,
      (n) => {
        note('resume', n);
        this.s.pauseRequested = false;
        this.publish();
      },
      { description: CONTROL_DESCRIPTIONS.resume },
    );
    setHandler(
      abortSignal,
      (n) => {
        note('abort', n);
        if (isBeyondPointOfNoReturn(this.s)) {
          this.s.lastError = 'abort ignored: past the point of no return (Decommission); finishing the migration';
        } else this.s.abortRequested = true;
        this.publish();
      },
      { description: CONTROL_DESCRIPTIONS.abort },
    );
    setHandler(
      rollbackSignal,
      (n) => {
        note('rollback', n);
        if (isBeyondPointOfNoReturn(this.s)) {
          this.s.rollbackRefusedReason = `rollback refused: the migration is in ${this.s.phase}, at or past the point of no return (Decommission removes the source members); the target now holds everything`;
          log.warn(this.s.rollbackRefusedReason, { migrationId: this.s.migrationId });
        } else if (this.s.status === 'completed' || this.s.status === 'aborted') {
          this.s.rollbackRefusedReason = `rollback refused: the migration has already ended (${this.s.status})`;
        } else {
          this.s.rollbackRequested = true;
          this.s.rollbackRefusedReason = null;
        }
        this.publish();
      },
      { description: CONTROL_DESCRIPTIONS.rollback },
    );
    setHandler(
      approveUpdate,
      (n) => {
        note('approve', n);
        this.s.approved = true;
        this.publish();
        return { approved: true as const, phase: this.s.phase };
      },
      {
        description: CONTROL_DESCRIPTIONS.approve,
        validator: (n: unknown) => {
          checkControlNote('approve', n);
          if (!this.s.spec.policy.requireApproval)
            throw rejectUpdate('approve: this migration does not require approval (policy.requireApproval is false)');
          if (this.s.approved) throw rejectUpdate('approve: already approved');
          if (this.s.direction === 'backward' || this.s.status === 'aborted')
            throw rejectUpdate(`approve: nothing to approve, the migration is ${this.s.status}`);
        },
      },
    );
    setHandler(
      setConcurrencyUpdate,
      ({ maxConcurrentShardMoves: n }) => {
        const previous = this.s.concurrency;
        this.s.concurrency = n;
        this.publish();
        return { previous, current: n };
      },
      {
        description: CONTROL_DESCRIPTIONS.setConcurrency,
        validator: (arg: unknown) => checkSetConcurrencyInput(arg),
      },
    );
    setHandler(progressQuery, () => progressOf(this.s), { description: CONTROL_DESCRIPTIONS.progress });
    setHandler(planQuery, () => planView(this.s), { description: CONTROL_DESCRIPTIONS.plan });
  }

  async run(): Promise<MigrationReport> {
    this.publish();
    try {
      if (this.s.status === 'rollingBack') return await this.rollback();
      for (;;) {
        if (!this.s.phaseTimings.some((t) => t.phase === this.s.phase && t.endedAt === undefined))
          this.startTiming(this.s.phase);
        await this.runPhase(this.s.phase);
        this.endTiming(this.s.phase);
        this.s.completedPhases.push(this.s.phase);
        const next = nextPhase(this.s.phase, this.s.spec.policy.requireApproval);
        if (!next) break;
        this.enter(next);
        await this.safePoint();
      }
      this.s.status = 'completed';
      this.s.label = 'Complete';
      this.publish();
      await condition(allHandlersFinished);
      return reportOf(
        this.s,
        `migrated ${this.s.spec.deployment.namespace}/${this.s.spec.deployment.name} to ${this.s.spec.target.context}`,
      );
    } catch (e) {
      if (e instanceof RollbackRequested) return await this.rollback();
      if (e instanceof AbortRequested) return this.aborted();
      throw e;
    }
  }

  // ------------------------------------------------------------------ phases

  private async runPhase(phase: MigrationPhase): Promise<void> {
    switch (phase) {
      case 'Validate':
        return this.validate();
      case 'Plan':
        return this.planPhase();
      case 'AwaitApproval':
        return this.awaitApproval();
      case 'BridgeNetworks':
        return this.bridge();
      case 'ProvisionTarget':
        return this.provisionTarget();
      case 'MoveShards':
        return this.moveShards();
      case 'MoveAgents':
        return this.moveAgents('target');
      case 'CutoverDNS':
        return this.cutoverDns();
      case 'Drain':
        return this.drain();
      case 'Decommission':
        return this.decommission();
      case 'Complete':
        return this.complete();
    }
  }

  private async validate(): Promise<void> {
    const checked = this.s.spec;
    const v = specCheckedOnInput()
      ? checked
      : await this.step('validateSpec', () => validationProxy().validateSpec({ spec: checked }));
    this.s.spec = v;
    this.s.concurrency = v.policy.maxConcurrentShardMoves;
    if (!v.policy.requireApproval) this.s.approved = true;
    this.acts = activityProxies(v);
    upsertSearchAttributes([
      { key: SA_SOURCE_CLUSTER, value: `${v.source.region}/${v.source.context}` },
      { key: SA_TARGET_CLUSTER, value: `${v.target.region}/${v.target.context}` },
      { key: SA_DEPLOYMENT, value: `${v.deployment.namespace}/${v.deployment.name}` },
    ]);
    await this.step('preflight', () => this.a.preflight(this.ref()));
    await this.requireHealthy();
    this.s.dns.before ??= await this.step('readRecord', () => this.a.readRecord({ dns: v.dns }));
  }

  private async planPhase(): Promise<void> {
    this.s.inventory = await this.step('readSourceDeployment', () => this.a.readSourceDeployment(this.ref()));
    this.s.plan = await this.step('readShardPlan', () =>
      this.a.readShardPlan({ migrationId: this.s.migrationId, arango: this.arango() }),
    );
    if (this.s.agents.length === 0) {
      this.s.agents = this.s.inventory.members
        .filter((m) => m.role === 'agent')
        .map((m) => ({ id: m.id, side: 'source' as const, member: m }));
    }
    await this.probe('Plan');
  }

  private async awaitApproval(): Promise<void> {
    while (!this.s.approved) {
      this.s.status = 'awaitingApproval';
      this.publish();
      const timeout = this.s.spec.policy.timeouts.approvalSeconds;
      const woken = () => this.s.approved || this.s.abortRequested || this.s.rollbackRequested || this.s.pauseRequested;
      // condition() without a timeout resolves to undefined, not true: only a timed wait can report "timed out".
      const timedOut = timeout ? !(await condition(woken, `${timeout}s`)) : (await condition(woken), false);
      if (timedOut) {
        this.s.lastError = `not approved within ${timeout}s (policy.timeouts.approvalSeconds): aborting, nothing was changed`;
        this.s.abortRequested = true;
      }
      this.s.status = 'running';
      await this.safePoint();
    }
    this.publish();
  }

  private async bridge(): Promise<void> {
    await this.step('bridgeNetworks', () => this.a.bridgeNetworks({ ...this.ref(), members: this.allMembers() }));
    this.s.bridge = true;
    await this.probe('BridgeNetworks');
  }

  private async provisionTarget(): Promise<void> {
    const inv = this.s.inventory!;
    const sourceDb = inv.members.filter((m) => m.role === 'dbserver');
    if (!this.s.autoShrinkPrevious) {
      // Supervision would clean out the last server ID (maybe a new one) while old and new coexist.
      const r = await this.step('neutraliseAutoShrink', () =>
        this.a.neutraliseAutoShrink({ arango: this.arango(), atLeast: sourceDb.length * 2 }),
      );
      this.s.autoShrinkPrevious = r.previous;
    }
    const toCreate = inv.members.filter((m) => m.role !== 'agent');
    const { members } = await this.step('provisionTargetMembers', () =>
      this.a.provisionTargetMembers({ ...this.ref(), members: toCreate }),
    );
    this.s.targetMembers = members;
    await this.safePoint();
    await this.step('bridgeNetworks', () => this.a.bridgeNetworks({ ...this.ref(), members: this.allMembers() }));
    const reg = await this.step('waitForServerRegistered', () =>
      this.a.waitForServerRegistered({
        arango: this.arango(),
        endpoints: members.map((m) => m.endpoint),
        timeoutSeconds: this.s.spec.policy.timeouts.activitySeconds,
      }),
    );
    this.s.targetServerIds = reg.servers.filter((x) => x.role === 'dbserver').map((x) => x.id);
    // Registered IDs are the members' IDs from now on (bound to their data directories).
    const idOf = new Map(reg.servers.map((x) => [x.endpoint, x.id]));
    this.s.targetMembers = members.map((m) => ({ ...m, id: idOf.get(m.endpoint) ?? m.id }));
    const client = await this.step('readClientEndpoint', () =>
      this.a.readClientEndpoint({ ...this.ref(), side: 'target' }),
    );
    this.s.dns.targetValues = client.values;
    this.s.dns.targetUrl = client.url;
    await this.requireHealthy();
    await this.probe('ProvisionTarget');
  }

  /** Move every shard group to the target; repeat on a fresh Plan until nothing is left (collections may be created meanwhile). */
  private async moveShards(): Promise<void> {
    await this.moveShardsToTarget();
    await this.step('verifyConvergence', () =>
      this.a.verifyConvergence({ arango: this.arango(), mustNotHold: this.sourceServerIds() }),
    );
    await this.probe('MoveShards');
  }

  /** Runs the shard engine on fresh Plan reads until no group is left to move (returns at once when none is). */
  private async moveShardsToTarget(): Promise<void> {
    for (;;) {
      if (!this.s.shards || this.s.shards.direction !== 'forward' || this.allDone()) {
        const fresh = await this.step('readShardPlan', () =>
          this.a.readShardPlan({ migrationId: this.s.migrationId, arango: this.arango() }),
        );
        const ix = indexPlan(fresh);
        const run = newShardRun('forward', ix, this.desiredFor('forward', ix), samePlan(fresh, this.s.plan));
        if (this.s.shards && run.steps.every((x) => x === 4)) break;
        if (patched(MOVESHARD_JOBS_PATCH)) run.engine = 'jobs';
        this.s.shards = run;
      }
      const r = await this.runEngine();
      if (r === 'stopped') throw new AbortRequested();
      await this.safePoint();
    }
  }

  /**
   * After MoveShards, ArangoDB may fail shards back to source copies (a target server failed: e.g. the bridge was
   * down long enough). Before the DNS cutover and before Decommission, every group must be on the target again:
   * move what came back, then verify; when the check keeps failing, park with its message — resume moves and
   * checks again (not only the check).
   */
  private async reconverge(): Promise<void> {
    if (!patched(RECONVERGE_PATCH)) return;
    for (let attempt = 1; ; attempt++) {
      await this.moveShardsToTarget();
      try {
        await this.a.verifyConvergence({ arango: this.arango(), mustNotHold: this.sourceServerIds() });
        return;
      } catch (e) {
        if (isCancellation(e) || !(e instanceof ActivityFailure)) throw e;
        const message = e.cause?.message ?? e.message;
        log.warn('shards not converged on the target; moving again', {
          migrationId: this.s.migrationId,
          phase: this.s.phase,
          attempt,
          error: message,
        });
        if (attempt % 3 === 0) {
          this.s.lastError = `verifyConvergence: ${message} — fix the cause and resume (Transit then moves what is left again), or roll back`;
          this.s.pauseRequested = true;
          await this.safePoint();
        } else await sleep('10s');
      }
    }
  }

  /** Agents move strictly one at a time, each only when the agency keeps quorum without it. */
  private async moveAgents(to: 'source' | 'target'): Promise<void> {
    const order = to === 'target' ? this.s.agents : [...this.s.agents].reverse();
    for (const agent of order) {
      if (agent.side === to) continue;
      await this.safePoint();
      await this.step(`checkAgentReplaceable ${agent.id}`, () =>
        this.a.checkAgentReplaceable({ arango: this.arango(), agentId: agent.id }),
      );
      const moved = await this.step(`moveAgent ${agent.id}`, () =>
        this.a.moveAgent({ ...this.ref(), agent: agent.member, to }),
      );
      await this.step(`waitForAgentCaughtUp ${agent.id}`, () =>
        this.a.waitForAgentCaughtUp({
          arango: this.arango(),
          agentId: agent.id,
          endpoint: moved.endpoint,
          timeoutSeconds: this.s.spec.policy.timeouts.activitySeconds,
        }),
      );
      agent.side = to;
      agent.member = moved;
      this.publish();
    }
    if (to === 'target') await this.probe('MoveAgents');
  }

  private async cutoverDns(): Promise<void> {
    if (!this.s.dns.switched) await this.reconverge();
    const dns = this.s.spec.dns;
    const before = this.s.dns.before!;
    const target = this.s.dns.targetValues!;
    if (dns.lowerTtl !== undefined && !this.s.dns.ttlLowered && before.ttl > dns.lowerTtl) {
      await this.step('switchRecord (lower TTL)', () =>
        this.a.switchRecord({ dns, from: before.values, to: before.values, ttl: dns.lowerTtl }),
      );
      this.s.dns.ttlLowered = true;
      // Resolvers may hold the old TTL: wait it out so the switch below is seen within the lowered TTL.
      await sleep(`${before.ttl}s`);
    }
    const oldTtl = this.s.dns.ttlLowered ? dns.lowerTtl! : before.ttl;
    await this.step('switchRecord', () =>
      this.a.switchRecord({ dns, from: before.values, to: target, ttl: dns.lowerTtl ?? dns.ttl }),
    );
    this.s.dns.switched = true;
    this.publish();
    await this.step('waitForPropagation', () => this.a.waitForPropagation({ dns, values: target, oldTtl }));
    if (this.s.dns.ttlLowered) {
      await this.step('switchRecord (restore TTL)', () =>
        this.a.switchRecord({ dns, from: target, to: target, ttl: dns.ttl }),
      );
    }
    await this.probe('CutoverDNS');
  }

  private async drain(): Promise<void> {
    const seconds = this.s.spec.policy.timeouts.drainSeconds;
    // Both sides serve meanwhile: clients that resolved the name before the switch finish on the source.
    if (seconds > 0) await condition(() => this.s.rollbackRequested || this.s.abortRequested, `${seconds}s`);
    await this.safePoint();
  }

  private async decommission(): Promise<void> {
    const inv = this.s.inventory!;
    await this.reconverge();
    await this.step('verifyConvergence', () =>
      this.a.verifyConvergence({ arango: this.arango(), mustNotHold: this.sourceServerIds() }),
    );
    const names = inv.members.filter((m) => m.role !== 'agent').map((m) => m.podName);
    await this.step('decommissionSourceMembers', () => this.a.decommissionSourceMembers({ ...this.ref(), names }));
    for (const id of this.sourceServerIds().concat(this.sourceCoordinatorIds())) {
      await this.step(`removeServer ${id}`, () => this.a.removeServer({ arango: this.arango(), serverId: id }));
    }
    if (this.s.autoShrinkPrevious) {
      const prev = this.s.autoShrinkPrevious;
      await this.step('restoreAutoShrink', () => this.a.restoreAutoShrink({ arango: this.arango(), previous: prev }));
      this.s.autoShrinkPrevious = null;
    }
    // After Decommission removeBridge also settles the end state; the target members' server IDs label their
    // pods (patched: a migration that passed this point before replays with the input it recorded).
    const end = patched('transit-end-state-members') ? { members: this.s.targetMembers } : {};
    await this.step('removeBridge', () => this.a.removeBridge({ ...this.ref(), ...end }));
    this.s.bridge = false;
  }

  private async complete(): Promise<void> {
    await this.probe('Complete');
  }

  // ------------------------------------------------------------------ rollback and abort

  /** The same machine run the other way, newest step first, back to the source. */
  private async rollback(): Promise<MigrationReport> {
    const s = this.s;
    if (s.status !== 'rollingBack') {
      log.warn('rolling back', { migrationId: s.migrationId, phase: s.phase });
      this.endTiming(s.phase);
      s.status = 'rollingBack';
      s.label = 'RollingBack';
      s.direction = 'backward';
      s.pauseRequested = false;
      this.startTiming('Rollback');
      this.publish();
    }
    const dns = s.spec.dns;
    if (s.dns.switched) {
      const target = s.dns.targetValues!;
      const before = s.dns.before!;
      await this.step('restoreRecord', () =>
        this.a.restoreRecord({ dns, from: target, to: before.values, ttl: before.ttl }),
      );
      s.dns.switched = false;
      s.dns.ttlLowered = false;
      await this.step('waitForPropagation', () =>
        this.a.waitForPropagation({ dns, values: before.values, oldTtl: dns.lowerTtl ?? dns.ttl }),
      );
    } else if (s.dns.ttlLowered) {
      const before = s.dns.before!;
      await this.step('restoreRecord (TTL)', () =>
        this.a.restoreRecord({ dns, from: before.values, to: before.values, ttl: before.ttl }),
      );
      s.dns.ttlLowered = false;
    }
    await this.moveAgents('source');
    if (s.targetServerIds.length > 0) await this.moveShardsBack();
    if (s.targetMembers.length > 0) {
      await this.step('verifyConvergence', () =>
        this.a.verifyConvergence({ arango: this.arango(), mustNotHold: s.targetServerIds }),
      );
      await this.step('removeTargetMembers', () =>
        this.a.removeTargetMembers({ ...this.ref(), names: s.targetMembers.map((m) => m.podName) }),
      );
      for (const id of s.targetServerIds.concat(this.targetCoordinatorIds())) {
        await this.step(`removeServer ${id}`, () => this.a.removeServer({ arango: this.arango(), serverId: id }));
      }
      s.targetMembers = [];
      s.targetServerIds = [];
    }
    if (s.autoShrinkPrevious) {
      const prev = s.autoShrinkPrevious;
      await this.step('restoreAutoShrink', () => this.a.restoreAutoShrink({ arango: this.arango(), previous: prev }));
      s.autoShrinkPrevious = null;
    }
    if (s.bridge) {
      await this.step('removeBridge', () => this.a.removeBridge(this.ref()));
      s.bridge = false;
    }
    this.endTiming('Rollback');
    s.status = 'rolledBack';
    s.label = 'RolledBack';
    this.publish();
    await condition(allHandlersFinished);
    return reportOf(
      s,
      `rolled back to ${s.spec.source.context}: the source holds everything, Transit's objects are removed`,
    );
  }

  private async moveShardsBack(): Promise<void> {
    const s = this.s;
    for (;;) {
      if (!s.shards || s.shards.direction !== 'backward' || this.allDone()) {
        if (s.shards?.engine === 'jobs' && s.shards.direction === 'forward') await this.drainForwardJobs();
        const fresh = await this.step('readShardPlan', () =>
          this.a.readShardPlan({ migrationId: s.migrationId, arango: this.arango() }),
        );
        const ix = indexPlan(fresh);
        const run = newShardRun('backward', ix, this.desiredFor('backward', ix), samePlan(fresh, s.plan));
        if (s.shards?.direction === 'backward' && run.steps.every((x) => x === 4)) break;
        if (patched(MOVESHARD_JOBS_PATCH)) run.engine = 'jobs';
        s.shards = run;
        if (run.steps.every((x) => x === 4)) break;
      }
      await this.runEngine();
    }
    await this.step('verifyConvergence', () =>
      this.a.verifyConvergence({ arango: this.arango(), mustNotHold: s.targetServerIds }),
    );
  }

  /**
   * A rollback starts from a settled Plan: this migration's MoveShard jobs still open from the forward run are
   * cancelled (supervision aborts them back to where they started, or finishes a leader switch already under
   * way) and waited for.
   */
  private async drainForwardJobs(): Promise<void> {
    const s = this.s;
    const run = s.shards!;
    const open = jobsInFlight(run.moving);
    if (open.length === 0) return;
    const ix = indexPlan(runPlan(s));
    await this.step(`cancelShardMoves ×${open.length}`, () =>
      this.a.cancelShardMoves({ migrationId: s.migrationId, arango: this.arango(), jobIds: open.map((o) => o.jobId) }),
    );
    for (;;) {
      const r = await this.step(`waitForShardMoves ×${open.length}`, () =>
        this.a.waitForShardMoves({
          migrationId: s.migrationId,
          arango: this.arango(),
          jobs: open.map((o) => ({ ...groupKey(ix, o.group), jobId: o.jobId })),
          mode: 'all',
          timeoutSeconds: 30,
        }),
      );
      if (r.ended.length === open.length) break;
    }
    for (const o of open) run.moving![o.group]!.job = null;
  }

  /** Back where each group started when known; groups created meanwhile go to the least-loaded source servers. */
  private rollbackDesired(ix: GroupIndex): string[][] {
    const original = new Map<string, string[]>();
    if (this.s.plan) {
      const o = indexPlan(this.s.plan);
      for (let g = 0; g < o.count; g++) {
        const k = groupIdentity(o, g);
        original.set(k, groupServers(o, g));
      }
    }
    const sourceIds = this.sourceServerIds();
    const assigned = assignTargets(ix, sourceIds);
    const live = new Set(ix.plan.servers.map((x) => x.id));
    return Array.from({ length: ix.count }, (_, g) => {
      const o = original.get(groupIdentity(ix, g));
      return o && o.every((id) => live.has(id) && sourceIds.includes(id)) ? o : assigned[g]!;
    });
  }

  private aborted(): MigrationReport {
    this.endTiming(this.s.phase);
    this.s.status = 'aborted';
    this.s.label = 'Aborted';
    this.publish();
    return reportOf(this.s, `aborted in ${this.s.phase}: the cluster is consistent; see the counts for what is where`);
  }

  // ------------------------------------------------------------------ machinery

  private get a(): TransitActivities {
    if (!this.acts) throw new Error('activities used before the spec was validated');
    return this.acts;
  }

  private ref() {
    return { migrationId: this.s.migrationId, spec: this.s.spec };
  }

  /**
   * The coordinators Transit talks to. Any coordinator serves the whole cluster, so use one that will outlive
   * the current step: the source's until Decommission removes them, then the target's; back on the source
   * during a rollback (which removes the target's).
   */
  private arango() {
    const sp = this.s.spec;
    const targetUrl = sp.arango.targetEndpoint ?? this.s.dns.targetUrl;
    const useTarget =
      this.s.direction === 'forward' && targetUrl && PHASES.indexOf(this.s.phase) >= PHASES.indexOf('Decommission');
    return { endpoint: useTarget ? targetUrl : sp.arango.endpoint, jwtSecret: sp.arango.jwtSecret };
  }

  private allMembers(): MemberInfo[] {
    const agents = this.s.agents.map((a) => a.member);
    const others = (this.s.inventory?.members ?? []).filter((m) => m.role !== 'agent');
    return [...agents, ...others, ...this.s.targetMembers];
  }

  private sourceServerIds(): string[] {
    const target = new Set(this.s.targetServerIds);
    return (this.s.plan?.servers ?? []).map((x) => x.id).filter((id) => !target.has(id));
  }

  private sourceCoordinatorIds(): string[] {
    return (this.s.inventory?.members ?? []).filter((m) => m.role === 'coordinator').map((m) => m.id);
  }

  private targetCoordinatorIds(): string[] {
    return this.s.targetMembers.filter((m) => m.role === 'coordinator').map((m) => m.id);
  }

  private allDone(): boolean {
    return this.s.shards !== null && this.s.shards.steps.every((x) => x === 4);
  }

  /** Derived, never carried: the same inputs give the same assignment in every run. */
  private desiredCache: { plan: unknown; direction: string; desired: string[][] } | null = null;
  private desiredFor(direction: 'forward' | 'backward', ix: GroupIndex): string[][] {
    const c = this.desiredCache;
    if (c && c.plan === ix.plan && c.direction === direction) return c.desired;
    const desired = direction === 'forward' ? assignTargets(ix, this.s.targetServerIds) : this.rollbackDesired(ix);
    this.desiredCache = { plan: ix.plan, direction, desired };
    return desired;
  }

  /** Runs the current shard run with the engine it was started with (see MOVESHARD_JOBS_PATCH). */
  private async runEngine(): Promise<'done' | 'stopped'> {
    this.inShardEngine = true;
    try {
      if (this.s.shards!.engine === 'jobs') {
        const base = this.engine();
        return await runJobEngine({ ...base, sleep: (ms: number) => sleep(ms) });
      }
      return await runShardEngine(this.engine());
    } finally {
      this.inShardEngine = false;
    }
  }

  private engine() {
    const ix = indexPlan(runPlan(this.s));
    return {
      state: this.s,
      acts: this.a,
      ix,
      desired: this.desiredFor(this.s.shards!.direction, ix),
      now: workflowNow,
      safePoint: () => this.safePoint(),
      step: <T>(what: string, fn: () => Promise<T>) => this.step(what, fn),
      concurrently: async (tasks: (() => Promise<void>)[]) => {
        this.concurrentSections++;
        try {
          await settleAll(tasks);
        } finally {
          this.concurrentSections--;
        }
      },
      onProgress: () => this.publish(),
      stopStarting: () => this.s.abortRequested,
      log: (msg: string, meta?: Record<string, unknown>) =>
        log.info(msg, { migrationId: this.s.migrationId, phase: this.s.phase, ...meta }),
    };
  }

  private async requireHealthy(): Promise<void> {
    for (;;) {
      const h = await this.step('checkClusterHealth', () => this.a.checkClusterHealth({ arango: this.arango() }));
      if (h.healthy) return;
      this.s.lastError = `cluster not healthy: ${h.problems.join('; ')} — fix it, then send resume`;
      this.s.pauseRequested = true;
      await this.safePoint();
    }
  }

  private async probe(phase: string): Promise<void> {
    const sp = this.s.spec;
    // After Decommission the source coordinators are gone: nothing to measure there.
    const targets =
      phase === 'Complete'
        ? []
        : [{ region: sp.source.region, url: sp.arango.endpoint, label: 'worker → source coordinators' }];
    const targetUrl = sp.arango.targetEndpoint ?? this.s.dns.targetUrl;
    if (targetUrl) targets.push({ region: sp.target.region, url: targetUrl, label: 'worker → target coordinators' });
    const samples = await this.step(`probeVersionChecks ${phase}`, () =>
      this.a.probeVersionChecks({ ...this.ref(), phase, targets }),
    );
    this.s.latency.push(...samples);
    this.publish();
  }

  /**
   * Runs one step. A final failure (non-retryable, or retries exhausted) parks the migration with the error
   * in `lastError`; resume retries the step, rollback or abort end it. A spec that fails validation ends the
   * workflow at once: nothing has been changed.
   */
  private async step<T>(what: string, fn: () => Promise<T>): Promise<T> {
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
  private inShardEngine = false;
  private async safePoint(): Promise<void> {
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

  /** > 0 while step sequences run side by side: a continue-as-new then would abandon the other's activity. */
  private concurrentSections = 0;
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
    await continueAsNew<typeof migrationWorkflow>({
      spec: this.s.spec,
      migrationId: this.s.migrationId,
      state: this.s,
    });
  }

  private enter(phase: MigrationPhase): void {
    this.s.phase = phase;
    this.s.label = phase;
    this.s.lastError = null;
    this.startTiming(phase);
    this.publish();
  }

  private startTiming(phase: MigrationPhase | 'Rollback'): void {
    this.s.phaseTimings.push({ phase, startedAt: workflowNow() });
  }

  private endTiming(phase: MigrationPhase | 'Rollback'): void {
    const t = [...this.s.phaseTimings].reverse().find((x) => x.phase === phase && x.endedAt === undefined);
    if (t) {
      t.endedAt = workflowNow();
      t.seconds = Math.round((t.endedAt - t.startedAt) / 100) / 10;
    }
  }

  /** Current details (Web UI) and the MigrationPhase search attribute follow every change. */
  private lastLabel: PhaseLabel | null = null;
  private publish(): void {
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

function samePlan(a: ShardPlan, b: ShardPlan | null): boolean {
  return b !== null && JSON.stringify(a) === JSON.stringify(b);
}

/** database/collectionId/shard identifies a prototype shard across Plan reads. */
function groupIdentity(ix: GroupIndex, g: number): string {
  const k = groupKey(ix, g);
  return `${k.database}/${k.collectionId}/${k.shard}`;
}
