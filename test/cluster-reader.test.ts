// The cluster reader (test/harness/cluster-reader.ts) against the simulated ArangoDB deployment in the "eu"
// test Kubernetes cluster: it finds every member pod in both clusters, learns each pod's member ID from the pod,
// reads Plan, Current and the agency pool from the agency leader, and places everything by pod address range.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Database } from 'arangojs';
import { mintSuperuserJwt } from '../src/activities/agency';
import { createArangoDeployment, type ArangoDeploymentFixture } from './harness/arango-deployment';
import { placementProblems, placementSummary, readCluster, type ClusterView } from './harness/cluster-reader';
import { arangodSimLauncher } from './harness/controller';
import { applyObjects, startClusters, type Clusters } from './harness/kube';
import { waitFor } from './harness/procs';

const NS = 'reader';

describe('cluster reader', () => {
  let clusters: Clusters;
  let fx: ArangoDeploymentFixture;
  let token: string;

  before(async () => {
    clusters = await startClusters({ launcher: arangodSimLauncher() });
    for (const c of clusters.all)
      await applyObjects(c.kubeConfig('admin'), [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } as KubernetesObject,
      ]);
    fx = await createArangoDeployment(clusters.eu, { namespace: NS, agents: 3, dbservers: 3, coordinators: 1 });
    token = mintSuperuserJwt(fx.jwtSecret);
    const sys = new Database({ url: await fx.clientUrl(), auth: { token } });
    await waitFor(
      'database r',
      async () => {
        if (!(await sys.listDatabases()).includes('r')) await sys.createDatabase('r');
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await waitFor(
      'collection r/c',
      async () => {
        if (!(await sys.database('r').collection('c').exists()))
          await sys
            .database('r')
            .createCollection('c', { numberOfShards: 3, replicationFactor: 2 } as Record<string, unknown>);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });
  after(async () => {
    await clusters?.stop();
  });

  test('every member and shard server is found on an eu pod; in us nothing is', { timeout: 120_000 }, async () => {
    let view!: ClusterView;
    await waitFor(
      'Plan = Current',
      async () => {
        view = await readCluster(clusters, NS, token, ['r']);
        return view.shards.length === 3 && view.shards.every((s) => s.current.length === 2);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    console.log(`FIGURE cluster as read: ${JSON.stringify(placementSummary(view))}`);
    assert.equal(view.pods.filter((p) => p.id).length, 7, 'every member pod answered its ID');
    assert.equal(Object.keys(view.agencyPool).length, 3);
    assert.equal(view.dbServers.length, 3);
    assert.equal(view.coordinators.length, 1);
    assert.deepEqual(placementProblems(view, 'eu'), []);
    const us = placementProblems(view, 'us');
    for (const id of [...Object.keys(view.agencyPool), ...view.dbServers, ...view.coordinators])
      assert.ok(
        us.some((p) => p.includes(id)),
        `${id} reported as not in us`,
      );
  });

  test('one DB server on a pod in the other region is reported, with every shard copy it holds', async () => {
    const view = await readCluster(clusters, NS, token, ['r']);
    const moved = view.dbServers[0]!;
    const fake: ClusterView = {
      ...view,
      pods: view.pods.map((p) => (p.id === moved ? { ...p, cluster: 'us', podIP: '10.20.0.99', ipRegion: 'us' } : p)),
    };
    const problems = placementProblems(fake, 'eu');
    const held = view.shards.filter((s) => s.plan.includes(moved)).length;
    assert.ok(held > 0);
    assert.equal(problems.length, 1 + 2 * held, problems.join('\n'));
    assert.ok(problems.every((p) => p.includes(moved) && p.includes('10.20.0.99')));
    // A member no pod answers for.
    const gone: ClusterView = { ...view, pods: view.pods.filter((p) => p.id !== moved) };
    assert.ok(
      placementProblems(gone, 'eu').some((p) => p === `DB server ${moved}: no running member pod answers for it`),
    );
  });
});
