// What the operator sees of the client-latency controller: progress (query), the current details markdown (Web
// UI) and `transit status` show the cap on moves in flight, the measured p99 against the objective and the reason
// of the last change; without policy.latency nothing of it appears.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import { currentDetailsMarkdown, initialState, progressOf } from '../src/workflows/state';
import { newLatencyState, stepLatency } from '../src/workflows/latency';
import { indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { formatProgress } from '../src/cli/commands/status';
import { worldSpec } from './harness/specs';

test('progress, current details and status show cap, p99 and the reason of the last change', () => {
  const spec = MigrationSpec.parse({
    ...worldSpec(),
    policy: { maxConcurrentShardMoves: 8, latency: { p99Ms: 25 } },
  });
  const s = initialState('m', spec);
  assert.equal(progressOf(s).clientLatency, undefined, 'nothing before the controller starts');
  const d = stepLatency(
    { ...newLatencyState(8), cap: 8, slowStart: false },
    { startMs: 0, endMs: 10_000, samples: 400, p99Ms: 61.5 },
    spec.policy.latency!,
    8,
  );
  s.clientLatency = {
    control: d.state,
    canaryKeys: ['canary-0'],
    last: { endMs: 10_000, samples: 400, errors: 0, p50Ms: 3.1, p99Ms: 61.5 },
  };
  const p = progressOf(s);
  assert.deepEqual(p.clientLatency, {
    cap: 4,
    objectiveMs: 25,
    p99Ms: 61.5,
    p50Ms: 3.1,
    samples: 400,
    action: 'backoff',
    reason: 'p99 61.5 ms > 25 ms: back off 8 → 4',
  });
  assert.match(
    currentDetailsMarkdown(s),
    /- \*\*Client latency:\*\* p99 61\.5 ms \(objective 25 ms, 400 samples\); moves in flight ≤ 4: p99 61\.5 ms > 25 ms: back off 8 → 4$/m,
  );
  assert.match(
    formatProgress(p),
    /client latency: p99 61\.5 ms \(objective 25 ms\), moves in flight ≤ 4 — p99 61\.5 ms > 25 ms: back off 8 → 4/,
  );
  // Since the patch latency-cap-copies the engine records that the cap bounds copies; progress and status say so.
  const emptyPlan = { planVersion: 1, servers: [], collections: [] };
  s.plan = emptyPlan;
  s.shards = { ...newShardRun('forward', indexPlan(emptyPlan), [], true), latencyCapOn: 'copies' };
  const pc = progressOf(s);
  assert.equal(pc.clientLatency!.capOn, 'copies');
  assert.match(currentDetailsMarkdown(s), /; copies in flight ≤ 4: p99 61\.5 ms/);
  assert.match(formatProgress(pc), /\(objective 25 ms\), copies in flight ≤ 4 — /);
  s.plan = null;
  s.shards = null;
  // setConcurrency below the cap: progress shows what applies.
  s.concurrency = 2;
  assert.equal(progressOf(s).clientLatency!.cap, 2);
  // Without policy.latency: nothing, even with a stale status.
  const plain = initialState('m', MigrationSpec.parse(worldSpec()));
  plain.clientLatency = s.clientLatency;
  assert.equal(progressOf(plain).clientLatency, undefined);
  assert.doesNotMatch(currentDetailsMarkdown(plain), /Client latency/);
});
