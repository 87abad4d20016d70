// The client-latency controller (src/workflows/latency.ts) as a pure function: breach → back-off, recovery →
// growth, bounds (one move .. the ceiling), missing measurements → a safe low rate, parking when the objective
// cannot be met even at one move, and the cap reaching the scheduler through movesInFlightLimit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LatencyLoop,
  mergeRegionWindows,
  startEngineLatencyLoop,
  type ClientLatencyStatus,
  SAFE_MOVES,
  START_MOVES,
  newLatencyState,
  percentile,
  stepLatency,
  type LatencyControlState,
  type LatencyDecision,
  type LatencyObjective,
} from '../src/workflows/latency';
import { movesInFlightLimit, pickNext } from '../src/workflows/scheduler';
import { runJobEngine } from '../src/workflows/job-engine';
import { indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { initialState } from '../src/workflows/state';
import { MigrationSpec } from '../src/spec/schema';
import type { ShardPlan } from '../src/activities/agency-types';
import { testShardPlan, worldSpec } from './harness/specs';

const OBJ: LatencyObjective = {
  p99Ms: 10,
  windowSeconds: 10,
  parkAfterSeconds: 60,
  minSamples: 20,
  probeFrom: 'worker',
};

/** Feeds windows of `OBJ.windowSeconds` one after another: p99 per window (null = no samples), samples 50. */
function run(p99s: (number | null)[], ceiling = 16, s0?: LatencyControlState, t0 = 0, samples = 50): LatencyDecision[] {
  let s = s0 ?? newLatencyState(ceiling);
  const out: LatencyDecision[] = [];
  p99s.forEach((p, i) => {
    const startMs = t0 + i * OBJ.windowSeconds * 1000;
    const d = stepLatency(
      s,
      { startMs, endMs: startMs + OBJ.windowSeconds * 1000, samples: p === null ? 0 : samples, p99Ms: p },
      OBJ,
      ceiling,
    );
    s = d.state;
    out.push(d);
  });
  return out;
}

test('starts low, grows while clients are within the objective (slow start doubling), stops at the ceiling', () => {
  assert.equal(newLatencyState(16).cap, START_MOVES);
  const d = run([5, 5, 5, 5, 5]);
  assert.deepEqual(
    d.map((x) => x.cap),
    [4, 8, 16, 16, 16],
  );
  assert.deepEqual(
    d.map((x) => x.action),
    ['grow', 'grow', 'grow', 'hold', 'hold'],
  );
  assert.match(d[3]!.reason, /at the ceiling 16/);
});

test('a breach backs off multiplicatively, settles one window, then recovery grows additively', () => {
  const d = run([5, 5, 5, 30, 30, 30, 5, 5, 5]);
  assert.deepEqual(
    d.map((x) => `${x.action}:${x.cap}`),
    ['grow:4', 'grow:8', 'grow:16', 'backoff:8', 'settle:8', 'backoff:4', 'grow:5', 'grow:6', 'grow:7'],
  );
  assert.match(d[3]!.reason, /p99 30 ms > 10 ms: back off 16 → 8/);
  assert.match(d[6]!.reason, /p99 5 ms ≤ 10 ms: grow 4 → 5/);
  // The p99 and the reason of the last change travel in the state (progress, status).
  assert.equal(d[6]!.state.lastP99Ms, 5);
  assert.equal(d[6]!.state.changedAtMs, 70_000);
});

test('bounds: never below one move, never above the ceiling, a lowered ceiling applies at once', () => {
  const down = run(Array(12).fill(100) as number[]);
  assert.ok(down.every((x) => x.cap >= 1));
  assert.equal(down.at(-1)!.cap, 1);
  const up = run(Array(30).fill(1) as number[], 5);
  assert.ok(up.every((x) => x.cap <= 5));
  assert.equal(up.at(-1)!.cap, 5);
  // setConcurrency lowered to 3 between windows: the cap follows it even when clients are fine.
  const s = up.at(-1)!.state;
  const lowered = stepLatency(s, { startMs: 0, endMs: 10_000, samples: 50, p99Ms: 1 }, OBJ, 3);
  assert.equal(lowered.cap, 3);
  // Ceiling 1: always one move.
  assert.ok(run([1, 1, 1], 1).every((x) => x.cap === 1));
  // The scheduler's one decision point takes the least of ceiling and cap, at least one.
  assert.equal(movesInFlightLimit(16, 4), 4);
  assert.equal(movesInFlightLimit(3, 8), 3);
  assert.equal(movesInFlightLimit(16, 0), 1);
});

test('missing measurements hold at a safe low rate until samples return', () => {
  const d = run([5, 5, 5, null, null, 5]);
  assert.equal(d[2]!.cap, 16);
  assert.equal(d[3]!.action, 'no-measurement');
  assert.equal(d[3]!.cap, SAFE_MOVES);
  assert.match(d[3]!.reason, /no measurement: 0 samples in the window \(at least 20\); holding at 2/);
  assert.equal(d[4]!.cap, SAFE_MOVES);
  assert.equal(d[5]!.action, 'grow');
  // Too few samples is no measurement either, whatever their p99 says.
  const few = run([5, 5, 5], 16, undefined, 0, 19);
  assert.ok(few.every((x) => x.action === 'no-measurement' && x.cap <= SAFE_MOVES));
  // Already below the safe rate: it does not rise.
  const low = stepLatency(
    { ...newLatencyState(16), cap: 1 },
    { startMs: 0, endMs: 1, samples: 0, p99Ms: null },
    OBJ,
    16,
  );
  assert.equal(low.cap, 1);
});

test('parks when the objective cannot be met even at one move for parkAfterSeconds', () => {
  // Up to 16, down to one move (16 → 8 → settle → 4 → settle → 2 → settle → 1), then breaching at one move.
  const d = run([5, 5, 5, ...(Array(16).fill(50) as number[])]);
  assert.equal(d[2]!.cap, 16);
  const firstAtOne = d.findIndex((x) => x.cap === 1);
  assert.ok(firstAtOne > 0);
  const park = d.findIndex((x) => x.action === 'park');
  assert.ok(park > firstAtOne, 'parks only after reaching one move');
  // The first window breaching at one move starts the clock; parking after 60 s of such windows.
  const breachStart = (firstAtOne + 1) * OBJ.windowSeconds * 1000;
  const parkEnd = (park + 1) * OBJ.windowSeconds * 1000;
  assert.equal(parkEnd - breachStart, 60_000);
  assert.ok(d.slice(firstAtOne + 1, park).every((x) => x.action === 'hold' && x.cap === 1));
  assert.match(
    d[park]!.park!,
    /client latency objective cannot be met: p99 50 ms > 10 ms even at one move in flight for 60 s/,
  );
  // One good window at one move resets the clock.
  const reset = run([50, 50, 50, 50, 5, 50, 50, 50, 50, 50, 50, 50]);
  assert.equal(reset[3]!.cap, 1);
  assert.equal(reset[4]!.state.floorBreachSinceMs, null);
  const idx = reset.findIndex((x) => x.action === 'park');
  // Without the good window (index 4) it would park at index 6 (breaches at one move from window 1 on); with it,
  // the clock restarts: back to 2 at window 4 → back off at 5 → one move from window 6 → park at 11.
  assert.equal(
    run(Array(12).fill(50) as number[]).findIndex((x) => x.action === 'park'),
    6,
  );
  assert.ok(idx === -1 || idx >= 11, `parked at window ${idx} although window 4 met the objective`);
});

test('the controller is deterministic and its state survives JSON (continue-as-new)', () => {
  const p = [5, 5, 30, null, 30, 5, 5, 50, 50, 50];
  const a = run(p);
  const b = run(p);
  assert.deepEqual(a, b);
  const mid = JSON.parse(JSON.stringify(a[4]!.state)) as LatencyControlState;
  const rest = run(p.slice(5), 16, mid, 50_000);
  assert.deepEqual(
    rest.map((x) => x.cap),
    a.slice(5).map((x) => x.cap),
  );
});

test('percentile: nearest rank', () => {
  assert.equal(percentile([], 0.99), null);
  assert.equal(percentile([3], 0.99), 3);
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 0.99), 99);
  assert.equal(percentile(xs, 0.5), 50);
  assert.equal(percentile([...xs].reverse(), 0.99), 99);
});

/** A probe that reports the given p99 per window (null = the activity failed) on a clock it advances. */
function fakeProbe(p99s: (number | null)[], o: { windowMs: number }) {
  let t = 0;
  let i = 0;
  const calls: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => void (t += ms),
    probe: async (windowMs: number) => {
      assert.equal(windowMs, o.windowMs);
      const p = p99s[Math.min(i++, p99s.length - 1)]!;
      calls.push(t);
      if (p === null) throw new Error('probe failed');
      const startMs = t;
      t += windowMs;
      await Promise.resolve();
      return { startMs, endMs: t, samples: 50, p99Ms: p };
    },
    calls,
    count: () => i,
  };
}

test('the loop beside the engine: one step per window, the cap the scheduler reads, stop ends it', async () => {
  const f = fakeProbe([5, 5, 30, 30, 5, 5], { windowMs: 10_000 });
  const decisions: string[] = [];
  let ceiling = 16;
  const loop = new LatencyLoop({
    objective: OBJ,
    ceiling: () => ceiling,
    probe: f.probe,
    now: f.now,
    onDecision: (d) => {
      decisions.push(`${d.action}:${d.cap}`);
      if (decisions.length === 6) loop.stop();
    },
  });
  assert.equal(loop.cap, START_MOVES);
  await loop.start().ended();
  assert.deepEqual(decisions, ['grow:4', 'grow:8', 'backoff:4', 'settle:4', 'grow:5', 'grow:6']);
  assert.equal(loop.cap, 6);
  assert.equal(movesInFlightLimit(ceiling, loop.cap), 6);
  ceiling = 3; // setConcurrency lowered: the cap the scheduler reads follows at once
  assert.equal(loop.cap, 3);
  assert.equal(f.count(), 6);
});

test('the loop: a failing probe is no measurement (safe low rate, the rest of the window waited out); park once, then the clock restarts', async () => {
  const f = fakeProbe([5, 5, 5, null, ...(Array(30).fill(50) as number[])], { windowMs: 10_000 });
  const parks: string[] = [];
  const decisions: LatencyDecision[] = [];
  const loop = new LatencyLoop({
    objective: { ...OBJ, parkAfterSeconds: 30 },
    ceiling: () => 16,
    probe: f.probe,
    now: f.now,
    sleep: f.sleep,
    onPark: (m) => parks.push(m),
    onDecision: (d) => {
      decisions.push(d);
      if (decisions.length === 20) loop.stop();
    },
  });
  await loop.start().ended();
  assert.equal(decisions[3]!.action, 'no-measurement');
  assert.equal(decisions[3]!.cap, SAFE_MOVES);
  assert.equal(f.calls[4]! - f.calls[3]!, 10_000, 'the failed window was waited out');
  // Two parks in 16 breaching windows: each after 30 s of windows at one move.
  const parkAt = decisions.map((d, i) => (d.action === 'park' ? i : -1)).filter((i) => i >= 0);
  assert.equal(parks.length, parkAt.length);
  assert.ok(parks.length >= 2, `parks at ${parkAt.join(',')}`);
  assert.equal(parkAt[1]! - parkAt[0]!, 3, 'after a park the clock restarts: 3 more windows of 10 s');
  assert.match(parks[0]!, /even at one move in flight for 30 s/);
});

test('the engine hook: no objective → no loop; with one: canary created once, status carried, park reaches the engine', async () => {
  const base = {
    ceiling: () => 16,
    now: () => 0,
    sleep: async () => undefined,
    park: () => undefined,
    onProgress: () => undefined,
    log: () => undefined,
  };
  const noCalls = {
    ensureLatencyCanary: async () => assert.fail('no canary without policy.latency'),
    probeClientLatency: async () => assert.fail('no probes without policy.latency'),
  };
  assert.equal(
    await startEngineLatencyLoop({
      ...base,
      objective: undefined,
      status: { get: () => undefined, set: () => undefined },
      acts: noCalls,
    }),
    null,
  );

  let t = 0;
  let status: ClientLatencyStatus | undefined;
  let canaries = 0;
  const probed: string[][] = [];
  const parks: string[] = [];
  const logs: string[] = [];
  let progress = 0;
  const p99s = [5, 5, ...(Array(40).fill(80) as number[])];
  let stopAfter = 12;
  let loop: Awaited<ReturnType<typeof startEngineLatencyLoop>> = null;
  const deps = {
    ...base,
    objective: { ...OBJ, parkAfterSeconds: 30 },
    now: () => t,
    status: { get: () => status, set: (s: ClientLatencyStatus) => void (status = JSON.parse(JSON.stringify(s))) },
    acts: {
      ensureLatencyCanary: async () => (canaries++, { keys: [{ key: 'canary-0' }, { key: 'canary-3' }] }),
      probeClientLatency: async (a: { keys: string[]; windowMs: number }) => {
        probed.push(a.keys);
        const startMs = t;
        t += a.windowMs;
        await Promise.resolve();
        return { startMs, endMs: t, samples: 100, errors: 0, p50Ms: 2, p99Ms: p99s.shift() ?? 80 };
      },
    },
    park: (m: string) => parks.push(m),
    onProgress: () => {
      progress += 1;
      if (progress === stopAfter) loop?.stop();
    },
    log: (m: string, meta?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(meta)}`),
  };
  loop = await startEngineLatencyLoop(deps);
  assert.ok(loop);
  await loop.ended();
  assert.equal(canaries, 1);
  assert.deepEqual(probed[0], ['canary-0', 'canary-3']);
  assert.equal(status!.last!.p99Ms, 80);
  assert.equal(status!.control.lastP99Ms, 80);
  assert.equal(parks.length, 1, 'parked once the objective could not be met at one move for 30 s');
  assert.match(parks[0]!, /cannot be met/);
  assert.ok(logs.some((l) => l.includes('"action":"backoff"')));
  // Continue-as-new: a new engine run continues from the carried status without a second canary.
  const carried = status!;
  stopAfter = progress + 1;
  loop = await startEngineLatencyLoop(deps);
  await loop!.ended();
  assert.equal(canaries, 1);
  assert.equal(status!.control.cap, 1);
  assert.ok(carried.control.cap === 1);
});

test('policy.latency.probeRatePerSecond reaches the probe activity; without it the input has no rate (as recorded)', async () => {
  const seen: Record<string, unknown>[] = [];
  for (const objective of [{ ...OBJ, probeRatePerSecond: 7 }, OBJ]) {
    let t = 0;
    let loop: Awaited<ReturnType<typeof startEngineLatencyLoop>> = null;
    loop = await startEngineLatencyLoop({
      objective,
      ceiling: () => 16,
      now: () => t,
      sleep: async () => undefined,
      park: () => undefined,
      onProgress: () => loop?.stop(),
      log: () => undefined,
      status: { get: () => undefined, set: () => undefined },
      acts: {
        ensureLatencyCanary: async () => ({ keys: [{ key: 'canary-0' }] }),
        probeClientLatency: async (a: { keys: string[]; windowMs: number; ratePerSecond?: number }) => {
          seen.push(a);
          t += a.windowMs;
          return { startMs: t - a.windowMs, endMs: t, samples: 50, errors: 0, p50Ms: 1, p99Ms: 5 };
        },
      },
    });
    await loop!.ended();
  }
  assert.equal(seen[0]!.ratePerSecond, 7);
  assert.equal('ratePerSecond' in seen.at(-1)!, false, 'no rate key when the spec sets none');
});

test('the engine creates the canary for each run and removes it when it returns (a later run creates it again)', async () => {
  const plan: ShardPlan = { planVersion: 1, servers: [], collections: [] };
  const ix = indexPlan(plan);
  const spec = MigrationSpec.parse({ ...worldSpec(), policy: { latency: { p99Ms: 50, windowSeconds: 5 } } });
  const state = initialState('m', spec);
  state.plan = plan;
  state.shards = { ...newShardRun('forward', ix, [], true), engine: 'jobs' };
  const calls: string[] = [];
  let t = 0;
  const acts = {
    submitShardMoves: async () => assert.fail('nothing to move'),
    waitForShardMoves: async () => assert.fail('nothing to move'),
    verifyShardCopies: async () => assert.fail('nothing to move'),
    ensureLatencyCanary: async () => (calls.push('ensure'), { keys: [{ key: 'canary-0' }] }) as never,
    probeClientLatency: async (a: { windowMs: number }) => {
      calls.push('probe');
      t += a.windowMs;
      return { startMs: t - a.windowMs, endMs: t, samples: 50, errors: 0, p50Ms: 1, p99Ms: 5 } as never;
    },
    removeLatencyCanary: async () => (calls.push('remove'), { removed: true }),
  };
  const ctx = {
    state,
    acts,
    ix,
    desired: [],
    now: () => t,
    sleep: async () => undefined,
    safePoint: async () => undefined,
    step: <T>(_w: string, fn: () => Promise<T>) => fn(),
    onProgress: () => undefined,
    stopStarting: () => false,
    log: () => undefined,
  };
  assert.equal(await runJobEngine(ctx), 'done');
  const shape = () =>
    calls
      .join(' ')
      .replace(/(probe ?)+/g, 'probe… ')
      .replace(/ +/g, ' ')
      .trim();
  assert.equal(shape(), 'ensure probe… remove');
  assert.deepEqual(state.clientLatency!.canaryKeys, [], 'the removed canary is forgotten');
  assert.equal(state.clientLatency!.control.lastP99Ms, 5, 'the controller state stays');
  await runJobEngine(ctx);
  assert.equal(shape(), 'ensure probe… remove ensure probe… remove');
});

test('the scheduler honours the cap with and without learned rates (one decision point)', () => {
  const plan: ShardPlan = {
    planVersion: 1,
    servers: ['a', 'b', 'c', 'd'].map((id) => ({
      id,
      shortName: id,
      endpoint: `tcp://${id}:8529`,
      status: 'GOOD' as never,
    })),
    collections: [
      {
        database: 'db',
        collectionId: '1',
        name: 'c',
        replicationFactor: 1,
        writeConcern: 1,
        clones: [],
        shards: Array.from({ length: 8 }, (_, i) => [`s${i}`, [i % 2], 1000] as [string, number[], number]),
      },
    ],
  };
  const ix = indexPlan(plan);
  const base = {
    ix,
    desired: (g: number) => [['c', 'd'][g % 2]!],
    current: (g: number) => [['a', 'b'][g % 2]!],
    pending: Array.from({ length: 8 }, (_, g) => g),
    inFlight: [],
    limit: 8,
  };
  assert.ok(pickNext(base).length > 2, 'without a cap more than two start');
  assert.equal(pickNext({ ...base, latencyCap: 2 }).length, 2, 'classic path');
  assert.equal(pickNext({ ...base, latencyCap: 2, rate: () => 1e6 }).length, 2, 'learned rates');
  assert.equal(pickNext({ ...base, latencyCap: 2, inFlight: [0, 1], pending: [2, 3, 4, 5, 6, 7] }).length, 0);
});

// LATENCY_COPIES_PATCH: the cap bounds the moves still copying, each server at most its fair share of them.
test('latency cap on copies: moves in sync do not count, and no server takes more than its share', () => {
  const servers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  // 16 shards on the old servers a–d (4 each), moving to e–h.
  const plan = testShardPlan(
    servers,
    Array.from({ length: 16 }, (_, i): [string, number[], number] => [`s${i}`, [i % 4], 1000]),
  );
  const ix = indexPlan(plan);
  const old = ['a', 'b', 'c', 'd'];
  const neu = ['e', 'f', 'g', 'h'];
  const base = {
    ix,
    desired: (g: number) => [neu[g % 4]!],
    current: (g: number) => [old[g % 4]!],
    limit: 16,
    latencyCapCounts: 'copies' as const,
  };
  const inSync = { inFlight: [0, 1, 2, 3], pending: Array.from({ length: 12 }, (_, i) => i + 4) };
  for (const rate of [undefined, () => 1e6]) {
    const r = rate ? { rate } : {};
    // Four moves in flight, all in sync (nothing left to copy): under 'copies' they leave the cap of 4 free.
    const copies = pickNext({ ...base, ...r, ...inSync, latencyCap: 4, remaining: () => 0 });
    assert.equal(copies.length, 4, `copies ${rate ? 'learned rates' : 'classic'}`);
    // One copy per server (cap 4 over 8 servers, a copy loads two): every picked group has another sender.
    assert.equal(new Set(copies.map((g) => old[g % 4])).size, 4, 'one copy per sender');
    // The twin: the same input with the cap on every move in flight (runs before the patch) starts nothing.
    assert.equal(
      pickNext({ ...base, ...r, ...inSync, latencyCap: 4, latencyCapCounts: 'moves', remaining: () => 0 }).length,
      0,
    );
    // Moves still copying do count.
    assert.equal(pickNext({ ...base, ...r, ...inSync, latencyCap: 4, remaining: () => 500 }).length, 0);
    // A server's fair share: cap 4 → one copy each; with only sender a's groups pending, one starts, not four.
    const onlyA = { inFlight: [], pending: [0, 4, 8, 12] };
    assert.equal(pickNext({ ...base, ...r, ...onlyA, latencyCap: 4 }).length, 1, 'one copy on a');
    assert.equal(pickNext({ ...base, ...r, ...onlyA, latencyCap: 4, latencyCapCounts: 'moves' }).length, 4, 'twin');
    // A cap of 8: two copies per server.
    assert.equal(pickNext({ ...base, ...r, ...onlyA, latencyCap: 8 }).length, 2, 'two copies on a');
  }
});

test('a breach only on canary shards that changed leader holds the cap; one that the other shards show too backs off', () => {
  const grown = run([5, 5]).at(-1)!.state; // cap 8
  const w = { startMs: 0, endMs: 10_000, samples: 50, p99Ms: 300 };
  // The steady shards are within the objective: the stall was the switch's; hold, with the reason.
  const held = stepLatency(grown, { ...w, switchedShards: 2, steadyP99Ms: 6 }, OBJ, 16);
  assert.equal(`${held.action}:${held.cap}`, 'hold:8');
  assert.match(held.reason, /only on 2 canary shards that changed leader.*p99 6 ms.*holding at 8/);
  // Twins: the steady shards breach as well → back off; no steady sample, no switch, or a result recorded before the
  // field existed → judged by p99 alone (back off), as before.
  for (const extra of [
    { switchedShards: 2, steadyP99Ms: 30 },
    { switchedShards: 2, steadyP99Ms: null },
    { switchedShards: 0, steadyP99Ms: 6 },
    {},
  ]) {
    const d = stepLatency(grown, { ...w, ...extra }, OBJ, 16);
    assert.equal(`${d.action}:${d.cap}`, 'backoff:4', JSON.stringify(extra));
  }
});

test('regions merged: the steady p99 is the worst region’s, and none when a region has no steady sample', () => {
  const win = (p99Ms: number, steadyP99Ms?: number | null) => ({
    startMs: 0,
    endMs: 5000,
    samples: 100,
    errors: 0,
    p50Ms: 1,
    p99Ms,
    ...(steadyP99Ms !== undefined ? { switchedShards: 1, steadyP99Ms } : {}),
  });
  const m = mergeRegionWindows([
    { region: 'eu', window: win(200, 5) },
    { region: 'us', window: win(40, 8) },
  ]);
  assert.equal(m.p99Ms, 200);
  assert.equal(m.steadyP99Ms, 8);
  assert.equal(
    mergeRegionWindows([
      { region: 'eu', window: win(200, null) },
      { region: 'us', window: win(4, 3) },
    ]).steadyP99Ms,
    null,
  );
  assert.equal(
    mergeRegionWindows([
      { region: 'eu', window: win(200, 5) },
      { region: 'us', window: win(4) },
    ]).steadyP99Ms,
    undefined,
  );
});
