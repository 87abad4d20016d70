// The two test clusters and their controller, against the real API servers over HTTPS:
// node scripts/run-tests.mjs kube-harness
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { Agent, request } from 'node:http';
import { createServer, connect as netConnect } from 'node:net';
import { randomBytes, createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, StorageV1Api, type V1Pod } from '@kubernetes/client-node';
import { TcpProxy, versionServerLauncher, type LaunchSpec, type MemberLauncher } from './harness/controller/index.js';
import {
  applyObjects,
  httpGet,
  kubeRequest,
  startClusters,
  WORKER_USER,
  type ClusterHandle,
  type Clusters,
} from './harness/kube.js';
import { ADDRESS_PLAN, cidrContains, clientAddress, regionOf } from './harness/network.js';
import { liveProcs, waitFor } from './harness/procs.js';

let clusters: Clusters;
const launched: LaunchSpec[] = [];

/** The default member, recording what the kubelet hands the launcher. */
function recordingLauncher(): MemberLauncher {
  const inner = versionServerLauncher();
  return {
    start(spec) {
      launched.push(spec);
      return inner.start(spec);
    },
  };
}

interface VersionReply {
  status: number;
  json?: { server?: string; version?: string };
  pod?: string;
  ms: number;
}

/** GET /_api/version on a fresh connection, optionally from a given source address. */
function getVersion(host: string, port: number, localAddress?: string, agent?: Agent): Promise<VersionReply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { host, port, path: '/_api/version', localAddress, agent: agent ?? false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: body.startsWith('{') ? JSON.parse(body) : undefined,
            pod: res.headers['x-transit-pod'] as string | undefined,
            ms: performance.now() - t0,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET http://${host}:${port}/_api/version timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function createOrFail(c: ClusterHandle, path: string, obj: unknown): Promise<void> {
  const r = await kubeRequest(c, 'POST', path, obj);
  assert.ok(r.status === 201 || r.status === 409, `POST ${path} on ${c.name}: ${r.status} ${r.body.slice(0, 300)}`);
}

async function ensureNamespace(c: ClusterHandle, ns: string): Promise<void> {
  await createOrFail(c, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
}

function memberPod(name: string, labels: Record<string, string>): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      containers: [
        {
          name: 'server',
          image: 'arangodb/arangodb:3.12.4',
          command: ['/usr/sbin/arangod', '--server.endpoint=tcp://[::]:8529', '--server.storage-engine=rocksdb'],
          ports: [{ name: 'server', containerPort: 8529 }],
        },
      ],
    },
  };
}

async function readyPod(c: ClusterHandle, ns: string, name: string): Promise<V1Pod> {
  const core = c.kubeConfig().makeApiClient(CoreV1Api);
  return waitFor(
    `pod ${ns}/${name} Ready in ${c.name}`,
    async () => {
      const p = await core.readNamespacedPod({ name, namespace: ns });
      return p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ? p : undefined;
    },
    { timeoutMs: 30_000 },
  );
}

before(async () => {
  clusters = await startClusters({ launcher: recordingLauncher });
  process.stderr.write(`[kube-harness] clusters up: ${JSON.stringify(clusters.timings)}\n`);
});

after(async () => {
  await clusters?.stop();
});

describe('two real clusters', () => {
  test('both API servers serve TLS with their own CA, and RBAC refuses the worker what it is not granted', async () => {
    assert.ok(clusters.timings.totalMs < 60_000, `start-up took ${clusters.timings.totalMs} ms`);
    for (const c of clusters.all) {
      // The one kubeconfig file: admin and worker contexts per cluster, CA-verified TLS.
      const kc = new KubeConfig();
      kc.loadFromFile(clusters.kubeconfigPath);
      assert.deepEqual(
        kc
          .getContexts()
          .map((x) => x.name)
          .sort(),
        ['eu', 'eu-admin', 'us', 'us-admin'],
      );
      kc.setCurrentContext(c.adminContext);
      const ns = await kc.makeApiClient(CoreV1Api).listNamespace();
      assert.ok(
        ns.items.some((n) => n.metadata?.name === 'default'),
        `${c.name}: default namespace listed`,
      );

      kc.setCurrentContext(c.workerContext);
      await assert.rejects(
        kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'kube-system' }),
        (e: { code?: number }) => e.code === 403,
        `${c.name}: worker must get 403 on kube-system secrets`,
      );
      const denied = await kubeRequest(c, 'GET', '/api/v1/namespaces/kube-system/secrets', undefined, 'worker');
      assert.equal(denied.status, 403, denied.body);
      assert.match(denied.body, /transit-worker/);
      // The other cluster's token is unknown here: 401.
      const other = clusters.all.find((x) => x !== c)!;
      const r = await fetchStatus(c, other.adminToken);
      assert.equal(r, 401, `${c.name} must not accept ${other.name}'s admin token`);
    }
    assert.notEqual(clusters.eu.caPem, clusters.us.caPem);
  });

  test('a Role bound to the worker grants exactly that (applyObjects is create-or-replace)', async () => {
    const c = clusters.eu;
    await ensureNamespace(c, 'granted');
    const rbac = [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'pod-reader', namespace: 'granted' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'pod-reader', namespace: 'granted' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: WORKER_USER }],
      },
    ];
    await applyObjects(c.kubeConfig('admin'), rbac);
    await applyObjects(c.kubeConfig('admin'), rbac); // second time: replaced, no 409
    const core = c.kubeConfig('worker').makeApiClient(CoreV1Api);
    await waitFor(
      'worker may list pods in granted',
      () => core.listNamespacedPod({ namespace: 'granted' }).then(() => true),
      { timeoutMs: 10_000 },
    );
    await assert.rejects(core.listNamespacedPod({ namespace: 'default' }), (e: { code?: number }) => e.code === 403);
    await assert.rejects(
      core.deleteCollectionNamespacedPod({ namespace: 'granted' }),
      (e: { code?: number }) => e.code === 403,
    );
  });

  test('the CRDs are established with structural schemas', async () => {
    for (const c of clusters.all) {
      for (const crd of [
        'arangodeployments.database.arangodb.com',
        'arangomembers.database.arangodb.com',
        'dnsendpoints.externaldns.k8s.io',
      ]) {
        const r = await kubeRequest(c, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`);
        assert.equal(r.status, 200, r.body);
        const conds = JSON.parse(r.body).status.conditions as { type: string; status: string }[];
        assert.ok(
          conds.some((x) => x.type === 'Established' && x.status === 'True'),
          `${c.name} ${crd} Established`,
        );
        assert.ok(!conds.some((x) => x.type === 'NonStructuralSchema'), `${c.name} ${crd} structural`);
      }
    }
    const c = clusters.eu;
    await ensureNamespace(c, 'crd');
    const path = '/apis/database.arangodb.com/v1/namespaces/crd/arangodeployments';
    await createOrFail(c, path, {
      apiVersion: 'database.arangodb.com/v1',
      kind: 'ArangoDeployment',
      metadata: { name: 'db' },
      spec: {
        mode: 'Cluster',
        image: 'arangodb/arangodb:3.12.4',
        dbservers: { count: 3, args: ['--log.level=info'] },
        somethingNew: { x: 1 },
      },
    });
    const got = JSON.parse((await kubeRequest(c, 'GET', `${path}/db`)).body);
    assert.equal(got.spec.dbservers.count, 3);
    assert.deepEqual(got.spec.somethingNew, { x: 1 }, 'unknown spec fields are preserved');
    const bad = await kubeRequest(c, 'POST', path, {
      apiVersion: 'database.arangodb.com/v1',
      kind: 'ArangoDeployment',
      metadata: { name: 'bad' },
      spec: { mode: 'Galaxy' },
    });
    assert.equal(bad.status, 422, `schema must reject mode Galaxy: ${bad.body.slice(0, 200)}`);
    await createOrFail(c, '/apis/externaldns.k8s.io/v1alpha1/namespaces/crd/dnsendpoints', {
      apiVersion: 'externaldns.k8s.io/v1alpha1',
      kind: 'DNSEndpoint',
      metadata: { name: 'db' },
      spec: { endpoints: [{ dnsName: 'db.example.test', recordType: 'A', recordTTL: 30, targets: ['10.12.0.1'] }] },
    });
  });

  test('kube-controller-manager runs: default ServiceAccount, garbage collection, namespace deletion', async () => {
    const c = clusters.us;
    const core = c.kubeConfig().makeApiClient(CoreV1Api);
    await ensureNamespace(c, 'kcm');
    await waitFor(
      'default ServiceAccount in kcm',
      () => core.readNamespacedServiceAccount({ name: 'default', namespace: 'kcm' }).then(() => true),
      { timeoutMs: 20_000 },
    );
    const owner = await core.createNamespacedConfigMap({ namespace: 'kcm', body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace: 'kcm',
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'kcm' });
    await waitFor(
      'GC removes the dependent',
      async () => (await kubeRequest(c, 'GET', '/api/v1/namespaces/kcm/configmaps/dependent')).status === 404,
      { timeoutMs: 30_000 },
    );
    await core.deleteNamespace({ name: 'kcm' });
    await waitFor(
      'namespace kcm gone',
      async () => (await kubeRequest(c, 'GET', '/api/v1/namespaces/kcm')).status === 404,
      { timeoutMs: 60_000 },
    );
  });

  test('a Node with the pod CIDR and a default StorageClass exist in each cluster', async () => {
    for (const c of clusters.all) {
      const kc = c.kubeConfig();
      const nodes = await kc.makeApiClient(CoreV1Api).listNode();
      assert.equal(nodes.items.length, 1);
      assert.equal(nodes.items[0]!.spec?.podCIDR, ADDRESS_PLAN[c.region].podCidr);
      assert.equal(nodes.items[0]!.metadata?.labels?.['topology.kubernetes.io/region'], c.region);
      const scs = await kc.makeApiClient(StorageV1Api).listStorageClass();
      assert.ok(
        scs.items.some((s) => s.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true'),
      );
    }
  });
});

describe('test controller', () => {
  const ns = 'net';
  let euPodIP = '';
  let usPodIP = '';

  before(async () => {
    for (const c of clusters.all) {
      await ensureNamespace(c, ns);
      await createOrFail(c, `/api/v1/namespaces/${ns}/pods`, memberPod('m1', { app: 'member', member: 'm1' }));
    }
    await createOrFail(clusters.eu, `/api/v1/namespaces/${ns}/pods`, memberPod('m2', { app: 'member', member: 'm2' }));
    euPodIP = (await readyPod(clusters.eu, ns, 'm1')).status!.podIP!;
    await readyPod(clusters.eu, ns, 'm2');
    usPodIP = (await readyPod(clusters.us, ns, 'm1')).status!.podIP!;
  });

  test('a member pod is bound, gets an IP from its pod range, turns Ready, and answers through its pod IP', async () => {
    for (const c of clusters.all) {
      const pod = await readyPod(c, ns, 'm1');
      assert.equal(pod.spec?.nodeName, `${c.region}-node-1`);
      assert.ok(
        cidrContains(ADDRESS_PLAN[c.region].podCidr, pod.status!.podIP!),
        `${pod.status?.podIP} in ${c.region} pod range`,
      );
      assert.equal(pod.status?.phase, 'Running');
      const r = await getVersion(pod.status!.podIP!, 8529);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { server: 'arango', version: '3.12.4', license: 'community' });
      const m = c.controller!.members().find((x) => x.name === 'm1');
      assert.ok(m?.pid, 'member process is tracked');
      assert.equal(regionOf(m.listenAddress), c.region);
      const spec = launched.find((x) => x.podIP === pod.status!.podIP)!;
      assert.deepEqual(
        spec.args,
        ['--server.endpoint=tcp://[::]:8529', '--server.storage-engine=rocksdb'],
        "the container's own args",
      );
      assert.equal(spec.env.TRANSIT_DNS_SERVER, c.dnsServer);
      assert.equal(spec.env.TRANSIT_DNS_SEARCH, `${ns}.svc.cluster.local`);
      assert.equal(spec.env.TRANSIT_SOURCE_ADDRESS, pod.status!.podIP);
      assert.equal(spec.listenAddress, m.listenAddress);
    }
    assert.notEqual(regionOf(euPodIP), regionOf(usPodIP));
  });

  test('ClusterIP Services: with a selector, selectorless with hand-written Endpoints (mirrored by KCM), and selectorless with hand-written EndpointSlices (one per port)', async () => {
    const c = clusters.eu;
    await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'by-selector' },
      spec: { selector: { app: 'member' }, ports: [{ name: 'server', port: 8529, targetPort: 8529 }] },
    });
    await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'selectorless' },
      spec: { ports: [{ name: 'server', port: 18529, targetPort: 8529 }] },
    });
    await createOrFail(c, `/api/v1/namespaces/${ns}/endpoints`, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'selectorless' },
      subsets: [{ addresses: [{ ip: euPodIP }], ports: [{ name: 'server', port: 8529 }] }],
    });
    // As Transit's bridge writes them: no v1 Endpoints, a slice per named port, its own managed-by value.
    await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'sliced' },
      spec: {
        ports: [
          { name: 'p1', port: 28529, targetPort: 8529 },
          { name: 'p2', port: 28530, targetPort: 8529 },
        ],
      },
    });
    for (const port of ['p1', 'p2']) {
      await createOrFail(c, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `sliced-${port}`,
          labels: {
            'kubernetes.io/service-name': 'sliced',
            'endpointslice.kubernetes.io/managed-by': 'transit.arangodb.io',
          },
        },
        addressType: 'IPv4',
        endpoints: [{ addresses: [euPodIP], conditions: { ready: true } }],
        ports: [{ name: port, port: 8529, protocol: 'TCP' }],
      });
    }
    await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'empty' },
      spec: { ports: [{ port: 8529 }] },
    });
    const core = c.kubeConfig().makeApiClient(CoreV1Api);
    for (const [name, port] of [
      ['by-selector', 8529],
      ['selectorless', 18529],
      ['sliced', 28529],
      ['sliced', 28530],
    ] as const) {
      const svc = await core.readNamespacedService({ name, namespace: ns });
      const ip = svc.spec!.clusterIP!;
      assert.ok(cidrContains(ADDRESS_PLAN.eu.serviceCidr, ip), `${name} ClusterIP ${ip} in eu Service range`);
      await waitFor(
        `${name} ${ip}:${port} answers`,
        () => getVersion(ip, port).then((x) => (x.status === 200 ? x : undefined)),
        { timeoutMs: 30_000 },
      );
      if (name === 'by-selector') {
        // Round robin over both ready pods, once the endpointslice controller has seen both.
        await waitFor(
          'both pods behind by-selector',
          async () => {
            const seen = new Set<string>();
            for (let i = 0; i < 4; i++) seen.add((await getVersion(ip, port)).pod!);
            return seen.size === 2;
          },
          { timeoutMs: 30_000 },
        );
      } else {
        assert.equal((await getVersion(ip, port)).pod, `${ns}/m1`, 'the hand-written endpoint');
      }
    }
    // default/kubernetes reaches the API server (its own endpoint reconciler is off).
    const kube = await waitFor(
      'kubernetes Service',
      async () => {
        const r = await httpGet('https://10.11.0.1:443/version', { ca: c.caPem }).catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      { timeoutMs: 10_000 },
    );
    assert.match(kube.body, /"gitVersion": "v1\.35\./);
    const empty = await core.readNamespacedService({ name: 'empty', namespace: ns });
    await assert.rejects(
      getVersion(empty.spec!.clusterIP!, 8529),
      (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED',
    );
  });

  test('a LoadBalancer Service gets an ingress address from the region pool and proxies to its endpoints', async () => {
    for (const c of clusters.all) {
      await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'lb' },
        spec: {
          type: 'LoadBalancer',
          selector: { app: 'member' },
          ports: [{ name: 'm1', port: 9001, targetPort: 8529 }],
        },
      });
      const core = c.kubeConfig().makeApiClient(CoreV1Api);
      const ip = await waitFor(
        `lb ingress in ${c.name}`,
        async () =>
          (await core.readNamespacedService({ name: 'lb', namespace: ns })).status?.loadBalancer?.ingress?.[0]?.ip,
        { timeoutMs: 30_000 },
      );
      assert.ok(cidrContains(ADDRESS_PLAN[c.region].lbPool, ip), `${ip} in ${c.region} LB pool`);
      const r = await waitFor(
        `lb ${ip}:9001 answers`,
        () => getVersion(ip, 9001).then((x) => (x.status === 200 ? x : undefined)),
        { timeoutMs: 30_000 },
      );
      assert.equal(r.json?.server, 'arango');
    }
  });

  test("cluster DNS resolves a Service name to each cluster's own ClusterIP", async () => {
    for (const c of clusters.all) {
      await createOrFail(c, `/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'db-m1' },
        spec: { selector: { member: 'm1' }, ports: [{ name: 'server', port: 8529 }] },
      });
    }
    const answers: string[] = [];
    for (const c of clusters.all) {
      const svc = await c.kubeConfig().makeApiClient(CoreV1Api).readNamespacedService({ name: 'db-m1', namespace: ns });
      const resolver = new Resolver({ timeout: 2_000, tries: 2 });
      resolver.setServers([c.dnsServer!]);
      const ips = await waitFor(
        `db-m1 resolves in ${c.name}`,
        () => resolver.resolve4(`db-m1.${ns}.svc.cluster.local`).catch(() => undefined),
        { timeoutMs: 10_000 },
      );
      assert.deepEqual(ips, [svc.spec!.clusterIP]);
      answers.push(ips[0]!);
      await assert.rejects(
        resolver.resolve4(`nope.${ns}.svc.cluster.local`),
        (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND',
      );
      // And the member can reach its own cluster's Service by that name.
      const r = await waitFor(
        'db-m1 answers',
        () => getVersion(ips[0]!, 8529).then((x) => (x.status === 200 ? x : undefined)),
        { timeoutMs: 30_000 },
      );
      assert.equal(r.status, 200);
    }
    assert.notEqual(answers[0], answers[1]);
    assert.equal(regionOf(answers[0]!), 'eu');
    assert.equal(regionOf(answers[1]!), 'us');
  });

  test('cross-region traffic is delayed by the WAN model, in-region traffic is not', async () => {
    const oneWay = 40;
    clusters.wan.set({ crossRegionMs: oneWay, inRegionMs: 0 });
    try {
      const sample = async (host: string, port: number, from: string): Promise<number> => {
        const xs: number[] = [];
        for (let i = 0; i < 7; i++) xs.push((await getVersion(host, port, from)).ms);
        return median(xs);
      };
      const euClient = clientAddress('eu');
      const usClient = clientAddress('us');
      const inRegion = await sample(euPodIP, 8529, euClient);
      const cross = await sample(euPodIP, 8529, usClient);
      const crossBack = await sample(usPodIP, 8529, euClient);
      const lbIp = clusters.eu.controller!.loadBalancerIp(ns, 'lb')!;
      const viaLb = await sample(lbIp, 9001, usClient);
      process.stderr.write(
        `[kube-harness] median GET /_api/version (one-way ${oneWay} ms): in-region ${inRegion.toFixed(1)} ms, ` +
          `us→eu pod ${cross.toFixed(1)} ms, eu→us pod ${crossBack.toFixed(1)} ms, us→eu LB ${viaLb.toFixed(1)} ms\n`,
      );
      assert.ok(inRegion < oneWay / 2, `in-region round trip ${inRegion} ms should not be delayed`);
      // A keep-alive connection opened before a WAN change sees the new delay.
      clusters.wan.set({ crossRegionMs: 0 });
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const before = (await getVersion(euPodIP, 8529, usClient, agent)).ms;
      clusters.wan.set({ crossRegionMs: oneWay });
      const afterChange = (await getVersion(euPodIP, 8529, usClient, agent)).ms;
      agent.destroy();
      assert.ok(
        before < oneWay / 2 && afterChange >= 2 * oneWay - 2,
        `keep-alive: ${before} ms at 0, ${afterChange} ms after the change`,
      );
      for (const [what, ms] of [
        ['us→eu pod', cross],
        ['eu→us pod', crossBack],
        ['us→eu LB (delay counted once)', viaLb],
      ] as const) {
        assert.ok(
          ms >= 2 * oneWay - 2 && ms < 3 * oneWay,
          `${what}: ${ms} ms, expected one round trip ≈ ${2 * oneWay} ms`,
        );
      }
    } finally {
      clusters.wan.set({ crossRegionMs: 0 });
    }
  });

  test('the WAN proxy keeps a large stream intact and in order under delay and back-pressure', async () => {
    const echo = createServer((sock) => sock.pipe(sock)).listen(0, clientAddress('eu', 50));
    await new Promise((r) => echo.once('listening', r));
    const port = (echo.address() as { port: number }).port;
    const proxy = new TcpProxy({
      name: 'test proxy',
      listenHost: clientAddress('eu', 51),
      listenPort: port,
      target: () => ({ host: clientAddress('eu', 50), port }),
      wan: { model: clusters.wan, region: 'eu' },
      source: 'client',
    });
    await proxy.start();
    clusters.wan.set({ crossRegionMs: 5 });
    try {
      const data = randomBytes(24 * 1024 * 1024);
      const got = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const s = netConnect({ host: clientAddress('eu', 51), port, localAddress: clientAddress('us', 3) });
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve(Buffer.concat(chunks)));
        s.on('error', reject);
        s.end(data);
      });
      assert.equal(got.length, data.length);
      assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    } finally {
      clusters.wan.set({ crossRegionMs: 0 });
      await proxy.close();
      echo.close();
    }
  });

  test('deleting a pod stops its member and removes the object', async () => {
    const c = clusters.us;
    const core = c.kubeConfig().makeApiClient(CoreV1Api);
    const pid = c.controller!.members().find((m) => m.name === 'm1')!.pid!;
    await core.deleteNamespacedPod({ name: 'm1', namespace: ns });
    await waitFor(
      'pod m1 gone',
      async () => (await kubeRequest(c, 'GET', `/api/v1/namespaces/${ns}/pods/m1`)).status === 404,
      { timeoutMs: 30_000 },
    );
    await waitFor(`member pid ${pid} gone`, () => !alive(pid), { timeoutMs: 10_000 });
    await assert.rejects(getVersion(usPodIP, 8529), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });
});

describe('shutdown', () => {
  test('stop() leaves no processes behind', async () => {
    const pids = [
      ...clusters.all.flatMap((c) => [c.procs.etcd.pid, c.procs.apiserver.pid, c.procs.kcm?.pid ?? 0]),
      ...clusters.all.flatMap((c) => c.controller!.members().map((m) => m.pid ?? 0)),
    ].filter((p) => p > 0);
    assert.ok(pids.length >= 7, `expected etcd, apiserver, kcm per cluster plus members, got ${pids.length}`);
    const t0 = Date.now();
    await clusters.stop();
    process.stderr.write(`[kube-harness] stop took ${Date.now() - t0} ms\n`);
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} still running after stop()`);
    assert.deepEqual(
      liveProcs().map((p) => p.name),
      [],
    );
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function fetchStatus(c: ClusterHandle, token: string): Promise<number> {
  return (await httpGet(`${c.server}/api/v1/namespaces`, { ca: c.caPem, token })).status;
}
