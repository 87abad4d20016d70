// Taking members away: the target copies on rollback (with the client LoadBalancer and the JWT copy once none
// is left), and the source DB servers and coordinators after their data has moved (Decommission, the point of
// no return: the operator stays paused so it does not recreate them). Both are idempotent.
import type { V1Pod, V1PersistentVolumeClaim, V1Service } from '@kubernetes/client-node';
import type { Side } from '../contract';
import { bridgeMode } from './bridge-modes';
import { KINDS, type ClusterClient } from './client';
import { deleteServicesWithSlices } from './endpointslices';
import { jwtSecretOf, pauseOperator, podArgs, pvcNameOf, readDeploymentCr } from './deployment';
import type { Env } from './env';
import { InvalidDeploymentError, KubeOwnershipError } from './errors';
import { clientServiceName, deletePodAndWait } from './members';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  argValues,
  GROUPS,
  isOwnedBy,
  TRANSIT_LABELS,
  memberHostName,
  myAddressOption,
  serviceOfEndpoint,
  transitSelector,
} from './names';

/** Every object labelled for one member by this migration (its Services, EndpointSlices and PVCs, both clusters). */
async function deleteMemberObjects(env: Env, c: Record<Side, ClusterClient>, name: string): Promise<string[]> {
  const sel = `${transitSelector(env.migrationId)},${TRANSIT_LABELS.member}=${name}`;
  const svcs: string[] = [];
  for (const side of ['source', 'target'] as Side[]) {
    svcs.push(...(await deleteServicesWithSlices(c[side], env.migrationId, sel)).services);
    for (const o of await c[side].list(KINDS.pvc, { labelSelector: sel }))
      await c[side].delete(KINDS.pvc, o.metadata!.name!, { uid: o.metadata?.uid });
  }
  return svcs;
}

export async function removeTargetMembers(env: Env, names: string[]): Promise<{ removed: string[] }> {
  const c = await env.both();
  const removed: string[] = [];
  for (const name of names) {
    const pod = await c.target.get<V1Pod>(KINDS.pod, name);
    if (pod && !isOwnedBy(pod.metadata?.labels, env.migrationId)) {
      throw new KubeOwnershipError(
        `refusing to delete pod ${c.target.namespace}/${name} (context ${c.target.context}): it was not created by migration ${env.migrationId}`,
      );
    }
    if (pod?.metadata?.labels?.[ARANGO_LABELS.role] === 'agent') {
      throw new InvalidDeploymentError(
        `${name} is a moved agent: it goes back with moveAgent (same ID), it is never just removed`,
      );
    }
    if (pod) await deletePodAndWait(env, c.target, pod);
    const svcs = await deleteMemberObjects(env, c, name);
    await bridgeMode(env).release(env, c.target, svcs);
    removed.push(name);
    env.runtime.heartbeat({ step: 'removed', name, done: removed.length, total: names.length });
  }
  // With no Transit member left in the target, its client LoadBalancer and JWT copy go too (by name: the
  // worker may not list Secrets).
  const left = await c.target.list<V1Pod>(KINDS.pod, { labelSelector: transitSelector(env.migrationId, 'member') });
  if (left.length === 0) {
    const cr = await readDeploymentCr(env, c.source);
    for (const [kind, name] of [
      [KINDS.service, clientServiceName(env)],
      [KINDS.secret, jwtSecretOf(cr, env.deployment)],
    ] as const) {
      const o = await c.target.get(kind, name);
      if (o && isOwnedBy(o.metadata?.labels, env.migrationId))
        await c.target.delete(kind, name, { uid: o.metadata?.uid });
    }
  }
  return { removed };
}

export async function decommissionSourceMembers(env: Env, names: string[]): Promise<{ removed: string[] }> {
  const c = await env.both();
  const cr = await readDeploymentCr(env, c.source);
  // Past the point of no return: the operator must not recreate what goes now, and must not resume later.
  await pauseOperator(env, {
    [TRANSIT_ANNOTATIONS.migratedTo]: `${env.spec.target.context}/${env.spec.target.namespace}`,
  });
  const status = new Map<string, { id: string; role: string; pvc?: string }>();
  for (const g of GROUPS) {
    for (const s of cr.status?.members?.[g.statusKey] ?? []) {
      const pod = s.pod?.name ?? s.podName;
      if (pod) status.set(pod, { id: s.id, role: g.role, pvc: pvcNameOf(s) });
    }
  }
  const removed: string[] = [];
  for (const name of names) {
    const pod = await c.source.get<V1Pod>(KINDS.pod, name);
    const st = status.get(name);
    const role = pod?.metadata?.labels?.[ARANGO_LABELS.role] ?? st?.role;
    if (pod && pod.metadata?.labels?.[ARANGO_LABELS.deployment] !== env.deployment) {
      throw new InvalidDeploymentError(
        `pod ${c.source.namespace}/${name} (context ${c.source.context}) is not a member of ArangoDeployment ${env.deployment}: not removed`,
      );
    }
    if (role === 'agent')
      throw new InvalidDeploymentError(`${name} is an agent: agents are moved (moveAgent), never decommissioned`);
    const claims = new Set<string>();
    if (st?.pvc) claims.add(st.pvc);
    let svc: string | undefined;
    if (pod) {
      for (const v of pod.spec?.volumes ?? [])
        if (v.persistentVolumeClaim?.claimName) claims.add(v.persistentVolumeClaim.claimName);
      const ep = argValues(podArgs(pod).args, myAddressOption(role === 'coordinator' ? 'coordinator' : 'dbserver')).at(
        -1,
      );
      svc = ep ? serviceOfEndpoint(ep) : undefined;
      await deletePodAndWait(env, c.source, pod);
    }
    svc ??= st ? memberHostName(env.deployment, role === 'coordinator' ? 'coordinator' : 'dbserver', st.id) : name;
    for (const claim of claims) {
      const pvc = await c.source.get<V1PersistentVolumeClaim>(KINDS.pvc, claim);
      if (pvc?.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment)
        await c.source.delete(KINDS.pvc, claim, { uid: pvc.metadata?.uid });
    }
    const s = await c.source.get<V1Service>(KINDS.service, svc);
    if (s?.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment && s.spec?.selector)
      await c.source.delete(KINDS.service, svc, { uid: s.metadata?.uid });
    // Its bridge in the target, and its port on the source's bridge LoadBalancer.
    await deleteMemberObjects(env, c, name);
    await bridgeMode(env).release(env, c.source, [svc]);
    removed.push(name);
    env.runtime.heartbeat({ step: 'decommissioned', name, done: removed.length, total: names.length });
  }
  return { removed };
}
