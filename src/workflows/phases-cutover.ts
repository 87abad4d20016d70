/**
 * The forward phases after the shards are on the target: MoveAgents, CutoverDNS, Drain, Decommission (the point
 * of no return) and Complete. MoveShards and the re-convergence before the cutover are in shard-runs.ts.
 */
import { condition, patched, sleep } from '@temporalio/workflow';
import { probe } from './checks';
import type { MigrationContext } from './context';
import { END_STATE_MEMBERS_PATCH } from './patches';
import { reconverge, removeCanary } from './shard-runs';

/** Agents move strictly one at a time, each only when the agency keeps quorum without it. */
export async function moveAgents(m: MigrationContext, to: 'source' | 'target'): Promise<void> {
  const order = to === 'target' ? m.s.agents : [...m.s.agents].reverse();
  for (const agent of order) {
    if (agent.side === to) continue;
    await m.safePoint();
    await m.call('checkAgentReplaceable', () => ({ arango: m.arango(), agentId: agent.id }), agent.id);
    const moved = await m.call('moveAgent', () => ({ ...m.ref(), agent: agent.member, to }), agent.id);
    await m.call(
      'waitForAgentCaughtUp',
      () => ({
        arango: m.arango(),
        agentId: agent.id,
        endpoint: moved.endpoint,
        timeoutSeconds: m.s.spec.policy.timeouts.activitySeconds,
      }),
      agent.id,
    );
    agent.side = to;
    agent.member = moved;
    m.publish();
  }
  if (to === 'target') await probe(m, 'MoveAgents');
}

export async function cutoverDns(m: MigrationContext): Promise<void> {
  const s = m.s;
  if (!s.dns.switched) await reconverge(m);
  const dns = s.spec.dns;
  const before = s.dns.before!;
  const target = s.dns.targetValues!;
  if (dns.lowerTtl !== undefined && !s.dns.ttlLowered && before.ttl > dns.lowerTtl) {
    await m.call(
      'switchRecord',
      () => ({ dns, from: before.values, to: before.values, ttl: dns.lowerTtl }),
      '(lower TTL)',
    );
    s.dns.ttlLowered = true;
    // Resolvers may hold the old TTL: wait it out so the switch below is seen within the lowered TTL.
    await sleep(`${before.ttl}s`);
  }
  const oldTtl = s.dns.ttlLowered ? dns.lowerTtl! : before.ttl;
  await m.call('switchRecord', () => ({ dns, from: before.values, to: target, ttl: dns.lowerTtl ?? dns.ttl }));
  s.dns.switched = true;
  m.publish();
  await m.call('waitForPropagation', () => ({ dns, values: target, oldTtl }));
  if (s.dns.ttlLowered) {
    await m.call('switchRecord', () => ({ dns, from: target, to: target, ttl: dns.ttl }), '(restore TTL)');
  }
  await probe(m, 'CutoverDNS');
}

export async function drain(m: MigrationContext): Promise<void> {
  const seconds = m.s.spec.policy.timeouts.drainSeconds;
  // Both sides serve meanwhile: clients that resolved the name before the switch finish on the source.
  if (seconds > 0) await condition(() => m.s.rollbackRequested || m.s.abortRequested, `${seconds}s`);
  await m.safePoint();
}

/** The point of no return: the source members leave the cluster and Kubernetes. */
export async function decommission(m: MigrationContext): Promise<void> {
  const inventory = m.s.inventory!;
  await reconverge(m);
  await m.call('verifyConvergence', () => ({ arango: m.arango(), mustNotHold: m.sourceServerIds() }));
  const names = inventory.members.filter((member) => member.role !== 'agent').map((member) => member.podName);
  await m.call('decommissionSourceMembers', () => ({ ...m.ref(), names }));
  for (const id of m.sourceServerIds().concat(m.sourceCoordinatorIds())) {
    await m.call('removeServer', () => ({ arango: m.arango(), serverId: id }), id);
  }
  await restoreAutoShrink(m);
  // After Decommission removeBridge also settles the end state; the target members' server IDs label their
  // pods (patched: a migration that passed this point before replays with the input it recorded).
  const end = patched(END_STATE_MEMBERS_PATCH) ? { members: m.s.targetMembers } : {};
  await m.call('removeBridge', () => ({ ...m.ref(), ...end }));
  m.s.bridge = false;
}

export async function complete(m: MigrationContext): Promise<void> {
  await removeCanary(m);
  await probe(m, 'Complete');
}

/** Supervision's auto-shrink setting back to what it was before ProvisionTarget (forward and rollback). */
export async function restoreAutoShrink(m: MigrationContext): Promise<void> {
  if (!m.s.autoShrinkPrevious) return;
  const previous = m.s.autoShrinkPrevious;
  await m.call('restoreAutoShrink', () => ({ arango: m.arango(), previous }));
  m.s.autoShrinkPrevious = null;
}
