// The network bridge. Members register short-dns endpoints (tcp://<member Service>:8529); the bridge makes
// that name resolve in the *other* cluster too: there, a Service without selector of the same name, whose
// Endpoints (mirrored to EndpointSlices by kube-controller-manager) point at the member —
//  - clustermesh: at the member's pod IP (pods reach each other's pod IPs);
//  - loadbalancer: at the member's own cluster's bridge LoadBalancer, one port per member, whose Endpoints
//    Transit writes to the member pod IPs (the LB Service has no selector either).
// Re-running extends the bridge; a member whose home changed (a moved agent) is re-pointed.
import type { V1Endpoints, V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import type { BridgeReport, MemberInfo, Side } from '../contract';
import { K, type ClusterClient } from './client';
import type { Env } from './env';
import { InvalidDeploymentError, KubeInvalidError, KubeOwnershipError, KubeWaitTimeoutError } from './errors';
import { A, ARANGO_LABELS, isOwnedBy, L, MANAGED_BY, otherSide, parseEndpoint, serviceOfEndpoint, transitLabels } from './names';
import { upsertHandlers } from './objects';
import { probePaths, type BridgeProbe } from './probe';
import { pollUntil } from './runtime';
import { bridgeService, endpoints, homeService } from './templates';

export interface Placed {
  m: MemberInfo;
  /** The Service name its endpoint resolves through. */
  svc: string;
  port: number;
  tls: boolean;
  home: Side;
  podIP: string;
}

export type { BridgeProbe };
export type BridgeResult = BridgeReport & { probes: BridgeProbe[] };

interface LoadBalancer {
  name: string;
  ip: string;
  /** member Service name → LB port */
  ports: Record<string, number>;
}

const SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
/** The endpoints controller's mark on Endpoints it wrote; gone once Transit owns them. */
const EP_MANAGED_BY = 'endpoints.kubernetes.io/managed-by';
const TRANSIT_LABEL_KEYS = [MANAGED_BY, L.migration, L.deployment, L.component, L.member];

export function lbName(env: Env): string {
  return env.spec.network.mode === 'loadbalancer' ? (env.spec.network.loadBalancer?.serviceName ?? `${env.deployment}-transit-bridge`) : `${env.deployment}-transit-bridge`;
}

/** Where each member runs now: its pod on its side, with a fresh pod IP. */
export async function place(env: Env, c: Record<Side, ClusterClient>, members: MemberInfo[]): Promise<Placed[]> {
  const seen = new Map<string, string>();
  const out: Placed[] = [];
  for (const m of members) {
    const ep = parseEndpoint(m.endpoint);
    const svc = serviceOfEndpoint(m.endpoint);
    const dup = seen.get(svc);
    if (dup && dup !== m.podName) throw new InvalidDeploymentError(`members ${dup} and ${m.podName} both register through Service ${svc}: endpoints must be unique`);
    if (dup) continue;
    seen.set(svc, m.podName);
    const pod = await c[m.side].get<V1Pod>(K.pod, m.podName);
    const ip = pod?.status?.podIP;
    if (!pod || !ip || pod.metadata?.deletionTimestamp) {
      throw new KubeWaitTimeoutError(`member pod ${c[m.side].namespace}/${m.podName} (context ${c[m.side].context}) is not running with an IP: the bridge cannot point at it yet`);
    }
    out.push({ m, svc, port: ep.port, tls: ep.scheme === 'ssl', home: m.side, podIP: ip });
  }
  return out;
}

// ---- the bridge LoadBalancer of one cluster -------------------------------------------------------------

/**
 * One LoadBalancer Service per namespace, no selector, one port per member living in this cluster; its
 * Endpoints send each port to that member's pod. `moved` are members passed in that now live elsewhere
 * (their ports are dropped); ports of members not passed at all are kept (the bridge only grows).
 */
export async function syncLoadBalancer(env: Env, c: ClusterClient, homed: Placed[], moved: string[] = []): Promise<LoadBalancer | undefined> {
  const name = lbName(env);
  const lbSpec = env.spec.network.mode === 'loadbalancer' ? env.spec.network.loadBalancer : undefined;
  const firstPort = lbSpec?.firstPort ?? 30001;
  const cur = await c.get<V1Service>(K.service, name);
  if (cur && !isOwnedBy(cur.metadata?.labels, env.migrationId)) {
    throw new KubeOwnershipError(`Service ${c.namespace}/${name} (context ${c.context}) exists and is not this migration's bridge: set network.loadBalancer.serviceName or remove it`);
  }
  const curEps = cur ? await c.get<V1Endpoints>(K.endpoints, name) : undefined;
  const ports: Record<string, number> = JSON.parse(cur?.metadata?.annotations?.[A.ports] ?? '{}') as Record<string, number>;
  for (const svc of moved) delete ports[svc];
  const used = new Set(Object.values(ports));
  for (const p of [...homed].sort((a, b) => (a.svc < b.svc ? -1 : 1))) {
    if (ports[p.svc] !== undefined) continue;
    let port = firstPort;
    while (used.has(port)) port++;
    ports[p.svc] = port;
    used.add(port);
  }
  const entries = Object.entries(ports).sort((a, b) => a[1] - b[1]);
  if (entries.length === 0) {
    if (cur) {
      await c.delete(K.endpoints, name);
      await c.delete(K.service, name, { uid: cur.metadata?.uid });
    }
    return undefined;
  }
  const subsets: { ip: string; port: number; portName: string }[] = [];
  const svcPorts: NonNullable<NonNullable<V1Service['spec']>['ports']> = [];
  for (const [svc, port] of entries) {
    const portName = `p${port}`;
    const p = homed.find((x) => x.svc === svc);
    if (p) {
      subsets.push({ ip: p.podIP, port: p.port, portName });
      svcPorts.push({ name: portName, port, targetPort: p.port as never, protocol: 'TCP' });
      continue;
    }
    // A member not passed this time: keep its port and endpoint as they are.
    const sp = cur?.spec?.ports?.find((x) => x.name === portName);
    const ss = curEps?.subsets?.find((s) => s.ports?.some((x) => x.name === portName));
    const ip = ss?.addresses?.[0]?.ip;
    const target = ss?.ports?.find((x) => x.name === portName)?.port;
    if (!sp || !ip || !target) {
      delete ports[svc];
      continue;
    }
    subsets.push({ ip, port: target, portName });
    svcPorts.push({ name: portName, port, targetPort: target as never, protocol: 'TCP' });
  }
  const labels = transitLabels(env.migrationId, env.deployment, 'bridge');
  const desired: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: c.namespace,
      labels,
      annotations: { ...(lbSpec?.annotations ?? {}), [A.migration]: env.migrationId, [A.ports]: JSON.stringify(Object.fromEntries(Object.entries(ports).sort())) },
    },
    spec: {
      type: 'LoadBalancer',
      selector: null as never,
      ports: svcPorts,
      ...(lbSpec?.sourceRanges ? { loadBalancerSourceRanges: lbSpec.sourceRanges } : {}),
    },
  };
  await c.apply(K.service, desired as V1Service & Record<string, unknown>, upsertHandlers(desired as V1Service & Record<string, unknown>));
  const eps = endpoints({ name, namespace: c.namespace, labels: { ...labels, [SKIP_MIRROR]: null }, subsets });
  await c.apply(K.endpoints, eps as V1Endpoints & Record<string, unknown>, upsertHandlers(eps as V1Endpoints & Record<string, unknown>));
  const ip = await loadBalancerAddress(env, c, name);
  return { name, ip, ports };
}

/** The first ingress IP of a LoadBalancer Service, waiting for the cloud to give one. */
export async function loadBalancerAddress(env: Env, c: ClusterClient, name: string): Promise<string> {
  return pollUntil(
    env.rt,
    async () => {
      const s = await c.get<V1Service>(K.service, name);
      const ing = s?.status?.loadBalancer?.ingress?.[0];
      if (ing?.ip) return ing.ip;
      if (ing?.hostname) {
        throw new KubeInvalidError(`LoadBalancer ${c.namespace}/${name} (context ${c.context}) got hostname ${ing.hostname}, not an IP: Endpoints need IPs (use an LB type that publishes an IP)`);
      }
      return undefined;
    },
    {
      timeoutMs: env.t.loadBalancerTimeoutMs,
      intervalMs: env.t.pollIntervalMs,
      progress: () => ({ waiting: 'loadBalancer', name, context: c.context }),
      onTimeout: () => new KubeWaitTimeoutError(`LoadBalancer ${c.namespace}/${name} (context ${c.context}) has no ingress address after ${env.t.loadBalancerTimeoutMs / 1000} s: is a load-balancer controller running there?`),
    },
  );
}

/** Drops members' ports from a cluster's bridge LoadBalancer (deleting it when none is left). */
export async function dropLoadBalancerPorts(env: Env, c: ClusterClient, svcs: string[]): Promise<void> {
  if (env.spec.network.mode !== 'loadbalancer') return;
  const cur = await c.get<V1Service>(K.service, lbName(env));
  if (!cur || !isOwnedBy(cur.metadata?.labels, env.migrationId)) return;
  const ports = JSON.parse(cur.metadata?.annotations?.[A.ports] ?? '{}') as Record<string, number>;
  if (!svcs.some((s) => ports[s] !== undefined)) return;
  await syncLoadBalancer(env, c, [], svcs);
}

// ---- one member's Service in the other cluster --------------------------------------------------------

/**
 * In cluster `c` (not the member's home): the member's Service name without selector, Endpoints → `to`.
 * An existing Service of that name with a selector (the member lived here until it moved) is turned into
 * the bridge in place, so its ClusterIP and DNS answer stay; an operator's Service keeps its original
 * selector and labels in an annotation, to be restored if the member comes back.
 */
export async function pointServiceAt(env: Env, c: ClusterClient, p: Placed, to: { ip: string; port: number }): Promise<BridgeReport['services'][number]> {
  const cur = await c.get<V1Service>(K.service, p.svc);
  let original: string | null | undefined;
  const converting = !!cur?.spec?.selector && Object.keys(cur.spec.selector).length > 0;
  if (cur) {
    const ours = isOwnedBy(cur.metadata?.labels, env.migrationId);
    const operators = cur.metadata?.labels?.[ARANGO_LABELS.deployment] === env.deployment;
    if (!ours && !(converting && operators)) {
      throw new KubeOwnershipError(`Service ${c.namespace}/${p.svc} (context ${c.context}) exists and belongs to neither this migration nor ArangoDeployment ${env.deployment}: remove or rename it`);
    }
    if (converting && !ours && !cur.metadata?.annotations?.[A.original]) {
      const keep = Object.fromEntries(Object.entries(cur.metadata?.labels ?? {}).filter(([k]) => !TRANSIT_LABEL_KEYS.includes(k)));
      original = JSON.stringify({ selector: cur.spec!.selector, labels: keep });
    }
  }
  const labels = { ...transitLabels(env.migrationId, env.deployment, 'bridge'), [L.member]: p.m.podName };
  const svc = bridgeService({
    name: p.svc,
    namespace: c.namespace,
    port: p.port,
    labels,
    annotations: { [A.migration]: env.migrationId, ...(original ? { [A.original]: original } : {}) },
  });
  const r = await c.apply(K.service, svc as V1Service & Record<string, unknown>, upsertHandlers(svc as V1Service & Record<string, unknown>));
  const eps = endpoints({ name: p.svc, namespace: c.namespace, labels: { ...labels, [SKIP_MIRROR]: null, [EP_MANAGED_BY]: null }, subsets: [{ ip: to.ip, port: to.port, portName: 'server' }] });
  await c.apply(K.endpoints, eps as V1Endpoints & Record<string, unknown>, upsertHandlers(eps as V1Endpoints & Record<string, unknown>));
  if (converting) await dropControllerSlices(c, p.svc);
  return { cluster: c.side, name: p.svc, endpoints: [`${to.ip}:${to.port}`], ...({ clusterIP: r.obj.spec?.clusterIP } as object) };
}

/** The endpointslice controller leaves its slices behind when a Service loses its selector: remove them. */
async function dropControllerSlices(c: ClusterClient, svc: string): Promise<void> {
  const slices = await c.list<V1EndpointSlice>(K.endpointSlice, {
    labelSelector: `kubernetes.io/service-name=${svc},endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`,
  });
  for (const s of slices) await c.delete(K.endpointSlice, s.metadata!.name!, { uid: s.metadata?.uid });
}

/**
 * In the member's (new) home cluster: its Service selects its pod again — the operator's original selector and
 * labels when Transit had turned an operator Service into a bridge, else a Transit member Service.
 */
export async function makeHomeService(env: Env, c: ClusterClient, o: { svc: string; port: number; podName: string }): Promise<void> {
  const cur = await c.get<V1Service>(K.service, o.svc);
  if (cur && !isOwnedBy(cur.metadata?.labels, env.migrationId) && cur.metadata?.labels?.[ARANGO_LABELS.deployment] !== env.deployment) {
    throw new KubeOwnershipError(`Service ${c.namespace}/${o.svc} (context ${c.context}) exists and is neither Transit's nor ArangoDeployment ${env.deployment}'s: remove or rename it`);
  }
  const orig = cur?.metadata?.annotations?.[A.original];
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
      annotations: { [A.original]: null, [A.migration]: null },
    });
  } else {
    desired = homeService({
      name: o.svc,
      namespace: c.namespace,
      port: o.port,
      selector: { [L.member]: o.podName },
      labels: { ...transitLabels(env.migrationId, env.deployment, 'member'), [L.member]: o.podName },
      annotations: { [A.migration]: env.migrationId },
    });
  }
  await c.apply(K.service, desired as V1Service & Record<string, unknown>, upsertHandlers(desired as V1Service & Record<string, unknown>));
  // Our Endpoints would shadow the controller's: remove them (KCM then writes its own from the selector).
  const eps = await c.get<V1Endpoints>(K.endpoints, o.svc);
  if (eps && isOwnedBy(eps.metadata?.labels, env.migrationId)) await c.delete(K.endpoints, o.svc, { uid: eps.metadata?.uid });
}

// ---- the whole bridge ------------------------------------------------------------------------------------

export async function bridgeNetworks(env: Env, members: MemberInfo[]): Promise<BridgeResult> {
  const c = await env.both();
  const placed = await place(env, c, members);
  const report: BridgeResult = { services: [], loadBalancers: [], probes: [] };
  const lbs: Partial<Record<Side, LoadBalancer>> = {};
  if (env.spec.network.mode === 'loadbalancer') {
    for (const side of ['source', 'target'] as Side[]) {
      const homed = placed.filter((p) => p.home === side);
      const moved = placed.filter((p) => p.home !== side).map((p) => p.svc);
      const lb = await syncLoadBalancer(env, c[side], homed, moved);
      if (lb) {
        lbs[side] = lb;
        report.loadBalancers.push({ cluster: side, name: lb.name, address: lb.ip, ports: Object.keys(lb.ports).length });
      }
      env.rt.heartbeat({ step: 'loadBalancer', cluster: side });
    }
  }
  const paths: { p: Placed; svc: BridgeReport['services'][number]; to: { ip: string; port: number } }[] = [];
  for (const p of placed) {
    const to = addressFor(env, p, lbs);
    const svc = await pointServiceAt(env, c[otherSide(p.home)], p, to);
    report.services.push(svc);
    paths.push({ p, svc, to });
    env.rt.heartbeat({ step: 'bridgeService', name: p.svc, done: paths.length, total: placed.length });
  }
  report.probes = await probePaths(env, paths);
  return report;
}

export function addressFor(env: Env, p: Placed, lbs: Partial<Record<Side, LoadBalancer>>): { ip: string; port: number } {
  if (env.spec.network.mode === 'clustermesh') return { ip: p.podIP, port: p.port };
  const lb = lbs[p.home];
  const port = lb?.ports[p.svc];
  if (!lb || port === undefined) throw new KubeInvalidError(`no bridge LoadBalancer port for ${p.svc} in the ${p.home} cluster`);
  return { ip: lb.ip, port };
}
