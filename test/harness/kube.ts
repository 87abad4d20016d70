// Two real Kubernetes clusters for tests, the demo and the benchmark: "eu" and "us", each with its own
// embedded etcd, kube-apiserver (TLS, RBAC, static tokens) and kube-controller-manager, all from the
// one `testkube` binary that tools/testkube/build.sh builds, plus one test controller per cluster
// (test/harness/controller) for kubelet, pod network, kube-proxy, load balancers and DNS.
//
//   const clusters = await startClusters();          // ~N s, share one pair per test file
//   clusters.kubeconfigPath                          // contexts eu-admin, us-admin, eu, us
//   await clusters.stop();
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import {
  ADDRESS_PLAN,
  ensureLocalRoutes,
  nthAddress,
  REGIONS,
  WanModel,
  type Region,
  type RegionPlan,
  type WanConfig,
} from './network.js';
import { freePorts, spawnProc, waitFor, type Proc } from './procs.js';
import { startTestController, type MemberLauncher, type TestController } from './controller/index.js';

const run = promisify(execFile);
const REPO = resolve(__dirname, '..', '..');

/** Where build.sh leaves the binary; TESTKUBE_BIN overrides. */
export function testkubeBinary(): string {
  return process.env.TESTKUBE_BIN ?? join(REPO, '.tools', 'testkube', 'testkube');
}

export const WORKER_USER = 'transit-worker';
export const WORKER_GROUP = 'transit-workers';

/**
 * KCM's short controller list. Beyond namespace deletion, GC, EndpointSlice mirroring, service accounts
 * and cluster-role aggregation, the endpoint(slice) controllers give selector Services their endpoints
 * from the pods the test kubelet marks Ready (otherwise no ClusterIP Service with a selector would work).
 */
export const KCM_CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'endpointslice-mirroring-controller',
  'serviceaccount-controller',
  'clusterrole-aggregation-controller',
  'endpointslice-controller',
  'endpoints-controller',
];

export interface StartClustersOptions {
  /** Parent directory for all data (default: a new temp dir, removed on stop unless keepData). */
  baseDir?: string;
  /** Keep the data directory after stop() (also TRANSIT_KEEP_CLUSTERS=1). */
  keepData?: boolean;
  /** Initial WAN delays (default 0/0); change later through clusters.wan.set(). */
  wan?: Partial<WanConfig>;
  /** Start the test controllers (default true). */
  controllers?: boolean;
  /** Member launcher for both clusters (default: an HTTP server answering /_api/version). */
  launcher?: MemberLauncher | ((region: Region) => MemberLauncher);
  /** Start kube-controller-manager (default true). */
  kcm?: boolean;
  /** Objects to create in both clusters with the admin token once they are up (e.g. the worker's RBAC). */
  manifests?: KubernetesObject[];
  /** Progress lines (default: none; TRANSIT_KUBE_VERBOSE=1 prints to stderr). */
  log?: (msg: string) => void;
}

export interface ClusterHandle {
  name: Region;
  region: Region;
  plan: RegionPlan;
  /** https://127.0.0.1:<port> */
  server: string;
  port: number;
  /** PEM of this cluster's CA (the API server's serving cert is signed by it). */
  caPem: string;
  caFile: string;
  adminToken: string;
  /** Token of the `transit-worker` user (group `transit-workers`); it is granted nothing by default. */
  workerToken: string;
  /** Context names in the kubeconfig file. */
  adminContext: string;
  workerContext: string;
  dataDir: string;
  /** "ip:port" of the cluster DNS (when the controllers run). */
  dnsServer?: string;
  controller?: TestController;
  procs: { etcd: Proc; apiserver: Proc; kcm?: Proc };
  /** A fresh KubeConfig whose current context is this cluster's admin or worker context. */
  kubeConfig(who?: 'admin' | 'worker'): KubeConfig;
  /** Stops the API server only (SIGTERM): for tests of retries while a cluster is unreachable. */
  stopApiServer(): Promise<void>;
  /** Starts the API server again on the same port and waits for /readyz. */
  startApiServer(): Promise<void>;
}

export interface Clusters {
  eu: ClusterHandle;
  us: ClusterHandle;
  all: ClusterHandle[];
  get(region: Region): ClusterHandle;
  /** One kubeconfig file: contexts eu-admin, us-admin (admin token), eu, us (transit-worker token). */
  kubeconfigPath: string;
  baseDir: string;
  wan: WanModel;
  /** Milliseconds spent: total, API servers up (both), CRDs, controllers. */
  timings: { totalMs: number; apiServersMs: number; crdsMs: number; controllersMs: number };
  /** Stops controllers and members, then KCM, API servers and etcd (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
}

interface Pki {
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  saKey: string;
  saPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `openssl ${args[0]} failed: ${(err.stderr ?? err.message).trim()} (install the openssl CLI: apt-get install openssl)`,
    );
  }
}

/** A CA per cluster and a serving cert for 127.0.0.1 / the kubernetes Service; an EC key for SA tokens. */
async function makePki(dir: string, region: Region): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      `/CN=transit-test-${region}-ca`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const kubeSvcIp = nthAddress(ADDRESS_PLAN[region].serviceCidr, 1);
  const sans = [
    'IP:127.0.0.1',
    `IP:${kubeSvcIp}`,
    'DNS:localhost',
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ];
  await writeFile(
    join(dir, 'serving.ext'),
    `subjectAltName=${sans.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl(
    [
      'req',
      '-new',
      ...ec,
      '-keyout',
      'apiserver.key',
      '-out',
      'apiserver.csr',
      '-subj',
      `/CN=kube-apiserver-${region}`,
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'apiserver.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '3650',
      '-out',
      'apiserver.crt',
      '-extfile',
      'serving.ext',
    ],
    dir,
  );
  const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await writeFile(join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    caFile: join(dir, 'ca.crt'),
    caPem: await readFile(join(dir, 'ca.crt'), 'utf8'),
    certFile: join(dir, 'apiserver.crt'),
    keyFile: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

export interface HttpResult {
  status: number;
  body: string;
}

/**
 * One HTTP(S) request with an optional CA and bearer token; resolves with status and body (never rejects
 * on HTTP errors). Plain JSON, no client-node serializer: CRD schemas use keys (`enum`,
 * `x-kubernetes-preserve-unknown-fields`) that its typed models rename or drop.
 */
export function httpRequestJson(
  method: string,
  url: string,
  opts: { ca?: string; token?: string; body?: unknown; contentType?: string; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolvePromise, reject) => {
    const u = new URL(url);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      { method, ca: opts.ca, headers, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export function httpGet(
  url: string,
  opts: { ca?: string; token?: string; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return httpRequestJson('GET', url, opts);
}

/** A request to a cluster's API server as admin (default) or as the transit-worker. */
export function kubeRequest(
  c: ClusterHandle,
  method: string,
  path: string,
  body?: unknown,
  who: 'admin' | 'worker' = 'admin',
  contentType?: string,
): Promise<HttpResult> {
  return httpRequestJson(method, c.server + path, {
    ca: c.caPem,
    token: who === 'admin' ? c.adminToken : c.workerToken,
    body,
    contentType,
  });
}

function kubeConfigFor(name: Region, server: string, caPem: string, user: string, tok: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: user, token: tok }],
    contexts: [{ name: `${name}-${user}`, cluster: name, user }],
    currentContext: `${name}-${user}`,
  });
  return kc;
}

interface ClusterParts {
  handle: ClusterHandle;
  stopProcs(): Promise<void>;
}

async function startCluster(
  region: Region,
  baseDir: string,
  bin: string,
  opts: { kcm: boolean; log: (m: string) => void },
): Promise<ClusterParts> {
  const dir = join(baseDir, region);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki = await makePki(join(dir, 'pki'), region);
  const adminToken = token();
  const workerToken = token();
  const kcmToken = token();
  const tokenFile = join(dir, 'tokens.csv');
  // token,user,uid,"groups" (k8s.io/apiserver tokenfile); changes need an API server restart.
  await writeFile(
    tokenFile,
    [
      `${adminToken},admin,admin,"system:masters"`,
      `${workerToken},${WORKER_USER},${WORKER_USER},"${WORKER_GROUP}"`,
      `${kcmToken},system:kube-controller-manager,kcm,"system:masters"`,
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  const [etcdPort, peerPort, apiPort] = await freePorts(3);
  const server = `https://127.0.0.1:${apiPort}`;
  const started: Proc[] = [];
  const stopProcs = async (): Promise<void> => {
    for (const p of started.splice(0).reverse()) await p.stop(10_000);
  };
  try {
    const etcd = spawnProc(
      `etcd ${region}`,
      bin,
      [
        'etcd',
        `--name=${region}`,
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-url=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-url=http://127.0.0.1:${peerPort}`,
      ],
      { logFile: join(dir, 'etcd.log') },
    );
    started.push(etcd);
    const died = (p: Proc) => () => {
      if (p.hasExited())
        throw new Error(`${p.name} exited during start-up (log ${dir}/${p.name.split(' ')[0]}.log):\n${p.tail(20)}`);
    };
    await waitFor(
      `etcd ${region} on 127.0.0.1:${etcdPort}/health`,
      async () =>
        (await httpGet(`http://127.0.0.1:${etcdPort}/health`, { timeoutMs: 1_000 })).body.includes('"health":"true"'),
      { timeoutMs: 30_000, check: died(etcd) },
    );
    opts.log(`${region}: etcd up on 127.0.0.1:${etcdPort}`);

    const apiArgs = [
      'kube-apiserver',
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${pki.certFile}`,
      `--tls-private-key-file=${pki.keyFile}`,
      `--client-ca-file=${pki.caFile}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      `--service-cluster-ip-range=${ADDRESS_PLAN[region].serviceCidr}`,
      // ServiceAccount: a pod created right after its namespace would race the SA controller;
      // StorageObjectInUseProtection: its finalizers need KCM's PV/PVC protection controllers.
      '--disable-admission-plugins=ServiceAccount,StorageObjectInUseProtection',
      // The apiserver would otherwise try to publish 127.0.0.1 as the kubernetes Service endpoint.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--cert-dir=${join(dir, 'pki')}`,
    ];
    let apiserver = spawnProc(`kube-apiserver ${region}`, bin, apiArgs, { logFile: join(dir, 'kube-apiserver.log') });
    started.push(apiserver);
    const waitApi = async (p: Proc): Promise<void> => {
      await waitFor(
        `kube-apiserver ${region} ${server}/readyz`,
        async () => (await httpGet(`${server}/readyz`, { ca: pki.caPem, timeoutMs: 2_000 })).status === 200,
        { timeoutMs: 90_000, intervalMs: 200, check: died(p) },
      );
    };
    await waitApi(apiserver);
    opts.log(`${region}: kube-apiserver ready at ${server}`);

    const kcmKubeconfig = join(dir, 'kcm.kubeconfig');
    await writeFile(
      kcmKubeconfig,
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: region, cluster: { server, 'certificate-authority': pki.caFile } }],
        users: [{ name: 'kcm', user: { token: kcmToken } }],
        contexts: [{ name: 'kcm', context: { cluster: region, user: 'kcm' } }],
        'current-context': 'kcm',
      }),
      { mode: 0o600 },
    );
    let kcm: Proc | undefined;
    if (opts.kcm) {
      kcm = spawnProc(
        `kube-controller-manager ${region}`,
        bin,
        [
          'kube-controller-manager',
          `--kubeconfig=${kcmKubeconfig}`,
          '--leader-elect=false',
          '--secure-port=0',
          `--controllers=${KCM_CONTROLLERS.join(',')}`,
          '--use-service-account-credentials=false',
          '--profiling=false',
        ],
        { logFile: join(dir, 'kube-controller-manager.log') },
      );
      started.push(kcm);
    }

    const handle: ClusterHandle = {
      name: region,
      region,
      plan: ADDRESS_PLAN[region],
      server,
      port: apiPort!,
      caPem: pki.caPem,
      caFile: pki.caFile,
      adminToken,
      workerToken,
      adminContext: `${region}-admin`,
      workerContext: region,
      dataDir: dir,
      procs: { etcd, apiserver, kcm },
      kubeConfig(who = 'admin') {
        return who === 'admin'
          ? kubeConfigFor(region, server, pki.caPem, 'admin', adminToken)
          : kubeConfigFor(region, server, pki.caPem, WORKER_USER, workerToken);
      },
      async stopApiServer() {
        await apiserver.stop(10_000);
      },
      async startApiServer() {
        if (!apiserver.hasExited()) return;
        const i = started.indexOf(apiserver);
        apiserver = spawnProc(`kube-apiserver ${region}`, bin, apiArgs, { logFile: join(dir, 'kube-apiserver.log') });
        if (i >= 0) started[i] = apiserver;
        handle.procs.apiserver = apiserver;
        await waitApi(apiserver);
      },
    };
    return { handle, stopProcs };
  } catch (e) {
    await stopProcs();
    throw e;
  }
}

/** Starts both clusters (in parallel), installs the CRDs and starts the test controllers. */
export async function startClusters(opts: StartClustersOptions = {}): Promise<Clusters> {
  const t0 = Date.now();
  const log =
    opts.log ??
    (process.env.TRANSIT_KUBE_VERBOSE ? (m: string) => process.stderr.write(`[kube] ${m}\n`) : () => undefined);
  const bin = testkubeBinary();
  if (!existsSync(bin)) {
    throw new Error(
      `testkube binary not found at ${bin}: run tools/testkube/build.sh (scripts/setup runs it), or set TESTKUBE_BIN`,
    );
  }
  await ensureLocalRoutes();
  await sweepStaleDirs();
  const baseDir = opts.baseDir ?? (await mkdtemp(join(tmpdir(), STALE_PREFIX)));
  await writeFile(join(baseDir, 'owner.pid'), String(process.pid));
  const keep = opts.keepData ?? process.env.TRANSIT_KEEP_CLUSTERS === '1';
  const wan = new WanModel(opts.wan);
  const parts: ClusterParts[] = [];
  const controllers: TestController[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(controllers.splice(0).map((c) => c.stop()));
    await Promise.all(parts.splice(0).map((p) => p.stopProcs()));
    if (!keep && !opts.baseDir) await rm(baseDir, { recursive: true, force: true });
  };
  try {
    const results = await Promise.allSettled(
      REGIONS.map((r) => startCluster(r, baseDir, bin, { kcm: opts.kcm ?? true, log })),
    );
    for (const r of results) if (r.status === 'fulfilled') parts.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const tApi = Date.now();
    const [eu, us] = parts.map((p) => p.handle) as [ClusterHandle, ClusterHandle];
    const all = [eu, us];

    const kubeconfigPath = join(baseDir, 'kubeconfig.yaml');
    await writeFile(kubeconfigPath, kubeconfigYaml(all), { mode: 0o600 });

    await Promise.all(all.map((c) => installCrds(c)));
    const tCrd = Date.now();
    log(`CRDs established in ${tCrd - tApi} ms`);

    if (opts.manifests?.length) {
      for (const c of all) await applyObjects(c.kubeConfig('admin'), opts.manifests);
    }

    if (opts.controllers ?? true) {
      for (const c of all) {
        const launcher = typeof opts.launcher === 'function' ? opts.launcher(c.region) : opts.launcher;
        const ctl = await startTestController({
          region: c.region,
          kubeConfig: c.kubeConfig('admin'),
          wan,
          dataDir: join(c.dataDir, 'controller'),
          launcher,
          apiServer: { host: '127.0.0.1', port: c.port },
          log: (m) => process.stderr.write(`[controller ${c.region}] ${m}\n`),
        });
        controllers.push(ctl);
        c.controller = ctl;
        c.dnsServer = ctl.dnsServer;
      }
    }
    const tCtl = Date.now();
    log(`controllers up in ${tCtl - tCrd} ms; total ${tCtl - t0} ms`);

    let stopped: Promise<void> | undefined;
    return {
      eu,
      us,
      all,
      get: (r) => (r === 'eu' ? eu : us),
      kubeconfigPath,
      baseDir,
      wan,
      timings: { totalMs: tCtl - t0, apiServersMs: tApi - t0, crdsMs: tCrd - tApi, controllersMs: tCtl - tCrd },
      stop: () => (stopped ??= stopAll()),
    };
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
}

const STALE_PREFIX = 'transit-kube-';

/** Removes data dirs of earlier runs whose owner process is gone (a run killed with SIGKILL keeps its dir). */
async function sweepStaleDirs(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (!name.startsWith(STALE_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const pid = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => ''));
    let dead: boolean;
    if (pid > 0) {
      try {
        process.kill(pid, 0);
        dead = false;
      } catch (e) {
        dead = (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    } else {
      // No pid file: being created right now, or very old; only the latter is swept.
      dead = Date.now() - (await stat(dir)).mtimeMs > 3_600_000;
    }
    if (dead) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function kubeconfigYaml(all: ClusterHandle[]): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: all.map((c) => ({
      name: c.name,
      cluster: { server: c.server, 'certificate-authority-data': Buffer.from(c.caPem).toString('base64') },
    })),
    users: all.flatMap((c) => [
      { name: `${c.name}-admin`, user: { token: c.adminToken } },
      { name: `${c.name}-${WORKER_USER}`, user: { token: c.workerToken } },
    ]),
    contexts: all.flatMap((c) => [
      { name: c.adminContext, context: { cluster: c.name, user: `${c.name}-admin` } },
      { name: c.workerContext, context: { cluster: c.name, user: `${c.name}-${WORKER_USER}` } },
    ]),
    'current-context': all[0]!.adminContext,
  });
}

/** Creates (or replaces) objects with the given credentials. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const obj of objects) {
    try {
      await api.create(obj);
    } catch (e) {
      if ((e as { code?: number }).code !== 409) {
        throw new Error(
          `creating ${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}: ${(e as Error).message}`,
        );
      }
      const cur = await api.read({
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        metadata: { name: obj.metadata!.name!, namespace: obj.metadata?.namespace },
      } as KubernetesObject & { metadata: { name: string } });
      await api.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    }
  }
}

// ---- CRDs Transit reads --------------------------------------------------------------------------

const str = { type: 'string' };
const int = { type: 'integer' };
const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const strList = { type: 'array', items: str };

// A server group (agents, dbservers, coordinators, single) of an ArangoDeployment spec.
const serverGroup = {
  ...open,
  properties: {
    count: int,
    minCount: int,
    maxCount: int,
    args: strList,
    entrypoint: str,
    resources: open,
    storageClassName: str,
    volumeClaimTemplate: open,
    serviceAccountName: str,
    nodeSelector: { type: 'object', additionalProperties: str },
    tolerations: { type: 'array', items: open },
    annotations: { type: 'object', additionalProperties: str },
    labels: { type: 'object', additionalProperties: str },
    podModes: open,
  },
};

const memberStatus = {
  ...open,
  properties: {
    id: str,
    phase: str,
    podName: str,
    podUID: str,
    podSpecVersion: str,
    persistentVolumeClaimName: str,
    initialized: { type: 'boolean' },
    created: str,
    image: open,
    conditions: { type: 'array', items: open },
  },
};

/** kube-arangodb ArangoDeployment/ArangoMember (database.arangodb.com/v1) and external-dns DNSEndpoint. */
export interface CrdJson {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[] };
    versions: { name: string; served: boolean; storage: boolean; [k: string]: unknown }[];
  };
}

export const CRDS: CrdJson[] = [
  {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'arangodeployments.database.arangodb.com' },
    spec: {
      group: 'database.arangodb.com',
      scope: 'Namespaced',
      names: {
        kind: 'ArangoDeployment',
        listKind: 'ArangoDeploymentList',
        plural: 'arangodeployments',
        singular: 'arangodeployment',
        shortNames: ['arangodb', 'arango'],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  ...open,
                  properties: {
                    mode: { type: 'string', enum: ['Single', 'ActiveFailover', 'Cluster'] },
                    environment: { type: 'string', enum: ['Development', 'Production'] },
                    storageEngine: str,
                    image: str,
                    imagePullPolicy: str,
                    imagePullSecrets: strList,
                    downtimeAllowed: { type: 'boolean' },
                    communicationMethod: str,
                    networkAttachedVolumes: { type: 'boolean' },
                    externalAccess: { ...open, properties: { type: str, loadBalancerIP: str, nodePort: int } },
                    auth: { ...open, properties: { jwtSecretName: str } },
                    tls: { ...open, properties: { caSecretName: str, altNames: strList, ttl: str } },
                    license: { ...open, properties: { secretName: str } },
                    single: serverGroup,
                    agents: serverGroup,
                    dbservers: serverGroup,
                    coordinators: serverGroup,
                    syncmasters: serverGroup,
                    syncworkers: serverGroup,
                  },
                },
                status: {
                  ...open,
                  properties: {
                    phase: str,
                    reason: str,
                    serviceName: str,
                    members: {
                      ...open,
                      properties: {
                        single: { type: 'array', items: memberStatus },
                        agents: { type: 'array', items: memberStatus },
                        dbservers: { type: 'array', items: memberStatus },
                        coordinators: { type: 'array', items: memberStatus },
                      },
                    },
                    conditions: { type: 'array', items: open },
                  },
                },
              },
            },
          },
        },
      ],
    },
  },
  {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'arangomembers.database.arangodb.com' },
    spec: {
      group: 'database.arangodb.com',
      scope: 'Namespaced',
      names: { kind: 'ArangoMember', listKind: 'ArangoMemberList', plural: 'arangomembers', singular: 'arangomember' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  ...open,
                  properties: { group: str, id: str, deploymentUID: str, template: open, overrides: open },
                },
                status: { ...open, properties: { template: open, conditions: { type: 'array', items: open } } },
              },
            },
          },
        },
      ],
    },
  },
  {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: 'dnsendpoints.externaldns.k8s.io',
      // *.k8s.io groups need this annotation (external-dns ships the same one).
      annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/external-dns/pull/2007' },
    },
    spec: {
      group: 'externaldns.k8s.io',
      scope: 'Namespaced',
      names: { kind: 'DNSEndpoint', listKind: 'DNSEndpointList', plural: 'dnsendpoints', singular: 'dnsendpoint' },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  properties: {
                    endpoints: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          dnsName: str,
                          labels: { type: 'object', additionalProperties: str },
                          providerSpecific: {
                            type: 'array',
                            items: { type: 'object', properties: { name: str, value: str } },
                          },
                          recordTTL: { type: 'integer', format: 'int64' },
                          recordType: str,
                          setIdentifier: str,
                          targets: strList,
                        },
                      },
                    },
                  },
                },
                status: { type: 'object', properties: { observedGeneration: { type: 'integer', format: 'int64' } } },
              },
            },
          },
        },
      ],
    },
  },
];

/** Creates the CRDs (as admin) and waits until each is Established and its resource can be listed. */
export async function installCrds(c: ClusterHandle): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of CRDS) {
    const r = await kubeRequest(c, 'POST', base, crd);
    if (r.status !== 201 && r.status !== 409) {
      throw new Error(`${c.name}: creating CRD ${crd.metadata.name} failed with ${r.status}: ${r.body.slice(0, 500)}`);
    }
  }
  for (const crd of CRDS) {
    const name = crd.metadata.name;
    await waitFor(
      `${c.name}: CRD ${name} Established`,
      async () => {
        const r = await kubeRequest(c, 'GET', `${base}/${name}`);
        const conds = (JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } }).status
          ?.conditions;
        return conds?.some((x) => x.type === 'Established' && x.status === 'True');
      },
      { timeoutMs: 30_000 },
    );
    const v = crd.spec.versions[0]!.name;
    await waitFor(
      `${c.name}: list ${crd.spec.names.plural}`,
      async () =>
        (await kubeRequest(c, 'GET', `/apis/${crd.spec.group}/${v}/${crd.spec.names.plural}?limit=1`)).status === 200,
      { timeoutMs: 30_000 },
    );
  }
}

/** The admin CoreV1Api of a cluster (a convenience for tests). */
export function coreApi(c: ClusterHandle, who: 'admin' | 'worker' = 'admin'): CoreV1Api {
  return c.kubeConfig(who).makeApiClient(CoreV1Api);
}

// `node --import tsx test/harness/kube.ts [--wan-ms=90]`: start both clusters for manual work (kubectl
// --kubeconfig <printed path>), until Ctrl-C.
if (require.main === module) {
  const wanArg = process.argv.find((a) => a.startsWith('--wan-ms='));
  startClusters({
    wan: { crossRegionMs: wanArg ? Number(wanArg.split('=')[1]) : 0 },
    log: (m) => process.stderr.write(`[kube] ${m}\n`),
  }).then(
    (c) => {
      process.stdout.write(
        `clusters up in ${c.timings.totalMs} ms\nkubeconfig: ${c.kubeconfigPath}\n` +
          c.all.map((x) => `${x.name}: ${x.server} dns ${x.dnsServer} data ${x.dataDir}`).join('\n') +
          '\nCtrl-C stops them\n',
      );
      const stop = (): void => void c.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (e: Error) => {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    },
  );
}
