// kube-proxy and the cloud load balancer of one test cluster, as userspace TCP proxies:
// - every TCP port of a Service with a ClusterIP listens on ClusterIP:port and forwards round-robin to
//   the ready endpoints of its EndpointSlices, whoever wrote them: the endpointslice controller (Services
//   with a selector), KCM's mirroring of hand-written v1 Endpoints, or the Service's own writer (Transit's
//   bridge writes EndpointSlices directly, one per named port). Slices are matched to a Service port by
//   port name. The proxy is transparent (the backend sees the client's address) and adds no delay.
//   It listens only while there are ready endpoints, so a connection without endpoints is refused.
// - a type: LoadBalancer Service gets status.loadBalancer.ingress[0].ip from the region's LB pool and a
//   proxy on ingress-ip:port for each port, which applies the WAN delay by source address and
//   connects onward from the LB address (SNAT), like a cloud load balancer.
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1EndpointSlice,
  type V1Service,
  type V1ServicePort,
} from '@kubernetes/client-node';
import { ADDRESS_PLAN, cidrContains, IpPool, type Region, type WanModel } from '../network.js';
import { TcpProxy, type ProxyTarget } from './proxy.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';

/** Services with this label are served by the controller itself (cluster DNS), not proxied. */
export const SERVED_BY_LABEL = 'transit.test/served-by';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface ServiceProxiesOptions {
  region: Region;
  core: CoreV1Api;
  wan: WanModel;
  getService: (key: string) => V1Service | undefined;
  listSlices: () => readonly V1EndpointSlice[];
  /** The API server, as the endpoint of default/kubernetes (the apiserver's own reconciler is off). */
  apiServer?: ProxyTarget;
  log: (msg: string) => void;
}

interface Listener {
  proxy: TcpProxy;
  rr: number;
}

export class ServiceProxies {
  readonly queue: WorkQueue;
  private readonly listeners = new Map<string, Map<string, Listener>>(); // svc key → listener id → listener
  private readonly lbIps = new Map<string, { uid: string; ip: string }>();
  private readonly lbPool: IpPool;
  private stopped = false;
  /** Services whose load balancer is down (setLoadBalancerDown). */
  private readonly down = new Set<string>();

  constructor(private readonly o: ServiceProxiesOptions) {
    this.lbPool = new IpPool(ADDRESS_PLAN[o.region].lbPool, { firstOffset: 1 });
    this.queue = new WorkQueue(`services[${o.region}]`, (k) => this.reconcile(k), o.log);
  }

  onService(svc: V1Service): void {
    this.queue.add(keyOf(svc));
  }

  onSlice(slice: V1EndpointSlice): void {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc) this.queue.add(`${slice.metadata?.namespace}/${svc}`);
  }

  /**
   * Test fault: while down, the load balancer of Service `namespace/name` resets every new connection and its
   * open connections are dropped (kube-proxy's ClusterIP listeners are not touched). Returns the connections dropped.
   */
  setLoadBalancerDown(namespace: string, name: string, down: boolean): number {
    const key = `${namespace}/${name}`;
    if (!down) {
      this.down.delete(key);
      return 0;
    }
    this.down.add(key);
    let n = 0;
    for (const [id, l] of this.listeners.get(key) ?? []) if (id.startsWith('lb ')) n += l.proxy.dropConnections();
    return n;
  }

  /** The LB ingress address given to a Service, if any. */
  loadBalancerIp(namespace: string, name: string): string | undefined {
    return this.lbIps.get(`${namespace}/${name}`)?.ip;
  }

  /** Ready endpoints of one Service port, as the proxies see them now. */
  endpoints(svc: V1Service, port: V1ServicePort): ProxyTarget[] {
    const ns = svc.metadata?.namespace;
    const name = svc.metadata?.name;
    if (ns === 'default' && name === 'kubernetes' && this.o.apiServer) return [this.o.apiServer];
    const out = new Map<string, ProxyTarget>();
    for (const slice of this.o.listSlices()) {
      if (slice.metadata?.namespace !== ns || slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== name) continue;
      if (slice.addressType !== 'IPv4') continue;
      const sp = (slice.ports ?? []).find(
        (p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === 'TCP' && p.port !== undefined,
      );
      if (!sp) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        const ip = ep.addresses?.[0];
        if (ip) out.set(`${ip}:${sp.port}`, { host: ip, port: sp.port! });
      }
    }
    return [...out.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.stop();
    const all = [...this.listeners.values()].flatMap((m) => [...m.values()]);
    this.listeners.clear();
    await Promise.all(all.map((l) => l.proxy.close()));
  }

  private async reconcile(key: string): Promise<void> {
    if (this.stopped) return;
    const svc = this.o.getService(key);
    const want = new Map<string, () => Listener>();
    const skip = !svc || svc.metadata?.labels?.[SERVED_BY_LABEL] === 'controller' || svc.spec?.type === 'ExternalName';
    if (svc && !skip) {
      const lbIp = await this.ensureLoadBalancer(key, svc);
      const clusterIP = svc.spec?.clusterIP;
      for (const port of svc.spec?.ports ?? []) {
        if ((port.protocol ?? 'TCP') !== 'TCP') continue;
        if (this.endpoints(svc, port).length === 0) continue;
        const listenerFor = (kind: 'cluster' | 'lb', ip: string) => {
          const id = `${kind} ${ip}:${port.port}`;
          want.set(id, () => {
            const l: Listener = { rr: 0, proxy: undefined as unknown as TcpProxy };
            l.proxy = new TcpProxy({
              name: `${kind === 'lb' ? 'load balancer' : 'service'} ${key} ${ip}:${port.port}`,
              listenHost: ip,
              listenPort: port.port,
              target: () => {
                if (kind === 'lb' && this.down.has(key)) return undefined;
                const cur = this.o.getService(key);
                const curPort = cur?.spec?.ports?.find((p) => p.port === port.port && (p.protocol ?? 'TCP') === 'TCP');
                const eps = cur && curPort ? this.endpoints(cur, curPort) : [];
                if (eps.length === 0) return undefined;
                return eps[l.rr++ % eps.length];
              },
              ...(kind === 'lb'
                ? { wan: { model: this.o.wan, region: this.o.region }, source: ip }
                : { source: 'client' }),
              log: this.o.log,
            });
            return l;
          });
        };
        if (clusterIP && clusterIP !== 'None' && cidrContains(ADDRESS_PLAN[this.o.region].serviceCidr, clusterIP)) {
          listenerFor('cluster', clusterIP);
        }
        if (lbIp) listenerFor('lb', lbIp);
      }
    } else {
      this.releaseLoadBalancer(key);
    }

    let have = this.listeners.get(key);
    if (!have) {
      have = new Map<string, Listener>();
      this.listeners.set(key, have); // stored first, so a failed start below leaks nothing
    }
    for (const [id, l] of have) {
      if (!want.has(id)) {
        have.delete(id);
        await l.proxy.close();
      }
    }
    for (const [id, make] of want) {
      if (have.has(id)) continue;
      const l = make();
      await l.proxy.start();
      have.set(id, l);
    }
    if (have.size === 0) this.listeners.delete(key);
  }

  private async ensureLoadBalancer(key: string, svc: V1Service): Promise<string | undefined> {
    if (svc.spec?.type !== 'LoadBalancer' || svc.spec.loadBalancerClass) {
      this.releaseLoadBalancer(key);
      return undefined;
    }
    const uid = svc.metadata!.uid!;
    let cur = this.lbIps.get(key);
    if (cur && cur.uid !== uid) {
      this.releaseLoadBalancer(key);
      cur = undefined;
    }
    if (!cur) {
      // Keep an address already in status (controller restart), then a requested one, else the next free.
      const inStatus = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      const requested = svc.spec.loadBalancerIP;
      let ip: string | undefined;
      if (inStatus && this.lbPool.claim(inStatus)) ip = inStatus;
      else if (requested && this.lbPool.claim(requested)) ip = requested;
      else if (requested) {
        this.o.log(
          `load balancer ${key}: spec.loadBalancerIP ${requested} is not free in ${ADDRESS_PLAN[this.o.region].lbPool}; allocating another`,
        );
      }
      ip ??= this.lbPool.allocate();
      cur = { uid, ip };
      this.lbIps.set(key, cur);
    }
    const ingress = svc.status?.loadBalancer?.ingress ?? [];
    if (ingress.length !== 1 || ingress[0]!.ip !== cur.ip) {
      const { namespace, name } = splitKey(key);
      await this.o.core.patchNamespacedServiceStatus(
        { name, namespace, body: { status: { loadBalancer: { ingress: [{ ip: cur.ip, ipMode: 'VIP' }] } } } },
        MERGE,
      );
    }
    return cur.ip;
  }

  private releaseLoadBalancer(key: string): void {
    const cur = this.lbIps.get(key);
    if (!cur) return;
    this.lbIps.delete(key);
    this.lbPool.release(cur.ip);
  }
}
