// Preflight: both API servers answer; the worker may do exactly what the activities do (one
// SelfSubjectAccessReview per verb and resource, in the namespace where it is used — the same table
// deploy/rbac.yaml grants); the source is a kube-arangodb Cluster deployment Transit can bridge; the target
// namespace exists and has a StorageClass; the bridge mode's own checks (bridge-modes/, e.g. ClusterMesh's
// Pod CIDRs must not overlap).
import type { V1Namespace, V1Service, V1StorageClass } from '@kubernetes/client-node';
import type { PreflightReport, Side } from '../contract';
import { bridgeMode, modePermissions } from './bridge-modes';
import { KINDS, type ClusterClient } from './client';
import { groupSpec, jwtSecretOf, podNameOf, readDeploymentCr } from './deployment';
import type { Env } from './env';
import { KubeForbiddenError, PreflightError } from './errors';
import { endStateServiceNames } from './endstate';
import {
  TRANSIT_ANNOTATIONS,
  GROUPS,
  isOwnedBy,
  memberHostName,
  OPERATOR_MAINTENANCE_ANNOTATION,
  targetName,
} from './names';

export interface Permission {
  verb: string;
  /** API group ('' = core). */
  group: string;
  resource: string;
  /** Checked in the side's namespace, or cluster-wide. */
  scope: 'namespace' | 'cluster';
  /** Only for this object (RBAC resourceNames): the deployment's JWT Secret, or the target namespace. */
  name?: 'jwtSecret' | 'namespace';
}

const rw = (group: string, resource: string, verbs: string[]): Permission[] =>
  verbs.map((verb) => ({ verb, group, resource, scope: 'namespace' as const }));

/**
 * Both namespaces: members, their PVCs and Services, the bridge's Services and EndpointSlices (and the
 * controllers' stale ones). v1 Endpoints only to remove what is stale: the endpoints controller's of an
 * operator Service turned into a bridge, and an earlier Transit's.
 */
const MEMBERS: Permission[] = [
  ...rw('', 'pods', ['get', 'list', 'create', 'delete']),
  ...rw('', 'persistentvolumeclaims', ['get', 'list', 'create', 'delete']),
  ...rw('', 'services', ['get', 'list', 'create', 'update', 'delete']),
  ...rw('', 'endpoints', ['get', 'delete']),
  ...rw('discovery.k8s.io', 'endpointslices', ['get', 'list', 'create', 'update', 'delete']),
];

/** What the activities do in each cluster, whatever the network mode. */
const BASE: Record<Side, Permission[]> = {
  source: [
    ...rw('database.arangodb.com', 'arangodeployments', ['get', 'update']),
    ...MEMBERS,
    { verb: 'get', group: '', resource: 'secrets', scope: 'namespace', name: 'jwtSecret' },
  ],
  target: [
    ...MEMBERS,
    // The end state labels the target members as kube-arangodb would (endstate.ts).
    { verb: 'update', group: '', resource: 'pods', scope: 'namespace' },
    { verb: 'create', group: '', resource: 'secrets', scope: 'namespace' },
    ...['get', 'update', 'delete'].map((verb) => ({
      verb,
      group: '',
      resource: 'secrets',
      scope: 'namespace' as const,
      name: 'jwtSecret' as const,
    })),
    { verb: 'get', group: '', resource: 'namespaces', scope: 'cluster', name: 'namespace' },
    { verb: 'list', group: 'storage.k8s.io', resource: 'storageclasses', scope: 'cluster' },
  ],
};

/**
 * What the activities may do in each cluster, in any network mode (the base plus every bridge mode's own).
 * deploy/rbac.yaml grants exactly this (test/kube-activities.test.ts checks); preflight asks for the base
 * plus the spec's mode's.
 */
export const REQUIRED_PERMISSIONS: Record<Side, Permission[]> = {
  source: [...BASE.source, ...modePermissions('source')],
  target: [...BASE.target, ...modePermissions('target')],
};

function resourceName(p: Permission): string {
  return p.group ? `${p.resource}.${p.group}` : p.resource;
}

/** Every missing permission of one side, checked at once. */
export async function missingPermissions(env: Env, c: ClusterClient, jwtSecret: string): Promise<Permission[]> {
  const needs = [...BASE[c.side], ...bridgeMode(env).permissions[c.side]];
  const answers = await Promise.all(
    needs.map((p) =>
      c.canI({
        verb: p.verb,
        group: p.group,
        resource: p.resource,
        namespace: p.scope === 'namespace' ? c.namespace : undefined,
        name: p.name === 'jwtSecret' ? jwtSecret : p.name === 'namespace' ? c.namespace : undefined,
      }),
    ),
  );
  return needs.filter((_, i) => !answers[i]!.allowed);
}

// ---- the preflight --------------------------------------------------------------------------------------

export async function preflight(env: Env): Promise<PreflightReport> {
  const c = await env.both();
  // Reachability first: an unreachable API server is retryable, everything after is a verdict.
  await Promise.all([c.source.version(), c.target.version()]);
  const cr = await readDeploymentCr(env, c.source).catch((e: unknown) => {
    if (e instanceof KubeForbiddenError) return undefined; // reported below with every other missing permission
    throw e;
  });
  const jwt = jwtSecretOf(cr ?? {}, env.deployment);
  const missing = [
    ...(await missingPermissions(env, c.source, jwt)).map((p) => ({ p, c: c.source })),
    ...(await missingPermissions(env, c.target, jwt)).map((p) => ({ p, c: c.target })),
  ];
  if (missing.length) {
    const first = missing[0]!;
    const list = missing.map(
      ({ p, c: cc }) =>
        `${p.verb} ${resourceName(p)}${p.scope === 'namespace' ? ` in namespace ${cc.namespace}` : ''} (context ${cc.context})`,
    );
    throw new KubeForbiddenError(
      {
        verb: first.p.verb,
        resource: resourceName(first.p),
        namespace: first.p.scope === 'namespace' ? first.c.namespace : undefined,
        context: first.c.context,
      },
      undefined,
      `the worker lacks ${missing.length} permission(s) Transit needs: ${list.join('; ')} — grant them (deploy/rbac.yaml)`,
    );
  }
  const deployment = cr ?? (await readDeploymentCr(env, c.source));
  const problems: string[] = [];
  const warnings: string[] = [];

  const method = deployment.spec?.communicationMethod ?? 'headless';
  const sameNs = env.spec.source.namespace === env.spec.target.namespace;
  if (method !== 'short-dns' && !(method === 'dns' && sameNs)) {
    problems.push(
      `ArangoDeployment ${c.source.namespace}/${env.deployment} uses communicationMethod ${method}: members must register short-dns endpoints ` +
        `(tcp://<member>:8529), which the bridge can resolve in both clusters — set spec.communicationMethod: short-dns and let the operator rotate the members first` +
        (method === 'dns' ? ' (or use the same namespace name in both clusters)' : ''),
    );
  }
  const ann = deployment.metadata?.annotations ?? {};
  if (ann[OPERATOR_MAINTENANCE_ANNOTATION] === 'true' && ann[TRANSIT_ANNOTATIONS.pausedBy] !== env.migrationId) {
    warnings.push(
      `the operator is already in maintenance for ${env.deployment} (set by someone else); Transit will leave that annotation alone`,
    );
  }

  const ns = await c.target.get<V1Namespace>(KINDS.namespace, env.spec.target.namespace);
  if (!ns)
    problems.push(
      `target namespace ${env.spec.target.namespace} does not exist in context ${c.target.context}: create it`,
    );
  else if (ns.status?.phase === 'Terminating')
    problems.push(`target namespace ${env.spec.target.namespace} (context ${c.target.context}) is being deleted`);

  // Names Transit will create in the target namespace must be free (or this migration's already).
  const taken = new Map((await c.target.list<V1Service>(KINDS.service)).map((x) => [x.metadata!.name!, x]));
  const mode = bridgeMode(env);
  const planned = [...endStateServiceNames(env), ...mode.serviceNames(env)];
  for (const g of GROUPS) {
    for (const st of deployment.status?.members?.[g.statusKey] ?? []) {
      const pod = podNameOf(st, env.deployment, g.role);
      planned.push(memberHostName(env.deployment, g.role, st.id));
      if (g.role !== 'agent') planned.push(targetName(memberHostName(env.deployment, g.role, st.id)), targetName(pod));
    }
  }
  for (const n of new Set(planned)) {
    const x = taken.get(n);
    if (x && !isOwnedBy(x.metadata?.labels, env.migrationId)) {
      problems.push(
        `Service ${env.spec.target.namespace}/${n} already exists in context ${c.target.context} and is not this migration's: Transit needs that name there — remove it or migrate into another namespace`,
      );
    }
  }

  const classes = await c.target.list<V1StorageClass>(KINDS.storageClass);
  const wanted = ['agent', 'dbserver']
    .map((r) => {
      const g = groupSpec(deployment, r as 'agent' | 'dbserver');
      return g.volumeClaimTemplate?.spec?.storageClassName ?? g.storageClassName;
    })
    .find(Boolean);
  const dflt = classes.find((s) => s.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true')
    ?.metadata?.name;
  let storageClass: string | null = null;
  if (wanted && classes.some((s) => s.metadata?.name === wanted)) storageClass = wanted;
  else if (dflt) {
    storageClass = dflt;
    if (wanted)
      warnings.push(
        `StorageClass ${wanted} of the source is not in the target; target volumes use the default class ${dflt}`,
      );
  } else {
    problems.push(
      `no usable StorageClass in context ${c.target.context}: ${wanted ? `${wanted} (the source's) is missing and ` : ''}no class is marked default — create one (or mark one default)`,
    );
  }

  const m = await mode.preflight(env, c);
  problems.push(...m.problems);
  warnings.push(...m.warnings);
  if (problems.length) throw new PreflightError(`preflight failed: ${problems.join('; ')}`, problems);
  return {
    sourcePodCIDRs: m.report.sourcePodCIDRs ?? [],
    targetPodCIDRs: m.report.targetPodCIDRs ?? [],
    storageClass,
    warnings,
  };
}
