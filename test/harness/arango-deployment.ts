// A source ArangoDB deployment laid out in a test cluster the way kube-arangodb's operator does it, for the
// Kubernetes activities to read, bridge, copy and take apart:
//   - the ArangoDeployment CR (mode Cluster, communicationMethod short-dns, per-group args, resources and
//     volumeClaimTemplate) with status.members.{agents,dbservers,coordinators}[] (id, pod.name/podName,
//     persistentVolumeClaim.name) and status.agency;
//   - per member: a PVC and a pod <name>-<role>-<id without prefix> (labels app=arangodb, arango_deployment,
//     role, deployment.arangodb.com/member; container "server" running /usr/sbin/arangod with the operator's
//     arguments; the JWT Secret mounted at /secrets/cluster/jwt), and a per-member Service of the same name
//     (the short-dns endpoint it registers: tcp://<service>:8529);
//   - the Services <name> (coordinators), <name>-int (headless) and <name>-ea (LoadBalancer, clients), and the
//     JWT Secret <name>-jwt.
// The test kubelet starts each member from its pod's arguments (arangodSimLauncher: the ArangoDB simulator).
// Deviation, for the simulator's sake: the operator's "uuid" init container (which writes the member ID into
// the data volume) is stood in for by writing <volume>/UUID before the pod starts; coordinators therefore
// get a small PVC as well (kube-arangodb gives them an emptyDir).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { applyObjects, kubeRequest, type ClusterHandle } from './kube.js';
import { waitFor } from './procs.js';

export type Role = 'agent' | 'dbserver' | 'coordinator';

export interface FixtureMember {
  id: string;
  role: Role;
  podName: string;
  /** Per-member Service = the host of its endpoint. */
  service: string;
  endpoint: string;
  pvc: string;
}

export interface ArangoDeploymentFixture {
  cluster: ClusterHandle;
  name: string;
  namespace: string;
  image: string;
  members: FixtureMember[];
  /** The cluster JWT secret (test side only; Transit reads it from the Secret itself). */
  jwtSecret: string;
  /** A file holding it, for CredentialRef { file }. */
  jwtSecretFile: string;
  /** The client LoadBalancer's address, once it has one. */
  clientUrl(): Promise<string>;
}

export interface ArangoDeploymentOptions {
  namespace: string;
  name?: string;
  agents?: number;
  dbservers?: number;
  coordinators?: number;
  image?: string;
  storage?: string;
  /** Extra arguments per group (spec.<group>.args); default: the simulator's quick test timing. */
  args?: Partial<Record<Role, string[]>>;
  /** Wait until every member pod is Ready (default true). */
  wait?: boolean;
  /** Where the JWT secret file goes (default: the cluster's data directory). */
  secretDir?: string;
}

const GROUP_KEY: Record<Role, 'agents' | 'dbservers' | 'coordinators'> = {
  agent: 'agents',
  dbserver: 'dbservers',
  coordinator: 'coordinators',
};
const PREFIX: Record<Role, string> = { agent: 'AGNT', dbserver: 'PRMR', coordinator: 'CRDN' };

/** The simulator's timing for tests (test/harness/sim.ts TEST_TIMING) as arangod-style arguments. */
export const SIM_TEST_ARGS: Record<Role, string[]> = {
  agent: [
    '--agency.election-timeout-min=1',
    '--agency.election-timeout-max=2',
    '--agency.supervision-frequency=0.5',
    '--agency.supervision-ok-threshold=2',
    '--agency.supervision-grace-period=4',
    '--sim.supervision-startup-grace=1',
  ],
  dbserver: ['--sim.heartbeat-interval=0.5'],
  coordinator: ['--sim.heartbeat-interval=0.5', '--sim.leader-retry-seconds=20', '--sim.remove-server-seconds=6'],
};

function memberId(role: Role): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const b = randomBytes(8);
  return `${PREFIX[role]}-${[...b].map((x) => alphabet[x % alphabet.length]).join('')}`;
}

export function hostName(name: string, role: Role, id: string): string {
  return `${name}-${role}-${id.replace(/^[A-Z]{4}-/, '')}`.toLowerCase();
}

/** kube-arangodb's arangod command line for one member (pod_creator_arangod.go / createArangodArgs). */
function arangodArgs(role: Role, m: FixtureMember, all: FixtureMember[], extra: string[]): string[] {
  const agents = all.filter((x) => x.role === 'agent');
  const common = [
    '--server.endpoint=tcp://[::]:8529',
    '--database.directory=/data',
    '--server.authentication=true',
    '--server.jwt-secret-keyfile=/secrets/cluster/jwt/token',
    '--foxx.queues=false',
    '--log.level=INFO',
  ];
  if (role === 'agent') {
    return [
      ...common,
      '--server.statistics=false',
      '--agency.activate=true',
      `--agency.disaster-recovery-id=${m.id}`,
      `--agency.my-address=${m.endpoint}`,
      `--agency.size=${agents.length}`,
      '--agency.supervision=true',
      ...agents.filter((a) => a !== m).map((a) => `--agency.endpoint=${a.endpoint}`),
      ...extra,
    ];
  }
  return [
    ...common,
    '--server.statistics=true',
    `--cluster.my-address=${m.endpoint}`,
    `--cluster.my-role=${role === 'dbserver' ? 'PRIMARY' : 'COORDINATOR'}`,
    ...agents.map((a) => `--cluster.agency-endpoint=${a.endpoint}`),
    ...extra,
  ];
}

export async function createArangoDeployment(
  c: ClusterHandle,
  o: ArangoDeploymentOptions,
): Promise<ArangoDeploymentFixture> {
  const name = o.name ?? 'db';
  const ns = o.namespace;
  const image = o.image ?? 'arangodb/arangodb:3.12.4';
  const storage = o.storage ?? '1Gi';
  const counts: Record<Role, number> = {
    agent: o.agents ?? 3,
    dbserver: o.dbservers ?? 2,
    coordinator: o.coordinators ?? 1,
  };
  const args: Record<Role, string[]> = {
    agent: o.args?.agent ?? SIM_TEST_ARGS.agent,
    dbserver: o.args?.dbserver ?? SIM_TEST_ARGS.dbserver,
    coordinator: o.args?.coordinator ?? SIM_TEST_ARGS.coordinator,
  };
  const kc = c.kubeConfig('admin');
  const core = kc.makeApiClient(CoreV1Api);

  const members: FixtureMember[] = [];
  for (const role of ['agent', 'dbserver', 'coordinator'] as Role[]) {
    for (let i = 0; i < counts[role]; i++) {
      const id = memberId(role);
      const h = hostName(name, role, id);
      members.push({ id, role, podName: h, service: h, endpoint: `tcp://${h}:8529`, pvc: h });
    }
  }
  const jwtSecret = randomBytes(24).toString('hex');
  const jwtSecretFile = join(o.secretDir ?? c.dataDir, `${ns}-${name}.jwt`);
  await writeFile(jwtSecretFile, jwtSecret, { mode: 0o600 });

  await applyObjects(kc, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const base = { app: 'arangodb', arango_deployment: name };
  const groupSpec = (role: Role) => ({
    count: counts[role],
    args: args[role],
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    volumeClaimTemplate: {
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, storageClassName: 'standard' },
    },
  });
  const crPath = `/apis/database.arangodb.com/v1/namespaces/${ns}/arangodeployments`;
  const created = await kubeRequest(c, 'POST', crPath, {
    apiVersion: 'database.arangodb.com/v1',
    kind: 'ArangoDeployment',
    metadata: { name, namespace: ns },
    spec: {
      mode: 'Cluster',
      environment: 'Development',
      image,
      communicationMethod: 'short-dns',
      auth: { jwtSecretName: `${name}-jwt` },
      tls: { caSecretName: 'None' },
      externalAccess: { type: 'LoadBalancer' },
      agents: groupSpec('agent'),
      dbservers: groupSpec('dbserver'),
      coordinators: { ...groupSpec('coordinator'), volumeClaimTemplate: undefined },
    },
  });
  if (created.status !== 201)
    throw new Error(`creating ArangoDeployment ${ns}/${name}: ${created.status} ${created.body.slice(0, 300)}`);
  const cr = JSON.parse(created.body) as { metadata: { uid: string; resourceVersion: string } };
  const owner = [
    {
      apiVersion: 'database.arangodb.com/v1',
      kind: 'ArangoDeployment',
      name,
      uid: cr.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
  const status = {
    phase: 'Running',
    serviceName: name,
    agency: { size: counts.agent, ids: members.filter((m) => m.role === 'agent').map((m) => m.id) },
    members: Object.fromEntries(
      (['agent', 'dbserver', 'coordinator'] as Role[]).map((role) => [
        GROUP_KEY[role],
        members
          .filter((m) => m.role === role)
          .map((m) => ({
            id: m.id,
            phase: 'Created',
            initialized: true,
            podName: m.podName,
            pod: { name: m.podName },
            persistentVolumeClaimName: m.pvc,
            persistentVolumeClaim: { name: m.pvc },
            image: { image },
          })),
      ]),
    ),
  };
  const st = await kubeRequest(c, 'PUT', `${crPath}/${name}/status`, { ...JSON.parse(created.body), status });
  if (st.status !== 200) throw new Error(`writing ArangoDeployment status: ${st.status} ${st.body.slice(0, 300)}`);

  await core.createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: `${name}-jwt`, namespace: ns, labels: base, ownerReferences: owner },
      stringData: { token: jwtSecret },
    },
  });

  const svc = (
    n: string,
    labels: Record<string, string>,
    selector: Record<string, string>,
    extra: Partial<NonNullable<V1Service['spec']>> = {},
  ): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: n, namespace: ns, labels, ownerReferences: owner },
    spec: { selector, ports: [{ name: 'server', port: 8529, targetPort: 8529 as never, protocol: 'TCP' }], ...extra },
  });
  const services: V1Service[] = [
    svc(`${name}-int`, base, base, { clusterIP: 'None', publishNotReadyAddresses: true }),
    svc(name, base, { ...base, role: 'coordinator' }, { sessionAffinity: 'ClientIP' }),
    svc(`${name}-ea`, base, { ...base, role: 'coordinator' }, { type: 'LoadBalancer' }),
  ];
  const volumesDir = join(c.dataDir, 'controller', 'volumes', ns);
  for (const m of members) {
    const labels = { ...base, role: m.role, 'deployment.arangodb.com/member': m.id };
    services.push(svc(m.service, labels, labels, { publishNotReadyAddresses: true }));
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: m.pvc, namespace: ns, labels, ownerReferences: owner },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: m.role === 'coordinator' ? '128Mi' : storage } },
          storageClassName: 'standard',
        },
      },
    });
    if (m.role !== 'agent') {
      // Stands in for kube-arangodb's uuid init container: the member ID is in the volume before arangod starts.
      await mkdir(join(volumesDir, m.pvc), { recursive: true });
      await writeFile(join(volumesDir, m.pvc, 'UUID'), `${m.id}\n`);
    }
  }
  await applyObjects(kc, services as never);
  for (const m of members) {
    const labels = {
      ...base,
      role: m.role,
      'deployment.arangodb.com/member': m.id,
      'deployment.arangodb.com/active': 'true',
    };
    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: m.podName, namespace: ns, labels, ownerReferences: owner },
      spec: {
        hostname: m.podName,
        subdomain: `${name}-int`,
        terminationGracePeriodSeconds: 30,
        containers: [
          {
            name: 'server',
            image,
            command: ['/usr/sbin/arangod', ...arangodArgs(m.role, m, members, args[m.role])],
            ports: [{ name: 'server', containerPort: 8529, protocol: 'TCP' }],
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
            volumeMounts: [
              { name: 'arangod-data', mountPath: '/data' },
              { name: 'cluster-jwt', mountPath: '/secrets/cluster/jwt', readOnly: true },
            ],
            ...(m.role === 'agent'
              ? {}
              : {
                  readinessProbe: {
                    httpGet: { path: '/_admin/server/availability', port: 8529 as never, scheme: 'HTTP' },
                    periodSeconds: 2,
                  },
                }),
          },
        ],
        volumes: [
          { name: 'arangod-data', persistentVolumeClaim: { claimName: m.pvc } },
          { name: 'cluster-jwt', secret: { secretName: `${name}-jwt` } },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
  }
  if (o.wait ?? true) {
    await waitFor(
      `ArangoDeployment ${ns}/${name} in ${c.name}: every member pod Ready`,
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: `arango_deployment=${name}` });
        const ready = pods.items.filter((p) =>
          p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'),
        );
        return ready.length === members.length;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
  }
  return {
    cluster: c,
    name,
    namespace: ns,
    image,
    members,
    jwtSecret,
    jwtSecretFile,
    async clientUrl() {
      const ip = await waitFor(
        `${ns}/${name}-ea LoadBalancer address`,
        async () => {
          const s = await core.readNamespacedService({ name: `${name}-ea`, namespace: ns });
          return s.status?.loadBalancer?.ingress?.[0]?.ip;
        },
        { timeoutMs: 30_000 },
      );
      return `http://${ip}:8529`;
    },
  };
}
