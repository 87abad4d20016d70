// network.mode loadbalancer: pod IPs are not reachable across clusters. Each cluster gets one bridge
// LoadBalancer Service per namespace (no selector; network.loadBalancer.serviceName, default
// <deployment>-transit-bridge), one port per member living there (from network.loadBalancer.firstPort, default
// 30001; the assignment is kept in an annotation so ports never move), and an EndpointSlice per port sending
// it to that member's pod. The bridge Service in the other cluster points at <LB address>:<member's port>.
import type { V1Service } from '@kubernetes/client-node';
import type { BridgeReport, Side } from '../../contract';
import { KINDS, type ClusterClient } from '../client';
import { deleteSlices, listSlices, targetsOf, writeSlices, type SliceTarget } from '../endpointslices';
import type { Env } from '../env';
import { KubeInvalidError, KubeOwnershipError } from '../errors';
import { TRANSIT_ANNOTATIONS, isOwnedBy, otherSide, transitLabels } from '../names';
import { upsertHandlers } from '../objects';
import { loadBalancerAddress, type Placed } from '../placement';
import { networkOf, type BridgeMode, type Route } from './types';

interface LoadBalancer {
  name: string;
  ip: string;
  /** member Service name → LB port */
  ports: Record<string, number>;
}

export function lbName(env: Env): string {
  return networkOf(env, 'loadbalancer').loadBalancer?.serviceName ?? `${env.deployment}-transit-bridge`;
}

/**
 * The bridge LoadBalancer of one cluster: a port per member in `homed` (new ones get the next free port);
 * `moved` are members passed that now live elsewhere (their ports are dropped); ports of members not passed
 * at all are kept with their endpoints (the bridge only grows). No port left: the LB goes.
 */
async function syncLoadBalancer(
  env: Env,
  c: ClusterClient,
  homed: Placed[],
  moved: string[] = [],
): Promise<LoadBalancer | undefined> {
  const name = lbName(env);
  const lbSpec = networkOf(env, 'loadbalancer').loadBalancer;
  const firstPort = lbSpec?.firstPort ?? 30001;
  const cur = await c.get<V1Service>(KINDS.service, name);
  if (cur && !isOwnedBy(cur.metadata?.labels, env.migrationId)) {
    throw new KubeOwnershipError(
      `Service ${c.namespace}/${name} (context ${c.context}) exists and is not this migration's bridge: set network.loadBalancer.serviceName or remove it`,
    );
  }
  const curTargets = cur ? targetsOf(await listSlices(c, name)) : [];
  const ports: Record<string, number> = JSON.parse(
    cur?.metadata?.annotations?.[TRANSIT_ANNOTATIONS.ports] ?? '{}',
  ) as Record<string, number>;
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
      await deleteSlices(c, env.migrationId, name);
      await c.delete(KINDS.service, name, { uid: cur.metadata?.uid });
    }
    return undefined;
  }
  const targets: SliceTarget[] = [];
  const svcPorts: NonNullable<NonNullable<V1Service['spec']>['ports']> = [];
  for (const [svc, port] of entries) {
    const portName = `p${port}`;
    const p = homed.find((x) => x.svc === svc);
    // A member not passed this time keeps its port and endpoint as they are.
    const t = p ? { portName, ip: p.podIP, port: p.port } : curTargets.find((x) => x.portName === portName);
    if (!t || (!p && !cur?.spec?.ports?.some((x) => x.name === portName))) {
      delete ports[svc];
      continue;
    }
    targets.push(t);
    svcPorts.push({ name: portName, port, targetPort: t.port as never, protocol: 'TCP' });
  }
  const labels = transitLabels(env.migrationId, env.deployment, 'bridge');
  const desired: V1Service & Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: c.namespace,
      labels,
      annotations: {
        ...(lbSpec?.annotations ?? {}),
        [TRANSIT_ANNOTATIONS.migration]: env.migrationId,
        [TRANSIT_ANNOTATIONS.ports]: JSON.stringify(Object.fromEntries(Object.entries(ports).sort())),
      },
    },
    spec: {
      type: 'LoadBalancer',
      selector: null as never,
      ports: svcPorts,
      ...(lbSpec?.sourceRanges ? { loadBalancerSourceRanges: lbSpec.sourceRanges } : {}),
    },
  };
  const r = await c.apply(KINDS.service, desired, upsertHandlers(desired));
  await writeSlices(c, env.migrationId, { name, uid: r.obj.metadata?.uid }, labels, targets);
  const ip = await loadBalancerAddress(env, c, name);
  return { name, ip, ports };
}

/** Drops members' ports from a cluster's bridge LoadBalancer (deleting it when none is left). */
async function release(env: Env, c: ClusterClient, services: string[]): Promise<void> {
  const cur = await c.get<V1Service>(KINDS.service, lbName(env));
  if (!cur || !isOwnedBy(cur.metadata?.labels, env.migrationId)) return;
  const ports = JSON.parse(cur.metadata?.annotations?.[TRANSIT_ANNOTATIONS.ports] ?? '{}') as Record<string, number>;
  if (!services.some((s) => ports[s] !== undefined)) return;
  await syncLoadBalancer(env, c, [], services);
}

function routeOf(lb: LoadBalancer | undefined, svc: string): Route | undefined {
  const port = lb?.ports[svc];
  return lb && port !== undefined ? { ip: lb.ip, port } : undefined;
}

export const loadBalancer: BridgeMode<'loadbalancer'> = {
  mode: 'loadbalancer',
  permissions: { source: [], target: [] },
  serviceNames: (env) => [lbName(env)],
  async preflight() {
    return { problems: [], warnings: [], report: {} };
  },
  async expose(env, c, placed) {
    const routes = new Map<string, Route>();
    const loadBalancers: BridgeReport['loadBalancers'] = [];
    for (const side of ['source', 'target'] as Side[]) {
      const homed = placed.filter((p) => p.home === side);
      const moved = placed.filter((p) => p.home !== side).map((p) => p.svc);
      const lb = await syncLoadBalancer(env, c[side], homed, moved);
      if (lb) loadBalancers.push({ cluster: side, name: lb.name, address: lb.ip, ports: Object.keys(lb.ports).length });
      for (const p of homed) {
        const r = routeOf(lb, p.svc);
        if (r) routes.set(p.svc, r);
      }
      env.runtime.heartbeat({ step: 'loadBalancer', cluster: side });
    }
    return { routes, loadBalancers };
  },
  async rehome(env, c, p) {
    const lb = await syncLoadBalancer(env, c[p.home], [p]);
    await release(env, c[otherSide(p.home)], [p.svc]);
    const r = routeOf(lb, p.svc);
    if (!r)
      throw new KubeInvalidError(
        `bridge LoadBalancer ${lbName(env)} in the ${p.home} cluster has no port for ${p.svc}`,
      );
    return r;
  },
  release,
};
