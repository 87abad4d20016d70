// The pre-start estimate of `transit plan` (issue: see and predict): a model of MoveShards from the MoveShard jobs
// it takes and, when the per-server bandwidth is known, the busiest server's bytes. Checked by hand on small plans.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateMoveShards, formatEstimate, JOB_SECONDS } from '../src/cli/estimate';
import { indexPlan } from '../src/workflows/plan';
import { testShardPlan } from './harness/specs';

/** `groups` rf-2 groups of `bytes` each on a, b; all of them go to c, d. */
function plan(groups: number, bytes: number) {
  const p = testShardPlan(
    ['a', 'b', 'c', 'd'],
    Array.from({ length: groups }, (_, i) => [`s${i}`, [0, 1], bytes] as [string, number[], number]),
  );
  const ix = indexPlan(p);
  return { ix, desired: Array.from({ length: groups }, () => ['c', 'd']) };
}

test('bound by the jobs: three per rf-2 group that moves both copies (two copies, one leader change), groups at the ceiling at a time, the slowest group a floor', () => {
  const { ix, desired } = plan(32, 1000);
  const e = estimateMoveShards(ix, desired, { concurrency: 16 });
  const group = (s: { job: number; gap: number }) => 3 * s.job + 2 * s.gap;
  assert.equal(e.jobs, 96);
  assert.equal(e.boundBy, 'jobs');
  assert.equal(e.p50Seconds, Math.round((32 * group(JOB_SECONDS.p50)) / 16));
  assert.equal(e.p90Seconds, Math.round((32 * group(JOB_SECONDS.p90)) / 16));
  assert.equal(e.linkSeconds, null);
  // More concurrency than groups: one group's time.
  assert.equal(estimateMoveShards(ix, desired, { concurrency: 1000 }).p50Seconds, Math.round(group(JOB_SECONDS.p50)));
  assert.match(formatEstimate(e), /links not counted \(no bandwidth given/);
});

test('bound by the links when the busiest server needs longer than the jobs', () => {
  // 32 groups of 1 GB; a leads every group and sends each to both receivers: 64 GB at 100 MB/s = 640 s.
  const { ix, desired } = plan(32, 1e9);
  const e = estimateMoveShards(ix, desired, { concurrency: 16, bandwidthBytesPerSecond: 1e8 });
  assert.equal(e.boundBy, 'links');
  assert.equal(e.linkSeconds, 640);
  assert.equal(e.p50Seconds, 640);
  assert.ok(e.p90Seconds >= 640);
  assert.match(formatEstimate(e), /10 min|11 min/);
});

test('nothing to move: zero', () => {
  const { ix } = plan(4, 1000);
  const e = estimateMoveShards(
    ix,
    Array.from({ length: 4 }, () => ['a', 'b']),
    { concurrency: 16 },
  );
  assert.deepEqual([e.jobs, e.p50Seconds, e.p90Seconds], [0, 0, 0]);
});
