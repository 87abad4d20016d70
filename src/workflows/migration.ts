/**
 * migrationWorkflow: one durable run of a live migration. This file is the phase loop; the pieces live beside it:
 *   context.ts         state, steps with pause-on-failure, safe points, continue-as-new, publishing
 *   handlers.ts        the controls (signals, updates, queries)
 *   phases-prepare.ts  Validate, Plan, AwaitApproval, BridgeNetworks, ProvisionTarget
 *   shard-runs.ts      MoveShards, the re-convergence before the cutover, the shards' way back
 *   phases-cutover.ts  MoveAgents, CutoverDNS, Drain, Decommission, Complete
 *   rollback.ts        rollback and abort
 *   patches.ts         every patched() name
 */
import { allHandlersFinished, condition, workflowInfo } from '@temporalio/workflow';
import type { MigrationPhase, MigrationReport } from '../shared/types';
import { AbortRequested, MigrationContext, RollbackRequested } from './context';
import { registerHandlers } from './handlers';
import { checkMigrationInput, type MigrationInput } from './input';
import { complete, cutoverDns, decommission, drain, moveAgents } from './phases-cutover';
import { awaitApproval, bridge, planPhase, provisionTarget, validate } from './phases-prepare';
import { aborted, rollback } from './rollback';
import { moveShards } from './shard-runs';
import { nextPhase, reportOf } from './state';

export type { MigrationInput } from './input';
export { MOVESHARD_JOBS_PATCH, RECONVERGE_PATCH } from './patches';

/** What each forward phase runs. */
const PHASE_RUNNERS: Record<MigrationPhase, (m: MigrationContext) => Promise<void>> = {
  Validate: validate,
  Plan: planPhase,
  AwaitApproval: awaitApproval,
  BridgeNetworks: bridge,
  ProvisionTarget: provisionTarget,
  MoveShards: moveShards,
  MoveAgents: (m) => moveAgents(m, 'target'),
  CutoverDNS: cutoverDns,
  Drain: drain,
  Decommission: decommission,
  Complete: complete,
};

/** The migration of one ArangoDB deployment from the source Kubernetes cluster to the target. */
export async function migrationWorkflow(input: MigrationInput): Promise<MigrationReport> {
  // Nothing below sees the raw input: a bad one fails the workflow here (InvalidSpecError, not retried).
  const m = new MigrationContext(checkMigrationInput(input));
  registerHandlers(m);
  return run(m);
}

async function run(m: MigrationContext): Promise<MigrationReport> {
  m.publish();
  try {
    if (m.s.status === 'rollingBack') return await rollback(m);
    await runForward(m);
    m.s.status = 'completed';
    m.s.label = 'Complete';
    m.publish();
    await condition(allHandlersFinished);
    const { deployment, target } = m.s.spec;
    return reportOf(
      m.s,
      `migrated ${deployment.namespace}/${deployment.name} to ${target.context}`,
      workflowInfo().workflowId,
    );
  } catch (e) {
    if (e instanceof RollbackRequested) return await rollback(m);
    if (e instanceof AbortRequested) return await aborted(m);
    throw e;
  }
}

/** The phases from the current one to Complete, with a safe point between each two. */
async function runForward(m: MigrationContext): Promise<void> {
  const s = m.s;
  for (;;) {
    if (!s.phaseTimings.some((t) => t.phase === s.phase && t.endedAt === undefined)) m.startTiming(s.phase);
    await PHASE_RUNNERS[s.phase](m);
    m.endTiming(s.phase);
    s.completedPhases.push(s.phase);
    const next = nextPhase(s.phase, s.spec.policy.requireApproval);
    if (!next) return;
    m.enter(next);
    await m.safePoint();
  }
}
