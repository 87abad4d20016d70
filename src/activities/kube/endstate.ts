// The end state, after Decommission (removeBridge runs it once the source was migrated away; it is also an
// activity of its own). What it leaves:
//  - target: the Services clients and members use, with the source's names and ports — kube-arangodb's
//    <name> (coordinators), <name>-int (headless, every member) and <name>-ea (the client LoadBalancer DNS
//    points at; its address is kept) — selecting with the source's selectors; every target member pod
//    labelled as kube-arangodb labels its members (app=arangodb, arango_deployment, role,
//    deployment.arangodb.com/member=<server ID>, deployment.arangodb.com/active=true), Transit's labels kept;
//  - source: no client-facing LoadBalancer (<name>-ea would keep an address that refuses every connection);
//    the operator stays in maintenance (it would recreate every member and that Service), and the
//    ArangoDeployment says so in its annotations, with the exact command that retires it.
// Idempotent: a re-run writes nothing. Refuses to run before Decommission.
import type { V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { MemberInfo } from '../contract';
import { KINDS, type ClusterClient } from './client';
import { isReady, pauseOperator, readDeploymentCr, type ArangoDeploymentObject } from './deployment';
import type { Env } from './env';
import { InvalidDeploymentError, KubeOwnershipError } from './errors';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  isOwnedBy,
  OPERATOR_MAINTENANCE_ANNOTATION,
  transitLabels,
  transitSelector,
} from './names';
import { upsertHandlers } from './objects';

export interface EndStateReport {
  target: {
    /** name: type, ports, how many target member pods it selects and how many of those are Ready now. */
    services: { name: string; type: string; ports: string[]; selects: number; ready: number }[];
    /** Every target member pod and the kube-arangodb labels it carries now. */
    members: { pod: string; role: string; id: string | null }[];
  };
  source: {
    /** Objects removed from the source. */
    removed: string[];
    /** The ArangoDeployment's annotations Transit set, and the command that retires it. */
    annotations: Record<string, string>;
    retire: string;
  };
}

/** The client and member Services of a kube-arangodb deployment (the names Transit needs free in the target). */
export function endStateServiceNames(env: Env): string[] {
  return [env.deployment, `${env.deployment}-int`, `${env.deployment}-ea`];
}

/** kube-arangodb's selector for each of those Services (used when the source's Service is gone). */
function conventionalSelector(env: Env, name: string): Record<string, string> {
  const base = { [ARANGO_LABELS.app]: 'arangodb', [ARANGO_LABELS.deployment]: env.deployment };
  return name === `${env.deployment}-int` ? base : { ...base, [ARANGO_LABELS.role]: 'coordinator' };
}

export function retireCommand(env: Env): string {
  return `kubectl --context ${env.spec.source.context} -n ${env.spec.source.namespace} delete arangodeployment ${env.deployment}`;
}

function isOperators(
  env: Env,
  o:
    | { metadata?: { labels?: Record<string, string>; ownerReferences?: { kind?: string; name?: string }[] } }
    | undefined,
): boolean {
  return (
    o?.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment ||
    !!o?.metadata?.ownerReferences?.some((r) => r.kind === 'ArangoDeployment' && r.name === env.deployment)
  );
}

/** kube-arangodb's labels on one target member pod (its server ID from `ids`, the agents' from their pod). */
async function labelMember(
  env: Env,
  c: ClusterClient,
  pod: V1Pod,
  ids: Map<string, string>,
): Promise<{ pod: string; role: string; id: string | null }> {
  const name = pod.metadata!.name!;
  const role = pod.metadata?.labels?.[ARANGO_LABELS.role] ?? '';
  const id = pod.metadata?.labels?.[ARANGO_LABELS.member] ?? ids.get(name) ?? null;
  const want: Record<string, string> = {
    [ARANGO_LABELS.app]: 'arangodb',
    [ARANGO_LABELS.deployment]: env.deployment,
    [ARANGO_LABELS.active]: 'true',
    ...(id ? { [ARANGO_LABELS.member]: id } : {}),
  };
  await c.modify<V1Pod & Record<string, unknown>>(KINDS.pod, name, {
    check: (cur) => {
      if (!isOwnedBy(cur.metadata?.labels, env.migrationId))
        throw new KubeOwnershipError(
          `pod ${c.namespace}/${name} (context ${c.context}) is not this migration's member: not relabelled`,
        );
    },
    same: (cur) => Object.entries(want).every(([k, v]) => cur.metadata?.labels?.[k] === v),
    merge: (cur) => ({ ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata?.labels, ...want } } }),
  });
  return { pod: name, role, id };
}

/** One of <name>, <name>-int, <name>-ea in the target, shaped like the source's. */
async function ensureService(
  env: Env,
  c: { source: ClusterClient; target: ClusterClient },
  name: string,
): Promise<V1Service> {
  const src = await c.source.get<V1Service>(KINDS.service, name);
  const fromSource =
    src && isOperators(env, src) && !isOwnedBy(src.metadata?.labels, env.migrationId) ? src : undefined;
  const cur = await c.target.get<V1Service>(KINDS.service, name);
  if (cur && !isOwnedBy(cur.metadata?.labels, env.migrationId)) {
    throw new KubeOwnershipError(
      `Service ${c.target.namespace}/${name} (context ${c.target.context}) exists and is not this migration's: the migrated deployment needs that name — remove or rename it`,
    );
  }
  const selector =
    fromSource?.spec?.selector && Object.keys(fromSource.spec.selector).length
      ? fromSource.spec.selector
      : conventionalSelector(env, name);
  const ports: V1ServicePort[] = fromSource?.spec?.ports?.map((p) => ({
    name: p.name,
    port: p.port,
    targetPort: p.targetPort,
    protocol: p.protocol ?? 'TCP',
  })) ??
    cur?.spec?.ports?.map((p) => ({
      name: p.name,
      port: p.port,
      targetPort: p.targetPort,
      protocol: p.protocol ?? 'TCP',
    })) ?? [{ name: 'server', port: 8529, targetPort: 8529 as never, protocol: 'TCP' }];
  const isEa = name === `${env.deployment}-ea`;
  const headless = fromSource?.spec?.clusterIP === 'None' || (!fromSource && name === `${env.deployment}-int`);
  if (cur && headless !== (cur.spec?.clusterIP === 'None')) {
    throw new KubeOwnershipError(
      `Service ${c.target.namespace}/${name} (context ${c.target.context}) is ${headless ? 'not ' : ''}headless, unlike the source's: clusterIP cannot change — delete it and run this again`,
    );
  }
  const desired: V1Service & Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: c.target.namespace,
      labels: {
        [ARANGO_LABELS.app]: 'arangodb',
        [ARANGO_LABELS.deployment]: env.deployment,
        ...transitLabels(env.migrationId, env.deployment, 'client'),
      },
      annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId },
    },
    spec: {
      type: isEa
        ? 'LoadBalancer'
        : (fromSource?.spec?.type as string | undefined) === 'NodePort'
          ? 'NodePort'
          : 'ClusterIP',
      selector,
      // The client LoadBalancer keeps its ports: DNS and clients use them already.
      ...(isEa && cur ? {} : { ports }),
      ...(headless && !cur ? { clusterIP: 'None' } : {}),
      ...(fromSource?.spec?.publishNotReadyAddresses !== undefined
        ? { publishNotReadyAddresses: fromSource.spec.publishNotReadyAddresses }
        : headless
          ? { publishNotReadyAddresses: true }
          : {}),
      ...(fromSource?.spec?.sessionAffinity ? { sessionAffinity: fromSource.spec.sessionAffinity } : {}),
    },
  };
  const h = upsertHandlers(desired);
  const sameSelector = (x: V1Service): boolean =>
    JSON.stringify(Object.entries(x.spec?.selector ?? {}).sort()) === JSON.stringify(Object.entries(selector).sort());
  return (await c.target.apply(KINDS.service, desired, { ...h, same: (x) => h.same(x) && sameSelector(x) })).obj;
}

function selectorString(sel: Record<string, string>): string {
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * The end state (see the header). `members`: the target members with their registered server IDs (the
 * workflow's targetMembers), for the deployment.arangodb.com/member label; agents carry theirs already.
 */
export async function settleEndState(env: Env, members: MemberInfo[] = []): Promise<EndStateReport> {
  const c = await env.both();
  const cr = await readDeploymentCr(env, c.source);
  const to = `${env.spec.target.context}/${env.spec.target.namespace}`;
  if (cr.metadata?.annotations?.[TRANSIT_ANNOTATIONS.migratedTo] !== to) {
    throw new InvalidDeploymentError(
      `ArangoDeployment ${c.source.namespace}/${env.deployment} (context ${c.source.context}) was not migrated to ${to} (no ${TRANSIT_ANNOTATIONS.migratedTo}=${to}): the end state comes after decommissionSourceMembers`,
    );
  }
  // Target: every member labelled the way kube-arangodb labels its members.
  const ids = new Map(members.filter((m) => m.side === 'target' && m.id !== m.podName).map((m) => [m.podName, m.id]));
  const pods = await c.target.list<V1Pod>(KINDS.pod, { labelSelector: transitSelector(env.migrationId, 'member') });
  const labelled: EndStateReport['target']['members'] = [];
  for (const p of pods.sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1)))
    labelled.push(await labelMember(env, c.target, p, ids));
  // Target: the Services clients and members use, as in the source.
  const services: EndStateReport['target']['services'] = [];
  const memberPods = (
    await c.target.list<V1Pod>(KINDS.pod, { labelSelector: transitSelector(env.migrationId, 'member') })
  ).filter((p) => !p.metadata?.deletionTimestamp);
  for (const name of endStateServiceNames(env)) {
    const svc = await ensureService(env, c, name);
    const sel = svc.spec?.selector ?? {};
    // A verdict on labels, not on readiness (a member restarting now is still selected).
    const selected = memberPods.filter((p) => Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v));
    if (selected.length === 0) {
      throw new InvalidDeploymentError(
        `Service ${c.target.namespace}/${name} (context ${c.target.context}) selects ${selectorString(sel)}, which no target member carries: check the members' labels`,
      );
    }
    services.push({
      name,
      type: svc.spec?.type ?? 'ClusterIP',
      ports: (svc.spec?.ports ?? []).map((p) => `${p.name ?? ''}:${p.port}`),
      selects: selected.length,
      ready: selected.filter(isReady).length,
    });
    env.runtime.heartbeat({ step: 'endStateService', name });
  }
  // Source: the client LoadBalancer goes (only the operator's); the operator stays paused, and the
  // ArangoDeployment says why and how to retire it.
  const removed: string[] = [];
  const ea = await c.source.get<V1Service>(KINDS.service, `${env.deployment}-ea`);
  if (ea && isOperators(env, ea) && !isOwnedBy(ea.metadata?.labels, env.migrationId)) {
    if (await c.source.delete(KINDS.service, ea.metadata!.name!, { uid: ea.metadata?.uid }))
      removed.push(`Service/${ea.metadata!.name}`);
  }
  const retire = retireCommand(env);
  const annotations = {
    [TRANSIT_ANNOTATIONS.migratedTo]: to,
    [TRANSIT_ANNOTATIONS.state]: `migrated to ${to}: no members left in this cluster (they run there as plain pods labelled ${ARANGO_LABELS.deployment}=${env.deployment}); ${OPERATOR_MAINTENANCE_ANNOTATION}=true keeps the operator from recreating them — do not remove it, retire this deployment instead`,
    [TRANSIT_ANNOTATIONS.retire]: retire,
  };
  await pauseOperator(env, annotations);
  const after = await readDeploymentCr(env, c.source);
  return {
    target: { services, members: labelled },
    source: {
      removed,
      annotations: pick(after, [
        OPERATOR_MAINTENANCE_ANNOTATION,
        TRANSIT_ANNOTATIONS.pausedBy,
        ...Object.keys(annotations),
      ]),
      retire,
    },
  };
}

function pick(cr: ArangoDeploymentObject, keys: string[]): Record<string, string> {
  const a = cr.metadata?.annotations ?? {};
  return Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, a[k]!]));
}
