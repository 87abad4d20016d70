// network.mode clustermesh: pods reach each other's pod IPs (Cilium ClusterMesh, a routed VPC, …). The bridge
// Service in the other cluster points straight at the member's pod IP; nothing is built at the member's home.
// Preflight: the two clusters' Pod CIDRs must not overlap (from the spec, else from the Nodes' spec.podCIDRs —
// which is why this mode needs to list Nodes).
import type { V1Node } from '@kubernetes/client-node';
import type { Side } from '../../contract';
import { KINDS, type ClusterClient } from '../client';
import type { Env } from '../env';
import { PreflightError } from '../errors';
import type { Permission } from '../preflight';
import { networkOf, type BridgeMode, type Route } from './types';

function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new PreflightError(`not an IPv4 CIDR: ${cidr}`);
  const ip = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
  const size = 2 ** (32 - Number(m[5]));
  return { base: ip - (ip % size), size };
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

async function podCidrs(c: ClusterClient, override: string[] | undefined): Promise<string[]> {
  if (override?.length) return override;
  const nodes = await c.list<V1Node>(KINDS.node);
  const out = [
    ...new Set(
      nodes
        .flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []))
        .filter((x) => x.includes('.')),
    ),
  ];
  if (out.length === 0) {
    throw new PreflightError(
      `no Node in context ${c.context} has spec.podCIDR (IPAM outside Kubernetes, e.g. Cilium cluster-pool): give network.clusterMesh.${c.side}PodCIDRs`,
    );
  }
  return out;
}

const listNodes: Permission = { verb: 'list', group: '', resource: 'nodes', scope: 'cluster' };

const route = (p: { podIP: string; port: number }): Route => ({ ip: p.podIP, port: p.port });

export const clusterMesh: BridgeMode<'clustermesh'> = {
  mode: 'clustermesh',
  permissions: { source: [listNodes], target: [listNodes] },
  serviceNames: () => [],
  async preflight(env: Env, c: Record<Side, ClusterClient>) {
    const o = networkOf(env, 'clustermesh').clusterMesh;
    const sourcePodCIDRs = await podCidrs(c.source, o?.sourcePodCIDRs);
    const targetPodCIDRs = await podCidrs(c.target, o?.targetPodCIDRs);
    const problems: string[] = [];
    for (const a of sourcePodCIDRs) {
      for (const b of targetPodCIDRs) {
        if (cidrsOverlap(a, b)) {
          problems.push(
            `ClusterMesh needs distinct pod networks, but source Pod CIDR ${a} (context ${c.source.context}) overlaps target Pod CIDR ${b} ` +
              `(context ${c.target.context}): use network.mode loadbalancer, or clusters with non-overlapping Pod CIDRs`,
          );
        }
      }
    }
    return { problems, warnings: [], report: { sourcePodCIDRs, targetPodCIDRs } };
  },
  async expose(_env, _c, placed) {
    return { routes: new Map(placed.map((p) => [p.svc, route(p)])), loadBalancers: [] };
  },
  async rehome(_env, _c, p) {
    return route(p);
  },
  async release() {
    // Nothing was built at the members' homes.
  },
};
