// policy.latency in the spec (src/spec/schema.ts): optional; defaults applied; every malformed value rejected with
// a message naming the field; the parsed value is what the controller takes (the schema is the one source of the
// type); the JSON Schema exports it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateSpec } from '../src/spec/validate';
import { specJsonSchema } from '../src/spec/schema';
import { newLatencyState, stepLatency, type LatencyObjective } from '../src/workflows/latency';
import { worldSpec } from './harness/specs';

const good = () => JSON.parse(JSON.stringify(worldSpec())) as Record<string, any>;

test('policy.latency is optional and takes its defaults', () => {
  const none = validateSpec(good());
  assert.ok(none.ok);
  if (none.ok) assert.equal(none.spec.policy.latency, undefined);
  const s = good();
  s.policy.latency = { p99Ms: 25 };
  const r = validateSpec(s);
  assert.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  assert.deepEqual(r.spec.policy.latency, {
    p99Ms: 25,
    windowSeconds: 10,
    parkAfterSeconds: 300,
    minSamples: 20,
    probeFrom: 'worker',
  });
  // The parsed value is the controller's objective, as is.
  const objective: LatencyObjective = r.spec.policy.latency!;
  const d = stepLatency(newLatencyState(16), { startMs: 0, endMs: 10_000, samples: 40, p99Ms: 30 }, objective, 16);
  assert.equal(d.action, 'backoff');
});

test('malformed policy.latency values are rejected, each message naming the field', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['p99 missing', {}, 'policy.latency.p99Ms', /./],
    ['p99 zero', { p99Ms: 0 }, 'policy.latency.p99Ms', /above 0 ms/],
    ['p99 a string', { p99Ms: '25ms' }, 'policy.latency.p99Ms', /./],
    ['p99 huge', { p99Ms: 1e9 }, 'policy.latency.p99Ms', /at most 60000/],
    ['window too short', { p99Ms: 25, windowSeconds: 1 }, 'policy.latency.windowSeconds', /at least 5 s/],
    ['window too long', { p99Ms: 25, windowSeconds: 600 }, 'policy.latency.windowSeconds', /at most 60 s/],
    ['window fractional', { p99Ms: 25, windowSeconds: 7.5 }, 'policy.latency.windowSeconds', /int/],
    [
      'park shorter than a window',
      { p99Ms: 25, windowSeconds: 60, parkAfterSeconds: 30 },
      'policy.latency.parkAfterSeconds',
      /at least one window/,
    ],
    [
      'park shorter than the default window',
      { p99Ms: 25, parkAfterSeconds: 5 },
      'policy.latency.parkAfterSeconds',
      /windowSeconds = 10/,
    ],
    ['min samples zero', { p99Ms: 25, minSamples: 0 }, 'policy.latency.minSamples', /at least 1 sample/],
    ['unknown key', { p99Ms: 25, p95Ms: 10 }, 'policy.latency.p95Ms', /./],
    ['probes from nowhere', { p99Ms: 25, probeFrom: 'eu' }, 'policy.latency.probeFrom', /"worker".*"each-region"/],
    ['no probes', { p99Ms: 25, probeRatePerSecond: 0 }, 'policy.latency.probeRatePerSecond', /at least 1 probe/],
    ['probes a fraction', { p99Ms: 25, probeRatePerSecond: 2.5 }, 'policy.latency.probeRatePerSecond', /int/],
    ['not an object', 25, 'policy.latency', /./],
  ];
  for (const [title, latency, path, msg] of cases) {
    const s = good();
    s.policy.latency = latency;
    const r = validateSpec(s);
    assert.equal(r.ok, false, `${title}: accepted`);
    if (r.ok) continue;
    const line = r.problems.find((p) => p.startsWith(`${path}:`) || p.startsWith(`${path} `));
    assert.ok(line, `${title}: no message names ${path}: ${JSON.stringify(r.problems)}`);
    assert.match(line, msg, `${title}: ${line}`);
  }
  // parkAfterSeconds 0 (never park) is fine with any window.
  const s = good();
  s.policy.latency = { p99Ms: 25, windowSeconds: 60, parkAfterSeconds: 0 };
  assert.ok(validateSpec(s).ok);
});

test('the JSON Schema describes policy.latency', () => {
  const policy = (specJsonSchema().properties as Record<string, any>).policy;
  const lat = policy.properties.latency;
  assert.ok(lat, 'policy.latency in the JSON Schema');
  assert.deepEqual(Object.keys(lat.properties).sort(), [
    'minSamples',
    'p99Ms',
    'parkAfterSeconds',
    'probeFrom',
    'probeRatePerSecond',
    'windowSeconds',
  ]);
  assert.deepEqual(lat.required, ['p99Ms']);
});
