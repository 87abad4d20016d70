// The network bridge. Members register short-dns endpoints (tcp://<member Service>:8529); the bridge makes
// that name resolve in the *other* cluster too: there, a Service without selector of the same name, with an
// EndpointSlice Transit writes (endpointslices.ts) pointing at the member's route. The route — and whatever
// must exist at the member's home for it to answer — is the bridge mode's (bridge-modes/: the remote pod IP
// with clustermesh, a port of the home cluster's bridge LoadBalancer with loadbalancer).
// Re-running extends the bridge; a member whose home changed (a moved agent) is re-pointed.
import type { V1Service } from '@kubernetes/client-node';
import type { BridgeReport, MemberInfo } from '../contract';
import { bridgeMode, type Route } from './bridge-modes';
import { KINDS, type ClusterClient } from './client';
import { deleteSlices, dropControllerSlices, writeSlices } from './endpointslices';
import type { Env } from './env';
import { KubeInvalidError, KubeOwnershipError } from './errors';
import {
  TRANSIT_ANNOTATIONS,
  ARANGO_LABELS,
  isOwnedBy,
  TRANSIT_LABELS,
  MANAGED_BY,
  otherSide,
  transitLabels,
} from './names';
import { upsertHandlers } from './objects';
import { place, type Placed } from './placement';
import { probePaths, type BridgeProbe } from './probe';
import { bridgeService, homeService } from './templates';

export type { BridgeProbe, Placed };
export type BridgeResult = BridgeReport & { probes: BridgeProbe[] };

const TRANSIT_LABEL_KEYS = [
  MANAGED_BY,
  TRANSIT_LABELS.migration,
  TRANSIT_LABELS.deployment,
  TRANSIT_LABELS.component,
  TRANSIT_LABELS.member,
];

// ---- one member's Service in the other cluster --------------------------------------------------------

/**
 * In cluster `c` (not the member's home): the member's Service name without selector, its EndpointSlice → `to`.
 * An existing Service of that name with a selector (the member lived here until it moved) is turned into
 * the bridge in place, so its ClusterIP and DNS answer stay; an operator's Service keeps its original
 * selector and labels in an annotation, to be restored if the member comes back.
 */
export async function pointServiceAt(
  env: Env,
  c: ClusterClient,
  p: Placed,
  to: Route,
): Promise<BridgeReport['services'][number]> {
  const cur = await c.get<V1Service>(KINDS.service, p.svc);
  let original: string | null | undefined;
  const converting = !!cur?.spec?.selector && Object.keys(cur.spec.selector).length > 0;
  if (cur) {
    const ours = isOwnedBy(cur.metadata?.labels, env.migrationId);
    const operators = cur.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment;
    if (!ours && !(converting && operators)) {
      throw new KubeOwnershipError(
        `Service ${c.namespace}/${p.svc} (context ${c.context}) exists and belongs to neither this migration nor ArangoDeployment ${env.deployment}: remove or rename it`,
      );
    }
    if (converting && !ours && !cur.metadata?.annotations?.[TRANSIT_ANNOTATIONS.original]) {
      const keep = Object.fromEntries(
        Object.entries(cur.metadata?.labels ?? {}).filter(([k]) => !TRANSIT_LABEL_KEYS.includes(k)),
      );
      original = JSON.stringify({ selector: cur.spec!.selector, labels: keep });
    }
  }
  const labels = { ...transitLabels(env.migrationId, env.deployment, 'bridge'), [TRANSIT_LABELS.member]: p.m.podName };
  const svc = bridgeService({
    name: p.svc,
    namespace: c.namespace,
    port: p.port,
    labels,
    annotations: {
      [TRANSIT_ANNOTATIONS.migration]: env.migrationId,
      ...(original ? { [TRANSIT_ANNOTATIONS.original]: original } : {}),
    },
  });
  const r = await c.apply(
    KINDS.service,
    svc as V1Service & Record<string, unknown>,
    upsertHandlers(svc as V1Service & Record<string, unknown>),
  );
  await writeSlices(c, env.migrationId, { name: p.svc, uid: r.obj.metadata?.uid }, labels, [
    { portName: 'server', ip: to.ip, port: to.port },
  ]);
  if (converting) {
    // The operator's Service had a selector: the controllers' objects for it are stale now. The endpoints
    // controller's v1 Endpoints (not mirrored: skip-mirror) stay behind when a selector goes — remove them
    // too, so no reader of the deprecated API sees the old pod; it writes them again if the selector returns.
    await dropControllerSlices(c, p.svc);
    await c.delete(KINDS.endpoints, p.svc);
  }
  return {
    cluster: c.side,
    name: p.svc,
    endpoints: [`${to.ip}:${to.port}`],
    ...({ clusterIP: r.obj.spec?.clusterIP } as object),
  };
}

/**
 * In the member's (new) home cluster: its Service selects its pod again — the operator's original selector and
 * labels when Transit had turned an operator Service into a bridge, else a Transit member Service.
 */
export async function makeHomeService(
  env: Env,
  c: ClusterClient,
  o: { svc: string; port: number; podName: string },
): Promise<void> {
  const cur = await c.get<V1Service>(KINDS.service, o.svc);
  if (
    cur &&
    !isOwnedBy(cur.metadata?.labels, env.migrationId) &&
    cur.metadata?.labels?.[ARANGO_LABELS.deployment] !== env.deployment
  ) {
    throw new KubeOwnershipError(
      `Service ${c.namespace}/${o.svc} (context ${c.context}) exists and is neither Transit's nor ArangoDeployment ${env.deployment}'s: remove or rename it`,
    );
  }
  const orig = cur?.metadata?.annotations?.[TRANSIT_ANNOTATIONS.original];
  const hasSelector = !!cur?.spec?.selector && Object.keys(cur.spec.selector).length > 0;
  // Already the operator's own Service, selecting the member: nothing to do.
  if (cur && !orig && hasSelector && !isOwnedBy(cur.metadata?.labels, env.migrationId)) return;
  let desired: V1Service;
  if (orig) {
    const o2 = JSON.parse(orig) as { selector: Record<string, string>; labels: Record<string, string> };
    const drop = Object.fromEntries(TRANSIT_LABEL_KEYS.map((k) => [k, null]));
    desired = homeService({
      name: o.svc,
      namespace: c.namespace,
      port: o.port,
      selector: o2.selector,
      labels: { ...drop, ...o2.labels },
      annotations: { [TRANSIT_ANNOTATIONS.original]: null, [TRANSIT_ANNOTATIONS.migration]: null },
    });
  } else {
    desired = homeService({
      name: o.svc,
      namespace: c.namespace,
      port: o.port,
      selector: { [TRANSIT_LABELS.member]: o.podName },
      labels: { ...transitLabels(env.migrationId, env.deployment, 'member'), [TRANSIT_LABELS.member]: o.podName },
      annotations: { [TRANSIT_ANNOTATIONS.migration]: env.migrationId },
    });
  }
  await c.apply(
    KINDS.service,
    desired as V1Service & Record<string, unknown>,
    upsertHandlers(desired as V1Service & Record<string, unknown>),
  );
  // Our slices would add the bridge's address to the controller's: remove them (KCM writes its own from the selector).
  await deleteSlices(c, env.migrationId, o.svc);
}

// ---- the whole bridge ------------------------------------------------------------------------------------

export async function bridgeNetworks(env: Env, members: MemberInfo[]): Promise<BridgeResult> {
  const c = await env.both();
  const placed = await place(env, c, members);
  const exposed = await bridgeMode(env).expose(env, c, placed);
  const report: BridgeResult = { services: [], loadBalancers: exposed.loadBalancers, probes: [] };
  const paths: { p: Placed; svc: BridgeReport['services'][number]; to: Route }[] = [];
  for (const p of placed) {
    const to = exposed.routes.get(p.svc);
    if (!to)
      throw new KubeInvalidError(
        `network.mode ${env.spec.network.mode} gave no route to ${p.svc} in the ${p.home} cluster`,
      );
    const svc = await pointServiceAt(env, c[otherSide(p.home)], p, to);
    report.services.push(svc);
    paths.push({ p, svc, to });
    env.runtime.heartbeat({ step: 'bridgeService', name: p.svc, done: paths.length, total: placed.length });
  }
  report.probes = await probePaths(env, paths);
  return report;
}
