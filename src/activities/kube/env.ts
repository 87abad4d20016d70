// The per-call environment of a Kubernetes activity: the spec, both clusters (clients built on first use from
// the injected kubeconfig loader), the runtime (heartbeat, sleep, cancellation) and the tunables.
import type { MigrationRef, Side } from '../contract';
import type { MigrationSpec } from '../../spec/schema';
import { ClusterClient } from './client';
import type { KubeConfigLoader } from './config';
import { makeRuntime, type Runtime, type RuntimeDeps } from './runtime';

export interface KubeActivityDeps extends RuntimeDeps {
  /** A KubeConfig whose current context is the side's (from the spec's context, or its kubeconfig reference). */
  loadKubeConfig: KubeConfigLoader;
  /** Per API request (default 6 000 ms: well under the 20 s heartbeat timeout of Kubernetes waits, src/workflows/activities.ts; a timed-out call is retried). */
  requestTimeoutMs?: number;
  /** How long one API call keeps retrying an unreachable or overloaded API server (default 20 000 ms). */
  apiRetryMs?: number;
  /** Re-reads after a 409 on one write (default 8). */
  conflictRetries?: number;
  /** Pods Ready / gone (default 300 000 ms). */
  readyTimeoutMs?: number;
  /** LoadBalancer ingress (default 180 000 ms). */
  loadBalancerTimeoutMs?: number;
  /** Between polls (default 500 ms). */
  pollIntervalMs?: number;
  /**
   * The bridge's /_api/version probes. via "endpoint" (default): the address the bridge writes into the
   * EndpointSlices (LB address:port, or the remote pod IP) — what a worker outside the clusters can reach; via
   * "service": the bridge Service's ClusterIP, i.e. the whole path a member takes (worker inside the cluster
   * network). localAddress: the source address to probe from, per cluster (so the probe leaves from there).
   */
  probe?: {
    via?: 'endpoint' | 'service';
    localAddress?: (cluster: Side) => string | undefined;
    timeoutMs?: number;
    /** Round trips per path once it answers (default 3; the report keeps the median). */
    samples?: number;
    /** Skip probing (default false). */
    disabled?: boolean;
  };
}

export interface Tunables {
  readyTimeoutMs: number;
  loadBalancerTimeoutMs: number;
  pollIntervalMs: number;
}

export class Env {
  readonly spec: MigrationSpec;
  readonly migrationId: string;
  readonly deployment: string;
  readonly runtime: Runtime;
  readonly tunables: Tunables;
  private readonly clients = new Map<Side, Promise<ClusterClient>>();

  constructor(
    readonly deps: KubeActivityDeps,
    ref: MigrationRef,
  ) {
    this.spec = ref.spec;
    this.migrationId = ref.migrationId;
    this.deployment = ref.spec.deployment.name;
    this.runtime = makeRuntime(deps);
    this.tunables = {
      readyTimeoutMs: deps.readyTimeoutMs ?? 300_000,
      loadBalancerTimeoutMs: deps.loadBalancerTimeoutMs ?? 180_000,
      pollIntervalMs: deps.pollIntervalMs ?? 500,
    };
  }

  /** The client of one side, namespace = that side's namespace in the spec. */
  client(side: Side): Promise<ClusterClient> {
    let c = this.clients.get(side);
    if (!c) {
      const s = this.spec[side];
      c = this.deps.loadKubeConfig(side, this.spec).then(
        (kc) =>
          new ClusterClient(side, kc, s.context, s.namespace, this.runtime, {
            requestTimeoutMs: this.deps.requestTimeoutMs ?? 6_000,
            apiRetryMs: this.deps.apiRetryMs ?? 20_000,
            conflictRetries: this.deps.conflictRetries ?? 8,
          }),
      );
      this.clients.set(side, c);
      c.catch(() => this.clients.delete(side));
    }
    return c;
  }

  async both(): Promise<Record<Side, ClusterClient>> {
    const [source, target] = await Promise.all([this.client('source'), this.client('target')]);
    return { source, target };
  }
}
