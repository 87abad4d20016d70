// The test kubelet of one cluster's single Node: binds member pods to the node, gives each an IP from
// the cluster's pod range, serves that IP through a WAN proxy, runs the pod's member through the
// MemberLauncher, and reports status (Running, Ready once the member accepts connections). Deleting a
// pod stops its member within the grace period and then removes the object (0-grace delete), as the
// real kubelet does.
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1Container,
  type V1EnvVar,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  ADDRESS_PLAN,
  IpPool,
  memberInternalAddress,
  nodeIp,
  parseCidr,
  type Region,
  type WanModel,
} from '../network.js';
import { sleep } from '../procs.js';
import type { LaunchSpec, MemberHandle, MemberLauncher } from './launcher.js';
import { TcpProxy } from './proxy.js';
import { keyOf, splitKey, WorkQueue } from './queue.js';

/** Pods the kubelet runs: an arangodb/arangodb* image in any container, or this label. */
export const MEMBER_LABEL = 'transit.test/run';
const IMAGE_RE = /(^|\/)arangodb\/arangodb[^/]*$/;

export function imageName(image: string | undefined): string {
  // arangodb/arangodb:3.12.4, docker.io/arangodb/arangodb@sha256:…, arangodb/arangodb-preview:x
  return (image ?? '').replace(/@.*$/, '').replace(/:[^/:]*$/, '');
}

export function isMemberPod(pod: V1Pod): boolean {
  if (pod.metadata?.labels?.[MEMBER_LABEL] === 'member') return true;
  return (pod.spec?.containers ?? []).some((c) => IMAGE_RE.test(imageName(c.image)));
}

/** The container whose process is the member: "server" (kube-arangodb's name), else the first ArangoDB image. */
export function memberContainer(pod: V1Pod): V1Container {
  const cs = pod.spec?.containers ?? [];
  return (
    cs.find((c) => c.name === 'server') ?? cs.find((c) => IMAGE_RE.test(imageName(c.image))) ?? (cs[0] as V1Container)
  );
}

export interface MemberInfo {
  namespace: string;
  name: string;
  uid: string;
  podIP: string;
  listenAddress: string;
  ports: number[];
  pid?: number;
  ready: boolean;
  restarts: number;
}

interface PodState {
  key: string;
  uid: string;
  podIP: string;
  listenAddress: string;
  ports: number[];
  proxies: TcpProxy[];
  handle?: MemberHandle;
  startedAt?: string;
  ready: boolean;
  restarts: number;
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
  statusPatched: boolean;
  /** Status writes of one pod go out one after another, each built when sent (no stale Ready=False). */
  statusChain: Promise<void>;
}

export interface KubeletOptions {
  region: Region;
  nodeName: string;
  core: CoreV1Api;
  launcher: MemberLauncher;
  wan: WanModel;
  dataDir: string;
  dnsServer: string;
  getPod: (key: string) => V1Pod | undefined;
  log: (msg: string) => void;
}

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class Kubelet {
  private readonly pods = new Map<string, PodState>();
  private readonly pool: IpPool;
  readonly queue: WorkQueue;
  private stopped = false;

  constructor(private readonly o: KubeletOptions) {
    const { size } = parseCidr(ADDRESS_PLAN[o.region].podCidr);
    // Lower half of the pod range: pod IPs; the upper half mirrors them as members' internal addresses.
    this.pool = new IpPool(ADDRESS_PLAN[o.region].podCidr, { firstOffset: 2, limit: size / 2 });
    this.queue = new WorkQueue(`kubelet[${o.region}]`, (k) => this.reconcile(k), o.log);
  }

  onPod(pod: V1Pod): void {
    this.queue.add(keyOf(pod));
  }

  members(): MemberInfo[] {
    return [...this.pods.values()].map((s) => ({
      ...splitKey(s.key),
      uid: s.uid,
      podIP: s.podIP,
      listenAddress: s.listenAddress,
      ports: s.ports,
      pid: s.handle?.pid,
      ready: s.ready,
      restarts: s.restarts,
    }));
  }

  /** Pod IPs in use, for DNS pod records. */
  podIPs(): string[] {
    return [...this.pods.values()].map((s) => s.podIP);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.stop();
    await Promise.all([...this.pods.values()].map((s) => this.teardown(s, 5)));
  }

  private async reconcile(key: string): Promise<void> {
    if (this.stopped) return;
    const pod = this.o.getPod(key);
    let state = this.pods.get(key);
    if (state && (!pod || pod.metadata?.uid !== state.uid)) {
      // Gone, or re-created under the same name: the old incarnation stops now.
      await this.teardown(state, 0);
      state = undefined;
    }
    if (!pod || !isMemberPod(pod)) return;
    if (pod.spec?.nodeName && pod.spec.nodeName !== this.o.nodeName) return;
    const { namespace, name } = splitKey(key);

    if (pod.metadata?.deletionTimestamp) {
      if (state) await this.teardown(state, pod.metadata.deletionGracePeriodSeconds ?? 30);
      // The kubelet's final word: remove the object now that the member is gone (finalizers still apply).
      await this.o.core
        .deleteNamespacedPod({
          name,
          namespace,
          // In the body: the API server ignores query parameters when a DeleteOptions body is sent.
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
        })
        .catch((e: { code?: number }) => {
          if (e.code !== 404 && e.code !== 409) throw e;
        });
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;

    if (!pod.spec?.nodeName) {
      await this.o.core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace, uid: pod.metadata?.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: this.o.nodeName },
        },
      });
      return; // the update event brings the bound pod back here
    }
    if (!state) state = await this.startPod(key, pod);
    if (!state.statusPatched) {
      await this.patchStatus(pod, state);
      state.statusPatched = true;
    }
  }

  private async startPod(key: string, pod: V1Pod): Promise<PodState> {
    const uid = pod.metadata!.uid!;
    const container = memberContainer(pod);
    const ports = (container.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
    if (ports.length === 0) ports.push(8529);
    // After a controller restart the pod keeps the IP it was given.
    const prior = pod.status?.podIP;
    const podIP = prior && this.pool.claim(prior) ? prior : this.pool.allocate();
    const listenAddress = memberInternalAddress(podIP);
    const state: PodState = {
      key,
      uid,
      podIP,
      listenAddress,
      ports,
      proxies: [],
      ready: false,
      restarts: 0,
      stopping: false,
      statusPatched: false,
      statusChain: Promise.resolve(),
    };
    this.pods.set(key, state);
    try {
      for (const port of ports) {
        const p = new TcpProxy({
          name: `pod ${key} ${podIP}:${port}`,
          listenHost: podIP,
          listenPort: port,
          target: () => ({ host: listenAddress, port }),
          wan: { model: this.o.wan, region: this.o.region },
          source: 'client',
          log: this.o.log,
        });
        await p.start();
        state.proxies.push(p);
      }
      await this.launch(state, pod, container);
    } catch (e) {
      await this.teardown(state, 0);
      throw e;
    }
    return state;
  }

  private async launch(state: PodState, pod: V1Pod, container: V1Container): Promise<void> {
    const ns = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const podDir = join(this.o.dataDir, 'pods', ns, `${name}-${state.uid.slice(0, 8)}`);
    const rootfs = join(podDir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    const dataDir = await this.materializeVolumes(pod, container, rootfs, podDir);
    const env = await this.resolveEnv(pod, container, state);
    Object.assign(env, {
      TRANSIT_DNS_SERVER: this.o.dnsServer,
      TRANSIT_DNS_SEARCH: `${ns}.svc.cluster.local`,
      TRANSIT_SOURCE_ADDRESS: state.podIP,
      TRANSIT_LISTEN_ADDRESS: state.listenAddress,
      TRANSIT_PORTS: state.ports.join(','),
      TRANSIT_POD_IP: state.podIP,
      TRANSIT_POD_NAME: name,
      TRANSIT_POD_NAMESPACE: ns,
      TRANSIT_REGION: this.o.region,
      TRANSIT_DATA_DIR: dataDir,
      TRANSIT_ROOTFS: rootfs,
    });
    const cmd = container.command ?? [];
    const spec: LaunchSpec = {
      pod,
      container,
      region: this.o.region,
      podIP: state.podIP,
      listenAddress: state.listenAddress,
      ports: state.ports,
      args: [...cmd.slice(1), ...(container.args ?? [])],
      env,
      dataDir,
      logFile: join(podDir, `member-${state.restarts}.log`),
    };
    const handle = await this.o.launcher.start(spec);
    state.handle = handle;
    state.startedAt = new Date().toISOString();
    const key = state.key;
    void handle.exited.then((exit) => {
      if (this.pods.get(key) !== state || state.stopping || this.stopped) return;
      this.o.log(`kubelet[${this.o.region}] member ${key} exited (${exit.code ?? exit.signal}); restarting`);
      state.ready = false;
      state.handle = undefined;
      state.restarts++;
      void this.patchStatus(this.o.getPod(key) ?? pod, state, { exitCode: exit.code ?? 137 }).catch(() => undefined);
      const policy = pod.spec?.restartPolicy ?? 'Always';
      if (policy === 'Never' || (policy === 'OnFailure' && exit.code === 0)) return;
      const backoff = Math.min(1_000 * 2 ** Math.min(state.restarts - 1, 3), 10_000);
      state.restartTimer = setTimeout(() => {
        if (this.pods.get(key) !== state || state.stopping) return;
        void this.launch(state, this.o.getPod(key) ?? pod, container).catch((e) =>
          this.o.log(`kubelet[${this.o.region}] restart ${key}: ${(e as Error).message}`),
        );
      }, backoff);
    });
    void this.awaitReady(state, pod, container, handle);
  }

  /** Ready = the member accepts connections (or answers its httpGet readiness probe). */
  private async awaitReady(state: PodState, pod: V1Pod, container: V1Container, handle: MemberHandle): Promise<void> {
    let exited = false;
    void handle.exited.then(() => (exited = true));
    // HTTPS probes (TLS members) fall back to a TCP check: the test kubelet holds no member certificates.
    const httpGet = container.readinessProbe?.httpGet;
    const probe = httpGet && (httpGet.scheme ?? 'HTTP').toUpperCase() === 'HTTP' ? httpGet : undefined;
    const deadline = Date.now() + 120_000;
    while (!exited && !state.stopping && !this.stopped && Date.now() < deadline) {
      const ok = probe
        ? await httpProbe(
            state.listenAddress,
            probePort(probe.port, container) ?? state.ports[0]!,
            probe.path ?? '/',
            Object.fromEntries((probe.httpHeaders ?? []).map((h) => [h.name, h.value])),
          )
        : await tcpProbe(state.listenAddress, state.ports[0]!);
      if (ok) {
        if (state.handle !== handle) return;
        state.ready = true;
        await this.patchStatus(this.o.getPod(state.key) ?? pod, state).catch((e) =>
          this.o.log(`kubelet[${this.o.region}] status ${state.key}: ${(e as Error).message}`),
        );
        return;
      }
      await sleep(100);
    }
    if (!exited && !state.stopping && !this.stopped) {
      this.o.log(
        `kubelet[${this.o.region}] ${state.key}: member not listening on ${state.listenAddress}:${state.ports[0]} after 120 s`,
      );
    }
  }

  private patchStatus(pod: V1Pod, state: PodState, term?: { exitCode: number }): Promise<void> {
    const next = state.statusChain.then(() =>
      state.stopping ? undefined : this.writeStatus(this.o.getPod(state.key) ?? pod, state, term),
    );
    state.statusChain = next.catch(() => undefined);
    return next;
  }

  private async writeStatus(pod: V1Pod, state: PodState, term?: { exitCode: number }): Promise<void> {
    if (pod.metadata?.uid !== state.uid) return;
    const now = new Date().toISOString();
    const ready = state.ready ? 'True' : 'False';
    const main = memberContainer(pod);
    const started = state.startedAt ?? now;
    const containerStatuses = (pod.spec?.containers ?? []).map((c) => {
      const isMain = c.name === main.name;
      const running = !isMain || (state.handle !== undefined && !term);
      return {
        name: c.name,
        image: c.image ?? '',
        imageID: `docker-pullable://${imageName(c.image)}@sha256:${'0'.repeat(64)}`,
        containerID: `transit://${state.uid}/${c.name}`,
        ready: isMain ? state.ready : true,
        started: running,
        restartCount: isMain ? state.restarts : 0,
        state: running
          ? { running: { startedAt: started } }
          : { terminated: { exitCode: term?.exitCode ?? 0, reason: 'Error', startedAt: started, finishedAt: now } },
      };
    });
    const initContainerStatuses = (pod.spec?.initContainers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: `docker-pullable://${imageName(c.image)}@sha256:${'0'.repeat(64)}`,
      containerID: `transit://${state.uid}/${c.name}`,
      ready: true,
      restartCount: 0,
      state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: started } },
    }));
    // As the kubelet does: a condition's lastTransitionTime moves only when its status changes.
    const prev = new Map((pod.status?.conditions ?? []).map((c) => [c.type, c] as const));
    const cond = (type: string, status: string) => {
      const p = prev.get(type);
      const since = p && p.status === status && p.lastTransitionTime ? p.lastTransitionTime : now;
      return { type, status, lastProbeTime: null, lastTransitionTime: since };
    };
    const body = {
      status: {
        phase: 'Running',
        hostIP: nodeIp(this.o.region),
        hostIPs: [{ ip: nodeIp(this.o.region) }],
        podIP: state.podIP,
        podIPs: [{ ip: state.podIP }],
        startTime: pod.status?.startTime ?? started,
        conditions: [
          cond('PodReadyToStartContainers', 'True'),
          cond('Initialized', 'True'),
          cond('Ready', ready),
          cond('ContainersReady', ready),
          cond('PodScheduled', 'True'),
        ],
        containerStatuses,
        ...(initContainerStatuses.length ? { initContainerStatuses } : {}),
      },
    };
    const { namespace, name } = splitKey(state.key);
    await this.o.core.patchNamespacedPodStatus({ name, namespace, body }, MERGE);
  }

  private async teardown(state: PodState, graceSeconds: number): Promise<void> {
    if (state.stopping) return;
    state.stopping = true;
    state.ready = false;
    if (state.restartTimer) clearTimeout(state.restartTimer);
    await state.handle?.stop(Math.max(graceSeconds, 0) * 1_000).catch(() => undefined);
    await Promise.all(state.proxies.map((p) => p.close()));
    if (this.pods.get(state.key) === state) this.pods.delete(state.key);
    this.pool.release(state.podIP);
  }

  private async resolveEnv(pod: V1Pod, c: V1Container, state: PodState): Promise<Record<string, string>> {
    const ns = pod.metadata!.namespace!;
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      const data = from.configMapRef
        ? await this.readData('configmap', ns, from.configMapRef.name!, from.configMapRef.optional)
        : from.secretRef
          ? await this.readData('secret', ns, from.secretRef.name!, from.secretRef.optional)
          : {};
      for (const [k, v] of Object.entries(data)) env[(from.prefix ?? '') + k] = v;
    }
    for (const e of c.env ?? []) {
      const v = await this.envValue(pod, e, state);
      if (v !== undefined) env[e.name] = v;
    }
    return env;
  }

  private async envValue(pod: V1Pod, e: V1EnvVar, state: PodState): Promise<string | undefined> {
    if (e.value !== undefined) return e.value;
    const vf = e.valueFrom;
    if (!vf) return '';
    const ns = pod.metadata!.namespace!;
    if (vf.fieldRef) {
      const f = vf.fieldRef.fieldPath;
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(f);
      if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
      const fields: Record<string, string | undefined> = {
        'metadata.name': pod.metadata?.name,
        'metadata.namespace': ns,
        'metadata.uid': pod.metadata?.uid,
        'spec.nodeName': this.o.nodeName,
        'spec.serviceAccountName': pod.spec?.serviceAccountName,
        'status.podIP': state.podIP,
        'status.podIPs': state.podIP,
        'status.hostIP': nodeIp(this.o.region),
        'status.hostIPs': nodeIp(this.o.region),
      };
      return fields[f] ?? '';
    }
    if (vf.secretKeyRef) {
      const d = await this.readData('secret', ns, vf.secretKeyRef.name!, vf.secretKeyRef.optional);
      return d[vf.secretKeyRef.key];
    }
    if (vf.configMapKeyRef) {
      const d = await this.readData('configmap', ns, vf.configMapKeyRef.name!, vf.configMapKeyRef.optional);
      return d[vf.configMapKeyRef.key];
    }
    return '';
  }

  private async readData(
    kind: 'secret' | 'configmap',
    ns: string,
    name: string,
    optional?: boolean,
  ): Promise<Record<string, string>> {
    try {
      if (kind === 'secret') {
        const s = await this.o.core.readNamespacedSecret({ name, namespace: ns });
        const out: Record<string, string> = { ...(s.stringData ?? {}) };
        for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
        return out;
      }
      const cm = await this.o.core.readNamespacedConfigMap({ name, namespace: ns });
      return { ...(cm.data ?? {}) };
    } catch (e) {
      if ((e as { code?: number }).code === 404 && optional) return {};
      throw new Error(`pod needs ${kind} ${ns}/${name}: ${(e as Error).message}`);
    }
  }

  /**
   * Lays out the member container's mounts under rootfs (secrets and config maps as files, PVCs and
   * emptyDirs as directories), so a member can map the absolute paths in its args. Returns the data dir:
   * the first PVC's directory (it outlives the pod, like a real volume), else a per-pod directory.
   */
  private async materializeVolumes(pod: V1Pod, c: V1Container, rootfs: string, podDir: string): Promise<string> {
    const ns = pod.metadata!.namespace!;
    const vols = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
    let dataDir: string | undefined;
    for (const m of c.volumeMounts ?? []) {
      const v = vols.get(m.name);
      if (!v) continue;
      const target = join(rootfs, m.mountPath);
      let files: Record<string, string> | undefined;
      if (v.secret) files = await this.readData('secret', ns, v.secret.secretName!, v.secret.optional);
      else if (v.configMap) files = await this.readData('configmap', ns, v.configMap.name!, v.configMap.optional);
      if (files) {
        await mkdir(target, { recursive: true });
        for (const [k, val] of Object.entries(files)) await writeFile(join(target, k), val, { mode: 0o600 });
      } else if (v.persistentVolumeClaim) {
        const dir = join(this.o.dataDir, 'volumes', ns, v.persistentVolumeClaim.claimName);
        await mkdir(dir, { recursive: true });
        await mkdir(dirname(target), { recursive: true });
        await rm(target, { recursive: true, force: true });
        await symlink(dir, target);
        dataDir ??= dir;
      } else {
        await mkdir(target, { recursive: true });
      }
    }
    if (!dataDir) {
      dataDir = join(podDir, 'data');
      await mkdir(dataDir, { recursive: true });
    }
    return dataDir;
  }
}

function probePort(port: unknown, c: V1Container): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string') {
    if (/^\d+$/.test(port)) return Number(port);
    return c.ports?.find((p) => p.name === port)?.containerPort;
  }
  return undefined;
}

function tcpProbe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function httpProbe(host: string, port: number, path: string, headers: Record<string, string>): Promise<boolean> {
  try {
    const r = await fetch(`http://${host}:${port}${path}`, { headers, signal: AbortSignal.timeout(1_000) });
    await r.arrayBuffer();
    return r.status >= 200 && r.status < 400;
  } catch {
    return false;
  }
}
