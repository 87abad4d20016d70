// Moving one agent to the other cluster, the documented agent replacement (ArangoDB starter recovery
// procedure; kube-arangodb's agent "replace"): the old pod and its PVC are removed first, then the agent is
// started on the other side with the SAME ID (--agency.disaster-recovery-id) and an empty volume; it gossips
// into the pool and the leader replicates the log to it. Pod and Service keep their names, so the endpoint it
// registers (tcp://<member Service>:8529) stays the same string; the bridge makes that name resolve to the new
// place in both clusters. Quorum and catch-up are the workflow's checks (agency activities) around this.
import type { V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1Service } from '@kubernetes/client-node';
import type { MemberInfo, Side } from '../contract';
import { makeHomeService, pointServiceAt, type Placed } from './bridge';
import { bridgeMode } from './bridge-modes';
import { probePaths } from './probe';
import { KINDS, type ClusterClient } from './client';
import {
  groupSpec,
  pauseOperator,
  podArgs,
  podNameOf,
  pvcNameOf,
  readDeploymentCr,
  jwtSecretOf,
  type ArangoDeploymentObject,
} from './deployment';
import type { Env } from './env';
import { InvalidDeploymentError, KubeOwnershipError, KubeWaitTimeoutError } from './errors';
import { deletePodAndWait, DEFAULT_ENTRYPOINT, ensureJwtSecret, targetStorageClass, waitReady } from './members';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  argValues,
  isOwnedBy,
  TRANSIT_LABELS,
  otherSide,
  parseEndpoint,
  serviceOfEndpoint,
  setArg,
  transitLabels,
} from './names';
import { pollUntil } from './runtime';
import { memberPod, memberPvc } from './templates';

function isAgentPod(pod: V1Pod, id: string): boolean {
  return (
    argValues(podArgs(pod).args, 'agency.disaster-recovery-id').includes(id) ||
    pod.metadata?.labels?.[ARANGO_LABELS.member] === id
  );
}

/** The PVC an agent uses on a side: the operator's name in the source, the pod name in the target. */
function claimName(cr: ArangoDeploymentObject, env: Env, side: Side, agent: MemberInfo): string {
  if (side === 'target') return agent.podName;
  const st = (cr.status?.members?.agents ?? []).find((s) => s.id === agent.id);
  return (st && pvcNameOf(st)) ?? agent.podName;
}

async function removeOld(
  env: Env,
  c: ClusterClient,
  cr: ArangoDeploymentObject,
  agent: MemberInfo,
  pod: V1Pod | undefined,
): Promise<void> {
  const claims = new Set<string>([claimName(cr, env, c.side, agent)]);
  if (pod) {
    if (!isAgentPod(pod, agent.id)) {
      throw new KubeOwnershipError(
        `pod ${c.namespace}/${agent.podName} (context ${c.context}) is not agent ${agent.id}: not removed`,
      );
    }
    for (const v of pod.spec?.volumes ?? [])
      if (v.persistentVolumeClaim?.claimName) claims.add(v.persistentVolumeClaim.claimName);
    await deletePodAndWait(env, c, pod);
  }
  // The replacement starts empty (same ID, fresh data): the old volume must not come back with it.
  for (const claim of claims) {
    const pvc = await c.get<V1PersistentVolumeClaim>(KINDS.pvc, claim);
    const mine =
      isOwnedBy(pvc?.metadata?.labels, env.migrationId) ||
      pvc?.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment;
    if (pvc && mine) await c.delete(KINDS.pvc, claim, { uid: pvc.metadata?.uid });
  }
}

/** The agent's pod and PVC on `c`: Transit's member in the target; in the source, as the operator lays it out. */
async function createAt(
  env: Env,
  c: ClusterClient,
  cr: ArangoDeploymentObject,
  agent: MemberInfo,
  jwt: string,
): Promise<void> {
  const g = groupSpec(cr, 'agent');
  let labels: Record<string, string>;
  let owner: V1OwnerReference[] | undefined;
  if (c.side === 'target') {
    labels = {
      [ARANGO_LABELS.app]: 'arangodb',
      [ARANGO_LABELS.deployment]: env.deployment,
      [ARANGO_LABELS.role]: 'agent',
      [ARANGO_LABELS.member]: agent.id,
      ...transitLabels(env.migrationId, env.deployment, 'member'),
      [TRANSIT_LABELS.member]: agent.podName,
    };
  } else {
    // Back home: the operator's labels (and whatever its Service selects on), owned by the ArangoDeployment.
    const svc = await c.get<V1Service>(KINDS.service, serviceOfEndpoint(agent.endpoint));
    const orig = svc?.metadata?.annotations?.[TRANSIT_ANNOTATIONS.original];
    const selector = orig ? (JSON.parse(orig) as { selector?: Record<string, string> }).selector : svc?.spec?.selector;
    labels = {
      [ARANGO_LABELS.app]: 'arangodb',
      [ARANGO_LABELS.deployment]: env.deployment,
      [ARANGO_LABELS.role]: 'agent',
      [ARANGO_LABELS.member]: agent.id,
      ...(selector ?? {}),
    };
    owner = [
      {
        apiVersion: cr.apiVersion!,
        kind: cr.kind!,
        name: cr.metadata!.name!,
        uid: cr.metadata!.uid!,
        controller: true,
      },
    ];
  }
  const size = agent.storage?.size ?? g.volumeClaimTemplate?.spec?.resources?.requests?.storage;
  if (!size)
    throw new InvalidDeploymentError(`agent ${agent.id} has no storage size (PVC or spec.agents.volumeClaimTemplate)`);
  const claim = claimName(cr, env, c.side, agent);
  const check = (what: string) => (cur: { metadata?: { labels?: Record<string, string>; name?: string } }) => {
    const ok =
      isOwnedBy(cur.metadata?.labels, env.migrationId) || cur.metadata?.labels?.[ARANGO_LABELS.member] === agent.id;
    if (!ok)
      throw new KubeOwnershipError(
        `${what} ${c.namespace}/${cur.metadata?.name} (context ${c.context}) exists and is not agent ${agent.id}'s: remove it`,
      );
  };
  const pvc = memberPvc({
    name: claim,
    namespace: c.namespace,
    size,
    storageClassName:
      c.side === 'source'
        ? agent.storage?.storageClassName
        : await targetStorageClass(c, agent.storage?.storageClassName),
    labels,
    ownerReferences: owner,
  });
  await c.createOrGet(
    KINDS.pvc,
    pvc as V1PersistentVolumeClaim & Record<string, unknown>,
    check('PersistentVolumeClaim'),
  );
  const pod = memberPod({
    name: agent.podName,
    namespace: c.namespace,
    role: 'agent',
    image: agent.image,
    entrypoint: g.entrypoint ?? DEFAULT_ENTRYPOINT,
    // Same ID (disaster recovery), same --agency.my-address string: the bridge resolves it to the new place.
    args: setArg(agent.args, 'agency.disaster-recovery-id', agent.id),
    resources: agent.resources,
    labels,
    annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId },
    jwtSecret: jwt,
    claim,
    ownerReferences: owner,
  });
  await c.createOrGet(KINDS.pod, pod as V1Pod & Record<string, unknown>, check('Pod'));
}

async function podIP(env: Env, c: ClusterClient, name: string): Promise<string> {
  return pollUntil(env.runtime, async () => (await c.get<V1Pod>(KINDS.pod, name))?.status?.podIP ?? undefined, {
    timeoutMs: env.tunables.readyTimeoutMs,
    intervalMs: env.tunables.pollIntervalMs,
    progress: () => ({ waiting: 'podIP', name, context: c.context }),
    onTimeout: () =>
      new KubeWaitTimeoutError(
        `pod ${c.namespace}/${name} (context ${c.context}) got no IP in ${env.tunables.readyTimeoutMs / 1000} s`,
      ),
  });
}

export async function moveAgent(env: Env, agent: MemberInfo, to: Side): Promise<MemberInfo> {
  if (agent.role !== 'agent') throw new InvalidDeploymentError(`${agent.podName} is a ${agent.role}, not an agent`);
  const c = await env.both();
  const from = otherSide(to);
  const cr = await readDeploymentCr(env, c.source);
  const expected = (cr.status?.members?.agents ?? []).find((s) => s.id === agent.id);
  if (!expected || podNameOf(expected, env.deployment, 'agent') !== agent.podName) {
    throw new InvalidDeploymentError(
      `agent ${agent.id} (${agent.podName}) is not in status.members.agents of ArangoDeployment ${env.deployment}`,
    );
  }
  const there = await c[to].get<V1Pod>(KINDS.pod, agent.podName);
  const here = await c[from].get<V1Pod>(KINDS.pod, agent.podName);
  if (there && !isAgentPod(there, agent.id))
    throw new KubeOwnershipError(
      `pod ${c[to].namespace}/${agent.podName} (context ${c[to].context}) exists and is not agent ${agent.id}`,
    );
  if (there && here && isAgentPod(here, agent.id) && !here.metadata?.deletionTimestamp) {
    throw new InvalidDeploymentError(
      `agent ${agent.id} runs in both clusters (${c.source.context} and ${c.target.context}): stop one by hand; Transit will not pick`,
    );
  }
  if (!there) {
    // The operator must not recreate the pod we remove, nor fight the one we create.
    await pauseOperator(env);
    const jwt = to === 'target' ? await ensureJwtSecret(env, c, cr) : jwtSecretOf(cr, env.deployment);
    await removeOld(env, c[from], cr, agent, here);
    await createAt(env, c[to], cr, agent, jwt);
  }
  const svc = serviceOfEndpoint(agent.endpoint);
  const port = parseEndpoint(agent.endpoint).port;
  await makeHomeService(env, c[to], { svc, port, podName: agent.podName });
  const ip = await podIP(env, c[to], agent.podName);
  const placed: Placed = {
    m: { ...agent, side: to, podIP: ip },
    svc,
    port,
    tls: parseEndpoint(agent.endpoint).scheme === 'ssl',
    home: to,
    podIP: ip,
  };
  const target = await bridgeMode(env).rehome(env, c, placed);
  const bridged = await pointServiceAt(env, c[from], placed, target);
  const pods = await waitReady(env, c[to], [agent.podName]);
  await probePaths(env, [{ p: placed, svc: bridged, to: target }]);
  const pod = pods.get(agent.podName)!;
  return { ...agent, side: to, podIP: pod.status?.podIP ?? ip, args: podArgs(pod).args };
}
