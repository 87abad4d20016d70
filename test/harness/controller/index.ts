// The test controller of one cluster: stands in for what no API server does (kubelet, pod network with
// a WAN model, kube-proxy, cloud load balancer, cluster DNS, a Node and a default StorageClass with a
// volume provisioner). It talks to its API server with the admin context, through watches.
import {
  CoreV1Api,
  DiscoveryV1Api,
  StorageV1Api,
  type KubeConfig,
  type V1EndpointSlice,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { dnsServiceIp, type Region, type WanModel } from '../network.js';
import { DnsServer } from './dns.js';
import { Kubelet, type MemberInfo } from './kubelet.js';
import { versionServerLauncher, type MemberLauncher } from './launcher.js';
import { ensureDnsService, ensureNode, ensureStorageClass, VolumeProvisioner } from './node.js';
import { watchAll, type Watched } from './queue.js';
import { ServiceProxies } from './services.js';
import type { ProxyTarget } from './proxy.js';

export type { MemberInfo } from './kubelet.js';
export { isMemberPod, memberContainer, MEMBER_LABEL } from './kubelet.js';
export {
  arangodSimLauncher,
  commandLauncher,
  versionServerLauncher,
  type LaunchSpec,
  type MemberHandle,
  type MemberLauncher,
} from './launcher.js';
export { TcpProxy, type ProxyTarget, type TcpProxyOptions } from './proxy.js';
export { DnsServer, type DnsLookup } from './dns.js';
export { STORAGE_CLASS, PROVISIONER } from './node.js';
export { SERVED_BY_LABEL } from './services.js';

export interface TestControllerOptions {
  region: Region;
  /** Admin credentials for this cluster (current context). */
  kubeConfig: KubeConfig;
  wan: WanModel;
  /** Members' data, logs and volumes go below this directory. */
  dataDir: string;
  /** Default: versionServerLauncher() (answers GET /_api/version). */
  launcher?: MemberLauncher;
  /** The API server's address, served as the endpoint of default/kubernetes. */
  apiServer?: ProxyTarget;
  /** Default `<region>-node-1`. */
  nodeName?: string;
  /** DNS port on the DNS address (default 53). */
  dnsPort?: number;
  log?: (msg: string) => void;
}

export interface TestController {
  readonly region: Region;
  readonly nodeName: string;
  /** "ip:port" of the cluster DNS server (what members get as TRANSIT_DNS_SERVER). */
  readonly dnsServer: string;
  /** Pods whose member the kubelet runs. */
  members(): MemberInfo[];
  /** The answer the cluster DNS would give for an A query (undefined = NXDOMAIN). */
  resolve(name: string): string[] | undefined;
  /** The LB ingress IP given to a Service, if any. */
  loadBalancerIp(namespace: string, name: string): string | undefined;
  /**
   * Test fault: the load balancer of a Service goes down (resets new connections, drops open ones) or comes back.
   * Returns the connections dropped.
   */
  setLoadBalancerDown(namespace: string, name: string, down: boolean): number;
  /** Resolves when no reconcile is in flight. */
  idle(): Promise<void>;
  /** Stops members (SIGTERM, then SIGKILL), proxies, DNS and watches. Does not delete API objects. */
  stop(): Promise<void>;
}

export async function startTestController(o: TestControllerOptions): Promise<TestController> {
  const region = o.region;
  const nodeName = o.nodeName ?? `${region}-node-1`;
  const log = o.log ?? ((m: string) => process.stderr.write(`[controller ${region}] ${m}\n`));
  const kc = o.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const storage = kc.makeApiClient(StorageV1Api);

  await ensureNode(core, region, nodeName);
  await ensureStorageClass(storage);
  await ensureDnsService(core, region);

  const stoppers: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stoppers.splice(0).reverse()) await s();
  };
  try {
    let services: Watched<V1Service> | undefined;
    let slices: Watched<V1EndpointSlice> | undefined;
    let pods: Watched<V1Pod> | undefined;
    let claims: Watched<V1PersistentVolumeClaim> | undefined;

    const dns = new DnsServer(dnsServiceIp(region), o.dnsPort ?? 53, (name) => lookup(name, services, slices), log);
    await dns.start();
    stoppers.push(() => dns.stop());

    const proxies = new ServiceProxies({
      region,
      core,
      wan: o.wan,
      getService: (k) => services?.get(k),
      listSlices: () => slices?.list() ?? [],
      apiServer: o.apiServer,
      log,
    });
    stoppers.push(() => proxies.stop());
    const kubelet = new Kubelet({
      region,
      nodeName,
      core,
      launcher: o.launcher ?? versionServerLauncher(),
      wan: o.wan,
      dataDir: o.dataDir,
      dnsServer: dns.address,
      getPod: (k) => pods?.get(k),
      log,
    });
    stoppers.push(() => kubelet.stop());
    const volumes = new VolumeProvisioner(core, o.dataDir, (k) => claims?.get(k), log);
    stoppers.push(() => volumes.queue.stop());

    slices = await watchAll<V1EndpointSlice>(
      kc,
      '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces(),
      (s) => proxies.onSlice(s),
      log,
    );
    stoppers.push(() => slices!.stop());
    services = await watchAll<V1Service>(
      kc,
      '/api/v1/services',
      () => core.listServiceForAllNamespaces(),
      (s) => proxies.onService(s),
      log,
    );
    stoppers.push(() => services!.stop());
    // Re-check Services whose slices arrived before the Service itself was cached.
    for (const s of slices.list()) proxies.onSlice(s);
    claims = await watchAll<V1PersistentVolumeClaim>(
      kc,
      '/api/v1/persistentvolumeclaims',
      () => core.listPersistentVolumeClaimForAllNamespaces(),
      (c) => volumes.onClaim(c),
      log,
    );
    stoppers.push(() => claims!.stop());
    pods = await watchAll<V1Pod>(
      kc,
      '/api/v1/pods',
      () => core.listPodForAllNamespaces(),
      (p) => kubelet.onPod(p),
      log,
    );
    // Stop watching pods before the kubelet stops members, so no new member starts during shutdown.
    stoppers.push(() => pods!.stop());

    return {
      region,
      nodeName,
      dnsServer: dns.address,
      members: () => kubelet.members(),
      resolve: (name) => lookup(name.replace(/\.$/, '').toLowerCase(), services, slices),
      loadBalancerIp: (ns, name) => proxies.loadBalancerIp(ns, name),
      setLoadBalancerDown: (ns, name, down) => proxies.setLoadBalancerDown(ns, name, down),
      async idle() {
        await Promise.all([kubelet.queue.idle(), proxies.queue.idle(), volumes.queue.idle()]);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * Cluster DNS: <svc>.<ns>.svc.cluster.local → ClusterIP (headless: the ready endpoints),
 * <hostname>.<svc>.<ns>.svc.cluster.local → that endpoint, <a-b-c-d>.<ns>.pod.cluster.local → a.b.c.d.
 */
function lookup(
  name: string,
  services: Watched<V1Service> | undefined,
  slices: Watched<V1EndpointSlice> | undefined,
): string[] | undefined {
  const labels = name.split('.');
  if (name.endsWith('.svc.cluster.local')) {
    const parts = labels.slice(0, -3);
    if (parts.length === 2 || parts.length === 3) {
      const [svcName, ns] = parts.slice(-2) as [string, string];
      const host = parts.length === 3 ? parts[0] : undefined;
      const svc = services?.get(`${ns}/${svcName}`);
      if (!svc) return undefined;
      const ip = svc.spec?.clusterIP;
      if (!host && ip && ip !== 'None') return [ip];
      const out: string[] = [];
      for (const s of slices?.list() ?? []) {
        if (s.metadata?.namespace !== ns || s.metadata?.labels?.['kubernetes.io/service-name'] !== svcName) continue;
        for (const ep of s.endpoints ?? []) {
          if (ep.conditions?.ready === false) continue;
          if (host && ep.hostname !== host) continue;
          for (const a of ep.addresses ?? []) if (!out.includes(a)) out.push(a);
        }
      }
      return host && out.length === 0 ? undefined : out;
    }
    return parts.length === 1 ? [] : undefined; // <ns>.svc.cluster.local exists as a zone cut
  }
  if (name.endsWith('.pod.cluster.local')) {
    const parts = labels.slice(0, -3);
    if (parts.length === 2 && /^\d+-\d+-\d+-\d+$/.test(parts[0]!)) return [parts[0]!.replace(/-/g, '.')];
    return undefined;
  }
  if (name === 'cluster.local' || name === 'svc.cluster.local' || name === 'pod.cluster.local') return [];
  return undefined;
}
