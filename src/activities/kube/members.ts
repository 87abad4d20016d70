// Members Transit creates: target DB servers and coordinators mirroring the source ones, the client-facing
// coordinator LoadBalancer in the target and the JWT Secret copy; waiting for pods to be Ready or gone.
import { registerSecret } from '../../observability';
import type { V1Pod, V1PersistentVolumeClaim, V1Secret, V1Service, V1StorageClass } from '@kubernetes/client-node';
import type { MemberInfo, Side } from '../contract';
import { KINDS, type ClusterClient } from './client';
import {
  clientScheme,
  groupSpec,
  isReady,
  jwtSecretOf,
  readDeploymentCr,
  type ArangoDeploymentObject,
} from './deployment';
import type { Env } from './env';
import { InvalidDeploymentError, KubeOwnershipError, KubeWaitTimeoutError } from './errors';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  formatEndpoint,
  isOwnedBy,
  TRANSIT_LABELS,
  MANAGED_BY,
  MANAGER,
  migrationLabel,
  myAddressOption,
  parseEndpoint,
  setArg,
  targetName,
  transitLabels,
} from './names';
import { upsertHandlers } from './objects';
import { loadBalancerAddress } from './placement';
import { pollUntil } from './runtime';
import { homeService, memberPod, memberPvc } from './templates';

export const DEFAULT_ENTRYPOINT = '/usr/sbin/arangod';

export function clientServiceName(env: Env): string {
  return `${env.deployment}-ea`;
}

function ownedOr(env: Env, c: ClusterClient, what: string) {
  return (cur: { metadata?: { labels?: Record<string, string> } }): void => {
    if (!isOwnedBy(cur.metadata?.labels, env.migrationId)) {
      throw new KubeOwnershipError(
        `${what} ${c.namespace}/${(cur as { metadata?: { name?: string } }).metadata?.name} (context ${c.context}) exists and was not created by migration ${env.migrationId}: remove or rename it`,
      );
    }
  };
}

/** The source's StorageClass when the target has it, else none (the target's default class). */
export async function targetStorageClass(c: ClusterClient, wanted: string | undefined): Promise<string | undefined> {
  if (!wanted) return undefined;
  const classes = await c.list<V1StorageClass>(KINDS.storageClass);
  return classes.some((s) => s.metadata?.name === wanted) ? wanted : undefined;
}

/** Every member of a cluster shares one JWT secret: copy the source's into the target namespace. */
export async function ensureJwtSecret(
  env: Env,
  c: Record<Side, ClusterClient>,
  cr: ArangoDeploymentObject,
): Promise<string> {
  const name = jwtSecretOf(cr, env.deployment);
  const src = await c.source.get<V1Secret>(KINDS.secret, name);
  if (!src?.data) {
    throw new InvalidDeploymentError(
      `JWT Secret ${c.source.namespace}/${name} (context ${c.source.context}) not found or empty: kube-arangodb keeps the cluster secret there (spec.auth.jwtSecretName)`,
    );
  }
  // Transit only copies the JWT secret, but it is a credential: its values join the worker's log redaction.
  for (const v of Object.values(src.data)) {
    registerSecret(v);
    registerSecret(Buffer.from(v, 'base64').toString('utf8').trim());
  }
  const desired: V1Secret & Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: c.target.namespace,
      labels: transitLabels(env.migrationId, env.deployment, 'secret'),
      annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId },
    },
    type: src.type ?? 'Opaque',
    data: src.data,
  };
  const same = (cur: V1Secret): boolean => JSON.stringify(cur.data ?? {}) === JSON.stringify(src.data);
  await c.target.apply(KINDS.secret, desired, {
    same,
    merge: (cur) => ({ ...cur, data: src.data }),
    check: (cur) => {
      // Someone put the Secret there already: fine if it holds the same secret, never overwritten otherwise.
      if (!isOwnedBy(cur.metadata?.labels, env.migrationId) && !same(cur)) {
        throw new KubeOwnershipError(
          `Secret ${c.target.namespace}/${name} (context ${c.target.context}) exists with a different JWT secret: every member must share the source's; remove it or copy the source's`,
        );
      }
    },
  });
  return name;
}

/** The endpoint a target copy registers: the source's with the copy's Service name (and namespace, if named). */
export function targetEndpoint(env: Env, sourceEndpoint: string): { endpoint: string; svc: string } {
  const ep = parseEndpoint(sourceEndpoint);
  const labels = ep.host.split('.');
  const svc = targetName(labels[0]!);
  if (labels[1] === env.spec.source.namespace) labels[1] = env.spec.target.namespace;
  labels[0] = svc;
  return { endpoint: formatEndpoint({ ...ep, host: labels.join('.') }), svc };
}

async function ensureTargetMember(
  env: Env,
  c: ClusterClient,
  cr: ArangoDeploymentObject,
  jwt: string,
  m: MemberInfo,
): Promise<MemberInfo> {
  const name = targetName(m.podName);
  const { endpoint, svc } = targetEndpoint(env, m.endpoint);
  const args = setArg(m.args, myAddressOption(m.role), endpoint);
  const labels = {
    [ARANGO_LABELS.app]: 'arangodb',
    [ARANGO_LABELS.deployment]: env.deployment,
    [ARANGO_LABELS.role]: m.role,
    ...transitLabels(env.migrationId, env.deployment, 'member'),
    [TRANSIT_LABELS.member]: name,
    [TRANSIT_LABELS.sourceMember]: migrationLabel(m.id),
  };
  const g = groupSpec(cr, m.role);
  let claim: string | undefined;
  if (m.role === 'dbserver') {
    const size = m.storage?.size ?? g.volumeClaimTemplate?.spec?.resources?.requests?.storage;
    if (!size)
      throw new InvalidDeploymentError(
        `DB server ${m.podName} has no storage size (PVC or spec.dbservers.volumeClaimTemplate)`,
      );
    const cls = await targetStorageClass(c, m.storage?.storageClassName);
    const pvc = memberPvc({ name, namespace: c.namespace, size, storageClassName: cls, labels });
    await c.createOrGet(
      KINDS.pvc,
      pvc as V1PersistentVolumeClaim & Record<string, unknown>,
      ownedOr(env, c, 'PersistentVolumeClaim'),
    );
    claim = name;
  }
  const svcObj = homeService({
    name: svc,
    namespace: c.namespace,
    port: parseEndpoint(endpoint).port,
    selector: { [TRANSIT_LABELS.member]: name },
    labels,
    annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId },
  });
  await c.apply(
    KINDS.service,
    svcObj as V1Service & Record<string, unknown>,
    upsertHandlers(svcObj as V1Service & Record<string, unknown>, ownedOr(env, c, 'Service')),
  );
  const pod = memberPod({
    name,
    namespace: c.namespace,
    role: m.role,
    image: m.image,
    entrypoint: g.entrypoint ?? DEFAULT_ENTRYPOINT,
    args,
    resources: m.resources,
    labels,
    annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId, [TRANSIT_ANNOTATIONS.sourcePod]: m.podName },
    jwtSecret: jwt,
    claim,
  });
  const r = await c.createOrGet(KINDS.pod, pod as V1Pod & Record<string, unknown>, ownedOr(env, c, 'Pod'));
  return { ...m, id: name, side: 'target', podName: name, podIP: r.obj.status?.podIP ?? null, endpoint, args };
}

/** Pods Ready (heartbeating), then their current state. */
export async function waitReady(env: Env, c: ClusterClient, names: string[]): Promise<Map<string, V1Pod>> {
  let state = new Map<string, V1Pod>();
  return pollUntil(
    env.runtime,
    async () => {
      state = new Map();
      for (const n of names) {
        const p = await c.get<V1Pod>(KINDS.pod, n);
        if (p) state.set(n, p);
      }
      return names.every((n) => isReady(state.get(n))) ? state : undefined;
    },
    {
      timeoutMs: env.tunables.readyTimeoutMs,
      intervalMs: env.tunables.pollIntervalMs,
      progress: () => ({
        waiting: 'podsReady',
        context: c.context,
        ready: names.filter((n) => isReady(state.get(n))).length,
        total: names.length,
      }),
      onTimeout: () => {
        const bad = names
          .filter((n) => !isReady(state.get(n)))
          .map((n) => {
            const p = state.get(n);
            const cs = p?.status?.containerStatuses?.[0];
            return `${n}: ${p ? `${p.status?.phase ?? 'Pending'}${cs ? `, restarts ${cs.restartCount}` : ''}` : 'missing'}`;
          });
        return new KubeWaitTimeoutError(
          `pods not Ready after ${env.tunables.readyTimeoutMs / 1000} s in ${c.namespace} (context ${c.context}): ${bad.join('; ')}`,
          { notReady: bad },
        );
      },
    },
  );
}

/** Deletes a pod (only the incarnation given) and waits until it is gone. */
export async function deletePodAndWait(env: Env, c: ClusterClient, pod: V1Pod): Promise<void> {
  const name = pod.metadata!.name!;
  const uid = pod.metadata?.uid;
  await c.delete(KINDS.pod, name, { uid });
  await pollUntil(
    env.runtime,
    async () => {
      const p = await c.get<V1Pod>(KINDS.pod, name);
      return !p || p.metadata?.uid !== uid ? true : undefined;
    },
    {
      timeoutMs: env.tunables.readyTimeoutMs,
      intervalMs: env.tunables.pollIntervalMs,
      progress: () => ({ waiting: 'podGone', name, context: c.context }),
      onTimeout: () =>
        new KubeWaitTimeoutError(
          `pod ${c.namespace}/${name} (context ${c.context}) still exists ${env.tunables.readyTimeoutMs / 1000} s after delete: check its finalizers and node`,
        ),
    },
  );
}

/** The client-facing coordinator LoadBalancer in the target: what DNS points at after the cutover. */
async function ensureClientService(env: Env, c: ClusterClient, cr: ArangoDeploymentObject): Promise<void> {
  const svc: V1Service & Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: clientServiceName(env),
      namespace: c.namespace,
      labels: transitLabels(env.migrationId, env.deployment, 'client'),
      annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId, [TRANSIT_ANNOTATIONS.scheme]: clientScheme(cr) },
    },
    spec: {
      type: 'LoadBalancer',
      selector: {
        [MANAGED_BY]: MANAGER,
        [TRANSIT_LABELS.deployment]: env.deployment,
        [ARANGO_LABELS.role]: 'coordinator',
      },
      ports: [{ name: 'server', port: 8529, targetPort: 8529 as never, protocol: 'TCP' }],
    },
  };
  await c.apply(KINDS.service, svc, upsertHandlers(svc, ownedOr(env, c, 'Service')));
}

export async function provisionTargetMembers(env: Env, members: MemberInfo[]): Promise<{ members: MemberInfo[] }> {
  for (const m of members) {
    if (m.role === 'agent')
      throw new InvalidDeploymentError(
        `${m.podName} is an agent: agents move with moveAgent (same ID), they are not copied`,
      );
    if (m.side !== 'source')
      throw new InvalidDeploymentError(`${m.podName} is not a source member: only source members are mirrored`);
  }
  const c = await env.both();
  const cr = await readDeploymentCr(env, c.source);
  const jwt = await ensureJwtSecret(env, c, cr);
  const out: MemberInfo[] = [];
  for (const m of members) {
    out.push(await ensureTargetMember(env, c.target, cr, jwt, m));
    env.runtime.heartbeat({ step: 'created', name: targetName(m.podName), done: out.length, total: members.length });
  }
  await ensureClientService(env, c.target, cr);
  const pods = await waitReady(
    env,
    c.target,
    out.map((m) => m.podName),
  );
  return { members: out.map((m) => ({ ...m, podIP: pods.get(m.podName)?.status?.podIP ?? m.podIP })) };
}

export async function readClientEndpoint(env: Env, side: Side): Promise<{ values: string[]; url: string }> {
  const c = await env.client(side);
  const name = clientServiceName(env);
  const svc = await c.get<V1Service>(KINDS.service, name);
  if (!svc) {
    throw new InvalidDeploymentError(
      side === 'target'
        ? `no client Service ${c.namespace}/${name} in context ${c.context} yet: provisionTargetMembers creates it`
        : `no client Service ${c.namespace}/${name} in context ${c.context}: the source needs kube-arangodb external access (spec.externalAccess.type LoadBalancer)`,
    );
  }
  if (svc.spec?.type !== 'LoadBalancer') {
    throw new InvalidDeploymentError(
      `Service ${c.namespace}/${name} (context ${c.context}) is ${svc.spec?.type}, not a LoadBalancer: DNS needs an address clients can reach`,
    );
  }
  await loadBalancerAddress(env, c, name);
  const now = (await c.get<V1Service>(KINDS.service, name))!;
  const values = (now.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
  const port = (now.spec?.ports ?? []).find((p) => p.name === 'server')?.port ?? now.spec?.ports?.[0]?.port ?? 8529;
  const scheme =
    now.metadata?.annotations?.[TRANSIT_ANNOTATIONS.scheme] ??
    (side === 'source' ? clientScheme(await readDeploymentCr(env, c)) : 'https');
  return { values, url: `${scheme}://${values[0]}:${port}` };
}
