/**
 * The client-latency cap bounds the copies, not the moves (patch 'latency-cap-copies'; scheduler.ts
 * `latencyCapCounts`, job-engine.ts `holdCopiesOverCap`). A copy — a MoveShard job that adds a server — is what
 * loads a DB server's links and the queue its clients share; a group between its jobs (the lock gap) or waiting for
 * its next job loads nothing. A scripted agency in virtual time (MoveShard jobs of 1.5–3.6 s, the 2 s lock gap) and
 * probes that keep the controller at its start cap (2): read from the agency's side, the copy jobs in flight never
 * exceed the cap, nor one per server (its share: 2 copies × 2 servers each ÷ 4 servers), while more groups than the
 * cap are in flight at once. Its twin, the cap on moves (runs recorded before the patch), never has more than two
 * groups in flight. Since 'latency-copies-synced' a copy counts until its new copy is in sync (each job here has a
 * 2.5 s tail of supervision rounds after it): copy jobs in flight, tails included, then exceed the cap while the
 * copies still copying never do; its twin (before that patch) never has more copy jobs in flight than the cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runJobEngine, type JobEngineContext } from '../src/workflows/job-engine';
import { groupKey, indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { STEP, initialState } from '../src/workflows/state';
import { START_MOVES } from '../src/workflows/latency';
import { MigrationSpec } from '../src/spec/schema';
import { testShardPlan, worldSpec } from './harness/specs';

const GROUPS = 12;

interface Job {
  shard: string;
  from: string;
  to: string;
  leader: boolean;
  copy: boolean;
  /** When the new copy is in sync (a copy's bytes have moved); the job ends TAIL_MS later. */
  syncAt: number;
  endsAt: number;
}

/** A MoveShard job's supervision rounds after its copy is in sync (resign, new leader in Current, removal). */
const TAIL_MS = 2500;

async function scripted(latencyCapCounts: 'moves' | 'copies', copiesEndAtSync = true) {
  const servers = ['a', 'b', 'c', 'd'];
  const plan = testShardPlan(
    servers,
    Array.from({ length: GROUPS }, (_, i): [string, number[], number] => [`s${i}`, i % 2 ? [1, 0] : [0, 1], 1_000_000]),
  );
  const ix = indexPlan(plan);
  const desired = Array.from({ length: GROUPS }, (_, g) => (g % 2 ? ['d', 'c'] : ['c', 'd']));
  const spec = MigrationSpec.parse({
    ...worldSpec(),
    policy: {
      maxConcurrentShardMoves: 8,
      latency: { p99Ms: 50, windowSeconds: 5, parkAfterSeconds: 0, minSamples: 1 },
    },
  });
  const state = initialState('copies', spec);
  state.plan = plan;
  state.targetServerIds = ['c', 'd'];
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };

  const current = new Map<string, string[]>();
  for (let g = 0; g < GROUPS; g++) current.set(groupKey(ix, g).shard, g % 2 ? ['b', 'a'] : ['a', 'b']);
  const jobs = new Map<string, Job>();
  let t = 1_000_000;
  let n = 0;
  // What the agency shows at each submission: copy jobs in flight, those still copying (not in sync yet) in all and
  // per server (sender: the shard's leader).
  let maxCopies = 0;
  let maxCopying = 0;
  let maxPerServer = 0;
  let maxGroups = 0;
  const look = () => {
    const copies = [...jobs.values()].filter((j) => j.copy);
    maxCopies = Math.max(maxCopies, copies.length);
    const copying = copies.filter((j) => j.syncAt > t);
    maxCopying = Math.max(maxCopying, copying.length);
    const per = new Map<string, number>();
    for (const j of copying) for (const s of [current.get(j.shard)![0]!, j.to]) per.set(s, (per.get(s) ?? 0) + 1);
    maxPerServer = Math.max(maxPerServer, ...per.values(), 0);
    // Groups in flight: started and not yet on their desired servers.
    const moving = state.shards!.steps.filter((x) => x !== STEP.pending && x !== STEP.done).length;
    maxGroups = Math.max(maxGroups, moving);
  };
  const apply = (j: Job) => {
    const s = current.get(j.shard)!.filter((x) => x !== j.from);
    current.set(j.shard, j.leader ? [j.to, ...s] : [...s, j.to]);
  };
  const finished = () => state.shards!.steps.every((x) => x === STEP.done);
  const acts: JobEngineContext['acts'] = {
    readClock: async () => ({ at: t }),
    submitShardMoves: async (a) => {
      const results = a.moves.map((m, index) => {
        n += 1;
        const id = `j${n}`;
        const syncAt = t + 1000 + 700 * (n % 4);
        jobs.set(id, {
          shard: m.shard,
          from: m.fromServer,
          to: m.toServer,
          leader: m.isLeader,
          copy: !current.get(m.shard)!.includes(m.toServer),
          syncAt,
          endsAt: syncAt + TAIL_MS,
        });
        return { index, result: 'submitted' as const, jobId: id, existing: false };
      });
      look();
      return { results };
    },
    waitForShardMoves: async (a) => {
      look();
      const mine = a.jobs.map((k) => jobs.get(k.jobId)!);
      // Returns on the first job that ends, or (when given its toServer) whose copy gets in sync and was not known so.
      const watched = a.jobs.some((k) => k.toServer !== undefined);
      const syncs = a.jobs.flatMap((k, i) => (k.toServer !== undefined && !k.synced ? [mine[i]!.syncAt] : []));
      t = Math.max(t, Math.min(t + a.timeoutSeconds * 1000, ...mine.map((j) => j.endsAt), ...syncs));
      const synced: number[] = [];
      const ended = a.jobs.flatMap((k, index) => {
        const j = jobs.get(k.jobId)!;
        if (j.endsAt > t) {
          if (k.toServer !== undefined && j.syncAt <= t) synced.push(index);
          return [];
        }
        apply(j);
        jobs.delete(k.jobId);
        return [{ index, status: 'finished' as const, servers: [...current.get(j.shard)!] }];
      });
      return { ended, progress: [], queued: [], at: t, ...(watched ? { synced } : {}) };
    },
    verifyShardCopies: async () => assert.fail('verification is off in this script'),
    ensureLatencyCanary: async () => ({ keys: [{ key: 'k', shard: 's', servers: ['a'] }] }) as never,
    // The engine runs in microtasks (its activities answer at once), so the probe window ends when the run has: the
    // controller stays at its start cap for the whole run.
    probeClientLatency: (a) =>
      new Promise((resolve) => {
        const startMs = t;
        const poll = () =>
          finished() || t >= startMs + a.windowMs
            ? resolve({ startMs, endMs: t, samples: 100, errors: 0, p50Ms: 1, p99Ms: 1 } as never)
            : setImmediate(poll);
        poll();
      }),
    removeLatencyCanary: async () => undefined as never,
  };
  const caps: number[] = [];
  const ctx: JobEngineContext = {
    state,
    acts,
    ix,
    desired,
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    safePoint: async () => undefined,
    step: <T>(_what: string, fn: () => Promise<T>) => {
      if (state.clientLatency) caps.push(state.clientLatency.control.cap);
      return fn();
    },
    onProgress: () => undefined,
    stopStarting: () => false,
    log: () => undefined,
    verify: false,
    raise: false,
    recordedClock: true,
    latencyCapCounts,
    copiesEndAtSync,
  };
  const t0 = t;
  assert.equal(await runJobEngine(ctx), 'done');
  return {
    current,
    maxCopies,
    maxCopying,
    maxPerServer,
    maxGroups,
    caps: [...new Set(caps)],
    seconds: (t - t0) / 1000,
  };
}

test('the latency cap bounds the copies still copying, one per server at its share, not groups in flight', async () => {
  const r = await scripted('copies');
  for (const [shard, s] of r.current) assert.deepEqual(s, Number(shard.slice(1)) % 2 ? ['d', 'c'] : ['c', 'd']);
  assert.deepEqual(r.caps, [START_MOVES], 'the controller stayed at its start cap');
  assert.ok(r.maxCopying <= START_MOVES, `copies not yet in sync: at most ${r.maxCopying}`);
  assert.equal(r.maxCopying, START_MOVES, 'and the cap was used');
  assert.equal(r.maxPerServer, 1, 'one copy per server at a time (2 copies × 2 servers ÷ 4 servers)');
  assert.ok(r.maxGroups > START_MOVES, `groups in flight at once: ${r.maxGroups}, more than the cap`);
  // Since latency-copies-synced: a copy job in its tail (in sync, waiting for supervision) no longer counts.
  assert.ok(r.maxCopies > START_MOVES, `copy jobs in flight with their tails: ${r.maxCopies}, more than the cap`);
  console.log(`copies: ${r.maxGroups} groups, ${r.maxCopies} copy jobs in flight at most, ${r.seconds} s virtual`);
});

test('twin: before latency-copies-synced a copy job counts until it ends, its tail included', async () => {
  const r = await scripted('copies', false);
  for (const [shard, s] of r.current) assert.deepEqual(s, Number(shard.slice(1)) % 2 ? ['d', 'c'] : ['c', 'd']);
  assert.equal(r.maxCopies, START_MOVES, `copy jobs in flight: at most ${r.maxCopies}`);
  const c = await scripted('copies');
  // Printed, not asserted (a duration, even a virtual one).
  console.log(
    `virtual time to the end — copies count to their job's end: ${r.seconds} s; to their sync: ${c.seconds} s`,
  );
});

test('twin: with the cap on moves (before the patch), no more groups than the cap are in flight', async () => {
  const r = await scripted('moves');
  for (const [shard, s] of r.current) assert.deepEqual(s, Number(shard.slice(1)) % 2 ? ['d', 'c'] : ['c', 'd']);
  assert.equal(r.maxGroups, START_MOVES);
  const c = await scripted('copies');
  // Printed, not asserted (a duration, even a virtual one).
  console.log(`virtual time to the end — cap on moves: ${r.seconds} s; cap on copies: ${c.seconds} s`);
});
