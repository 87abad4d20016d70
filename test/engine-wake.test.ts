// The jobs engine wakes when a group's gap after a job ends (patch 'wake-at-gap-end', src/workflows/job-engine.ts),
// rather than when the next job of any other group ends or the wait's 10 s run out. Run in this process on a
// virtual clock with scripted MoveShard jobs: one group whose jobs take 1 s, one whose single job takes 60 s. What is
// asserted is the order of events on that clock (the quick group's second job goes out before the slow job ends, at
// the end of its gap), and the twin: without the wake it waits for the slow group's wait to run out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShardPlan, SubmitShardMovesArgs, WaitForShardMovesArgs } from '../src/activities/agency-types';
import { MigrationSpec } from '../src/spec/schema';
import { indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { LOCK_GAP_MS, runJobEngine } from '../src/workflows/job-engine';
import { initialState } from '../src/workflows/state';
import { worldSpec } from './harness/specs';

/** Runs the engine on a virtual clock; returns every submitted job as [virtual ms, shard, from → to]. */
async function run(wakeAtGapEnd: boolean) {
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const plan: ShardPlan = {
    planVersion: 1,
    servers: ids.map((id) => ({ id, shortName: id, endpoint: `tcp://${id}:8529`, status: 'GOOD' as never })),
    collections: [
      {
        database: 'db',
        collectionId: '1',
        name: 'quick',
        replicationFactor: 2,
        writeConcern: 1,
        clones: [],
        shards: [['s0', [0, 1], 1000]],
      },
      {
        database: 'db',
        collectionId: '2',
        name: 'slow',
        replicationFactor: 2,
        writeConcern: 1,
        clones: [],
        shards: [['s1', [4, 5], 1000]],
      },
    ],
  };
  const ix = indexPlan(plan);
  const desired = [
    ['c', 'd'],
    ['g', 'h'],
  ];
  const state = initialState('wake', MigrationSpec.parse(worldSpec()));
  state.plan = plan;
  state.targetServerIds = ['c', 'd', 'g', 'h'];
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
  const planNow: Record<string, string[]> = { s0: ['a', 'b'], s1: ['e', 'f'] };
  const jobs = new Map<string, { shard: string; endsAt: number; after: string[] }>();
  const submitted: [number, string, string][] = [];
  let t = 0;
  let n = 0;
  const acts = {
    submitShardMoves: async (a: SubmitShardMovesArgs) => ({
      results: a.moves.map((m, index) => {
        const cur = planNow[m.shard]!;
        // The effect MoveShard leaves in Plan (as in test/shard-engine.test.ts).
        const rest = cur.filter((s) => s !== m.toServer && s !== m.fromServer);
        const after = m.isLeader
          ? [m.toServer, ...rest, ...(m.remainsFollower ? [m.fromServer] : [])]
          : [...cur.filter((s) => s !== m.fromServer), m.toServer];
        const jobId = `job-${++n}`;
        jobs.set(jobId, { shard: m.shard, endsAt: t + (m.shard === 's0' ? 1000 : 60_000), after });
        submitted.push([t, m.shard, `${m.fromServer} → ${m.toServer}`]);
        return { index, result: 'submitted' as const, jobId, existing: false };
      }),
    }),
    waitForShardMoves: async (a: WaitForShardMovesArgs) => {
      const ends = a.jobs.map((j) => jobs.get(j.jobId)!.endsAt);
      const first = Math.min(...ends);
      t = Math.min(first, t + a.timeoutSeconds * 1000);
      const ended = a.jobs.flatMap((j, index) => {
        const job = jobs.get(j.jobId)!;
        if (job.endsAt > t) return [];
        planNow[job.shard] = job.after;
        return [{ index, status: 'finished' as const, servers: job.after }];
      });
      return { ended, progress: [], queued: [], at: t };
    },
    verifyShardCopies: async () => assert.fail('verification is off in this test'),
  };
  const result = await runJobEngine({
    state,
    acts,
    ix,
    desired,
    now: () => t,
    sleep: async (ms) => void (t += ms),
    safePoint: async () => undefined,
    step: (_w, fn) => fn(),
    onProgress: () => undefined,
    stopStarting: () => false,
    log: () => undefined,
    verify: false,
    raise: false,
    wakeAtGapEnd,
  });
  assert.equal(result, 'done');
  assert.deepEqual(planNow, { s0: ['c', 'd'], s1: ['g', 'h'] }, 'both groups end where they should');
  return submitted;
}

test("a group's next job goes out when its gap ends, not when another group's long job ends", async () => {
  const jobs = await run(true);
  console.log('wake at gap end (virtual ms):', JSON.stringify(jobs));
  const quick = jobs.filter(([, s]) => s === 's0');
  assert.equal(quick.length, 2, 'the rf-2 group takes two jobs (verification off)');
  assert.equal(quick[0]![0], 0);
  assert.equal(quick[1]![0], 1000 + LOCK_GAP_MS, 'submitted at the end of the gap after its first job');
});

test('twin: without the wake, the next job waits until the wait on the slow job runs out', async () => {
  const jobs = await run(false);
  console.log('no wake (virtual ms):', JSON.stringify(jobs));
  const quick = jobs.filter(([, s]) => s === 's0');
  assert.equal(quick.length, 2);
  assert.ok(quick[1]![0] > 1000 + LOCK_GAP_MS, `submitted at ${quick[1]![0]} ms, after its gap had ended`);
});
