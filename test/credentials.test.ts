// Credential references, resolved with the schema's defaults and read by the one credentials module
// (src/activities/credentials.ts), against the two real API servers of the harness. The spec has the shape of
// examples/migration.yaml: `jwtSecret: { secret: { name: arango-jwt, key: token } }`, no namespace, no context.
// Decoys with the same name sit where a reader that guessed would look (namespace "default", the kubeconfig's
// current context, the target cluster): only the Secret in the source's namespace, source context, is right.
//   scripts/netns-run node scripts/run-tests.mjs credentials
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { KubernetesObject } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { credentialReader, secretReader } from '../src/activities/credentials';
import { createActivities } from '../src/activities';
import { loadTsigKey } from '../src/activities/dns/tsig';
import { scrub } from '../src/observability';
import { MigrationSpec } from '../src/spec/schema';
import { applyObjects, startClusters, WORKER_USER, type Clusters } from './harness/kube';

const NS = 'db';
let clusters: Clusters;

const secret = (name: string, namespace: string, data: Record<string, string>): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data }) as KubernetesObject;

/** examples/migration.yaml as written, with the test kubeconfig's worker contexts (eu, us) — the same names. */
function exampleSpec(): MigrationSpec {
  const raw = parseYaml(readFileSync(join(__dirname, '..', 'examples', 'migration.yaml'), 'utf8')) as Record<
    string,
    any
  >;
  assert.deepEqual(
    raw.arango.jwtSecret,
    { secret: { name: 'arango-jwt', key: 'token' } },
    'the example names no namespace or context',
  );
  raw.dns.tsigKey = { secret: { name: 'dns-tsig', key: 'tsig.key' } };
  return MigrationSpec.parse(raw);
}

before(async () => {
  clusters = await startClusters({ controllers: false, kcm: false });
  const grant: KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'transit-secrets', namespace: NS },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'transit-secrets', namespace: NS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'transit-secrets' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: WORKER_USER }],
    } as KubernetesObject,
  ];
  for (const c of clusters.all) await applyObjects(c.kubeConfig('admin'), grant);
  // The right ones: source cluster (eu), the deployment's namespace.
  await applyObjects(clusters.eu.kubeConfig('admin'), [
    secret('arango-jwt', NS, { token: 'jwt-from-eu-db-namespace' }),
    secret('dns-tsig', NS, { 'tsig.key': 'key "transit" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0"; };' }),
    // Decoy: what a reader falling back to namespace "default" would read.
    secret('arango-jwt', 'default', { token: 'jwt-from-eu-default-namespace' }),
  ]);
  // Decoys in the target cluster, same namespace and name.
  await applyObjects(clusters.us.kubeConfig('admin'), [
    secret('arango-jwt', NS, { token: 'jwt-from-us-db-namespace' }),
  ]);
});

after(async () => {
  await clusters?.stop();
});

describe('credential references', () => {
  test('parsing fills in a Secret reference: namespace of its side, context of the source', () => {
    const spec = exampleSpec();
    assert.deepEqual(spec.arango.jwtSecret, {
      secret: { name: 'arango-jwt', key: 'token', namespace: NS, context: 'eu' },
    });
    assert.deepEqual(spec.dns.tsigKey, { secret: { name: 'dns-tsig', key: 'tsig.key', namespace: NS, context: 'eu' } });
    const withTarget = MigrationSpec.parse({
      ...exampleSpec(),
      target: {
        context: 'us',
        region: 'us',
        namespace: 'db-us',
        kubeconfig: { secret: { name: 'us-kubeconfig', key: 'config' } },
      },
    });
    assert.deepEqual(
      withTarget.target.kubeconfig,
      { secret: { name: 'us-kubeconfig', key: 'config', namespace: 'db-us', context: 'eu' } },
      "the target's namespace, read through the source context",
    );
    // What the user wrote wins; parsing twice changes nothing (the workflow re-checks what the client parsed).
    const explicit = MigrationSpec.parse({
      ...exampleSpec(),
      arango: {
        endpoint: 'http://a:8529',
        jwtSecret: { secret: { name: 'j', key: 'k', namespace: 'other', context: 'us' } },
      },
    });
    assert.deepEqual(explicit.arango.jwtSecret, { secret: { name: 'j', key: 'k', namespace: 'other', context: 'us' } });
    assert.deepEqual(MigrationSpec.parse(spec), spec);
  });

  test("the example spec's JWT is read from the source's namespace in the source cluster, not from default or the current context", async () => {
    const spec = exampleSpec();
    const read = credentialReader({ kubeconfigPath: clusters.kubeconfigPath });
    assert.equal(await read(spec.arango.jwtSecret), 'jwt-from-eu-db-namespace');
    // The kubeconfig's current context is eu-admin and the decoy default/arango-jwt exists: neither was used.
    assert.equal(
      scrub('token jwt-from-eu-db-namespace in a log line'),
      'token [redacted] in a log line',
      'the value read is redacted in logs',
    );
  });

  test('the activities read the JWT and the TSIG key of the example spec from the same place, through the same reader', async () => {
    const spec = exampleSpec();
    const seen: [unknown, string][] = [];
    const reader = credentialReader({ kubeconfigPath: clusters.kubeconfigPath });
    const acts = createActivities({
      kubeconfigPath: clusters.kubeconfigPath,
      readCredential: async (ref) => {
        const v = await reader(ref);
        seen.push([ref, v]);
        return v;
      },
    });
    // The probe reads the JWT before it measures anything (no targets: nothing to measure).
    assert.deepEqual(await acts.probeVersionChecks({ migrationId: 'm', spec, phase: 'Plan', targets: [] }), []);
    assert.deepEqual(seen, [
      [{ secret: { name: 'arango-jwt', key: 'token', namespace: NS, context: 'eu' } }, 'jwt-from-eu-db-namespace'],
    ]);
    const key = await loadTsigKey(spec.dns.tsigKey, secretReader({ kubeconfigPath: clusters.kubeconfigPath }));
    assert.equal(key?.name, 'transit');
    assert.match(key?.source ?? '', /Secret db\/dns-tsig key tsig.key in context eu/);
  });

  test('an unresolved or wrong reference is refused with what to fix, never guessed', async () => {
    const read = secretReader({ kubeconfigPath: clusters.kubeconfigPath });
    const refused =
      (re: RegExp, nonRetryable = true) =>
      (e: unknown) => {
        assert.ok(e instanceof ApplicationFailure, String(e));
        assert.equal(e.type, nonRetryable ? 'CredentialError' : 'CredentialUnavailableError', e.message);
        assert.equal(e.nonRetryable, nonRetryable);
        assert.match(e.message, re);
        return true;
      };
    await assert.rejects(
      read({ name: 'arango-jwt', key: 'token' }),
      refused(/without a namespace.*pass the parsed spec/),
    );
    await assert.rejects(
      read({ name: 'arango-jwt', key: 'nope', namespace: NS, context: 'eu' }),
      refused(/has no key nope \(it has token\)/),
    );
    await assert.rejects(
      read({ name: 'missing', key: 'token', namespace: NS, context: 'eu' }),
      refused(/Secret db\/missing .*HTTP 404 — create the Secret/),
    );
    await assert.rejects(
      read({ name: 'arango-jwt', key: 'token', namespace: 'kube-system', context: 'eu' }),
      refused(/HTTP 403 — create the Secret, or grant the worker get on it/),
    );
    await assert.rejects(
      read({ name: 'arango-jwt', key: 'token', namespace: NS, context: 'mars' }),
      refused(/no context mars \(it has .*eu.*\)/),
    );
  });
});
