/**
 * The whole world for end-to-end runs, the demo and the benchmark: the Temporal dev server, two real
 * Kubernetes API servers ("eu", "us") with the test controller, a simulated ArangoDB deployment laid out in "eu"
 * the way kube-arangodb does it (its members run the simulator from their pods' arguments), BIND serving the
 * client-facing name, and Transit workers with the real activities. Everything runs inside the project's network
 * namespace (scripts/netns-run).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Database } from 'arangojs';
import { parseAllDocuments } from 'yaml';
import { readFileSync } from 'node:fs';
import { createActivities } from '../../src/activities';
import { mintSuperuserJwt } from '../../src/activities/agency';
import type { MigrationSpecInput } from '../../src/spec/schema';
import { startBind, type BindZone } from './bind';
import { arangodSimLauncher } from './controller';
import { createArangoDeployment, SIM_TEST_ARGS, type ArangoDeploymentFixture } from './arango-deployment';
import { applyObjects, startClusters, type Clusters } from './kube';
import { clientAddress, workerAddress, type Region } from './network';
import { spawnProc, waitFor, type Proc } from './procs';
import { startDevServer, quietRuntime, ROOT, type DevServer } from './temporal';
import { startWorker, workflowBundleFile } from './worker';
import { LoadClient } from './load';

export const NAMESPACE = 'db';
export const DEPLOYMENT = 'arango';

export interface EnvironmentOptions {
  ui?: boolean;
  mode?: 'loadbalancer' | 'clustermesh';
  /** One-way WAN delays (ms). */
  wan?: { crossRegionMs: number; inRegionMs: number };
  dnsTtl?: number;
  /** Persist Temporal to this SQLite file (a restart keeps the migration). */
  temporalDb?: string;
  dbservers?: number;
  coordinators?: number;
  /** Documents per seeded collection. */
  documents?: number;
  bandwidth?: string;
  log?: (line: string) => void;
}

export interface Environment {
  temporal: DevServer;
  clusters: Clusters;
  source: ArangoDeploymentFixture;
  bind: BindZone;
  spec: MigrationSpecInput;
  dir: string;
  jwt: string;
  sourceUrl: string;
  /** Real activities as a worker in this process runs them. */
  activities(): ReturnType<typeof createActivities>;
  startWorker(taskQueue?: string): Promise<{ stop(): Promise<void> }>;
  /** A worker in its own process (to SIGKILL). */
  spawnWorker(taskQueue?: string, name?: string): Promise<Proc>;
  loadClients(perRegion: number, o?: { intervalMs?: number }): LoadClient[];
  stop(): Promise<void>;
}

/** What the seeded cluster holds: a few databases and collections, some with distributeShardsLike. */
export const SEED = [
  {
    database: 'shop',
    collections: [
      { name: 'orders', numberOfShards: 4, replicationFactor: 2 },
      { name: 'orderLines', distributeShardsLike: 'orders' },
      { name: 'customers', numberOfShards: 3, replicationFactor: 3, writeConcern: 2 },
    ],
  },
  { database: 'audit', collections: [{ name: 'events', numberOfShards: 2, replicationFactor: 1 }] },
  { database: 'load', collections: [{ name: 'acks', numberOfShards: 3, replicationFactor: 2 }] },
] as const;

export async function startEnvironment(o: EnvironmentOptions = {}): Promise<Environment> {
  const log = o.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'transit-env-'));
  const mode = o.mode ?? 'loadbalancer';
  quietRuntime();
  const t0 = Date.now();
  const [temporal, clusters] = await Promise.all([
    startDevServer({ ui: o.ui, dbFilename: o.temporalDb, logFile: join(dir, 'temporal.log') }),
    startClusters({ launcher: arangodSimLauncher(), wan: o.wan }),
  ]);
  log(
    `Temporal ${temporal.address}${temporal.uiUrl ? `, Web UI ${temporal.uiUrl}` : ''}; clusters eu+us up in ${clusters.timings.totalMs} ms`,
  );
  const rbac = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'rbac.yaml'), 'utf8'))
    .map((d) => d.toJSON() as KubernetesObject)
    .filter(Boolean);
  for (const c of clusters.all) {
    await applyObjects(c.kubeConfig('admin'), [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } as KubernetesObject,
    ]);
    await applyObjects(c.kubeConfig('admin'), renderRbac(rbac));
  }
  const simArgs = o.bandwidth ? [`--sim.bandwidth=${o.bandwidth}`] : [];
  const source = await createArangoDeployment(clusters.eu, {
    namespace: NAMESPACE,
    name: DEPLOYMENT,
    agents: 3,
    dbservers: o.dbservers ?? 3,
    coordinators: o.coordinators ?? 2,
    args: simArgs.length ? { dbserver: [...SIM_TEST_ARGS.dbserver, ...simArgs] } : undefined,
  });
  const sourceUrl = await source.clientUrl();
  const jwt = source.jwtSecret;
  log(
    `simulated ArangoDB in eu: ${source.members.length} members, coordinators at ${sourceUrl} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  await seed(sourceUrl, jwt, o.documents ?? 50);
  const ip = new URL(sourceUrl).hostname;
  const bind = await startBind({
    zone: 'example.test',
    recordLabel: 'db',
    recordValues: [ip],
    recordTtl: o.dnsTtl ?? 5,
  });
  log(
    `BIND primary ${bind.servers[0]} secondary ${bind.servers[1]}: db.example.test. → ${ip} (TTL ${o.dnsTtl ?? 5} s)`,
  );

  const spec: MigrationSpecInput = {
    deployment: { name: DEPLOYMENT, namespace: NAMESPACE },
    source: { context: 'eu', region: 'eu', namespace: NAMESPACE },
    target: { context: 'us', region: 'us', namespace: NAMESPACE },
    network:
      mode === 'loadbalancer' ? { mode: 'loadbalancer', loadBalancer: { firstPort: 30001 } } : { mode: 'clustermesh' },
    dns: {
      provider: 'rfc2136',
      name: 'db.example.test.',
      zone: 'example.test.',
      ttl: o.dnsTtl ?? 5,
      servers: bind.servers,
      primary: bind.servers[0],
      tsigKey: { file: bind.keyFile },
    },
    arango: {
      endpoint: sourceUrl,
      jwtSecret: { secret: { name: `${DEPLOYMENT}-jwt`, key: 'token', namespace: NAMESPACE, context: 'eu' } },
    },
    policy: { maxConcurrentShardMoves: 8, timeouts: { drainSeconds: 3, activitySeconds: 300 } },
  };
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec, null, 2));

  const serviceMap = new ServiceMap(clusters.kubeconfigPath);
  await serviceMap.start();
  const activities = () =>
    createActivities({
      kubeconfigPath: clusters.kubeconfigPath,
      kube: {
        probe: {
          via: 'service',
          localAddress: (side) => workerAddress(side === 'source' ? 'eu' : 'us'),
          timeoutMs: 30_000,
        },
      },
      agency: { mapEndpoint: (e) => serviceMap.map(e) },
    });
  const workerConfig = join(dir, 'worker.json');
  // Child workers load a prebuilt workflow bundle (as production images do), so they start in about a second.
  writeFileSync(
    workerConfig,
    JSON.stringify({
      address: temporal.address,
      kubeconfigPath: clusters.kubeconfigPath,
      bundlePath: await workflowBundleFile(),
    }),
  );
  const workers: { stop(): Promise<void> }[] = [];
  const clients: LoadClient[] = [];
  return {
    temporal,
    clusters,
    source,
    bind,
    spec,
    dir,
    jwt,
    sourceUrl,
    activities,
    async startWorker(taskQueue = 'transit') {
      const w = await startWorker({
        connection: await temporal.nativeConnection(),
        taskQueue,
        activities: activities(),
      });
      workers.push(w);
      return w;
    },
    async spawnWorker(taskQueue = 'transit', name = 'worker') {
      let ready = false;
      const p = spawnProc(
        name,
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'test/harness/e2e-worker.ts'), workerConfig, taskQueue],
        {
          cwd: ROOT,
          logFile: join(dir, `${name}.log`),
          onLine: (l) => {
            if (l.includes('worker ready')) ready = true;
          },
        },
      );
      await waitFor(`${name} to start`, () => ready, {
        timeoutMs: 90_000,
        check: () => {
          if (p.hasExited()) throw new Error(`${name} exited:\n${p.tail()}`);
        },
      });
      workers.push({ stop: async () => void (await p.stop()) });
      return p;
    },
    loadClients(perRegion, lo = {}) {
      const out: LoadClient[] = [];
      for (const region of ['eu', 'us'] as Region[]) {
        for (let i = 0; i < perRegion; i++) {
          const c = new LoadClient({
            name: `${region}-client-${i}`,
            region,
            localAddress: clientAddress(region, i),
            dnsServers: bind.servers,
            hostname: 'db.example.test',
            port: 8529,
            database: 'load',
            collection: 'acks',
            authorization: `bearer ${mintSuperuserJwt(jwt)}`,
            intervalMs: lo.intervalMs,
          });
          out.push(c);
          clients.push(c);
        }
      }
      return out;
    },
    async stop() {
      for (const c of clients) {
        await c.stop().catch(() => undefined);
        c.close();
      }
      for (const w of workers.reverse()) await w.stop().catch(() => undefined);
      serviceMap.stop();
      await bind.stop().catch(() => undefined);
      await clusters.stop().catch(() => undefined);
      await temporal.stop().catch(() => undefined);
    },
  };
}

/** deploy/rbac.yaml edited as its header says: our namespace, our JWT Secret's name. */
function renderRbac(objs: KubernetesObject[]): KubernetesObject[] {
  return objs.map((x) => {
    const text = JSON.stringify(x)
      .replace(/"db-jwt"/g, `"${DEPLOYMENT}-jwt"`)
      .replace(/"resourceNames":\["arangodb"\]/g, `"resourceNames":["${NAMESPACE}"]`);
    const o = JSON.parse(text) as KubernetesObject;
    return o.kind === 'RoleBinding' ? { ...o, metadata: { ...o.metadata, namespace: NAMESPACE } } : o;
  });
}

async function seed(url: string, jwt: string, documents: number): Promise<void> {
  const token = mintSuperuserJwt(jwt);
  const sys = new Database({ url, auth: { token } });
  for (const d of SEED) {
    await waitFor(
      `database ${d.database}`,
      async () => {
        const names = await sys.listDatabases();
        if (!names.includes(d.database)) await sys.createDatabase(d.database);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const db = sys.database(d.database);
    for (const c of d.collections) {
      await waitFor(
        `collection ${d.database}/${c.name}`,
        async () => {
          if (!(await db.collection(c.name).exists()))
            await db.createCollection(c.name, { ...c } as Record<string, unknown>);
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const col = db.collection(c.name);
      // Retried as a batch (the saves are idempotent: overwriteMode ignore): the coordinator that did not create the
      // collection learns it from the Plan a moment later and answers 1203 "collection not found" until then (CI saw it).
      for (let i = 0; i < documents; i += 25) {
        await waitFor(
          `seed documents ${i}… of ${d.database}/${c.name}`,
          async () => {
            await Promise.all(
              Array.from({ length: Math.min(25, documents - i) }, (_, j) =>
                col.save({ _key: `seed-${i + j}`, n: i + j, pad: 'x'.repeat(200) }, { overwriteMode: 'ignore' }),
              ),
            );
            return true;
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
      }
    }
  }
}

/**
 * Stands in for the cluster DNS a worker inside a cluster would use: member endpoints (tcp://<member-svc>:8529,
 * kube-arangodb's short-dns) mapped to that Service's ClusterIP, from the eu view first (the worker "lives" in eu),
 * then the us view (after Decommission only us has them). Refreshed every second from both API servers.
 */
export class ServiceMap {
  private ips = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly kubeconfigPath: string) {}

  async refresh(): Promise<void> {
    const next = new Map<string, string>();
    for (const ctx of ['us-admin', 'eu-admin']) {
      const kc = new KubeConfig();
      kc.loadFromFile(this.kubeconfigPath);
      kc.setCurrentContext(ctx);
      try {
        const list = await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace: NAMESPACE });
        for (const s of list.items)
          if (s.spec?.clusterIP && s.spec.clusterIP !== 'None') next.set(s.metadata!.name!, s.spec.clusterIP);
      } catch {
        /* that API server is down for a moment: keep the other view */
      }
    }
    if (next.size) this.ips = next;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  map(endpoint: string): string {
    const m = /^(tcp|ssl|http|https):\/\/([^:/]+)(:\d+)?(.*)$/.exec(endpoint);
    if (!m) return endpoint;
    const host = m[2]!.split('.')[0]!;
    const ip = /^\d+\.\d+\.\d+\.\d+$/.test(m[2]!) ? m[2]! : this.ips.get(host);
    return ip ? `${m[1]}://${ip}${m[3] ?? ''}${m[4] ?? ''}` : endpoint;
  }
}
