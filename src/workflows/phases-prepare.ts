/**
 * The forward phases up to a target that is ready to take shards: Validate, Plan, AwaitApproval, BridgeNetworks,
 * ProvisionTarget. Nothing the source serves changes here; a rollback undoes what was created.
 */
import { condition, upsertSearchAttributes } from '@temporalio/workflow';
import { SA_DEPLOYMENT, SA_SOURCE_CLUSTER, SA_TARGET_CLUSTER } from '../shared/controls';
import { validationProxy } from './activities';
import { probe, requireHealthy } from './checks';
import type { MigrationContext } from './context';
import { agentsToMove, autoShrinkFloor, membersToCreate } from './decisions';
import { specCheckedOnInput } from './input';

export async function validate(m: MigrationContext): Promise<void> {
  const checked = m.s.spec;
  const spec = specCheckedOnInput()
    ? checked
    : await m.step('validateSpec', () => validationProxy().validateSpec({ spec: checked }));
  m.s.spec = spec;
  m.s.concurrency = spec.policy.maxConcurrentShardMoves;
  if (!spec.policy.requireApproval) m.s.approved = true;
  m.useSpec(spec);
  upsertSearchAttributes([
    { key: SA_SOURCE_CLUSTER, value: `${spec.source.region}/${spec.source.context}` },
    { key: SA_TARGET_CLUSTER, value: `${spec.target.region}/${spec.target.context}` },
    { key: SA_DEPLOYMENT, value: `${spec.deployment.namespace}/${spec.deployment.name}` },
  ]);
  await m.call('preflight', () => m.ref());
  await requireHealthy(m);
  m.s.dns.before ??= await m.call('readRecord', () => ({ dns: spec.dns }));
}

export async function planPhase(m: MigrationContext): Promise<void> {
  m.s.inventory = await m.call('readSourceDeployment', () => m.ref());
  m.s.plan = await m.call('readShardPlan', () => ({ migrationId: m.s.migrationId, arango: m.arango() }));
  if (m.s.agents.length === 0) {
    m.s.agents = agentsToMove(m.s.inventory).map((member) => ({ id: member.id, side: 'source' as const, member }));
  }
  await probe(m, 'Plan');
}

export async function awaitApproval(m: MigrationContext): Promise<void> {
  const s = m.s;
  while (!s.approved) {
    s.status = 'awaitingApproval';
    m.publish();
    const timeout = s.spec.policy.timeouts.approvalSeconds;
    const woken = () => s.approved || s.abortRequested || s.rollbackRequested || s.pauseRequested;
    // condition() without a timeout resolves to undefined, not true: only a timed wait can report "timed out".
    const timedOut = timeout ? !(await condition(woken, `${timeout}s`)) : (await condition(woken), false);
    if (timedOut) {
      s.lastError = `not approved within ${timeout}s (policy.timeouts.approvalSeconds): aborting, nothing was changed`;
      s.abortRequested = true;
    }
    s.status = 'running';
    await m.safePoint();
  }
  m.publish();
}

export async function bridge(m: MigrationContext): Promise<void> {
  await m.call('bridgeNetworks', () => ({ ...m.ref(), members: m.allMembers() }));
  m.s.bridge = true;
  await probe(m, 'BridgeNetworks');
}

export async function provisionTarget(m: MigrationContext): Promise<void> {
  const inventory = m.s.inventory!;
  if (!m.s.autoShrinkPrevious) {
    // Supervision would clean out the last server ID (maybe a new one) while old and new coexist.
    const r = await m.call('neutraliseAutoShrink', () => ({ arango: m.arango(), atLeast: autoShrinkFloor(inventory) }));
    m.s.autoShrinkPrevious = r.previous;
  }
  const toCreate = membersToCreate(inventory);
  const { members } = await m.call('provisionTargetMembers', () => ({ ...m.ref(), members: toCreate }));
  m.s.targetMembers = members;
  await m.safePoint();
  await m.call('bridgeNetworks', () => ({ ...m.ref(), members: m.allMembers() }));
  const registered = await m.call('waitForServerRegistered', () => ({
    arango: m.arango(),
    endpoints: members.map((member) => member.endpoint),
    timeoutSeconds: m.s.spec.policy.timeouts.activitySeconds,
  }));
  m.s.targetServerIds = registered.servers.filter((x) => x.role === 'dbserver').map((x) => x.id);
  // Registered IDs are the members' IDs from now on (bound to their data directories).
  const idOf = new Map(registered.servers.map((x) => [x.endpoint, x.id]));
  m.s.targetMembers = members.map((member) => ({ ...member, id: idOf.get(member.endpoint) ?? member.id }));
  const client = await m.call('readClientEndpoint', () => ({ ...m.ref(), side: 'target' }));
  m.s.dns.targetValues = client.values;
  m.s.dns.targetUrl = client.url;
  await requireHealthy(m);
  await probe(m, 'ProvisionTarget');
}
