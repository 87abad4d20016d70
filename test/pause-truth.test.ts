/**
 * Pause tells the truth (the migration workflow on the real Temporal dev server, against the in-memory world): a
 * pause that arrives while MoveShard jobs copy lets those copies finish — they keep copying in ArangoDB whatever
 * Transit does — and progress keeps counting their bytes and says so ("paused — 4 copies finishing"); nothing new
 * starts; once they end, the migration parks (status paused) and no activity runs until resume. Also: in the
 * workflow, every group is compared (verifyShardCopies) while its source and target copies are both in Plan.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDevServer, type DevServer } from './harness/temporal';
import { withWorldMigration } from './harness/worker';
import { World } from '../src/sim/world';
import { waitFor, sleep } from './harness/procs';
import { pauseSignal, progressQuery, resumeSignal } from '../src/shared/controls';
import type { MigrationProgress, MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe('verification in the workflow (in-memory world)', () => {
  it(
    'twin: a group whose copies differ parks naming the shard and keeps its source copy; resume compares again',
    { timeout: 120_000 },
    async () => {
      const world = new World({ syncMs: 20 });
      await world.start();
      const victim = world.groups[0]!;
      world.corrupt.add(victim.key);
      await withWorldMigration(server, world, 'verify-twin', async (handle) => {
        const parked = await waitFor(
          'the workflow to park on the mismatch',
          async () => {
            const q = await handle.query(progressQuery);
            return q.paused && /differs from the source copy/.test(q.lastError ?? '') ? q : undefined;
          },
          { timeoutMs: 60_000 },
        );
        assert.equal(parked.phase, 'MoveShards');
        assert.match(parked.lastError!, new RegExp(`${victim.shard}\\b`), 'the message names the shard');
        // The world's Plan: the source leader still leads the group, the compared target copy is a follower.
        const v = world.verifications.filter((x) => x.group === victim.key);
        assert.ok(v.length >= 1);
        assert.equal(victim.plan[0], v[0]!.source, `source copy kept and leading: ${JSON.stringify(victim.plan)}`);
        // Fixed (the operator found the cause): resume compares again and the migration completes.
        world.corrupt.delete(victim.key);
        await handle.signal(resumeSignal);
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
        assert.ok(world.verifications.filter((x) => x.group === victim.key).length >= 2, 'compared again on resume');
        assert.equal(world.snapshot().groupsOnTarget, world.groups.length);
      });
    },
  );
});

describe('pause while copies are in flight', () => {
  it(
    'bytes keep rising while paused, the status says how many copies finish, nothing new starts',
    { timeout: 120_000 },
    async () => {
      const world = new World({
        syncMs: 4000,
        collections: [{ name: 'orders', shards: 6, replicationFactor: 2, clones: 1, bytes: 6_000_000 }],
      });
      await world.start();
      await withWorldMigration(server, world, 'pause-truth', async (handle) => {
        // The first wait for MoveShard jobs: jobs are in flight; pause there.
        const gate = world.gate((name) => name === 'waitForShardMoves');
        await gate.hit;
        const jobsAtPause = world.jobs.size;
        const copying = [...world.jobs.values()].filter((j) => j.status === 'Pending').length;
        assert.ok(copying > 0, 'copies in flight when the pause arrives');
        await handle.signal(pauseSignal, { reason: 'test' });
        gate.release();

        const samples: MigrationProgress[] = [];
        const parked = await waitFor(
          'the workflow to park',
          async () => {
            const q = await handle.query(progressQuery);
            if (q.pauseRequested && !q.paused) samples.push(q);
            return q.paused ? q : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 150 },
        );
        const finishing = samples.filter((q) => /^paused — \d+ cop(y|ies) finishing$/.test(q.statusText ?? ''));
        assert.ok(
          finishing.length >= 2,
          `status while the copies finish: ${JSON.stringify(samples.map((q) => q.statusText))}`,
        );
        assert.ok(finishing.every((q) => (q.copiesFinishing ?? 0) > 0 && q.copiesFinishing! <= copying));
        const bytes = finishing.map((q) => q.bytesDone);
        assert.ok(bytes[bytes.length - 1]! > bytes[0]!, `bytes rise while paused: ${bytes.join(', ')}`);
        console.log(`FIGURE bytes done while the pause waited for copies (in-memory world): ${bytes.join(' → ')}`);

        // Parked: the copies ended, nothing new started, and nothing runs until resume.
        assert.equal(parked.status, 'paused');
        assert.equal(parked.copiesFinishing, 0);
        assert.equal(world.jobs.size, jobsAtPause, 'no MoveShard job submitted after the pause');
        assert.equal([...world.jobs.values()].filter((j) => j.status === 'Pending').length, 0, 'no copy left running');
        const calls = world.calls.length;
        await sleep(1500);
        assert.equal(world.calls.length, calls, 'no activity runs while parked');

        await handle.signal(resumeSignal);
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
        const s = world.snapshot();
        assert.equal(s.groupsOnTarget, world.groups.length);
        assert.deepEqual(s.overReplicated, []);
        assert.deepEqual(world.duplicateEffects(), [], 'side effects applied twice');
        // Every group was compared while both copies were in Plan, once.
        assert.equal(new Set(world.verifications.map((v) => v.group)).size, world.groups.length);
        for (const v of world.verifications) assert.ok(v.plan.includes(v.source) && v.plan.includes(v.target));
        const q = await handle.query(progressQuery);
        assert.equal(q.verification?.shardsVerified, world.groups.length * 2, 'prototype and clone shards verified');
      });
    },
  );
});
