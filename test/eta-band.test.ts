// The ETA band (issue: see and predict): P50 and P90 from this run's own byte-rate samples, shown by progress, the
// Web UI's current details and `transit status`; nothing before there are enough samples or outside MoveShards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import { currentDetailsMarkdown, etaBand, etaSeconds, initialState, progressOf } from '../src/workflows/state';
import { formatProgress } from '../src/cli/commands/status';
import { progressLine } from '../src/cli/progress-display';
import { testShardPlan, worldSpec } from './harness/specs';

function state(samples: ([number, number] | [number, number, number])[]) {
  const s = initialState('m', MigrationSpec.parse(worldSpec()));
  s.phase = 'MoveShards';
  s.plan = testShardPlan(
    ['PRMR-a'],
    [
      ['s1', [0], 1000],
      ['s2', [0], 1000],
    ],
  );
  s.etaSamples = samples;
  return s;
}

test('P50 from the median window rate, P90 from the slow windows; none before 4 samples or outside MoveShards', () => {
  // 100 B/s throughout, 2000 bytes left: 20 s either way.
  const even = state(Array.from({ length: 8 }, (_, i) => [i * 1000, i * 100] as [number, number]));
  assert.deepEqual(etaBand(even), { p50Seconds: 20, p90Seconds: 20 });
  // Bursts: windows of half the samples (4 s) at 75, 150, 225 and 150 B/s — P50 from 150 B/s, P90 from 75 B/s.
  const bursty = state([
    [0, 0],
    [1000, 0],
    [2000, 0],
    [3000, 300],
    [4000, 300],
    [5000, 600],
    [6000, 900],
    [7000, 900],
  ]);
  const b = etaBand(bursty)!;
  assert.ok(b.p90Seconds !== null && b.p90Seconds >= b.p50Seconds, JSON.stringify(b));
  assert.deepEqual(b, { p50Seconds: Math.round(2000 / 150), p90Seconds: Math.round(2000 / 75) });
  // A slow window that moved nothing: P90 unknown, P50 still there.
  const stalled = state([
    [0, 0],
    [1000, 0],
    [2000, 0],
    [3000, 0],
    [4000, 400],
    [5000, 800],
  ]);
  assert.deepEqual(etaBand(stalled), { p50Seconds: Math.round(2000 / (400 / 3)), p90Seconds: null });
  assert.equal(
    etaBand(
      state([
        [0, 0],
        [1000, 100],
        [2000, 200],
      ]),
    ),
    null,
    'three samples: no band yet',
  );
  const other = state(even.etaSamples);
  other.phase = 'MoveAgents';
  assert.equal(etaBand(other), null);
  // Where operators look.
  const p = progressOf(even);
  assert.deepEqual(p.etaBand, { p50Seconds: 20, p90Seconds: 20 });
  assert.match(formatProgress(p), /ETA \d+s \(P50 20s, P90 20s\)/);
  assert.match(currentDetailsMarkdown(even), /- \*\*ETA:\*\* \d+ s \(P50 20 s, P90 20 s\)/);
  assert.match(progressLine(p), /ETA \d+ s \(P50 20 s, P90 20 s\)/);
});

test('when MoveShard jobs, not bytes, are the limit, the shard groups still to finish decide (the later of the two)', () => {
  // Bytes at 250 B/s (2000 left: 8 s), but one group of two done in 7 s (2 left: 14 s).
  const xs = Array.from({ length: 8 }, (_, i) => [i * 1000, i * 250, i === 7 ? 1 : 0] as [number, number, number]);
  const s = state(xs);
  assert.equal(etaSeconds(s), 14);
  // A state carried from before groups were sampled: bytes only, as before.
  assert.equal(etaSeconds(state(xs.map(([t, b]) => [t, b] as [number, number]))), 8);
  // The band: the group-rate windows (half the samples) saw a group in one window of four — too few for a P50, and
  // the P90 is unknown; the bytes' P50 stands.
  assert.deepEqual(etaBand(s), { p50Seconds: 8, p90Seconds: null });
});
