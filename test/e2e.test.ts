/**
 * End to end: the real Temporal server, two real Kubernetes API servers, the simulated ArangoDB cluster in
 * pods, real BIND, Transit's real activities in worker processes, and clients in both regions writing through
 * DNS. Run through scripts/netns-run (npm test does).
 *
 * 1. A live migration (LoadBalancer bridge) where, at EVERY phase boundary, the migration is paused, the worker
 *    is SIGKILLed, a new worker starts and the migration is resumed; and the Temporal server (SQLite) is
 *    restarted in the middle of MoveShards. It completes with nothing lost.
 * 2. A migration (ClusterMesh bridge) rolled back after the DNS cutover: everything returns to the source.
 * Every run ends consistent: all data fully replicated on exactly one side, DNS pointing at the side that
 * serves, 0 acknowledged writes lost, 0 failed client requests outside the cutover window.
 *
 * The evidence comes from the cluster, not from Transit's report: the cluster reader (harness/cluster-reader.ts)
 * lists the pods of both Kubernetes clusters, asks each pod which member it is, reads Plan, Current and the
 * agency pool from the agency, and the test asserts every member and every shard server (Plan and Current) sits
 * on a pod in the expected region's pod range. Every seeded collection (the replicationFactor-1 one included)
 * has the same count and content checksum before and after (the coordinator's checksum, every shard leader
 * hashing its own copy; for the collection the clients write to, the seeded documents read through a cursor).
 * 8 clients (4 per region) run a mixed workload (inserts, updates, replaces, removes, reads of their own keys);
 * every acknowledged state is read back, and the clients' documents account exactly for the rest of the count.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Database } from 'arangojs';
import { TransitClient } from '../src/client';
import { mintSuperuserJwt } from '../src/activities/agency';
import { progressQuery } from '../src/shared/controls';
import type { MigrationPhase, MigrationProgress, MigrationReport } from '../src/shared/types';
import { startEnvironment, NAMESPACE, SEED, type Environment } from './harness/environment';
import {
  cutoverWindows,
  failuresOutside,
  loadSummary,
  mixedClients,
  type LoadClient,
  type StateCheck,
  type Window,
} from './harness/load';
import { waitFor, type Proc } from './harness/procs';
import { placementProblems, placementSummary, readCluster } from './harness/cluster-reader';
import { collectionDigest, documentsDigest, readAll, type Digest } from './harness/data-check';
import type { Region } from './harness/network';

const fig = (name: string, value: unknown) =>
  console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
const WAN = { inRegionMs: 2, crossRegionMs: 20 };

/** Clients per region and the total rate they aim at (TRANSIT_E2E_OPS; printed, never asserted). */
const CLIENTS_PER_REGION = 4;
const TARGET_OPS = Number(process.env.TRANSIT_E2E_OPS ?? 200);
const LOAD = { database: 'load', collection: 'acks' };

/**
 * Read from the cluster itself: every member (agency pool, Plan/DBServers, Plan/Coordinators) and every shard
 * server in Plan and Current is a pod with an address in `region`'s pod range, Plan = Current, DB servers and
 * coordinators GOOD in the agency's Supervision/Health.
 */
async function assertClusterIn(env: Environment, region: Region): Promise<void> {
  // Health is judged by supervision every few seconds (and not at all in a new agency leader's first seconds):
  // read again for up to 30 s until it settles; placement is asserted on the last read.
  const t0 = Date.now();
  let view = await readCluster(
    env.clusters,
    NAMESPACE,
    mintSuperuserJwt(env.jwt),
    SEED.map((d) => d.database),
  );
  const settled = (v: typeof view) =>
    placementProblems(v, region).length === 0 &&
    [...v.dbServers, ...v.coordinators].every((id) => v.health[id]?.Status === 'GOOD');
  while (!settled(view) && Date.now() - t0 < 30_000) {
    await new Promise((r) => setTimeout(r, 1000));
    view = await readCluster(
      env.clusters,
      NAMESPACE,
      mintSuperuserJwt(env.jwt),
      SEED.map((d) => d.database),
    );
  }
  fig(
    `cluster as its members report it (expected: ${region}; settled after ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    placementSummary(view),
  );
  assert.deepEqual(placementProblems(view, region), [], `everything in ${region}`);
  assert.equal(view.shards.length, 16, 'every seeded shard read from the agency');
  for (const id of [...view.dbServers, ...view.coordinators])
    assert.equal(view.health[id]?.Status, 'GOOD', `${id} GOOD in Supervision/Health`);
}

type Digests = Record<string, { server: Digest; seeded: Digest }>;

/**
 * Every seeded collection: count + checksum from the coordinator (`/_api/collection/<c>/count` and
 * `/checksum?withRevisions=true&withData=true`), and the digest of its `seed-*` documents read through a cursor.
 */
async function seededDigests(env: Environment, url: string): Promise<Digests> {
  const token = mintSuperuserJwt(env.jwt);
  const out: Digests = {};
  for (const d of SEED) {
    const db = new Database({ url, databaseName: d.database, auth: { token } });
    for (const c of d.collections) {
      const [server, all] = await Promise.all([collectionDigest(db, c.name), readAll(db, c.name)]);
      out[`${d.database}/${c.name}`] = {
        server,
        seeded: documentsDigest(all.filter((x) => String(x._key).startsWith('seed-'))),
      };
    }
  }
  return out;
}

/**
 * Before vs after: every seeded document unchanged (count and checksum of the `seed-*` documents), every
 * collection the clients do not write to identical as a whole; the clients' collection holds exactly the seeded
 * documents plus client documents each accounted for by a client (live ones checked by `verifyState`).
 */
async function assertSeededUnchanged(
  env: Environment,
  url: string,
  before: Digests,
  clients: LoadClient[],
  label: string,
): Promise<void> {
  const after = await seededDigests(env, url);
  fig(
    `${label}: seeded collections before → after (count, checksum)`,
    Object.fromEntries(
      Object.entries(after).map(([k, v]) => [
        k,
        `${before[k]!.server.count}/${before[k]!.server.checksum} → ${v.server.count}/${v.server.checksum}`,
      ]),
    ),
  );
  for (const [name, b] of Object.entries(before)) {
    assert.deepEqual(after[name]!.seeded, b.seeded, `${name}: the seeded documents`);
    if (name !== `${LOAD.database}/${LOAD.collection}`)
      assert.deepEqual(after[name]!.server, b.server, `${name}: count and checksum`);
  }
  const db = new Database({ url, databaseName: LOAD.database, auth: { token: mintSuperuserJwt(env.jwt) } });
  const docs = await readAll(db, LOAD.collection);
  const clientKeys = docs.map((d) => String(d._key)).filter((k) => !k.startsWith('seed-'));
  const owner = new Map(clients.flatMap((c) => [...c.keys].map(([k, st]) => [k, st] as const)));
  const phantoms = clientKeys.filter((k) => !owner.has(k));
  assert.deepEqual(phantoms, [], 'every other document was written by a client');
  const certainAlive = [...owner.values()].filter((st) => st.certain && st.doc).length;
  const uncertainPresent = clientKeys.filter((k) => !owner.get(k)!.certain).length;
  assert.equal(
    clientKeys.length,
    certainAlive + uncertainPresent,
    'client documents = acknowledged alive + present of unknown outcome',
  );
  assert.equal(
    after[`${LOAD.database}/${LOAD.collection}`]!.server.count,
    before[`${LOAD.database}/${LOAD.collection}`]!.seeded.count + clientKeys.length,
    'count = seeded + client documents',
  );
}

function startClients(env: Environment): LoadClient[] {
  const clients = mixedClients({
    perRegion: CLIENTS_PER_REGION,
    dnsServers: env.bind.servers,
    hostname: 'db.example.test',
    ...LOAD,
    authorization: `bearer ${mintSuperuserJwt(env.jwt)}`,
    opsPerSecond: TARGET_OPS,
    firstIndex: 10,
  });
  clients.forEach((c) => c.start());
  return clients;
}

/** Failures outside the cutover windows: a request counts as inside a window if it overlapped it at all. */
function noLoss(clients: LoadClient[], checks: StateCheck[], windows: Window[]) {
  const acked = clients.reduce((a, c) => a + c.stats.acked.length, 0);
  const failures = clients.flatMap((c) => c.stats.failures);
  const outside = failuresOutside(clients, windows);
  return {
    acked,
    lost: checks.reduce((a, c) => a + c.lost.length, 0),
    wrong: checks.reduce((a, c) => a + c.wrong.length, 0),
    resurrected: checks.reduce((a, c) => a + c.resurrected.length, 0),
    anomalies: clients.flatMap((c) => c.stats.anomalies ?? []),
    checked: checks.reduce((a, c) => a + c.checked, 0),
    uncertain: checks.reduce((a, c) => a + c.uncertain, 0),
    failed: failures.length,
    failedOutsideCutover: outside.length,
    failures: outside.slice(0, 5),
  };
}

async function phaseChanges(
  client: TransitClient,
  id: string,
  onBoundary: (p: MigrationProgress) => Promise<void>,
): Promise<MigrationReport> {
  let last: MigrationPhase | null = null;
  for (;;) {
    let p: MigrationProgress;
    try {
      p = await client.getProgress(id);
    } catch {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (['completed', 'rolledBack', 'aborted', 'failed'].includes(p.status)) return client.result(id);
    if (p.phase !== last && last !== null && p.phase !== 'Complete') await onBoundary(p);
    last = p.phase;
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('live migration, LoadBalancer bridge: pause + worker SIGKILL at every phase boundary, Temporal restart in MoveShards', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({
      wan: WAN,
      dnsTtl: 2,
      temporalDb: join(require('node:os').tmpdir(), `transit-e2e-${Date.now()}.db`),
      log: (l) => console.log(`[env] ${l}`),
    });
  });
  let clients: LoadClient[] = [];
  after(async () => {
    for (const c of clients) {
      await c.stop().catch(() => undefined);
      c.close();
    }
    await env?.stop();
  });

  it('completes with every shard on the target, DNS switched, nothing lost', { timeout: 900_000 }, async () => {
    const before = await seededDigests(env, env.sourceUrl);
    fig(
      'seeded collections before (count, checksum)',
      Object.fromEntries(Object.entries(before).map(([k, v]) => [k, `${v.server.count}/${v.server.checksum}`])),
    );
    for (const [name, d] of Object.entries(before))
      assert.deepEqual(d.server, d.seeded, `${name}: only seeded documents before the clients start`);
    await assertClusterIn(env, 'eu');
    let worker: Proc = await env.spawnWorker('transit', 'worker-0');
    clients = startClients(env);
    const client = await TransitClient.connect({ address: env.temporal.address });
    const { workflowId } = await client.startMigration(env.spec);
    const boundaries: { phase: string; parkedMs: number; resumedMs: number }[] = [];
    let restarted = false;
    let n = 1;
    const report = await phaseChanges(client, workflowId, async (p) => {
      // At the boundary: pause, wait until parked, SIGKILL the worker, start another, resume.
      const t0 = Date.now();
      await client.pause(workflowId, { reason: `e2e boundary ${p.phase}` });
      const parked = await waitFor(
        `parked in ${p.phase}`,
        async () => {
          const q = await client.getProgress(workflowId).catch(() => undefined);
          return q && (q.paused || ['completed'].includes(q.status)) ? q : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      const parkedMs = Date.now() - t0;
      process.kill(worker.pid, 'SIGKILL');
      await worker.exited;
      worker = await env.spawnWorker('transit', `worker-${n++}`);
      await client.resume(workflowId);
      boundaries.push({ phase: parked.phase, parkedMs, resumedMs: Date.now() - t0 });
      if (parked.phase === 'MoveShards' && !restarted) {
        // Temporal restart in the middle of MoveShards: let some shards move first.
        await waitFor(
          'some shards moved',
          async () => ((await client.getProgress(workflowId).catch(() => undefined))?.shardsDone ?? 0) > 0,
          { timeoutMs: 120_000, intervalMs: 200 },
        );
        const t1 = Date.now();
        await env.temporal.restart();
        restarted = true;
        fig('temporal restart (s)', ((Date.now() - t1) / 1000).toFixed(1));
      }
    });
    fig('boundaries (pause→parked ms, →resumed ms)', boundaries);
    assert.equal(report.status, 'completed', report.lastError ?? '');
    assert.ok(restarted, 'the Temporal server was restarted during MoveShards');
    assert.ok(boundaries.length >= 8, `controls applied at ${boundaries.length} boundaries`);
    await new Promise((r) => setTimeout(r, 4000));
    await Promise.all(clients.map((c) => c.stop()));
    fig('e2e LB run load (rate is a figure, not a check)', loadSummary(clients));
    const checks = await Promise.all(clients.map((c) => c.verifyState()));
    const targetUrl = `http://${report.dnsValues[0]}:8529`;
    const progress = await client.handle(workflowId).query(progressQuery);
    const cut = progress.phaseTimings.find((t) => t.phase === 'CutoverDNS');
    assert.ok(cut, 'the cutover ran');
    const { windows, missing } = cutoverWindows(clients, new URL(env.sourceUrl).hostname, cut.startedAt);
    assert.deepEqual(missing, [], 'every client resolved the name to the target');
    const window = windows[0]!;
    const r = noLoss(clients, checks, windows);
    fig('e2e LB run', {
      ...r,
      cutoverWindowSeconds: (window.to - window.from) / 1000,
      phaseSeconds: report.phaseSeconds,
    });
    assert.equal(r.lost, 0, 'acknowledged writes lost');
    assert.equal(r.wrong, 0, 'acknowledged contents changed');
    assert.equal(r.resurrected, 0, 'acknowledged removals undone');
    assert.deepEqual(r.anomalies, []);
    assert.ok(r.acked > 50, `clients wrote (${r.acked} acknowledged inserts)`);
    assert.equal(
      r.failedOutsideCutover,
      0,
      `failed requests outside the cutover window: ${JSON.stringify(r.failures)}`,
    );
    assert.equal(report.shardsOnTarget, report.shardsTotal);
    assert.ok(report.dnsValues[0]!.startsWith('10.22.'), `DNS points at the us load balancer (${report.dnsValues})`);
    assert.equal(report.bridgePresent, false);
    // The cluster's own word: every member and shard copy on us pods, every seeded document unchanged.
    await assertClusterIn(env, 'us');
    await assertSeededUnchanged(env, targetUrl, before, clients, 'e2e LB run');
    await client.close();
    process.kill(worker.pid, 'SIGTERM');
  });
});

describe('live migration, ClusterMesh bridge: rollback after the DNS cutover', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ mode: 'clustermesh', wan: WAN, dnsTtl: 2, log: (l) => console.log(`[env] ${l}`) });
  });
  let clients: LoadClient[] = [];
  after(async () => {
    for (const c of clients) {
      await c.stop().catch(() => undefined);
      c.close();
    }
    await env?.stop();
  });

  it(
    'returns every shard, agent and the DNS record to the source and removes what Transit created',
    { timeout: 900_000 },
    async () => {
      const before = await seededDigests(env, env.sourceUrl);
      for (const [name, d] of Object.entries(before))
        assert.deepEqual(d.server, d.seeded, `${name}: only seeded documents before the clients start`);
      await assertClusterIn(env, 'eu');
      await env.startWorker();
      clients = startClients(env);
      const client = await TransitClient.connect({ address: env.temporal.address });
      const { workflowId } = await client.startMigration(env.spec);
      let rolledBackAt = 0;
      const report = await phaseChanges(client, workflowId, async (p) => {
        if (p.phase === 'Drain' && !rolledBackAt) {
          rolledBackAt = Date.now();
          await client.rollback(workflowId, { reason: 'e2e: rollback after cutover' });
        }
      });
      assert.equal(report.status, 'rolledBack', report.lastError ?? '');
      await new Promise((r) => setTimeout(r, 4000));
      await Promise.all(clients.map((c) => c.stop()));
      fig('e2e rollback run load (rate is a figure, not a check)', loadSummary(clients));
      const checks = await Promise.all(clients.map((c) => c.verifyState()));
      const progress = await client.getProgress(workflowId).catch(() => null);
      const cut = progress?.phaseTimings.find((t) => t.phase === 'CutoverDNS');
      assert.ok(cut, 'the forward cutover ran');
      // Two cutovers, two windows: forward (CutoverDNS start → the last client resolving the name to the target),
      // and back (the rollback request → the last client resolving the name to the source again). The second
      // ends at the reverse cutover, not at the end of the run: the rest of the rollback must not fail a request.
      const sourceIp = new URL(env.sourceUrl).hostname;
      const { windows, missing } = cutoverWindows(clients, sourceIp, cut.startedAt, rolledBackAt);
      assert.deepEqual(missing, [], 'every client resolved the name back to the source');
      const r = noLoss(clients, checks, windows);
      fig('e2e ClusterMesh rollback run', {
        ...r,
        windowsSeconds: windows.map((w) => (w.to - w.from) / 1000),
        reverseCutoverEndedSecondsBeforeRunEnd: (Date.now() - windows[1]!.to) / 1000,
        phaseSeconds: report.phaseSeconds,
      });
      assert.equal(r.lost, 0, 'acknowledged writes lost');
      assert.equal(r.wrong, 0, 'acknowledged contents changed');
      assert.equal(r.resurrected, 0, 'acknowledged removals undone');
      assert.deepEqual(r.anomalies, []);
      assert.ok(r.acked > 50, `clients wrote (${r.acked} acknowledged inserts)`);
      assert.equal(
        r.failedOutsideCutover,
        0,
        `failed requests outside the cutover windows: ${JSON.stringify(r.failures)}`,
      );
      assert.equal(report.shardsOnSource, report.shardsTotal);
      assert.deepEqual(report.dnsValues, [sourceIp]);
      assert.equal(report.bridgePresent, false);
      assert.equal(report.targetMembersPresent, false);
      assert.equal(report.agentsOnTarget, 0);
      // The cluster's own word: every member and shard copy back on eu pods, every seeded document unchanged.
      await assertClusterIn(env, 'eu');
      await assertSeededUnchanged(env, env.sourceUrl, before, clients, 'e2e rollback run');
      await client.close();
    },
  );
});
