// The live progress display's plain-line fallback (not a terminal: one line per change, rate-limited, the ETA alone
// is no change), its bars on a terminal, and the version checks' labels from the worker's region setting.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import { initialState, progressOf } from '../src/workflows/state';
import { createProgressDisplay, formatBytes, formatEta } from '../src/cli/progress-display';
import { probePath, workerRegionFromEnv } from '../src/activities/probes';
import type { MigrationProgress } from '../src/shared/types';
import { worldSpec } from './harness/specs';

function sink(isTTY: boolean): Writable & { text: string; isTTY: boolean; columns: number } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string; isTTY: boolean; columns: number };
  w.text = '';
  w.isTTY = isTTY;
  w.columns = 160;
  return w;
}

const base = (): MigrationProgress => progressOf(initialState('m', MigrationSpec.parse(worldSpec())));

test('not a terminal: one line per change, at most one per interval, phase changes at once, the last state at stop', () => {
  const out = sink(false);
  let now = 0;
  const d = createProgressDisplay({ stream: out, minIntervalMs: 2000, now: () => now });
  const p: MigrationProgress = {
    ...base(),
    label: 'Moving shards' as MigrationProgress['label'],
    shardsTotal: 16,
    bytesTotal: 4_000_000,
    agentsTotal: 3,
  };
  d.update({ ...p, etaSeconds: 90 });
  now = 500;
  d.update({ ...p, etaSeconds: 80 }); // the ETA alone: no line
  now = 900;
  d.update({ ...p, shardsDone: 2, shardsInFlight: 4, etaSeconds: 70 }); // a change, but within 2 s: held
  now = 1500;
  d.update({ ...p, label: 'Moving agents' as MigrationProgress['label'], shardsDone: 16, bytesDone: 4_000_000 });
  now = 1600;
  d.update({
    ...p,
    label: 'Moving agents' as MigrationProgress['label'],
    shardsDone: 16,
    bytesDone: 4_000_000,
    agentsMoved: 1,
    verification: { shardsVerified: 9, shardsUnverified: 0, groupsVerified: 3, medianMs: 40, maxMs: 90 },
  });
  d.log('a log line');
  d.stop();
  const lines = out.text.trimEnd().split('\n');
  assert.equal(lines.length, 4, out.text);
  assert.match(
    lines[0]!,
    /^\[Moving shards · running\] shards 0\/16 \(0 in flight\) · bytes 0 B\/4\.0 MB \(0 %\) · ETA 1 min 30 s · agents 0\/3$/,
  );
  assert.match(lines[1]!, /^\[Moving agents · running\] shards 16\/16 .* bytes 4\.0 MB\/4\.0 MB \(100 %\)/);
  assert.equal(lines[2], 'a log line');
  assert.match(lines[3]!, /shards 16\/16 \(0 in flight, 9 verified\) .* agents 1\/3$/, 'held change printed at stop');
  assert.ok(!out.text.includes('\u001b['), 'no terminal codes');
});

test('on a terminal: bars redrawn in place (cli-progress), log lines above them', () => {
  const out = sink(true);
  const d = createProgressDisplay({ stream: out });
  d.update({ ...base(), shardsTotal: 16, shardsDone: 4, bytesTotal: 2000, bytesDone: 500, agentsTotal: 3 });
  d.log('hello');
  d.stop();
  assert.ok(out.text.includes('\u001b['), 'terminal codes');
  assert.match(out.text, /shards \|[█░]+\| 4\/16/);
  assert.match(out.text, /bytes  \|[█░]+\| 500 B\/2\.0 kB {2}ETA –/);
  assert.match(out.text, /agents \|[█░]+\| 0\/3/);
  assert.match(out.text, /hello\n/);
});

test('formatting of bytes and ETA', () => {
  assert.equal(formatBytes(12), '12 B');
  assert.equal(formatBytes(1_234_567), '1.2 MB');
  assert.equal(formatEta(null), '–');
  assert.equal(formatEta(42), '42 s');
  assert.equal(formatEta(185), '3 min 05 s');
  assert.equal(formatEta(7440), '2 h 04 min');
});

test('version checks say where the worker sits: in region, cross region, or region unknown', () => {
  const eu = { region: 'eu', url: 'http://10.12.0.1:8529', label: 'worker → source coordinators' };
  const us = { region: 'us', url: 'http://10.22.0.1:8529', label: 'worker → target coordinators' };
  assert.equal(probePath('eu', eu), 'worker (eu) → eu source coordinators (in region) 10.12.0.1:8529');
  assert.equal(probePath('eu', us), 'worker (eu) → us target coordinators (cross region) 10.22.0.1:8529');
  assert.equal(probePath(undefined, us), 'worker (region unknown) → us target coordinators 10.22.0.1:8529');
  assert.equal(probePath('us', { region: 'us', url: 'http://h:1' }), 'worker (us) → us coordinators (in region) h:1');
  assert.equal(workerRegionFromEnv({ TRANSIT_WORKER_REGION: 'us', TRANSIT_REGION: 'eu' }), 'us');
  assert.equal(workerRegionFromEnv({ TRANSIT_REGION: 'eu' }), 'eu');
  assert.equal(workerRegionFromEnv({ TRANSIT_WORKER_REGION: ' ' }), undefined);
});
