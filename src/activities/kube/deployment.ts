// The source deployment as kube-arangodb lays it out: the ArangoDeployment CR (spec per server group,
// status.members), one pod per member named <deployment>-<role>-<id> with the operator's labels, a PVC per
// agent and DB server, the JWT Secret. Reading it into MemberInfo, and pausing/resuming the operator.
import type { KubernetesObject, V1Container, V1Pod, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DeploymentInventory, MemberInfo, ServerGroup, Side } from '../contract';
import { KINDS, type ClusterClient } from './client';
import type { Env } from './env';
import { InvalidDeploymentError, KubeWaitTimeoutError } from './errors';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  argValues,
  GROUPS,
  isOwnedBy,
  jwtSecretName,
  memberHostName,
  myAddressOption,
  OPERATOR_MAINTENANCE_ANNOTATION,
} from './names';

export interface GroupSpec {
  count?: number;
  args?: string[];
  entrypoint?: string;
  resources?: Record<string, unknown>;
  storageClassName?: string;
  volumeClaimTemplate?: {
    spec?: { accessModes?: string[]; resources?: { requests?: { storage?: string } }; storageClassName?: string };
  };
}

export interface MemberStatus {
  id: string;
  podName?: string;
  pod?: { name?: string };
  persistentVolumeClaimName?: string;
  persistentVolumeClaim?: { name?: string };
}

export interface ArangoDeploymentObject extends KubernetesObject {
  spec?: {
    mode?: string;
    image?: string;
    communicationMethod?: string;
    auth?: { jwtSecretName?: string };
    tls?: { caSecretName?: string };
    agents?: GroupSpec;
    dbservers?: GroupSpec;
    coordinators?: GroupSpec;
    [k: string]: unknown;
  };
  status?: { members?: Partial<Record<'agents' | 'dbservers' | 'coordinators', MemberStatus[]>>; [k: string]: unknown };
}

export function groupSpec(cr: ArangoDeploymentObject, role: ServerGroup): GroupSpec {
  const key = GROUPS.find((g) => g.role === role)!.statusKey;
  return cr.spec?.[key] ?? {};
}

export function podNameOf(s: MemberStatus, deployment: string, role: ServerGroup): string {
  return s.pod?.name ?? s.podName ?? memberHostName(deployment, role, s.id);
}

export function pvcNameOf(s: MemberStatus): string | undefined {
  return s.persistentVolumeClaim?.name ?? s.persistentVolumeClaimName;
}

/** http or https for clients: kube-arangodb enables TLS unless tls.caSecretName is "None". */
export function clientScheme(cr: ArangoDeploymentObject): 'http' | 'https' {
  return cr.spec?.tls?.caSecretName === 'None' ? 'http' : 'https';
}

export async function readDeploymentCr(env: Env, c?: ClusterClient): Promise<ArangoDeploymentObject> {
  const src = c ?? (await env.client('source'));
  const cr = await src.get<ArangoDeploymentObject>(KINDS.arangoDeployment, env.deployment);
  if (!cr) {
    throw new InvalidDeploymentError(
      `ArangoDeployment ${src.namespace}/${env.deployment} not found in context ${src.context}: fix spec.deployment or spec.source`,
    );
  }
  if ((cr.spec?.mode ?? 'Cluster') !== 'Cluster') {
    throw new InvalidDeploymentError(
      `ArangoDeployment ${src.namespace}/${env.deployment} has mode ${cr.spec?.mode}: Transit migrates mode Cluster only`,
    );
  }
  return cr;
}

export function jwtSecretOf(cr: ArangoDeploymentObject, deployment: string): string {
  return jwtSecretName(deployment, cr.spec?.auth?.jwtSecretName);
}

/** The arangod container of a member pod: "server" (kube-arangodb's name), else the first. */
export function serverContainer(pod: V1Pod): V1Container | undefined {
  const cs = pod.spec?.containers ?? [];
  return cs.find((c) => c.name === 'server') ?? cs[0];
}

/** arangod options of a pod: command after the executable (numactl prefixes included), then args. */
export function podArgs(pod: V1Pod): { entrypoint: string; args: string[] } {
  const c = serverContainer(pod);
  const cmd = c?.command ?? [];
  const i = cmd.findIndex((x) => /arangod$/.test(x));
  const entrypoint = i >= 0 ? cmd[i]! : (cmd[0] ?? '/usr/sbin/arangod');
  return { entrypoint, args: [...cmd.slice(i >= 0 ? i + 1 : 1), ...(c?.args ?? [])] };
}

export function isReady(pod: V1Pod | undefined): boolean {
  return (
    !!pod &&
    !pod.metadata?.deletionTimestamp &&
    (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

function storageOf(pvc: V1PersistentVolumeClaim | undefined, g: GroupSpec): MemberInfo['storage'] {
  const size = pvc?.spec?.resources?.requests?.storage ?? g.volumeClaimTemplate?.spec?.resources?.requests?.storage;
  if (!size) return undefined;
  const cls = pvc?.spec?.storageClassName ?? g.volumeClaimTemplate?.spec?.storageClassName ?? g.storageClassName;
  return cls ? { size, storageClassName: cls } : { size };
}

/** One member read from its pod (on whichever side it runs now). */
export async function memberFromPod(
  c: ClusterClient,
  pod: V1Pod,
  m: { id: string; role: ServerGroup; side: Side; pvc?: string; group: GroupSpec },
): Promise<MemberInfo> {
  const { args } = podArgs(pod);
  const container = serverContainer(pod);
  const endpoint = argValues(args, myAddressOption(m.role)).at(-1);
  if (!endpoint) {
    throw new InvalidDeploymentError(
      `pod ${c.namespace}/${pod.metadata?.name} (context ${c.context}) has no --${myAddressOption(m.role)}: not an arangod member pod Transit understands`,
    );
  }
  const claim =
    m.pvc ?? (pod.spec?.volumes ?? []).find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
  const pvc = claim ? await c.get<V1PersistentVolumeClaim>(KINDS.pvc, claim) : undefined;
  const resources = container?.resources as Record<string, unknown> | undefined;
  const storage = m.role === 'coordinator' ? undefined : storageOf(pvc, m.group);
  return {
    id: m.id,
    role: m.role,
    side: m.side,
    podName: pod.metadata!.name!,
    podIP: pod.status?.podIP ?? null,
    endpoint,
    image: container?.image ?? '',
    args,
    ...(resources && Object.keys(resources).length
      ? { resources: JSON.parse(JSON.stringify(resources)) as Record<string, unknown> }
      : {}),
    ...(storage ? { storage } : {}),
  };
}

/** Creation → Ready of a pod that never restarted (a restart moves the Ready transition later). */
function readySeconds(pod: V1Pod): number | undefined {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime;
  const created = pod.metadata?.creationTimestamp;
  const restarts = (pod.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
  if (!ready || !created || restarts > 0) return undefined;
  const s = (new Date(ready).getTime() - new Date(created).getTime()) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : undefined;
}

/** The CR and its members; a member whose pod is not in the source may be an agent Transit moved already. */
export async function readInventory(env: Env): Promise<DeploymentInventory> {
  const src = await env.client('source');
  const cr = await readDeploymentCr(env, src);
  const pods = await src.list<V1Pod>(KINDS.pod, { labelSelector: `${ARANGO_LABELS.deployment}=${env.deployment}` });
  const byName = new Map(pods.map((p) => [p.metadata!.name!, p]));
  const members: MemberInfo[] = [];
  const started: number[] = [];
  for (const g of GROUPS) {
    for (const s of cr.status?.members?.[g.statusKey] ?? []) {
      const name = podNameOf(s, env.deployment, g.role);
      let side: Side = 'source';
      let c = src;
      let pod = byName.get(name);
      if (!pod && g.role === 'agent') {
        const tgt = await env.client('target');
        const moved = await tgt.get<V1Pod>(KINDS.pod, name);
        if (moved && isOwnedBy(moved.metadata?.labels, env.migrationId)) {
          pod = moved;
          side = 'target';
          c = tgt;
        }
      }
      if (!pod || pod.metadata?.deletionTimestamp) {
        throw new KubeWaitTimeoutError(
          `member ${s.id} (${g.role}) of ArangoDeployment ${src.namespace}/${env.deployment} has no running pod ${name} in context ${src.context}: ` +
            'wait for the operator to recreate it, then retry',
        );
      }
      const ready = side === 'source' ? readySeconds(pod) : undefined;
      if (ready !== undefined) started.push(ready);
      members.push(
        await memberFromPod(c, pod, {
          id: s.id,
          role: g.role,
          side,
          pvc: side === 'source' ? pvcNameOf(s) : undefined,
          group: groupSpec(cr, g.role),
        }),
      );
    }
  }
  if (!members.some((m) => m.role === 'agent') || !members.some((m) => m.role === 'dbserver')) {
    throw new InvalidDeploymentError(
      `ArangoDeployment ${src.namespace}/${env.deployment} lists no agents or no DB servers in status.members: is the operator done creating it?`,
    );
  }
  const image = cr.spec?.image ?? members[0]!.image;
  started.sort((a, b) => a - b);
  const podStart = started.length
    ? { medianSeconds: Math.round(started[Math.floor(started.length / 2)]! * 10) / 10, pods: started.length }
    : undefined;
  return { name: env.deployment, namespace: src.namespace, image, members, ...(podStart ? { podStart } : {}) };
}

// ---- the operator ----------------------------------------------------------------------------------------

/**
 * Stops kube-arangodb from reconciling the source deployment while Transit deletes or replaces its members
 * (otherwise it would recreate them). Records that this migration did it, so only it resumes the operator.
 */
export async function pauseOperator(env: Env, also: Record<string, string> = {}): Promise<void> {
  const src = await env.client('source');
  const cr = await readDeploymentCr(env, src);
  const ann = cr.metadata?.annotations ?? {};
  const pausedByOther =
    ann[OPERATOR_MAINTENANCE_ANNOTATION] === 'true' && ann[TRANSIT_ANNOTATIONS.pausedBy] !== env.migrationId;
  const want: Record<string, string> = {
    ...also,
    ...(pausedByOther
      ? {}
      : { [OPERATOR_MAINTENANCE_ANNOTATION]: 'true', [TRANSIT_ANNOTATIONS.pausedBy]: env.migrationId }),
  };
  await src.modify<ArangoDeploymentObject & Record<string, unknown>>(KINDS.arangoDeployment, env.deployment, {
    same: (cur) => Object.entries(want).every(([k, v]) => cur.metadata?.annotations?.[k] === v),
    merge: (cur) => ({ ...cur, metadata: { ...cur.metadata, annotations: { ...cur.metadata?.annotations, ...want } } }),
  });
}

/** Lets the operator reconcile again — only when this migration paused it and the source was not migrated away. */
export async function resumeOperator(env: Env): Promise<boolean> {
  const src = await env.client('source');
  const cr = await src.get<ArangoDeploymentObject & Record<string, unknown>>(KINDS.arangoDeployment, env.deployment);
  const ann = cr?.metadata?.annotations ?? {};
  if (!cr || ann[TRANSIT_ANNOTATIONS.pausedBy] !== env.migrationId || ann[TRANSIT_ANNOTATIONS.migratedTo]) return false;
  await src.modify<ArangoDeploymentObject & Record<string, unknown>>(KINDS.arangoDeployment, env.deployment, {
    same: (cur) => cur.metadata?.annotations?.[TRANSIT_ANNOTATIONS.pausedBy] !== env.migrationId,
    merge: (cur) => {
      const a = { ...cur.metadata?.annotations };
      delete a[TRANSIT_ANNOTATIONS.pausedBy];
      delete a[OPERATOR_MAINTENANCE_ANNOTATION];
      return { ...cur, metadata: { ...cur.metadata, annotations: a } };
    },
  });
  return true;
}
