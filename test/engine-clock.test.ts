/**
 * The shard engine decides by a clock of recorded values (patch 'engine-recorded-clock', EngineClock in
 * src/workflows/job-engine.ts): the same activity results give the same commands, whatever time the workflow tasks
 * carry. A worker taking a migration over has been seen to run its first task with another time than the replay of
 * that task; an engine that decides by the task's time then issues other commands on replay (nondeterminism).
 *
 * A scripted agency in virtual time: MoveShard jobs take fixed, different times; the engine's `now()` (the task's
 * time) is either the virtual time or the virtual time shifted back and forth by up to 1.9 s (a lock gap is 2 s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runJobEngine, type JobEngineContext } from '../src/workflows/job-engine';
import { groupKey, indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { initialState } from '../src/workflows/state';
import { MigrationSpec } from '../src/spec/schema';
import type { ShardPlan } from '../src/activities/agency-types';
import { worldSpec } from './harness/specs';

const GROUPS = 8;

interface Job {
  shard: string;
  from: string;
  to: string;
  leader: boolean;
  endsAt: number;
}

/** Runs the engine to the end; returns the commands it gave (activities and timers, in order) and the end Plan. */
async function scripted(o: { recordedClock: boolean; jitter: boolean }) {
  const servers = ['a', 'b', 'c', 'd'];
  const plan: ShardPlan = {
    planVersion: 1,
    servers: servers.map((id) => ({ id, shortName: id, endpoint: `tcp://${id}:8529`, status: 'GOOD' as never })),
    collections: [
      {
        database: 'db',
        collectionId: '1',
        name: 'c',
        replicationFactor: 2,
        writeConcern: 1,
        clones: [],
        shards: Array.from({ length: GROUPS }, (_, i) => [`s${i}`, i % 2 ? [1, 0] : [0, 1], 1_000_000] as never),
      },
    ],
  };
  const ix = indexPlan(plan);
  const desired = Array.from({ length: GROUPS }, (_, g) => (g % 2 ? ['d', 'c'] : ['c', 'd']));
  const spec = MigrationSpec.parse({ ...worldSpec(), policy: { maxConcurrentShardMoves: 3 } });
  const state = initialState('clock', spec);
  state.plan = plan;
  state.targetServerIds = ['c', 'd'];
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };

  const current = new Map<string, string[]>();
  for (let g = 0; g < GROUPS; g++) current.set(groupKey(ix, g).shard, g % 2 ? ['b', 'a'] : ['a', 'b']);
  const jobs = new Map<string, Job>();
  const commands: string[] = [];
  let t = 1_000_000;
  let n = 0;
  let reads = 0;
  const apply = (j: Job) => {
    const s = current.get(j.shard)!.filter((x) => x !== j.from);
    current.set(j.shard, j.leader ? [j.to, ...s] : [...s, j.to]);
  };
  const acts: JobEngineContext['acts'] = {
    readClock: async () => (commands.push('readClock'), { at: t }),
    submitShardMoves: async (a) => {
      commands.push(`submit ${a.moves.map((m) => `${m.shard}:${m.fromServer}>${m.toServer}`).join(',')}`);
      return {
        results: a.moves.map((m, index) => {
          n += 1;
          const id = `j${n}`;
          // Each job takes its own time: 1.5 s to 3.6 s.
          jobs.set(id, {
            shard: m.shard,
            from: m.fromServer,
            to: m.toServer,
            leader: m.isLeader,
            endsAt: t + 1500 + 700 * (n % 4),
          });
          return { index, result: 'submitted' as const, jobId: id, existing: false };
        }),
      };
    },
    waitForShardMoves: async (a) => {
      commands.push(`wait ${a.jobs.map((j) => j.jobId).join(',')}`);
      const mine = a.jobs.map((k) => jobs.get(k.jobId)!);
      t = Math.min(t + a.timeoutSeconds * 1000, ...mine.map((j) => j.endsAt));
      const ended = a.jobs.flatMap((k, index) => {
        const j = jobs.get(k.jobId)!;
        if (j.endsAt > t) return [];
        apply(j);
        jobs.delete(k.jobId);
        return [{ index, status: 'finished' as const, servers: [...current.get(j.shard)!] }];
      });
      return { ended, progress: [], queued: [], at: t };
    },
    verifyShardCopies: async () => assert.fail('verification is off in this script'),
  };
  const ctx: JobEngineContext = {
    state,
    acts,
    ix,
    desired,
    // The task's time: the virtual time, or that shifted by up to ±1.9 s in a fixed pattern.
    now: () => t + (o.jitter ? [0, -1900, 1900, -700, 1200][reads++ % 5]! : 0),
    sleep: async (ms) => {
      commands.push(`sleep ${ms}`);
      t += ms;
    },
    safePoint: async () => undefined,
    step: <T>(_what: string, fn: () => Promise<T>) => fn(),
    onProgress: () => undefined,
    stopStarting: () => false,
    log: () => undefined,
    verify: false,
    raise: false,
    recordedClock: o.recordedClock,
  };
  assert.equal(await runJobEngine(ctx), 'done');
  return { commands, current };
}

test('on the recorded clock, the task times do not change one command of the engine', async () => {
  const steady = await scripted({ recordedClock: true, jitter: false });
  const shifted = await scripted({ recordedClock: true, jitter: true });
  // Every group ends on its desired servers, leader first, with one job per copy (2 per group).
  for (const [shard, s] of steady.current) assert.deepEqual(s, Number(shard.slice(1)) % 2 ? ['d', 'c'] : ['c', 'd']);
  const submitted = steady.commands.filter((c) => c.startsWith('submit')).flatMap((c) => c.slice(7).split(','));
  assert.equal(submitted.length, GROUPS * 2);
  assert.ok(
    steady.commands.some((c) => c.startsWith('sleep')),
    'the script waits out lock gaps on timers too',
  );
  assert.deepEqual(shifted.commands, steady.commands);
  assert.deepEqual([...shifted.current], [...steady.current]);
});

test("twin: on the task's time (runs recorded before the patch), the same results give other commands", async () => {
  const steady = await scripted({ recordedClock: false, jitter: false });
  const shifted = await scripted({ recordedClock: false, jitter: true });
  // Both converge; but what they asked for, and in which order, differs: a replay of one by the other would fail.
  for (const r of [steady, shifted])
    for (const [shard, s] of r.current) assert.deepEqual(s, Number(shard.slice(1)) % 2 ? ['d', 'c'] : ['c', 'd']);
  assert.notDeepEqual(shifted.commands, steady.commands);
});
