// Where members run now, and where a LoadBalancer answers: what every bridge mode builds on.
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { MemberInfo, Side } from '../contract';
import { KINDS, type ClusterClient } from './client';
import type { Env } from './env';
import { InvalidDeploymentError, KubeInvalidError, KubeWaitTimeoutError } from './errors';
import { parseEndpoint, serviceOfEndpoint } from './names';
import { pollUntil } from './runtime';

export interface Placed {
  m: MemberInfo;
  /** The Service name its endpoint resolves through. */
  svc: string;
  port: number;
  tls: boolean;
  home: Side;
  podIP: string;
}

/** Where each member runs now: its pod on its side, with a fresh pod IP. */
export async function place(env: Env, c: Record<Side, ClusterClient>, members: MemberInfo[]): Promise<Placed[]> {
  const seen = new Map<string, string>();
  const out: Placed[] = [];
  for (const m of members) {
    const ep = parseEndpoint(m.endpoint);
    const svc = serviceOfEndpoint(m.endpoint);
    const dup = seen.get(svc);
    if (dup && dup !== m.podName)
      throw new InvalidDeploymentError(
        `members ${dup} and ${m.podName} both register through Service ${svc}: endpoints must be unique`,
      );
    if (dup) continue;
    seen.set(svc, m.podName);
    const pod = await c[m.side].get<V1Pod>(KINDS.pod, m.podName);
    const ip = pod?.status?.podIP;
    if (!pod || !ip || pod.metadata?.deletionTimestamp) {
      throw new KubeWaitTimeoutError(
        `member pod ${c[m.side].namespace}/${m.podName} (context ${c[m.side].context}) is not running with an IP: the bridge cannot point at it yet`,
      );
    }
    out.push({ m, svc, port: ep.port, tls: ep.scheme === 'ssl', home: m.side, podIP: ip });
  }
  return out;
}

/** The first ingress IP of a LoadBalancer Service, waiting for the cloud to give one. */
export async function loadBalancerAddress(env: Env, c: ClusterClient, name: string): Promise<string> {
  return pollUntil(
    env.runtime,
    async () => {
      const s = await c.get<V1Service>(KINDS.service, name);
      const ing = s?.status?.loadBalancer?.ingress?.[0];
      if (ing?.ip) return ing.ip;
      if (ing?.hostname) {
        throw new KubeInvalidError(
          `LoadBalancer ${c.namespace}/${name} (context ${c.context}) got hostname ${ing.hostname}, not an IP: EndpointSlices need IPs (use an LB type that publishes an IP)`,
        );
      }
      return undefined;
    },
    {
      timeoutMs: env.tunables.loadBalancerTimeoutMs,
      intervalMs: env.tunables.pollIntervalMs,
      progress: () => ({ waiting: 'loadBalancer', name, context: c.context }),
      onTimeout: () =>
        new KubeWaitTimeoutError(
          `LoadBalancer ${c.namespace}/${name} (context ${c.context}) has no ingress address after ${env.tunables.loadBalancerTimeoutMs / 1000} s: is a load-balancer controller running there?`,
        ),
    },
  );
}
