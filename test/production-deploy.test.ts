/**
 * The Kubernetes manifests under deploy/ (kustomization.yaml's resources: rbac.yaml, worker.yaml,
 * worker-bindings.yaml, codec-server.yaml) server-side applied to a real kube-apiserver (test/harness/kube.ts;
 * run inside scripts/netns-run) and read back: what the server stored, that a second apply changes nothing, that
 * the worker pod passes the "restricted" Pod Security admission, that the ServiceAccount gets exactly the
 * roles' rights, and that the settings and Secret references match what the code reads and the docs list.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  AuthorizationV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Deployment,
  type V1ConfigMap,
  type V1Pod,
} from '@kubernetes/client-node';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { startClusters, type Clusters } from './harness/kube';
import { ROOT } from './harness/temporal';

const FIELD_MANAGER = 'transit-deploy';
const deployDir = join(ROOT, 'deploy');

function manifests(): KubernetesObject[] {
  const k = parseYaml(readFileSync(join(deployDir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const out: KubernetesObject[] = [];
  for (const f of k.resources) {
    for (const d of parseAllDocuments(readFileSync(join(deployDir, f), 'utf8'))) {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0]!.message}`);
      const o = d.toJS() as KubernetesObject | null;
      if (o) out.push(o);
    }
  }
  return out;
}

let clusters: Clusters;
let api: KubernetesObjectApi;
before(async () => {
  clusters = await startClusters({ controllers: false, kcm: false });
  api = KubernetesObjectApi.makeApiClient(clusters.eu.kubeConfig('admin'));
});
after(async () => {
  await clusters?.stop();
});

const ref = (o: KubernetesObject) => ({
  apiVersion: o.apiVersion!,
  kind: o.kind!,
  metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace },
});

async function applyAll(objs: KubernetesObject[], dryRun?: 'All'): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  for (const o of objs) {
    try {
      out.push(await api.patch(o, undefined, dryRun, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (e) {
      throw new Error(
        `server-side apply of ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}: ${(e as Error).message.split('\n')[0]}`,
      );
    }
  }
  return out;
}

describe('deploy/ on a real API server', () => {
  it(
    'server-side applies (dry run, then for real), reads back what it declared, and re-applies as a no-op',
    { timeout: 120_000 },
    async () => {
      const objs = manifests();
      const kinds = objs.map((o) => `${o.kind}/${o.metadata?.name}`);
      for (const k of [
        'Namespace/transit',
        'ServiceAccount/transit-worker',
        'ConfigMap/transit-worker',
        'Deployment/transit-worker',
        'Service/transit-worker-metrics',
        'PodDisruptionBudget/transit-worker',
        'RoleBinding/transit-worker-sa-source',
        'ClusterRole/transit-source',
        'Deployment/transit-codec-server',
      ]) {
        assert.ok(kinds.includes(k), `deploy/ has ${k}`);
      }
      assert.ok(!objs.some((o) => o.kind === 'Secret'), 'Secrets are referenced, never shipped');
      // The RoleBindings' namespace (the ArangoDeployment's) exists in a real cluster; create it here.
      await applyAll([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'arangodb' } }]);
      const ordered = [...objs].sort((a, b) => Number(b.kind === 'Namespace') - Number(a.kind === 'Namespace'));
      await applyAll(ordered.filter((o) => o.kind === 'Namespace'));
      await applyAll(ordered, 'All');
      const first = await applyAll(ordered);

      for (const o of objs) {
        const got = await api.read(ref(o));
        const mine = (got.metadata?.managedFields ?? []).find((m) => m.manager === FIELD_MANAGER);
        assert.equal(mine?.operation, 'Apply', `${o.kind}/${o.metadata?.name} is managed by server-side apply`);
      }
      const d = (await api.read(
        ref(objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'transit-worker')!),
      )) as V1Deployment;
      const spec = d.spec!;
      const pod = spec.template.spec!;
      const c = pod.containers[0]!;
      assert.equal(spec.replicas, 3);
      assert.equal(pod.serviceAccountName, 'transit-worker');
      assert.equal(pod.securityContext?.runAsNonRoot, true);
      assert.equal(pod.securityContext?.runAsUser, 1000);
      assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
      assert.deepEqual(c.args, ['worker']);
      assert.equal(c.readinessProbe?.httpGet?.path, '/metrics');
      assert.equal(c.readinessProbe?.httpGet?.port, 'metrics');
      assert.equal(c.ports?.find((p) => p.name === 'metrics')?.containerPort, 9464);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory);
      assert.deepEqual(
        c.envFrom?.map((e) => e.configMapRef?.name),
        ['transit-worker'],
      );
      assert.ok((pod.terminationGracePeriodSeconds ?? 30) > 30, 'longer than the worker shutdownGraceTime (30 s)');
      const secrets = (pod.volumes ?? []).filter((v) => v.secret).map((v) => v.secret!.secretName);
      assert.deepEqual(
        secrets.sort((a = '', b = '') => a.localeCompare(b)),
        [
          'transit-codec-keys',
          'transit-credentials',
          'transit-kubeconfig',
          'transit-temporal-api-key',
          'transit-temporal-tls',
        ],
      );

      // Applying the same manifests again changes nothing.
      const second = await applyAll(ordered);
      assert.deepEqual(
        second.map((o) => o.metadata?.resourceVersion),
        first.map((o) => o.metadata?.resourceVersion),
      );
    },
  );

  it('the worker pod passes the "restricted" Pod Security admission of its namespace', async () => {
    const d = manifests().find((o) => o.kind === 'Deployment' && o.metadata?.name === 'transit-worker') as V1Deployment;
    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'transit-worker-psa-check', namespace: 'transit' },
      spec: d.spec!.template.spec,
    };
    await api.create(pod, undefined, 'All');
    // Control: the same pod running as root is refused, so the admission really is enforced.
    const root: V1Pod = structuredClone(pod);
    root.spec!.securityContext = { ...root.spec!.securityContext, runAsNonRoot: false, runAsUser: 0 };
    await assert.rejects(api.create(root, undefined, 'All'), (e: Error & { body?: unknown }) => {
      const status = JSON.parse(String(e.body)) as { code: number; message: string };
      return (
        status.code === 403 && /violates PodSecurity "restricted:latest": runAsNonRoot != true/.test(status.message)
      );
    });
  });

  it('the ServiceAccount gets what the roles grant and nothing else', async () => {
    const authz = clusters.eu.kubeConfig('admin').makeApiClient(AuthorizationV1Api);
    const sa = 'system:serviceaccount:transit:transit-worker';
    const can = async (
      verb: string,
      resource: string,
      opts: { group?: string; namespace?: string; name?: string } = {},
    ) => {
      const r = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: sa,
            groups: ['system:serviceaccounts', 'system:serviceaccounts:transit', 'system:authenticated'],
            resourceAttributes: { verb, resource, group: opts.group ?? '', namespace: opts.namespace, name: opts.name },
          },
        },
      });
      return r.status?.allowed === true;
    };
    assert.equal(
      await can('get', 'arangodeployments', { group: 'database.arangodb.com', namespace: 'arangodb' }),
      true,
    );
    assert.equal(await can('create', 'pods', { namespace: 'arangodb' }), true);
    assert.equal(await can('get', 'secrets', { namespace: 'arangodb', name: 'db-jwt' }), true);
    assert.equal(await can('list', 'nodes'), true);
    assert.equal(await can('list', 'secrets', { namespace: 'arangodb' }), false, 'no listing Secrets');
    assert.equal(
      await can('get', 'secrets', { namespace: 'arangodb', name: 'other' }),
      false,
      'only the JWT Secret by name',
    );
    assert.equal(
      await can('get', 'pods', { namespace: 'kube-system' }),
      false,
      'nothing outside the deployment namespace',
    );
    assert.equal(
      await can('patch', 'arangodeployments', { group: 'database.arangodb.com', namespace: 'arangodb' }),
      false,
    );
  });

  it('every setting is one the code reads, every Secret is documented', async () => {
    const cm = manifests().find((o) => o.kind === 'ConfigMap' && o.metadata?.name === 'transit-worker') as V1ConfigMap;
    const source = readdir(join(ROOT, 'src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const key of Object.keys(cm.data ?? {})) {
      if (key === 'KUBECONFIG') continue; // read by @kubernetes/client-node
      assert.ok(source.includes(`'${key}'`) || source.includes(`.${key}`), `src/ reads ${key}`);
    }
    const readme = readFileSync(join(deployDir, 'README.md'), 'utf8');
    const referenced = new Set<string>();
    for (const o of manifests()) {
      for (const m of JSON.stringify(o).matchAll(/"secretName":"([^"]+)"/g)) referenced.add(m[1]!);
    }
    assert.ok(referenced.size >= 7);
    for (const s of referenced) assert.ok(readme.includes(s), `deploy/README.md explains the Secret ${s}`);
  });
});

function readdir(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...readdir(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}
