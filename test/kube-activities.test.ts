// The Kubernetes activities on two real API servers ("eu" = source, "us" = target) with the test controller
// playing kubelet, kube-proxy, cloud LB and DNS, and the ArangoDB simulator as the members: a kube-arangodb
// style deployment in eu is read, bridged (LoadBalancer, then ClusterMesh), copied to us, its agents moved
// and moved back, rolled back and finally migrated. Every activity runs as the transit-worker user with only
// deploy/rbac.yaml's rules.
//   scripts/netns-run node scripts/run-tests.mjs kube-activities
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  type RequestContext,
  type V1Endpoints,
  type V1EndpointSlice,
  type V1Service,
} from '@kubernetes/client-node';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import {
  BRIDGE_MODES,
  createKubeActivities,
  kubeConfigLoader,
  REQUIRED_PERMISSIONS,
  type BridgeResult,
  type EndStateReport,
  type KubeActivityDeps,
} from '../src/activities/kube';
import type { MemberInfo, MigrationRef, Side } from '../src/activities/contract';
import { MigrationSpec, specJsonSchema, type MigrationSpecInput } from '../src/spec/schema';
import { createArangoDeployment, type ArangoDeploymentFixture } from './harness/arango-deployment';
import { createAgencyActivities, fileCredentialReader } from '../src/activities/agency';
import type { ArangoRef } from '../src/activities/agency-types';
import { versionProbe } from '../src/activities/kube/probe';
import { arangodSimLauncher } from './harness/controller';
import { applyObjects, kubeRequest, startClusters, type ClusterHandle, type Clusters } from './harness/kube';
import { ADDRESS_PLAN, cidrContains, workerAddress, type Region } from './harness/network';
import { waitFor } from './harness/procs';
import { scrub } from '../src/observability';

const REPO = join(__dirname, '..');
const NS = 'arangodb';
const REGION: Record<Side, Region> = { source: 'eu', target: 'us' };
const timings: Record<string, number[]> = {};
const latency: string[] = [];

let clusters: Clusters;
let fx: ArangoDeploymentFixture;
let rbac: KubernetesObject[];

function spec(o: {
  mode: 'loadbalancer' | 'clustermesh';
  target?: string;
  mesh?: { sourcePodCIDRs?: string[]; targetPodCIDRs?: string[] };
  id?: string;
}): MigrationRef {
  const input: MigrationSpecInput = {
    deployment: { name: 'db', namespace: NS },
    source: { context: 'eu', region: 'eu', namespace: NS },
    target: { context: 'us', region: 'us', namespace: o.target ?? NS },
    network:
      o.mode === 'loadbalancer'
        ? { mode: 'loadbalancer', loadBalancer: { firstPort: 30001 } }
        : { mode: 'clustermesh', ...(o.mesh ? { clusterMesh: o.mesh } : {}) },
    dns: {
      provider: 'rfc2136',
      name: 'db.example.test.',
      zone: 'example.test.',
      ttl: 5,
      tsigKey: { file: '/nonexistent' },
    },
    arango: { endpoint: 'http://10.12.0.1:8529', jwtSecret: { secret: { name: 'db-jwt', key: 'token' } } },
  };
  return { migrationId: o.id ?? `mig-${o.mode}`, spec: MigrationSpec.parse(input) };
}

/** The activities as the worker runs them: worker contexts eu/us (transit-worker token, deploy/rbac.yaml only). */
function activities(extra: Partial<KubeActivityDeps> = {}) {
  return createKubeActivities({
    loadKubeConfig: kubeConfigLoader({ kubeconfigPath: clusters.kubeconfigPath }),
    apiRetryMs: 30_000,
    readyTimeoutMs: 90_000,
    loadBalancerTimeoutMs: 30_000,
    pollIntervalMs: 200,
    probe: { via: 'service', localAddress: (side) => workerAddress(REGION[side]), timeoutMs: 30_000 },
    log: process.env.TRANSIT_KUBE_VERBOSE ? (m) => process.stderr.write(`[kube] ${m}\n`) : undefined,
    ...extra,
  });
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    (timings[what] ??= []).push(Math.round(performance.now() - t0));
  }
}

function failure(type: string, nonRetryable: boolean, re?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    assert.equal(Boolean(e.nonRetryable), nonRetryable, `${type} nonRetryable`);
    if (re) assert.match(e.message, re);
    return true;
  };
}

function cluster(side: Side): ClusterHandle {
  return clusters.get(REGION[side]);
}

function core(side: Side): CoreV1Api {
  return cluster(side).kubeConfig('admin').makeApiClient(CoreV1Api);
}

const KINDS = (ns: string) =>
  ['pods', 'services', 'endpoints', 'persistentvolumeclaims', 'secrets']
    .map((k) => `/api/v1/namespaces/${ns}/${k}`)
    .concat(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`);

/** Every object carrying Transit's managed-by label in a namespace and cluster-wide kinds we touch. */
async function transitObjects(side: Side, ns = NS): Promise<string[]> {
  const c = cluster(side);
  const out: string[] = [];
  for (const path of KINDS(ns)) {
    const r = await kubeRequest(
      c,
      'GET',
      `${path}?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=transit')}`,
    );
    for (const o of (JSON.parse(r.body) as { items: KubernetesObject[] }).items)
      out.push(`${o.kind ?? path.split('/').pop()}/${o.metadata!.name}`);
  }
  return out.sort();
}

/** uid@resourceVersion of every Transit object, plus the source's operator Services: a re-run must not change one. */
async function snapshot(side: Side, ns = NS): Promise<Record<string, string>> {
  const c = cluster(side);
  const out: Record<string, string> = {};
  for (const path of KINDS(ns)) {
    const kind = path.split('/').pop()!;
    const r = await kubeRequest(c, 'GET', path);
    for (const o of (JSON.parse(r.body) as { items: KubernetesObject[] }).items) {
      // The controllers' own, rewritten on pod status changes:
      if ((kind === 'endpoints' || kind === 'endpointslices') && !o.metadata?.labels?.['app.kubernetes.io/managed-by'])
        continue;
      out[`${kind}/${o.metadata!.name}`] = `${o.metadata!.uid}@${o.metadata!.resourceVersion}`;
    }
  }
  return out;
}

/** A KubeConfig that records PUTs and, once armed, lets another writer change the object just before one. */
class ConflictInjector extends KubeConfig {
  readonly puts: string[] = [];
  private armed?: { path: string; poke: () => Promise<void> };

  arm(path: string, poke: () => Promise<void>): void {
    this.armed = { path, poke };
  }

  /** The next `times` requests to `path` go to `server` instead (e.g. one that answers 503). */
  failNext(path: string, times: number, server: string): void {
    this.failing = { path, times, server };
  }
  private failing?: { path: string; times: number; server: string };

  override async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(ctx);
    const u = new URL(ctx.getUrl());
    if (this.failing && this.failing.times > 0 && u.pathname === this.failing.path) {
      this.failing.times--;
      ctx.setUrl(`${this.failing.server}${u.pathname}${u.search}`);
    }
    if (String(ctx.getHttpMethod()) !== 'PUT') return;
    const path = new URL(ctx.getUrl()).pathname;
    this.puts.push(path);
    const a = this.armed;
    if (a?.path === path) {
      // This replace carries the resourceVersion read before the other writer's change: the API server says 409.
      this.armed = undefined;
      await a.poke();
    }
  }
}

/** deploy/rbac.yaml as its header says: the roles everywhere, transit-source bound in the source, transit-target in the target. */
function rbacFor(side: Side, ns = NS): KubernetesObject[] {
  const skip = side === 'source' ? ['transit-target', 'transit-target-cluster'] : ['transit-source'];
  return rbac
    .filter((o) => !(o.kind?.endsWith('Binding') && skip.includes(o.metadata!.name!)))
    .map((o) => (o.kind === 'RoleBinding' ? { ...o, metadata: { ...o.metadata, namespace: ns } } : o));
}

async function readRbac(): Promise<KubernetesObject[]> {
  const text = await readFile(join(REPO, 'deploy', 'rbac.yaml'), 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as KubernetesObject)
    .filter(Boolean);
}

before(async () => {
  const t0 = Date.now();
  clusters = await startClusters({ launcher: arangodSimLauncher() });
  rbac = await readRbac();
  for (const c of clusters.all) {
    await applyObjects(c.kubeConfig('admin'), [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as KubernetesObject,
    ]);
    await applyObjects(c.kubeConfig('admin'), rbacFor(c.region === 'eu' ? 'source' : 'target'));
  }
  fx = await createArangoDeployment(clusters.eu, { namespace: NS });
  process.stderr.write(
    `[kube-activities] clusters ${clusters.timings.totalMs} ms, source deployment Ready after ${Date.now() - t0} ms total\n`,
  );
});

after(async () => {
  if (Object.keys(timings).length) {
    process.stderr.write(
      `[kube-activities] activity durations (ms): ${Object.entries(timings)
        .map(([k, v]) => `${k} ${v.join('/')}`)
        .join(', ')}\n`,
    );
  }
  for (const l of latency) process.stderr.write(`[kube-activities] ${l}\n`);
  await clusters?.stop();
});

describe('preflight and inventory', () => {
  test('preflight as the transit-worker: both API servers, every permission, the target namespace and StorageClass', async () => {
    const r = await timed('preflight', () => activities().preflight(spec({ mode: 'loadbalancer' })));
    assert.equal(r.storageClass, 'standard');
    assert.deepEqual(r.sourcePodCIDRs, []);
    assert.deepEqual(r.warnings, []);
  });

  test('readSourceDeployment: the CR members with IDs, roles, pods, IPs, image, args, resources, storage and endpoints', async () => {
    const inv = await timed('readSourceDeployment', () =>
      activities().readSourceDeployment(spec({ mode: 'loadbalancer' })),
    );
    assert.equal(inv.name, 'db');
    assert.equal(inv.namespace, NS);
    assert.equal(inv.image, 'arangodb/arangodb:3.12.4');
    assert.equal(inv.members.length, fx.members.length);
    for (const m of fx.members) {
      const got = inv.members.find((x) => x.id === m.id);
      assert.ok(got, `member ${m.id} listed`);
      assert.equal(got.role, m.role);
      assert.equal(got.side, 'source');
      assert.equal(got.podName, m.podName);
      assert.ok(
        got.podIP && cidrContains(ADDRESS_PLAN.eu.podCidr, got.podIP),
        `${m.podName} pod IP ${got.podIP} in eu`,
      );
      assert.equal(got.endpoint, `tcp://${m.service}:8529`);
      assert.equal(got.image, 'arangodb/arangodb:3.12.4');
      assert.ok(got.args.includes('--server.jwt-secret-keyfile=/secrets/cluster/jwt/token'));
      assert.deepEqual((got.resources as { limits?: unknown }).limits, { memory: '1Gi' });
      if (m.role === 'coordinator') assert.equal(got.storage, undefined);
      else assert.deepEqual(got.storage, { size: '1Gi', storageClassName: 'standard' });
      if (m.role === 'agent') assert.ok(got.args.includes(`--agency.disaster-recovery-id=${m.id}`));
    }
    // Pod start (creation → first Ready) of every member pod, none of which restarted (the rehearsal's pod start).
    assert.equal(inv.podStart?.pods, fx.members.length, JSON.stringify(inv.podStart));
    assert.ok(inv.podStart!.medianSeconds >= 0 && inv.podStart!.medianSeconds < 120, JSON.stringify(inv.podStart));
  });

  test('the target kubeconfig may come from a file or from a Secret (read inside the activity); a wrong context is named', async () => {
    const a = activities();
    const withTarget = (target: Record<string, unknown>): MigrationRef => {
      const r = spec({ mode: 'loadbalancer' });
      return { ...r, spec: MigrationSpec.parse({ ...r.spec, target: { ...r.spec.target, ...target } }) };
    };
    assert.equal(
      (await a.preflight(withTarget({ kubeconfig: { file: clusters.kubeconfigPath } }))).storageClass,
      'standard',
    );
    // Only the us worker context, in a Secret of the source namespace that the worker may read by name.
    const full = parseYaml(await readFile(clusters.kubeconfigPath, 'utf8')) as {
      clusters: { name: string }[];
      users: { name: string }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
    };
    const ctx = full.contexts.find((x) => x.name === 'us')!;
    const only = {
      ...full,
      'current-context': 'us',
      contexts: [ctx],
      clusters: full.clusters.filter((x) => x.name === ctx.context.cluster),
      users: full.users.filter((x) => x.name === ctx.context.user),
    };
    await applyObjects(clusters.eu.kubeConfig('admin'), [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'us-kubeconfig', namespace: NS },
        stringData: { config: stringifyYaml(only) },
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'read-us-kubeconfig', namespace: NS },
        rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['us-kubeconfig'], verbs: ['get'] }],
      } as KubernetesObject,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'read-us-kubeconfig', namespace: NS },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-us-kubeconfig' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'transit-worker' }],
      } as KubernetesObject,
    ]);
    const fromSecret = withTarget({ kubeconfig: { secret: { name: 'us-kubeconfig', key: 'config' } } });
    // The kubeconfig in the Secret is a credential: once read, the worker's log redaction hides it (and not before).
    const kubeconfigText = stringifyYaml(only).trim();
    assert.equal(scrub(`read ${kubeconfigText}`), `read ${kubeconfigText}`, 'not redacted before it is read');
    const r = await waitFor(
      'preflight with the kubeconfig from a Secret',
      () => a.preflight(fromSecret).catch(() => undefined),
      { timeoutMs: 10_000 },
    );
    assert.equal(r.storageClass, 'standard');
    assert.equal(scrub(`read ${kubeconfigText}`), 'read [redacted]', 'the kubeconfig read from the Secret is redacted');
    await assert.rejects(
      a.preflight(withTarget({ context: 'mars' })),
      failure(
        'KubeConfigError',
        true,
        /kube context mars is not in the kubeconfig \(it has eu-admin, eu, us-admin, us\)/,
      ),
    );
  });

  test('a bridge mode brings its own permissions: without the Nodes rule loadbalancer passes, clustermesh names what it lacks in both clusters', async () => {
    const binding = rbac.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata?.name === 'transit-cluster')!;
    assert.deepEqual(
      BRIDGE_MODES.clustermesh.permissions.source.map((p) => `${p.verb} ${p.resource}`),
      ['list nodes'],
      "the nodes rule is the clustermesh mode's own",
    );
    for (const c of clusters.all)
      assert.equal(
        (await kubeRequest(c, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/transit-cluster'))
          .status,
        200,
      );
    try {
      const a = activities();
      const e = await waitFor(
        'the API servers enforce the missing binding',
        () =>
          a.preflight(spec({ mode: 'clustermesh' })).then(
            () => undefined,
            (x: unknown) => x,
          ),
        { timeoutMs: 10_000 },
      );
      failure(
        'KubeForbiddenError',
        true,
        /lacks 2 permission\(s\) Transit needs: list nodes \(context eu\); list nodes \(context us\) — grant them/,
      )(e);
      const r = await a.preflight(spec({ mode: 'loadbalancer' }));
      assert.equal(r.storageClass, 'standard', 'loadbalancer mode needs no Nodes');
    } finally {
      for (const c of clusters.all) await applyObjects(c.kubeConfig('admin'), [binding]);
    }
    await waitFor(
      'the binding is back',
      () =>
        activities()
          .preflight(spec({ mode: 'clustermesh' }))
          .then(
            () => true,
            () => undefined,
          ),
      { timeoutMs: 10_000 },
    );
  });

  test('ClusterMesh refuses overlapping Pod CIDRs and names both ranges', async () => {
    const a = activities();
    const ok = await a.preflight(spec({ mode: 'clustermesh' }));
    assert.deepEqual(ok.sourcePodCIDRs, [ADDRESS_PLAN.eu.podCidr]);
    assert.deepEqual(ok.targetPodCIDRs, [ADDRESS_PLAN.us.podCidr]);
    // From the spec's override …
    await assert.rejects(
      a.preflight(spec({ mode: 'clustermesh', mesh: { sourcePodCIDRs: ['10.20.128.0/17'] } })),
      failure(
        'PreflightError',
        true,
        /source Pod CIDR 10\.20\.128\.0\/17 \(context eu\) overlaps target Pod CIDR 10\.20\.0\.0\/16 \(context us\)/,
      ),
    );
    // … and from the Nodes' spec.podCIDR.
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'us-node-overlap' },
      spec: { podCIDR: '10.10.64.0/24', podCIDRs: ['10.10.64.0/24'] },
    };
    await applyObjects(clusters.us.kubeConfig('admin'), [node as KubernetesObject]);
    try {
      await assert.rejects(
        a.preflight(spec({ mode: 'clustermesh' })),
        failure(
          'PreflightError',
          true,
          /10\.10\.0\.0\/16 \(context eu\) overlaps target Pod CIDR 10\.10\.64\.0\/24 \(context us\)/,
        ),
      );
    } finally {
      await core('target').deleteNode({ name: 'us-node-overlap' });
    }
  });
});

// ---- helpers for the scenarios -------------------------------------------------------------------------

/** Agency activities through a coordinator, resolving members' short names with `side`'s cluster DNS. */
function agencyActs(side: Side, ns: string) {
  return createAgencyActivities({
    readCredential: fileCredentialReader(),
    pollIntervalMs: 200,
    agencyRetryMs: 15_000,
    mapEndpoint: (ep) => {
      const m = /^(tcp|ssl|http|https):\/\/([^:/]+):(\d+)$/.exec(ep);
      if (!m || /^\d+\.\d+\.\d+\.\d+$/.test(m[2]!)) return ep;
      const ip = cluster(side).controller!.resolve(`${m[2]}.${ns}.svc.cluster.local`)?.[0];
      return ip ? `${m[1]}://${ip}:${m[3]}` : ep;
    },
  });
}

async function arangoRef(side: Side, ns = NS): Promise<ArangoRef> {
  const s = await core(side).readNamespacedService({ name: 'db-ea', namespace: ns });
  const ip = s.status?.loadBalancer?.ingress?.[0]?.ip;
  assert.ok(ip, `db-ea in ${side} has an LB address`);
  return { endpoint: `http://${ip}:8529`, jwtSecret: { file: fx.jwtSecretFile } };
}

async function service(side: Side, name: string, ns = NS): Promise<V1Service> {
  return core(side).readNamespacedService({ name, namespace: ns });
}

async function endpointsOf(side: Side, name: string, ns = NS): Promise<V1Endpoints | undefined> {
  return core(side)
    .readNamespacedEndpoints({ name, namespace: ns })
    .catch(() => undefined);
}

/** Every EndpointSlice of a Service, whoever wrote it (what kube-proxy, CoreDNS and Cilium read). */
async function slicesOf(side: Side, name: string, ns = NS): Promise<V1EndpointSlice[]> {
  const r = await kubeRequest(
    cluster(side),
    'GET',
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${name}`)}`,
  );
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { items: V1EndpointSlice[] }).items;
}

/** ip:port of every endpoint of every slice of a Service, sorted. */
async function sliceAddresses(side: Side, name: string, ns = NS): Promise<string[]> {
  return (await slicesOf(side, name, ns))
    .flatMap((s) => (s.endpoints ?? []).flatMap((e) => (e.addresses ?? []).map((a) => `${a}:${s.ports?.[0]?.port}`)))
    .sort();
}

/**
 * A bridge Service's endpoints as Transit must leave them: its own EndpointSlices only (service-name and
 * managed-by labels, the migration's labels, owned by the Service), no v1 Endpoints; port name → ip:port.
 */
async function bridgeSlices(side: Side, name: string, migrationId: string, ns = NS): Promise<Record<string, string>> {
  const slices = await slicesOf(side, name, ns);
  const svc = await service(side, name, ns);
  const out: Record<string, string> = {};
  for (const sl of slices) {
    const l = sl.metadata?.labels ?? {};
    assert.equal(
      l['endpointslice.kubernetes.io/managed-by'],
      'transit.arangodb.io',
      `${name} (${side}): slice ${sl.metadata?.name} is Transit's, not a controller's or a mirror of v1 Endpoints`,
    );
    assert.equal(
      l['app.kubernetes.io/managed-by'],
      'transit',
      `${name} (${side}): slice ${sl.metadata?.name} has Transit's managed-by label`,
    );
    assert.equal(l['transit.arangodb.io/migration-id'], migrationId);
    assert.deepEqual(
      sl.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['Service', name, svc.metadata?.uid]],
      `${name} (${side}): slice owned by its Service`,
    );
    assert.equal(sl.endpoints?.length, 1);
    out[sl.ports![0]!.name!] = `${sl.endpoints![0]!.addresses[0]}:${sl.ports![0]!.port}`;
  }
  assert.equal(
    await endpointsOf(side, name, ns),
    undefined,
    `${name} (${side}) has no v1 Endpoints (deprecated since 1.33): Transit writes EndpointSlices`,
  );
  return out;
}

/** v1 Endpoints as an earlier Transit wrote them for a bridge Service: its labels, no skip-mirror (KCM mirrors them). */
async function legacyEndpoints(side: Side, name: string): Promise<void> {
  const labels = (await service(side, name)).metadata!.labels!;
  const r = await kubeRequest(cluster(side), 'POST', `/api/v1/namespaces/${NS}/endpoints`, {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, labels },
    subsets: [{ addresses: [{ ip: '10.22.0.250' }], ports: [{ name: 'server', port: 30999, protocol: 'TCP' }] }],
  });
  assert.equal(r.status, 201, r.body);
  await waitFor(
    `KCM mirrors the legacy Endpoints of ${name}`,
    async () => (await sliceAddresses(side, name)).includes('10.22.0.250:30999'),
    { timeoutMs: 10_000 },
  );
}

function recordProbes(label: string, r: BridgeResult): void {
  const by = new Map<string, number[]>();
  for (const p of r.probes) {
    const k = `${label}: ${REGION[p.cluster]} → ${REGION[p.cluster === 'source' ? 'target' : 'source']} via ${p.via}`;
    by.set(k, [...(by.get(k) ?? []), p.ms]);
  }
  for (const [k, xs] of by)
    latency.push(
      `${k}: ${xs.length} paths, median ${median(xs).toFixed(1)} ms (${xs.map((x) => x.toFixed(1)).join(', ')})`,
    );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** Median /_api/version round trip (fresh connection each) from the worker's address in `from`. */
async function roundTrips(host: string, port: number, from: Region, n: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await versionProbe({ host, port, localAddress: workerAddress(from) });
    assert.ok(r.ok, `probe ${host}:${port} from ${from}: ${r.error}`);
    xs.push(r.ms);
  }
  return median(xs);
}

const ONE_WAY_MS = 20;

/**
 * After an API server restart the KCM's and the test controller's watches come back with a back-off of up to
 * ~30 s: wait until a fresh selectorless Service is mirrored by KCM and served by the test kube-proxy.
 */
async function controllersCaughtUp(c: ClusterHandle, backendIP: string): Promise<void> {
  const name = `catch-up-${Date.now()}`;
  const svc = await kubeRequest(c, 'POST', '/api/v1/namespaces/default/services', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { ports: [{ name: 'server', port: 8529 }] },
  });
  assert.equal(svc.status, 201, svc.body);
  await kubeRequest(c, 'POST', '/api/v1/namespaces/default/endpoints', {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name },
    subsets: [{ addresses: [{ ip: backendIP }], ports: [{ name: 'server', port: 8529 }] }],
  });
  const ip = (JSON.parse(svc.body) as V1Service).spec!.clusterIP!;
  await waitFor(
    `${c.name}: KCM and the test controller serve new Services again`,
    async () => (await versionProbe({ host: ip, port: 8529, timeoutMs: 1_000 })).ok,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  await kubeRequest(c, 'DELETE', `/api/v1/namespaces/default/services/${name}`);
}

describe('LoadBalancer mode: bridge, provision, agent moves, rollback', () => {
  const ref = spec({ mode: 'loadbalancer' });
  let source: MemberInfo[] = [];
  let target: MemberInfo[] = [];
  let registered: string[] = [];
  const all = () => [...source, ...target];

  before(async () => {
    source = (await activities().readSourceDeployment(ref)).members;
    clusters.wan.set({ crossRegionMs: ONE_WAY_MS });
  });
  after(() => clusters.wan.set({ crossRegionMs: 0 }));

  test('bridgeNetworks: one LB per namespace, a port per member, selectorless Services whose EndpointSlices point at the LB; probes through the LB proxies', async () => {
    const r = await timed('bridgeNetworks (6 source members, LB)', () =>
      activities().bridgeNetworks({ ...ref, members: source }),
    );
    assert.equal(r.loadBalancers.length, 1);
    const lb = r.loadBalancers[0]!;
    assert.deepEqual(
      { cluster: lb.cluster, name: lb.name, ports: lb.ports },
      { cluster: 'source', name: 'db-transit-bridge', ports: 6 },
    );
    assert.ok(cidrContains(ADDRESS_PLAN.eu.lbPool, lb.address), `LB address ${lb.address} from the eu pool`);
    const lbSvc = await service('source', 'db-transit-bridge');
    assert.equal(lbSvc.spec?.type, 'LoadBalancer');
    assert.equal(lbSvc.spec?.selector, undefined, 'the bridge LB has no selector: Transit writes its EndpointSlices');
    assert.deepEqual(
      lbSvc.spec?.ports?.map((p) => p.port),
      [30001, 30002, 30003, 30004, 30005, 30006],
    );
    const lbSlices = await bridgeSlices('source', 'db-transit-bridge', ref.migrationId);
    assert.deepEqual(
      Object.keys(lbSlices).sort(),
      lbSvc.spec!.ports!.map((p) => p.name).sort(),
      'one EndpointSlice per LB port',
    );
    const lbBackends = Object.entries(lbSlices)
      .map(([port, to]) => `${port}→${to}`)
      .sort();
    const podIPs = new Set(source.map((m) => `${m.podIP}:8529`));
    assert.equal(lbBackends.length, 6);
    for (const b of lbBackends) assert.ok(podIPs.has(b.split('→')[1]!), `LB port ${b} goes to a member pod`);

    assert.equal(r.services.length, 6);
    for (const m of source) {
      const name = m.endpoint.split('//')[1]!.split(':')[0]!;
      const s = r.services.find((x) => x.name === name)!;
      assert.equal(s.cluster, 'target');
      const [ip, port] = s.endpoints[0]!.split(':');
      assert.equal(ip, lb.address);
      const svc = await service('target', name);
      assert.equal(svc.spec?.selector, undefined, `${name} in us has no selector`);
      assert.deepEqual(
        svc.spec?.ports?.map((p) => [p.name, p.port]),
        [['server', 8529]],
      );
      assert.equal(svc.metadata?.labels?.['app.kubernetes.io/managed-by'], 'transit');
      assert.equal(svc.metadata?.labels?.['transit.arangodb.io/migration-id'], ref.migrationId);
      assert.deepEqual(await bridgeSlices('target', name, ref.migrationId), { server: `${lb.address}:${port}` });
      assert.deepEqual(
        await sliceAddresses('target', name),
        [`${lb.address}:${port}`],
        `${name}: no other slice (controller or mirror) adds an address`,
      );
      // Cluster DNS in us answers the member's short name with the bridge Service.
      assert.deepEqual(clusters.us.controller!.resolve(`${name}.${NS}.svc.cluster.local`), [svc.spec!.clusterIP]);
    }
    assert.equal(r.probes.length, 6);
    for (const p of r.probes) {
      assert.equal(p.via, 'service');
      assert.ok([200, 401].includes(p.status), `${p.name}: HTTP ${p.status}`);
      assert.ok(p.ms >= 2 * ONE_WAY_MS - 2, `${p.name} crossed the WAN once: ${p.ms} ms`);
    }
    recordProbes('LB, before provisioning', r);
    // One member, every path, 15 round trips each (one-way WAN delay ONE_WAY_MS between the regions).
    const agent = source.find((m) => m.role === 'agent')!;
    const name = agent.endpoint.split('//')[1]!.split(':')[0]!;
    const [lbIp, lbPort] = r.services.find((x) => x.name === name)!.endpoints[0]!.split(':') as [string, string];
    const bridgeIp = (await service('target', name)).spec!.clusterIP!;
    const paths: [string, string, number, Region][] = [
      ['eu worker → eu pod IP (in-region, direct)', agent.podIP!, 8529, 'eu'],
      ['eu worker → eu bridge LB (in-region, through the LB proxy)', lbIp, Number(lbPort), 'eu'],
      ['us worker → eu pod IP (cross-region, the ClusterMesh path)', agent.podIP!, 8529, 'us'],
      ['us worker → eu bridge LB (cross-region via LB)', lbIp, Number(lbPort), 'us'],
      ['us worker → us bridge Service → eu LB → pod (the path a us member takes)', bridgeIp, 8529, 'us'],
    ];
    for (const [what, host, port, from] of paths)
      latency.push(`${what}: median ${(await roundTrips(host, port, from, 15)).toFixed(1)} ms`);
  });

  test('provisionTargetMembers: copies of the DB servers and coordinator join through the bridge; the bridge then covers them too', async () => {
    const copy = source.filter((m) => m.role !== 'agent');
    const r = await timed('provisionTargetMembers (3)', () =>
      activities().provisionTargetMembers({ ...ref, members: copy }),
    );
    target = r.members;
    assert.equal(target.length, 3);
    for (const t of target) {
      const s = copy.find((m) => `${m.podName}-t` === t.podName);
      assert.ok(s, `${t.podName} is named after its source member (targetMemberName)`);
      assert.equal(t.side, 'target');
      assert.equal(t.role, s.role);
      assert.ok(t.podIP && cidrContains(ADDRESS_PLAN.us.podCidr, t.podIP));
      assert.equal(t.endpoint, s.endpoint.replace(/:8529$/, '').replace(/$/, '-t:8529'));
      assert.equal(t.image, s.image);
      assert.ok(t.args.includes(`--cluster.my-address=${t.endpoint}`));
      assert.deepEqual(
        t.args.filter((a) => a.startsWith('--cluster.agency-endpoint')),
        s.args.filter((a) => a.startsWith('--cluster.agency-endpoint')),
        'agency endpoints are the same names: the bridge resolves them in us',
      );
      const pod = await core('target').readNamespacedPod({ name: t.podName, namespace: NS });
      assert.deepEqual(pod.spec?.containers[0]?.resources?.limits, { memory: '1Gi' });
      assert.ok(pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (t.role === 'dbserver') {
        const pvc = await core('target').readNamespacedPersistentVolumeClaim({ name: t.podName, namespace: NS });
        assert.equal(pvc.spec?.resources?.requests?.storage, '1Gi');
      }
      const svc = await service('target', t.endpoint.split('//')[1]!.split(':')[0]!);
      assert.deepEqual(svc.spec?.selector, { 'transit.arangodb.io/member': t.podName });
    }
    const secret = await core('target').readNamespacedSecret({ name: 'db-jwt', namespace: NS });
    assert.equal(Buffer.from(secret.data!.token!, 'base64').toString(), fx.jwtSecret, 'the JWT secret was copied');

    // They registered with the agency in eu — through the bridged agent names — and are GOOD.
    const reg = await agencyActs('source', NS).waitForServerRegistered({
      arango: await arangoRef('source'),
      endpoints: target.map((t) => t.endpoint),
      timeoutSeconds: 60,
    });
    assert.equal(reg.servers.length, 3);
    registered = reg.servers.map((x) => x.id);

    const b = await timed('bridgeNetworks (9 members, LB)', () =>
      activities().bridgeNetworks({ ...ref, members: all() }),
    );
    assert.equal(b.loadBalancers.length, 2);
    const usLb = b.loadBalancers.find((l) => l.cluster === 'target')!;
    assert.equal(usLb.ports, 3);
    assert.ok(cidrContains(ADDRESS_PLAN.us.lbPool, usLb.address));
    for (const t of target) {
      const name = t.endpoint.split('//')[1]!.split(':')[0]!;
      const s = b.services.find((x) => x.name === name)!;
      assert.equal(s.cluster, 'source');
      assert.ok(s.endpoints[0]!.startsWith(`${usLb.address}:`));
    }
    assert.equal(b.probes.length, 9);
    recordProbes('LB, all members', b);
  });

  test("readClientEndpoint: each side's coordinator LoadBalancer (the value DNS points at)", async () => {
    const a = activities();
    const t = await timed('readClientEndpoint', () => a.readClientEndpoint({ ...ref, side: 'target' }));
    assert.equal(t.values.length, 1);
    assert.ok(cidrContains(ADDRESS_PLAN.us.lbPool, t.values[0]!));
    assert.equal(t.url, `http://${t.values[0]}:8529`);
    const s = await a.readClientEndpoint({ ...ref, side: 'source' });
    assert.ok(cidrContains(ADDRESS_PLAN.eu.lbPool, s.values[0]!));
    const r = await waitFor(
      'target coordinator answers through the client LB',
      async () => {
        const x = await versionProbe({ host: t.values[0]!, port: 8529, localAddress: workerAddress('us') });
        return x.ok ? x : undefined;
      },
      { timeoutMs: 20_000 },
    );
    assert.ok([200, 401].includes(r.status));
  });

  test('every activity run twice gives the same objects (no write on the second run)', async () => {
    const a = activities();
    const before = { source: await snapshot('source'), target: await snapshot('target') };
    await a.preflight(ref);
    await a.readSourceDeployment(ref);
    await timed('bridgeNetworks (re-run)', () => a.bridgeNetworks({ ...ref, members: all() }));
    const again = await timed('provisionTargetMembers (re-run)', () =>
      a.provisionTargetMembers({ ...ref, members: source.filter((m) => m.role !== 'agent') }),
    );
    assert.deepEqual(
      again.members.map((m) => [m.podName, m.podIP, m.endpoint]),
      target.map((m) => [m.podName, m.podIP, m.endpoint]),
    );
    await a.readClientEndpoint({ ...ref, side: 'target' });
    const afterRun = { source: await snapshot('source'), target: await snapshot('target') };
    assert.deepEqual(afterRun, before);
  });

  test('a 409 injected between read and write is retried and converges', async () => {
    const agent = source.find((m) => m.role === 'agent')!;
    const name = agent.endpoint.split('//')[1]!.split(':')[0]!;
    const path = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${name}-server`;
    const good = await bridgeSlices('target', name, ref.migrationId);
    // Drift: someone pointed the bridge elsewhere; the next bridgeNetworks must repair it with a write …
    const drifted = await kubeRequest(
      clusters.us,
      'PATCH',
      path,
      {
        endpoints: [{ addresses: ['10.22.0.250'], conditions: { ready: true } }],
        ports: [{ name: 'server', port: 30999, protocol: 'TCP' }],
      },
      'admin',
      'application/merge-patch+json',
    );
    assert.equal(drifted.status, 200, drifted.body);
    // … and just before that write reaches the API server, another writer changes the object (real 409).
    const kc = new ConflictInjector();
    kc.loadFromFile(clusters.kubeconfigPath);
    kc.setCurrentContext('us');
    kc.arm(path, async () => {
      const r = await kubeRequest(
        clusters.us,
        'PATCH',
        path,
        { metadata: { annotations: { 'test/poked': 'yes' } } },
        'admin',
        'application/merge-patch+json',
      );
      assert.equal(r.status, 200, r.body);
    });
    const base = kubeConfigLoader({ kubeconfigPath: clusters.kubeconfigPath });
    const lines: string[] = [];
    const a = activities({
      loadKubeConfig: async (side, sp) => (side === 'target' ? kc : base(side, sp)),
      log: (m) => lines.push(m),
    });
    const r = await timed('bridgeNetworks (409 injected)', () => a.bridgeNetworks({ ...ref, members: all() }));
    assert.equal(
      kc.puts.filter((x) => x === path).length,
      2,
      'two replaces: the first met the other writer, the second (after reading again) went through',
    );
    assert.ok(
      lines.some((l) => l.startsWith(`EndpointSlice ${name}-server (context us): 409 on attempt 1`)),
      `the API server answered 409: ${lines.join(' | ')}`,
    );
    assert.deepEqual(await bridgeSlices('target', name, ref.migrationId), good, 'converged to the bridge address');
    const now = JSON.parse((await kubeRequest(clusters.us, 'GET', path)).body) as V1EndpointSlice;
    assert.equal(now.metadata?.annotations?.['test/poked'], 'yes', "the other writer's change was kept");
    assert.ok(r.probes.some((p) => p.name === name));
  });

  test('v1 Endpoints an earlier Transit wrote (a migration in flight) give way to EndpointSlices: no stale address stays in rotation', async () => {
    const a1 = source
      .find((m) => m.role === 'agent')!
      .endpoint.split('//')[1]!
      .split(':')[0]!;
    const good = await bridgeSlices('target', a1, ref.migrationId);
    await legacyEndpoints('target', a1);
    await activities().bridgeNetworks({ ...ref, members: all() });
    assert.equal(await endpointsOf('target', a1), undefined, `the legacy Endpoints of ${a1} are removed`);
    await waitFor(
      `${a1}: the mirrored slice goes with them`,
      async () => (await sliceAddresses('target', a1)).join() === good.server,
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(await bridgeSlices('target', a1, ref.migrationId), good);
  });

  test('5xx answers are retried inside the activity', async () => {
    let served = 0;
    const busy = createServer((_req, res) => {
      served++;
      res
        .writeHead(503, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcd is busy', code: 503 }),
        );
    });
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const kc = new ConflictInjector();
      kc.loadFromFile(clusters.kubeconfigPath);
      kc.setCurrentContext('us');
      kc.failNext(
        `/api/v1/namespaces/${NS}/services/db-ea`,
        2,
        `http://127.0.0.1:${(busy.address() as { port: number }).port}`,
      );
      const lines: string[] = [];
      const base = kubeConfigLoader({ kubeconfigPath: clusters.kubeconfigPath });
      const a = activities({
        loadKubeConfig: async (side, sp) => (side === 'target' ? kc : base(side, sp)),
        log: (m) => lines.push(m),
      });
      const r = await a.readClientEndpoint({ ...ref, side: 'target' });
      assert.ok(cidrContains(ADDRESS_PLAN.us.lbPool, r.values[0]!));
      assert.equal(served, 2);
      assert.equal(
        lines.filter((l) => /get services\/db-ea .*HTTP 503 etcd is busy; it is retried/.test(l)).length,
        2,
        lines.join(' | '),
      );
    } finally {
      busy.close();
    }
  });

  test('a stopped API server makes the activity retry, and it succeeds once the server is back', async () => {
    const beats: unknown[] = [];
    const a = activities({ apiRetryMs: 60_000, heartbeat: (d) => beats.push(d) });
    await clusters.us.stopApiServer();
    try {
      // With a short budget the failure is retryable (Temporal retries the activity) and names the cluster.
      await assert.rejects(
        activities({ apiRetryMs: 1_000 }).readClientEndpoint({ ...ref, side: 'target' }),
        failure(
          'KubeUnavailableError',
          false,
          /API server of context us \(https:\/\/127\.0\.0\.1:\d+\) unavailable during get services\/db-ea in namespace arangodb/,
        ),
      );
      const t0 = Date.now();
      const run = timed('bridgeNetworks (API server down 3 s)', () => a.bridgeNetworks({ ...ref, members: all() }));
      run.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 3_000));
      await clusters.us.startApiServer();
      const r = await run;
      assert.ok(Date.now() - t0 >= 3_000);
      assert.equal(r.services.length, 9);
      assert.ok(
        beats.some((b) => (b as { waiting?: string }).waiting === 'kube-apiserver'),
        'it heartbeated while waiting for the API server',
      );
    } finally {
      await clusters.us.startApiServer();
      await controllersCaughtUp(clusters.us, target[0]!.podIP!);
    }
  });

  test('without one RBAC rule, preflight names it and the activity that needs it fails at once (not retried)', async () => {
    const role = rbac.find(
      (o) => o.kind === 'ClusterRole' && o.metadata?.name === 'transit-target',
    ) as KubernetesObject & { rules: { resources: string[]; verbs: string[] }[] };
    const reduced = JSON.parse(JSON.stringify(role)) as typeof role;
    const podRule = reduced.rules.find((r) => r.resources.includes('pods'))!;
    podRule.verbs = podRule.verbs.filter((v) => v !== 'delete');
    await applyObjects(clusters.us.kubeConfig('admin'), [reduced]);
    try {
      const e = await waitFor(
        'the API server enforces the reduced role',
        () =>
          activities()
            .preflight(ref)
            .then(
              () => undefined,
              (x: unknown) => x,
            ),
        { timeoutMs: 10_000 },
      );
      failure(
        'KubeForbiddenError',
        true,
        /lacks 1 permission\(s\) Transit needs: delete pods in namespace arangodb \(context us\) — grant them/,
      )(e);
      const t0 = Date.now();
      await assert.rejects(
        activities().removeTargetMembers({ ...ref, names: [target[0]!.podName] }),
        failure(
          'KubeForbiddenError',
          true,
          new RegExp(
            `refused delete pods/${target[0]!.podName} in namespace arangodb \\(context us\\): the worker is not allowed to delete pods`,
          ),
        ),
      );
      assert.ok(Date.now() - t0 < 3_000, 'no retries on 403');
      await core('target').readNamespacedPod({ name: target[0]!.podName, namespace: NS }); // still there
    } finally {
      await applyObjects(clusters.us.kubeConfig('admin'), [role]);
    }
    await waitFor(
      'the rule is back',
      () =>
        activities()
          .preflight(ref)
          .then(
            () => true,
            () => undefined,
          ),
      { timeoutMs: 10_000 },
    );
  });

  test('moveAgent to the target and back: same ID, old pod and PVC removed first, the name re-pointed in both clusters', async () => {
    const ag = agencyActs('source', NS);
    const arango = await arangoRef('source');
    const agent = source.find((m) => m.role === 'agent')!;
    const svcName = agent.endpoint.split('//')[1]!.split(':')[0]!;
    const original = await service('source', svcName);
    await ag.checkAgentReplaceable({ arango, agentId: agent.id });
    const moved = await timed('moveAgent → target (LB)', () => activities().moveAgent({ ...ref, agent, to: 'target' }));
    assert.equal(moved.side, 'target');
    assert.equal(moved.id, agent.id);
    assert.equal(moved.endpoint, agent.endpoint, 'same endpoint string: the name now resolves to the new place');
    assert.ok(moved.podIP && cidrContains(ADDRESS_PLAN.us.podCidr, moved.podIP));
    assert.ok(moved.args.includes(`--agency.disaster-recovery-id=${agent.id}`));
    await assert.rejects(
      core('source').readNamespacedPod({ name: agent.podName, namespace: NS }),
      (e: { code?: number }) => e.code === 404,
    );
    await assert.rejects(
      core('source').readNamespacedPersistentVolumeClaim({ name: agent.podName, namespace: NS }),
      (e: { code?: number }) => e.code === 404,
    );
    const euSvc = await service('source', svcName);
    assert.equal(
      euSvc.metadata?.uid,
      original.metadata?.uid,
      'the operator Service became the bridge in place (same ClusterIP)',
    );
    assert.equal(euSvc.spec?.selector, undefined);
    assert.ok(euSvc.metadata?.annotations?.['transit.arangodb.io/original']);
    const usLb = (await service('target', 'db-transit-bridge')).status!.loadBalancer!.ingress![0]!.ip!;
    assert.equal(
      (await bridgeSlices('source', svcName, ref.migrationId)).server?.split(':')[0],
      usLb,
      'eu resolves the agent through the us bridge LB',
    );
    assert.equal(
      (await sliceAddresses('source', svcName)).length,
      1,
      "the operator Service's controller slices are gone: only the bridge's address",
    );
    const usPorts = JSON.parse(
      (await service('target', 'db-transit-bridge')).metadata!.annotations!['transit.arangodb.io/ports']!,
    ) as Record<string, number>;
    const euPorts = JSON.parse(
      (await service('source', 'db-transit-bridge')).metadata!.annotations!['transit.arangodb.io/ports']!,
    ) as Record<string, number>;
    assert.ok(usPorts[svcName] && !euPorts[svcName], 'its LB port moved from eu to us');
    assert.deepEqual((await service('target', svcName)).spec?.selector, {
      'transit.arangodb.io/member': agent.podName,
    });
    const cr = JSON.parse(
      (await kubeRequest(clusters.eu, 'GET', `/apis/database.arangodb.com/v1/namespaces/${NS}/arangodeployments/db`))
        .body,
    ) as KubernetesObject;
    assert.equal(
      cr.metadata?.annotations?.['deployment.arangodb.com/maintenance'],
      'true',
      'the operator is paused while Transit replaces its members',
    );
    const caught = await ag.waitForAgentCaughtUp({
      arango,
      agentId: agent.id,
      endpoint: moved.endpoint,
      timeoutSeconds: 60,
    });
    assert.ok(caught.commitIndex > 0);

    await ag.checkAgentReplaceable({ arango, agentId: agent.id });
    const back = await timed('moveAgent → source (LB)', () =>
      activities().moveAgent({ ...ref, agent: moved, to: 'source' }),
    );
    assert.equal(back.side, 'source');
    assert.ok(back.podIP && cidrContains(ADDRESS_PLAN.eu.podCidr, back.podIP));
    const restored = await service('source', svcName);
    assert.deepEqual(restored.spec?.selector, original.spec?.selector, "the operator's selector is back");
    assert.deepEqual(restored.metadata?.labels, original.metadata?.labels, "and only the operator's labels");
    assert.equal(restored.metadata?.annotations?.['transit.arangodb.io/original'], undefined);
    const pod = await core('source').readNamespacedPod({ name: agent.podName, namespace: NS });
    assert.equal(
      pod.metadata?.labels?.['app.kubernetes.io/managed-by'],
      undefined,
      "recreated as the operator's member",
    );
    assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, 'ArangoDeployment');
    assert.equal(
      (await bridgeSlices('target', svcName, ref.migrationId)).server?.split(':')[0],
      (await service('source', 'db-transit-bridge')).status!.loadBalancer!.ingress![0]!.ip,
    );
    await waitFor(
      `eu: the endpointslice controller serves ${svcName} from its pod again`,
      async () => (await sliceAddresses('source', svcName)).join() === `${back.podIP}:8529`,
      { timeoutMs: 10_000 },
    );
    await ag.waitForAgentCaughtUp({ arango, agentId: agent.id, endpoint: back.endpoint, timeoutSeconds: 60 });
    // Idempotent: it is there already.
    const again = await activities().moveAgent({ ...ref, agent: back, to: 'source' });
    assert.equal(again.podIP, back.podIP);
    assert.equal(
      (await core('source').readNamespacedPod({ name: agent.podName, namespace: NS })).metadata?.uid,
      pod.metadata?.uid,
    );
    source = source.map((m) => (m.id === agent.id ? back : m));
  });

  test('rollback: removeTargetMembers + removeBridge leave no Transit-owned object; the source is as it was', async () => {
    const a = activities();
    const r = await timed('removeTargetMembers (3)', () =>
      a.removeTargetMembers({ ...ref, names: target.map((m) => m.podName) }),
    );
    assert.deepEqual(
      r.removed,
      target.map((m) => m.podName),
    );
    // As the workflow does: the removed servers leave the agency too (once supervision has them FAILED).
    const ag = agencyActs('source', NS);
    const arango = await arangoRef('source');
    for (const id of registered) {
      await waitFor(`removeServer ${id}`, () => ag.removeServer({ arango, serverId: id }).catch(() => undefined), {
        timeoutMs: 60_000,
        intervalMs: 1_000,
      });
    }
    // A bridge Service an earlier Transit gave v1 Endpoints: removeBridge takes them too.
    await legacyEndpoints(
      'target',
      source
        .filter((m) => m.role === 'agent')[1]!
        .endpoint.split('//')[1]!
        .split(':')[0]!,
    );
    const b = await timed('removeBridge', () => a.removeBridge(ref));
    assert.equal(
      b.removed,
      20,
      "us: 6 Services + 6 EndpointSlices of the source members + one member's legacy v1 Endpoints; eu: the bridge LB and its 6 EndpointSlices (one per port)",
    );
    assert.deepEqual(await transitObjects('source'), []);
    assert.deepEqual(await transitObjects('target'), []);
    // Again: nothing left to do.
    assert.deepEqual(
      (await a.removeTargetMembers({ ...ref, names: target.map((m) => m.podName) })).removed,
      target.map((m) => m.podName),
    );
    assert.equal((await a.removeBridge(ref)).removed, 0);
    const cr = JSON.parse(
      (await kubeRequest(clusters.eu, 'GET', `/apis/database.arangodb.com/v1/namespaces/${NS}/arangodeployments/db`))
        .body,
    ) as KubernetesObject;
    assert.equal(cr.metadata?.annotations?.['deployment.arangodb.com/maintenance'], undefined, 'the operator resumed');
    for (const m of fx.members) {
      const svc = await service('source', m.service);
      assert.deepEqual(svc.spec?.selector, {
        app: 'arangodb',
        arango_deployment: 'db',
        role: m.role,
        'deployment.arangodb.com/member': m.id,
      });
    }
    const inv = await a.readSourceDeployment(ref);
    assert.deepEqual(inv.members.map((m) => [m.id, m.side]).sort(), fx.members.map((m) => [m.id, 'source']).sort());
    const health = await agencyActs('source', NS).checkClusterHealth({ arango: await arangoRef('source') });
    assert.equal(health.agents.length, 3);
    assert.equal(health.agents.filter((x) => x.leader).length, 1);
  });
});

describe('ClusterMesh mode: the whole way to the target, into another namespace', () => {
  const TNS = 'arangodb-us';
  const ref = spec({ mode: 'clustermesh', target: TNS, id: 'mig-mesh' });
  const meshActs = (extra: Partial<KubeActivityDeps> = {}) =>
    activities({
      probe: { via: 'endpoint', localAddress: (side) => workerAddress(REGION[side]), timeoutMs: 30_000 },
      ...extra,
    });
  let source: MemberInfo[] = [];
  let target: MemberInfo[] = [];
  let endState: EndStateReport | undefined;
  let agentIds: [string, string][] = [];

  before(async () => {
    // The manifest's only edits for another target namespace: where transit-target is bound, and its name.
    const admin = clusters.us.kubeConfig('admin');
    await applyObjects(admin, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: TNS } } as KubernetesObject]);
    const nsRole = JSON.parse(
      JSON.stringify(rbac.find((o) => o.metadata?.name === 'transit-target-cluster' && o.kind === 'ClusterRole')),
    ) as KubernetesObject & {
      rules: { resources: string[]; resourceNames?: string[] }[];
    };
    nsRole.rules.find((r) => r.resources.includes('namespaces'))!.resourceNames = [NS, TNS];
    await applyObjects(admin, [...rbacFor('target', TNS).filter((o) => o.kind === 'RoleBinding'), nsRole]);
    clusters.wan.set({ crossRegionMs: ONE_WAY_MS });
  });
  after(() => clusters.wan.set({ crossRegionMs: 0 }));

  test('bridgeNetworks: Services without selector whose EndpointSlices are the remote pod IPs; probes straight to the pod IPs', async () => {
    const a = meshActs();
    await waitFor(
      'preflight passes for the new namespace',
      () =>
        a.preflight(ref).then(
          (r) => r,
          () => undefined,
        ),
      { timeoutMs: 10_000 },
    );
    source = (await a.readSourceDeployment(ref)).members;
    const r = await timed('bridgeNetworks (6 source members, ClusterMesh)', () =>
      a.bridgeNetworks({ ...ref, members: source }),
    );
    assert.deepEqual(r.loadBalancers, []);
    for (const m of source) {
      const name = m.endpoint.split('//')[1]!.split(':')[0]!;
      const s = r.services.find((x) => x.name === name)!;
      assert.deepEqual([s.cluster, s.endpoints], ['target', [`${m.podIP}:8529`]]);
      const svc = await service('target', name, TNS);
      assert.equal(svc.spec?.selector, undefined);
      assert.deepEqual(await bridgeSlices('target', name, ref.migrationId, TNS), { server: `${m.podIP}:8529` });
    }
    for (const p of r.probes) {
      assert.equal(p.via, 'endpoint');
      assert.ok(
        cidrContains(ADDRESS_PLAN.eu.podCidr, p.address.split(':')[0]!),
        `probe ${p.name} went to a pod IP: ${p.address}`,
      );
      assert.ok(p.ms >= 2 * ONE_WAY_MS - 2);
    }
    recordProbes('ClusterMesh (pod IPs)', r);
    await assert.rejects(
      core('source').readNamespacedService({ name: 'db-transit-bridge', namespace: NS }),
      (e: { code?: number }) => e.code === 404,
    );
  });

  test('provision, move every agent (one at a time, caught up in between), decommission the source, remove the bridge', async () => {
    const a = meshActs();
    const r = await timed('provisionTargetMembers (3, ClusterMesh)', () =>
      a.provisionTargetMembers({ ...ref, members: source.filter((m) => m.role !== 'agent') }),
    );
    target = r.members;
    for (const t of target)
      assert.equal(
        (await core('target').readNamespacedPod({ name: t.podName, namespace: TNS })).metadata?.namespace,
        TNS,
      );
    const ag = agencyActs('source', NS);
    const arango = await arangoRef('source');
    const reg = await ag.waitForServerRegistered({
      arango,
      endpoints: target.map((t) => t.endpoint),
      timeoutSeconds: 60,
    });
    // As the workflow keeps them: the registered server IDs (its targetMembers), for the end state's labels.
    target = target.map((t) => ({ ...t, id: reg.servers.find((x) => x.endpoint === t.endpoint)?.id ?? t.id }));
    assert.ok(
      target.every((t) => t.id !== t.podName),
      'every target member registered',
    );
    const b = await timed('bridgeNetworks (9 members, ClusterMesh)', () =>
      a.bridgeNetworks({ ...ref, members: [...source, ...target] }),
    );
    assert.equal(b.probes.length, 9);
    recordProbes('ClusterMesh (pod IPs), all members', b);
    for (const t of target) {
      const s = b.services.find((x) => x.name === t.endpoint.split('//')[1]!.split(':')[0]!)!;
      assert.deepEqual([s.cluster, s.endpoints], ['source', [`${t.podIP}:8529`]]);
    }

    const agents = source.filter((m) => m.role === 'agent');
    const moved: MemberInfo[] = [];
    for (const agent of agents) {
      await ag.checkAgentReplaceable({ arango, agentId: agent.id });
      const m = await timed('moveAgent → target (ClusterMesh)', () => a.moveAgent({ ...ref, agent, to: 'target' }));
      assert.ok(m.podIP && cidrContains(ADDRESS_PLAN.us.podCidr, m.podIP));
      const name = agent.endpoint.split('//')[1]!.split(':')[0]!;
      assert.deepEqual(
        await bridgeSlices('source', name, ref.migrationId),
        { server: `${m.podIP}:8529` },
        'eu resolves the agent to its new pod IP',
      );
      assert.deepEqual(await sliceAddresses('source', name), [`${m.podIP}:8529`], 'and only there');
      await ag.waitForAgentCaughtUp({ arango, agentId: agent.id, endpoint: m.endpoint, timeoutSeconds: 60 });
      moved.push(m);
    }
    const client = await a.readClientEndpoint({ ...ref, side: 'target' });
    assert.ok(cidrContains(ADDRESS_PLAN.us.lbPool, client.values[0]!));

    const names = source.filter((m) => m.role !== 'agent').map((m) => m.podName);
    await assert.rejects(
      a.decommissionSourceMembers({ ...ref, names: [agents[0]!.podName] }),
      failure('InvalidDeploymentError', true, /agent/),
    );
    const d = await timed('decommissionSourceMembers (3)', () => a.decommissionSourceMembers({ ...ref, names }));
    assert.deepEqual(d.removed, names);
    for (const n of names) {
      await assert.rejects(
        core('source').readNamespacedPod({ name: n, namespace: NS }),
        (e: { code?: number }) => e.code === 404,
      );
      await assert.rejects(
        core('source').readNamespacedPersistentVolumeClaim({ name: n, namespace: NS }),
        (e: { code?: number }) => e.code === 404,
      );
      await assert.rejects(
        core('source').readNamespacedService({ name: n, namespace: NS }),
        (e: { code?: number }) => e.code === 404,
      );
      await assert.rejects(
        core('target').readNamespacedService({ name: n, namespace: TNS }),
        (e: { code?: number }) => e.code === 404,
        `${n}'s bridge in us is gone`,
      );
    }
    assert.deepEqual((await a.decommissionSourceMembers({ ...ref, names })).removed, names, 'again: already done');
    const cr = JSON.parse(
      (await kubeRequest(clusters.eu, 'GET', `/apis/database.arangodb.com/v1/namespaces/${NS}/arangodeployments/db`))
        .body,
    ) as KubernetesObject;
    assert.equal(cr.metadata?.annotations?.['deployment.arangodb.com/maintenance'], 'true');
    assert.equal(cr.metadata?.annotations?.['transit.arangodb.io/migrated-to'], `us/${TNS}`);

    const rb = await timed('removeBridge + end state (ClusterMesh)', () => a.removeBridge({ ...ref, members: target }));
    assert.ok(rb.removed > 0);
    assert.ok(rb.endState, 'after Decommission removeBridge settles the end state');
    endState = rb.endState;
    assert.deepEqual(await transitObjects('source'), [], 'nothing of Transit left in the source');
    const left = await transitObjects('target', TNS);
    assert.deepEqual(
      left.filter((x) => x.startsWith('pods/')).length,
      6,
      `3 agents and 3 members run in us: ${left.join(', ')}`,
    );
    assert.ok(!left.some((x) => x.includes('transit-bridge')));
    const cr2 = JSON.parse(
      (await kubeRequest(clusters.eu, 'GET', `/apis/database.arangodb.com/v1/namespaces/${NS}/arangodeployments/db`))
        .body,
    ) as KubernetesObject;
    assert.equal(
      cr2.metadata?.annotations?.['deployment.arangodb.com/maintenance'],
      'true',
      'the operator stays paused: resuming would recreate the source',
    );

    // The agency now lives in us alone: ask it through the target coordinator, resolving names in us.
    const usArango = { endpoint: client.url, jwtSecret: { file: fx.jwtSecretFile } };
    const health = await waitFor(
      'agency answers from us',
      () =>
        agencyActs('target', TNS)
          .checkClusterHealth({ arango: usArango })
          .catch(() => undefined),
      { timeoutMs: 30_000 },
    );
    assert.equal(health.agents.length, 3);
    assert.equal(health.agents.filter((x) => x.leader).length, 1);
    await agencyActs('target', TNS).waitForAgentCaughtUp({
      arango: usArango,
      agentId: moved[0]!.id,
      endpoint: moved[0]!.endpoint,
      timeoutSeconds: 30,
    });
    agentIds = moved.map((m) => [m.podName, m.id]);
  });

  test('the end state, read from both clusters: the target has the Services and labels kube-arangodb uses; the source has no client LoadBalancer and says how to retire it', async () => {
    assert.ok(endState, 'the previous test ran removeBridge after Decommission');
    const fixtureSvc = (name: string) =>
      fx.cluster
        .kubeConfig('admin')
        .makeApiClient(CoreV1Api)
        .readNamespacedService({ name, namespace: NS })
        .catch(() => undefined);
    // What is there afterwards, listed from the API servers.
    const listing: string[] = [];
    const pods = (await core('target').listNamespacedPod({ namespace: TNS })).items;
    const svcs = (await core('target').listNamespacedService({ namespace: TNS })).items;
    for (const p of pods)
      listing.push(
        `us pod ${p.metadata!.name} ${p.status?.podIP} ${Object.entries(p.metadata?.labels ?? {})
          .filter(([k]) => !k.startsWith('transit.') && !k.startsWith('app.kubernetes.io'))
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
      );
    for (const x of svcs)
      listing.push(
        `us service ${x.metadata!.name} ${x.spec?.type} ${x.spec?.clusterIP} ${(x.spec?.ports ?? []).map((p) => `${p.name}:${p.port}`).join(',')} selector ${JSON.stringify(x.spec?.selector ?? null)}`,
      );
    for (const x of (await core('source').listNamespacedService({ namespace: NS })).items)
      listing.push(`eu service ${x.metadata!.name} ${x.spec?.type}`);
    for (const x of (await core('source').listNamespacedPod({ namespace: NS })).items)
      listing.push(`eu pod ${x.metadata!.name}`);
    process.stderr.write(`[kube-activities] after the migration:\n  ${listing.join('\n  ')}\n`);

    // Target: every member carries kube-arangodb's labels, with its server ID.
    const members = pods.filter((p) => p.metadata?.labels?.['arango_deployment'] === 'db');
    assert.equal(members.length, 6, `3 agents, 2 DB servers and a coordinator run in us: ${listing.join('; ')}`);
    const ids = new Map([...target.map((t) => [t.podName, t.id] as const), ...agentIds]);
    for (const p of members) {
      const l = p.metadata!.labels!;
      const want = {
        app: 'arangodb',
        arango_deployment: 'db',
        'deployment.arangodb.com/member': ids.get(p.metadata!.name!),
        'deployment.arangodb.com/active': 'true',
      };
      assert.deepEqual(
        Object.fromEntries(Object.keys(want).map((k) => [k, l[k]])),
        want,
        `pod ${p.metadata!.name} in us carries kube-arangodb's member labels`,
      );
      assert.ok(['agent', 'dbserver', 'coordinator'].includes(l.role!), `pod ${p.metadata!.name} has role ${l.role}`);
    }
    // Target: <name>, <name>-int, <name>-ea with the source's names, ports and selectors, serving the target members.
    const byName = new Map(svcs.map((x) => [x.metadata!.name!, x]));
    for (const name of ['db', 'db-int', 'db-ea']) {
      const t = byName.get(name);
      assert.ok(t, `Service ${name} exists in us (${listing.join('; ')})`);
      const src = await fixtureSvc(name);
      const expected = { db: { ClusterIP: 1 }, 'db-int': { ClusterIP: 6 }, 'db-ea': { LoadBalancer: 1 } }[name]!;
      assert.deepEqual(
        t.spec?.ports?.map((p) => [p.name, p.port]),
        [['server', 8529]],
        `${name}: the source's ports`,
      );
      assert.deepEqual(
        t.spec?.selector,
        name === 'db-int'
          ? { app: 'arangodb', arango_deployment: 'db' }
          : { app: 'arangodb', arango_deployment: 'db', role: 'coordinator' },
        `${name}: kube-arangodb's selector`,
      );
      assert.equal(t.spec?.type, Object.keys(expected)[0]);
      if (name === 'db-int') assert.equal(t.spec?.clusterIP, 'None', 'db-int is headless, as in the source');
      if (name === 'db') assert.equal(t.spec?.sessionAffinity, src?.spec?.sessionAffinity ?? 'ClientIP');
      const want = Object.values(expected)[0]!;
      await waitFor(
        `${name} in us: the endpointslice controller lists ${want} target member(s)`,
        async () => (await sliceAddresses('target', name, TNS)).length === want,
        { timeoutMs: 10_000 },
      );
      for (const a of await sliceAddresses('target', name, TNS))
        assert.ok(cidrContains(ADDRESS_PLAN.us.podCidr, a.split(':')[0]!), `${name} → ${a}, a pod in us`);
    }
    // A client in us reaches a coordinator through <name>'s ClusterIP, as through the source's <name> before.
    const dbIp = byName.get('db')!.spec!.clusterIP!;
    const r = await waitFor(
      'db ClusterIP answers in us',
      async () => {
        const x = await versionProbe({ host: dbIp, port: 8529, localAddress: workerAddress('us') });
        return x.ok ? x : undefined;
      },
      { timeoutMs: 20_000 },
    );
    assert.ok([200, 401].includes(r.status));

    // Source: no client LoadBalancer left with an address refusing connections; the operator paused; the CR explained.
    assert.equal(await fixtureSvc('db-ea'), undefined, 'the source client LoadBalancer db-ea is removed');
    assert.deepEqual(
      (await core('source').listNamespacedPod({ namespace: NS, labelSelector: 'arango_deployment=db' })).items.map(
        (p) => p.metadata!.name,
      ),
      [],
      'no member pod left in eu',
    );
    const cr = JSON.parse(
      (await kubeRequest(clusters.eu, 'GET', `/apis/database.arangodb.com/v1/namespaces/${NS}/arangodeployments/db`))
        .body,
    ) as KubernetesObject;
    const ann = cr.metadata!.annotations!;
    assert.equal(
      ann['deployment.arangodb.com/maintenance'],
      'true',
      'the operator stays paused, so it does not recreate db-ea or the members',
    );
    assert.equal(ann['transit.arangodb.io/migrated-to'], `us/${TNS}`);
    assert.equal(ann['transit.arangodb.io/retire-with'], `kubectl --context eu -n ${NS} delete arangodeployment db`);
    assert.match(ann['transit.arangodb.io/state']!, /^migrated to us\/arangodb-us: no members left in this cluster/);
    assert.equal(endState!.source.retire, ann['transit.arangodb.io/retire-with']);
    assert.deepEqual(endState!.source.removed, ['Service/db-ea']);
    assert.deepEqual(
      endState!.target.services.map((x) => [x.name, x.type, x.ports.join(), x.selects]),
      [
        ['db', 'ClusterIP', 'server:8529', 1],
        ['db-int', 'ClusterIP', 'server:8529', 6],
        ['db-ea', 'LoadBalancer', 'server:8529', 1],
      ],
      "the activity's report agrees with the clusters",
    );

    // Idempotent: again, nothing is written in either cluster.
    const before = { source: await snapshot('source'), target: await snapshot('target', TNS) };
    const again = await timed('settleEndState (re-run)', () => meshActs().settleEndState({ ...ref, members: target }));
    assert.deepEqual(again.source.removed, []);
    assert.deepEqual(
      { source: await snapshot('source'), target: await snapshot('target', TNS) },
      before,
      'a second run changes nothing',
    );
  });
});

describe('bridge modes', () => {
  test('every network.mode of the spec schema has a BridgeMode in the registry, and nothing else does', () => {
    const modes = new Set<string>();
    const walk = (x: unknown): void => {
      if (!x || typeof x !== 'object') return;
      const o = x as Record<string, unknown>;
      const mode = (o.properties as Record<string, { const?: string }> | undefined)?.mode?.const;
      if (typeof mode === 'string') modes.add(mode);
      for (const v of Object.values(o)) walk(v);
    };
    walk((specJsonSchema() as { properties: Record<string, unknown> }).properties.network);
    assert.deepEqual(
      [...modes].sort(),
      Object.keys(BRIDGE_MODES).sort(),
      'src/spec/schema.ts network modes = src/activities/kube/bridge-modes/index.ts BRIDGE_MODES',
    );
    for (const [name, m] of Object.entries(BRIDGE_MODES)) {
      assert.equal(m.mode, name);
      for (const side of ['source', 'target'] as Side[]) {
        for (const p of m.permissions[side]) {
          assert.ok(
            REQUIRED_PERMISSIONS[side].some(
              (q) => q.verb === p.verb && q.resource === p.resource && q.group === p.group && q.scope === p.scope,
            ),
            `${name} needs ${p.verb} ${p.resource} in the ${side}: REQUIRED_PERMISSIONS (and deploy/rbac.yaml) must hold it`,
          );
        }
      }
    }
  });
});

describe('RBAC manifest', () => {
  test('deploy/rbac.yaml grants exactly what the activities use (REQUIRED_PERMISSIONS, checked by preflight)', () => {
    type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
    const roles = new Map(
      rbac
        .filter((o) => o.kind === 'ClusterRole')
        .map((o) => [o.metadata!.name!, (o as unknown as { rules: Rule[] }).rules]),
    );
    const expand = (names: string[], scope: string) =>
      names.flatMap((n) =>
        roles
          .get(n)!
          .flatMap((r) =>
            r.apiGroups.flatMap((g) =>
              r.resources.flatMap((res) =>
                r.verbs.map(
                  (v) => `${scope} ${v} ${g}/${res}${r.resourceNames ? `#${r.resourceNames.join(',')}` : ''}`,
                ),
              ),
            ),
          ),
      );
    const granted = {
      source: [...expand(['transit-source'], 'namespace'), ...expand(['transit-cluster'], 'cluster')].sort(),
      target: [
        ...expand(['transit-target'], 'namespace'),
        ...expand(['transit-cluster', 'transit-target-cluster'], 'cluster'),
      ].sort(),
    };
    const required = Object.fromEntries(
      (['source', 'target'] as Side[]).map((side) => [
        side,
        REQUIRED_PERMISSIONS[side]
          .map(
            (p) =>
              `${p.scope} ${p.verb} ${p.group}/${p.resource}${p.name === 'jwtSecret' ? '#db-jwt' : p.name === 'namespace' ? `#${NS}` : ''}`,
          )
          .sort(),
      ]),
    );
    assert.deepEqual(granted, required);
  });
});
