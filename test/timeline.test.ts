// The workflow's timeline (issue: see and predict): progress and ETA samples while shards move, bounded by a byte cap
// whatever the length of the migration, the moment the run finished always kept; carried in the state (so across
// continue-as-new) and in the result; the report's ETA error table is computed from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import {
  initialState,
  recordTimeline,
  reportOf,
  STEP,
  TIMELINE_BYTES,
  TIMELINE_FIRST_EVERY_MS,
} from '../src/workflows/state';
import { indexPlan } from '../src/workflows/plan';
import { newShardRun } from '../src/workflows/shard-mover';
import { etaErrors, etaSegments } from '../src/report/eta';
import { testShardPlan, worldSpec } from './harness/specs';

/** A MoveShards state with `groups` one-shard groups of 1000 bytes, none moved yet. */
function moving(groups: number) {
  const s = initialState('m', MigrationSpec.parse(worldSpec()));
  s.phase = 'MoveShards';
  s.plan = testShardPlan(
    ['PRMR-a', 'PRMR-b'],
    Array.from({ length: groups }, (_, i) => [`s${i}`, [0], 1000] as [string, number[], number]),
  );
  const ix = indexPlan(s.plan);
  s.shards = newShardRun(
    'forward',
    ix,
    Array.from({ length: groups }, () => ['PRMR-b']),
    true,
  );
  return s;
}

test('one sample per interval; the finishing moment is kept whatever the interval; nothing more after it', () => {
  const s = moving(4);
  for (let t = 0; t <= 12_000; t += 1000) recordTimeline(s, t);
  assert.deepEqual(
    s.timeline!.samples.map((x) => x[0]),
    [0, 5000, 10_000],
    `every ${TIMELINE_FIRST_EVERY_MS} ms`,
  );
  for (let g = 0; g < 4; g++) s.shards!.steps[g] = STEP.done;
  recordTimeline(s, 12_500);
  recordTimeline(s, 13_000);
  recordTimeline(s, 30_000);
  const last = s.timeline!.samples.at(-1)!;
  assert.equal(last[0], 12_500, 'the moment every byte was done');
  assert.deepEqual(last.slice(1, 5), [4000, 4000, 4, 4]);
  assert.equal(s.timeline!.samples.length, 4, 'no sample after the end');
  assert.deepEqual(reportOf(s, 'x').timeline, s.timeline, 'the result carries it');
});

test(`a 48-hour migration stays under ${TIMELINE_BYTES / 1024} KB: thinned, the interval doubled, both ends kept`, () => {
  // The cap depends on the number of samples and the width of the numbers, not on the shard count: 2,000 groups of
  // a terabyte each make every byte figure as wide as it gets.
  const groups = 2000;
  const s = moving(groups);
  for (const c of s.plan!.collections) for (const sh of c.shards) sh[2] = 1e12;
  s.spec.policy.bandwidthBytesPerSecond = 1_000_000; // an ETA from the first sample on
  const hours = 48;
  const perGroupMs = (hours * 3_600_000) / groups;
  let g = 0;
  for (let t = 0; t < hours * 3_600_000 + 60_000; t += 1000) {
    while (g < groups && (g + 1) * perGroupMs <= t) s.shards!.steps[g++] = STEP.done;
    recordTimeline(s, t);
  }
  const tl = s.timeline!;
  const json = JSON.stringify(tl.samples).length;
  console.log(`FIGURE timeline after ${hours} h: ${tl.samples.length} samples, ${json} bytes, every ${tl.everyMs} ms`);
  assert.ok(json <= TIMELINE_BYTES, `${json} bytes`);
  assert.equal(tl.bytes, json, 'the running byte count is exact');
  assert.ok(tl.everyMs > TIMELINE_FIRST_EVERY_MS, 'the interval doubled');
  assert.equal(tl.samples[0]![0], 0, 'the first sample stays');
  const end = tl.samples.find((x) => x[1] === x[2]);
  assert.ok(end, 'the finishing moment stays');
  assert.equal(end[0], hours * 3_600_000, 'at the second the last group was done');
  assert.equal(tl.samples.at(-1), end, 'nothing after it');
});

test('the ETA error table: predicted against actual remaining at 10/25/50/75 % of bytes, per shard run', () => {
  const tl = {
    everyMs: 5000,
    bytes: 0,
    samples: [
      // t, bytesDone, bytesTotal, shardsDone, shardsTotal, inFlight, eta, p50, p90, direction
      [0, 0, 1000, 0, 10, 2, -1, -1, -1, 0],
      [10_000, 100, 1000, 1, 10, 2, 120, 110, 150, 0],
      [20_000, 250, 1000, 2, 10, 2, 60, 70, 80, 0],
      [50_000, 500, 1000, 5, 10, 2, 50, 50, 90, 0],
      [80_000, 750, 1000, 7, 10, 2, 20, 20, 25, 0],
      [100_000, 1000, 1000, 10, 10, 0, 0, 0, 0, 0],
      // a rollback that has not finished: not judged
      [120_000, 0, 1000, 0, 10, 1, -1, -1, -1, 1],
    ],
  };
  const segs = etaSegments(tl);
  assert.deepEqual(
    segs.map((x) => [x.direction, x.end]),
    [
      ['forward', 100_000],
      ['back', null],
    ],
  );
  const rows = etaErrors(tl);
  assert.deepEqual(
    rows.map((r) => [r.fraction, r.predictedS, r.actualS, r.errorPct, r.withinP90]),
    [
      [0.1, 120, 90, 33.3, true],
      [0.25, 60, 80, -25, true],
      [0.5, 50, 50, 0, true],
      [0.75, 20, 20, 0, true],
    ],
  );
  // A run whose ETA is unknown at a fraction: the row says so rather than inventing one.
  const unknown = etaErrors({
    ...tl,
    samples: tl.samples.map((x) => (x[0] === 10_000 ? [...x.slice(0, 6), -1, -1, -1, 0] : x)),
  });
  assert.deepEqual(unknown[0]!.predictedS, null);
  assert.equal(unknown[0]!.errorPct, null);
});
