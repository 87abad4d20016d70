/**
 * The controls of a running migration (signals, updates, queries; names and descriptions in
 * src/shared/controls.ts). Every handler is synchronous: it sets a flag or reads state, and the phases act on the
 * flags at their next safe point.
 */
import { log, setHandler } from '@temporalio/workflow';
import {
  abortSignal,
  approveUpdate,
  checkControlNote,
  checkSetConcurrencyInput,
  CONTROL_DESCRIPTIONS,
  pauseSignal,
  planQuery,
  timelineQuery,
  progressQuery,
  rejectUpdate,
  resumeSignal,
  rollbackSignal,
  setConcurrencyUpdate,
  type ControlNote,
} from '../shared/controls';
import { POINT_OF_NO_RETURN } from '../shared/types';
import type { MigrationContext } from './context';
import { isBeyondPointOfNoReturn, planView, progressOf } from './state';

/** Registered before the first await, so the Web UI lists every control with its description. */
export function registerHandlers(m: MigrationContext): void {
  const note = (what: string, n?: ControlNote) =>
    log.info(`${what} requested`, { migrationId: m.s.migrationId, phase: m.s.phase, ...n });
  const flag = (what: string, set: () => void) => (n?: ControlNote) => {
    note(what, n);
    set();
    m.publish();
  };
  setHandler(
    pauseSignal,
    flag('pause', () => (m.s.pauseRequested = true)),
    { description: CONTROL_DESCRIPTIONS.pause },
  );
  setHandler(
    resumeSignal,
    flag('resume', () => (m.s.pauseRequested = false)),
    { description: CONTROL_DESCRIPTIONS.resume },
  );
  setHandler(
    abortSignal,
    flag('abort', () => requestAbort(m)),
    { description: CONTROL_DESCRIPTIONS.abort },
  );
  setHandler(
    rollbackSignal,
    flag('rollback', () => requestRollback(m)),
    {
      description: CONTROL_DESCRIPTIONS.rollback,
    },
  );
  setHandler(
    approveUpdate,
    (n) => {
      note('approve', n);
      m.s.approved = true;
      m.publish();
      return { approved: true as const, phase: m.s.phase };
    },
    { description: CONTROL_DESCRIPTIONS.approve, validator: (n: unknown) => validateApprove(m, n) },
  );
  setHandler(
    setConcurrencyUpdate,
    ({ maxConcurrentShardMoves: n }) => {
      const previous = m.s.concurrency;
      m.s.concurrency = n;
      m.publish();
      return { previous, current: n };
    },
    {
      description: CONTROL_DESCRIPTIONS.setConcurrency,
      validator: (arg: unknown) => checkSetConcurrencyInput(arg),
    },
  );
  setHandler(progressQuery, () => progressOf(m.s), { description: CONTROL_DESCRIPTIONS.progress });
  setHandler(planQuery, () => planView(m.s), { description: CONTROL_DESCRIPTIONS.plan });
  setHandler(timelineQuery, () => m.s.timeline ?? null, { description: CONTROL_DESCRIPTIONS.timeline });
}

function requestAbort(m: MigrationContext): void {
  if (isBeyondPointOfNoReturn(m.s)) {
    m.s.lastError = `abort ignored: past the point of no return (${POINT_OF_NO_RETURN}); finishing the migration`;
  } else if (m.s.direction === 'backward') {
    // A rollback is the way out already: an abort would stop its shard engine half-way back (rollback.ts).
    m.s.lastError = 'abort ignored: a rollback is under way; it finishes with everything on the source';
  } else m.s.abortRequested = true;
}

function requestRollback(m: MigrationContext): void {
  const s = m.s;
  if (isBeyondPointOfNoReturn(s)) {
    s.rollbackRefusedReason = `rollback refused: the migration is in ${s.phase}, at or past the point of no return (${POINT_OF_NO_RETURN} removes the source members); the target now holds everything`;
    log.warn(s.rollbackRefusedReason, { migrationId: s.migrationId });
  } else if (s.status === 'completed' || s.status === 'aborted') {
    s.rollbackRefusedReason = `rollback refused: the migration has already ended (${s.status})`;
  } else {
    s.rollbackRequested = true;
    s.rollbackRefusedReason = null;
  }
}

function validateApprove(m: MigrationContext, n: unknown): void {
  checkControlNote('approve', n);
  if (!m.s.spec.policy.requireApproval)
    throw rejectUpdate('approve: this migration does not require approval (policy.requireApproval is false)');
  if (m.s.approved) throw rejectUpdate('approve: already approved');
  if (m.s.direction === 'backward' || m.s.status === 'aborted')
    throw rejectUpdate(`approve: nothing to approve, the migration is ${m.s.status}`);
}
