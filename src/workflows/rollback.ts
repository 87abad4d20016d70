/**
 * The way out before the point of no return. A rollback runs the machine the other way, newest step first, back
 * to the source; an abort stops where the cluster is consistent and leaves everything in place.
 */
import { allHandlersFinished, condition, log, workflowInfo } from '@temporalio/workflow';
import type { MigrationReport } from '../shared/types';
import type { MigrationContext } from './context';
import { moveAgents, restoreAutoShrink } from './phases-cutover';
import { moveShardsBack, removeCanary } from './shard-runs';
import { reportOf } from './state';

/** The same machine run the other way, newest step first, back to the source. */
export async function rollback(m: MigrationContext): Promise<MigrationReport> {
  const s = m.s;
  // An abort still pending (sent while MoveShards let its in-flight groups finish) would make the shard engine
  // stop starting groups on the way back, and the way back would then spin without a command. The rollback is
  // the way out; the abort is dropped (a history that met this could not go on: it replays unchanged up to here).
  s.abortRequested = false;
  if (s.status !== 'rollingBack') {
    log.warn('rolling back', { migrationId: s.migrationId, phase: s.phase });
    m.endTiming(s.phase);
    s.status = 'rollingBack';
    s.label = 'RollingBack';
    s.direction = 'backward';
    s.pauseRequested = false;
    m.startTiming('Rollback');
    m.publish();
  }
  await restoreDns(m);
  await moveAgents(m, 'source');
  if (s.targetServerIds.length > 0) await moveShardsBack(m);
  await removeCanary(m);
  await removeTarget(m);
  await restoreAutoShrink(m);
  if (s.bridge) {
    await m.call('removeBridge', () => m.ref());
    s.bridge = false;
  }
  m.endTiming('Rollback');
  s.status = 'rolledBack';
  s.label = 'RolledBack';
  m.publish();
  await condition(allHandlersFinished);
  return reportOf(
    s,
    `rolled back to ${s.spec.source.context}: the source holds everything, Transit's objects are removed`,
    workflowInfo().workflowId,
  );
}

/** The record back to the source's values and TTL (after a switch, or after only the TTL was lowered). */
async function restoreDns(m: MigrationContext): Promise<void> {
  const s = m.s;
  const dns = s.spec.dns;
  if (s.dns.switched) {
    const target = s.dns.targetValues!;
    const before = s.dns.before!;
    await m.call('restoreRecord', () => ({ dns, from: target, to: before.values, ttl: before.ttl }));
    s.dns.switched = false;
    s.dns.ttlLowered = false;
    await m.call('waitForPropagation', () => ({ dns, values: before.values, oldTtl: dns.lowerTtl ?? dns.ttl }));
  } else if (s.dns.ttlLowered) {
    const before = s.dns.before!;
    await m.call('restoreRecord', () => ({ dns, from: before.values, to: before.values, ttl: before.ttl }), '(TTL)');
    s.dns.ttlLowered = false;
  }
}

/** The target's members leave Kubernetes and the cluster (once no shard is left on them). */
async function removeTarget(m: MigrationContext): Promise<void> {
  const s = m.s;
  if (s.targetMembers.length === 0) return;
  await m.call('verifyConvergence', () => ({ arango: m.arango(), mustNotHold: s.targetServerIds }));
  await m.call('removeTargetMembers', () => ({ ...m.ref(), names: s.targetMembers.map((member) => member.podName) }));
  for (const id of s.targetServerIds.concat(m.targetCoordinatorIds())) {
    await m.call('removeServer', () => ({ arango: m.arango(), serverId: id }), id);
  }
  s.targetMembers = [];
  s.targetServerIds = [];
}

/** Ends the run where an abort took effect: the cluster is consistent, nothing is undone. */
export async function aborted(m: MigrationContext): Promise<MigrationReport> {
  await removeCanary(m, true);
  m.endTiming(m.s.phase);
  m.s.status = 'aborted';
  m.s.label = 'Aborted';
  m.publish();
  return reportOf(
    m.s,
    `aborted in ${m.s.phase}: the cluster is consistent; see the counts for what is where`,
    workflowInfo().workflowId,
  );
}
