#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's built-in test runner (TypeScript through tsx).
//
// Test files start their own real servers (Temporal, API servers, BIND, simulated ArangoDB) and some bind the same
// private addresses, so two files must never share a network namespace. The files are split into lanes (default 3,
// TRANSIT_TEST_LANES): each lane runs its files one after another in a network namespace of its own
// (scripts/netns-run), and lanes run side by side. With 3 or more lanes, the light files (LIGHT below: the workflow
// against the in-memory world on one Temporal dev server, and unit tests — they mostly wait on the workflow's own
// timers and use little CPU) get a lane of their own, and the heavy files (members as processes, API servers, BIND,
// Chromium) share the others, so a 2-core machine never runs more than two heavy files at once. Lanes are balanced
// by each file's usual duration (the table below, measured on the 2-core CI machine; a file missing from it counts
// 30 s). Every lane's output is streamed with a lane prefix; the combined summary comes last, in the runner's own
// format.
//
// A hung test must fail the run, not eat CI's time budget: every test gets a default timeout (tests that need
// longer say so), a lane exits once its tests are done even if a stray handle is left, and the whole run is
// killed after TRANSIT_TEST_BUDGET_MIN minutes (default 40).
//
//   node scripts/run-tests.mjs [substring ...]     only the files whose path contains one of the substrings
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(join(root, 'test'));
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

/**
 * Usual seconds per file: its tests' durations in the clean-clone CI run of 2 December 2026 (2-core AMD EPYC, three
 * lanes, 325 tests), + 3 s start-up. A file missing here counts 30 s (3 s for a pure unit-test file).
 */
const USUAL_SECONDS = {
  'test/e2e.test.ts': 455,
  'test/workflow-resilience.test.ts': 379,
  'test/workflow-controls.test.ts': 372,
  'test/shard-engine.test.ts': 307,
  'test/latency-engine.test.ts': 240,
  'test/rehearse.test.ts': 239,
  'test/fault-matrix.test.ts': 204,
  'test/latency-workflow.test.ts': 168,
  'test/production-workers.test.ts': 149,
  'test/shard-verify.test.ts': 132,
  'test/agency-migration-faults.test.ts': 129,
  'test/kube-activities.test.ts': 124,
  'test/ui.test.ts': 104,
  'test/workflow-phases.test.ts': 79,
  'test/agency-migration.test.ts': 72,
  'test/cli-client.test.ts': 62,
  'test/latency-canary.test.ts': 62,
  'test/production-codec.test.ts': 62,
  'test/pause-truth.test.ts': 60,
  'test/sim-supervision-fidelity.test.ts': 60,
  'test/sim-cluster.test.ts': 59,
  'test/sim-failover-resync.test.ts': 57,
  'test/production-observability.test.ts': 56,
  'test/dns.test.ts': 51,
  'test/large-payloads.test.ts': 51,
  'test/engine-waits-on-supervision.test.ts': 48,
  'test/production-tls.test.ts': 48,
  'test/workflow-rollback-abort.test.ts': 46,
  'test/replay-histories.test.ts': 37,
  'test/workflow-dry-run.test.ts': 37,
  'test/cluster-reader.test.ts': 35,
  'test/report.test.ts': 32,
  'test/agency-activities.test.ts': 30,
  'test/rehearse-shape.test.ts': 26,
  'test/workflow-input.test.ts': 25,
  'test/kube-harness.test.ts': 24,
  'test/sim-agency.test.ts': 18,
  'test/sim-client-latency.test.ts': 17,
  'test/load-harness.test.ts': 16,
  'test/credentials.test.ts': 15,
  'test/production-deploy.test.ts': 10,
  'test/latency-probe.test.ts': 8,
  'test/move-synced.test.ts': 8,
  'test/scheduler-equivalence.test.ts': 8,
  'test/sim-client-api.test.ts': 7,
};
const usual = (f) => USUAL_SECONDS[f] ?? (LIGHT_UNIT.test(f) ? 3 : 30);
/** Pure unit-test files (no server of any kind): a few seconds each. */
const LIGHT_UNIT =
  /\/(spec|spec-latency|bandwidth|controls-names|latency-controller|latency-model|latency-status|status-verification|eta-band|timeline|plan-estimate|progress-display|harness-checks|production-compose|rehearse-shape|engine-clock|scheduler-equivalence|latency-copies)\.test\.ts$/;
/** Files that start no member processes, API servers, BIND or browser: the in-memory world and unit tests. */
const LIGHT = new Set(
  [
    'workflow-controls',
    'workflow-resilience',
    'workflow-rollback-abort',
    'workflow-dry-run',
    'workflow-phases',
    'workflow-input',
    'pause-truth',
    'latency-workflow',
    'replay-histories',
    'cli-client',
    'bandwidth',
    'controls-names',
    'spec',
    'spec-latency',
    'latency-controller',
    'latency-model',
    'latency-status',
    'status-verification',
    'progress-display',
    'harness-checks',
    'engine-waits-on-supervision',
    'eta-band',
    'timeline',
    'plan-estimate',
    'rehearse-shape',
    'large-payloads',
    'engine-clock',
    'scheduler-equivalence',
    'latency-copies',
  ].map((n) => `test/${n}.test.ts`),
);
const laneCount = Math.max(1, Math.min(selected.length, Number(process.env.TRANSIT_TEST_LANES ?? 3)));
const lanes = Array.from({ length: laneCount }, () => ({ files: [], seconds: 0 }));
const light = selected.filter((f) => LIGHT.has(f));
const ownLightLane = laneCount >= 3 && light.length > 0 && light.length < selected.length;
const spread = (fs, into) => {
  for (const f of [...fs].sort((a, b) => usual(b) - usual(a) || a.localeCompare(b))) {
    const lane = into.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    lane.files.push(f);
    lane.seconds += usual(f);
  }
};
if (ownLightLane) {
  spread(light, [lanes[laneCount - 1]]);
  spread(
    selected.filter((f) => !LIGHT.has(f)),
    lanes.slice(0, laneCount - 1),
  );
} else spread(selected, lanes);

const budgetMin = Number(process.env.TRANSIT_TEST_BUDGET_MIN ?? 40);
const started = Date.now();
const children = [];

function runLane(lane, i) {
  const label = laneCount > 1 ? `[lane ${i + 1}] ` : '';
  const nodeArgs = [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-timeout=600000',
    '--test-force-exit',
    ...lane.files,
  ];
  // A lane of its own gets a network namespace of its own (netns-run skips making one when TRANSIT_NETNS is set).
  const env = { ...process.env, TRANSIT_TEST: '1' };
  let cmd = process.execPath;
  let args = nodeArgs;
  if (laneCount > 1) {
    delete env.TRANSIT_NETNS;
    cmd = join(root, 'scripts/netns-run');
    args = [process.execPath, ...nodeArgs];
  }
  console.log(
    `${label}${lane.files.length} files (usually ~${Math.round(lane.seconds / 60)} min): ${lane.files.join(' ')}`,
  );
  const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  const summary = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  const failing = [];
  let inFailing = false;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      const out = stream === child.stdout ? process.stdout : process.stderr;
      out.write(`${label}${line}\n`);
      const m = /^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
      if (m) summary[m[1]] += Number(m[2]);
      if (line.startsWith('✖ failing tests:')) inFailing = true;
      else if (inFailing && /^\S*✖ /.test(line)) failing.push(line);
    });
  }
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? 1, signal, summary, failing, label })),
  );
}

const killAll = () => {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {}
  }
};
const budget = setTimeout(() => {
  console.error(`[run-tests] the test run exceeded ${budgetMin} min and was stopped`);
  killAll();
}, budgetMin * 60_000);
process.on('SIGINT', () => (killAll(), process.exit(130)));
process.on('SIGTERM', () => (killAll(), process.exit(143)));

const results = await Promise.all(lanes.filter((l) => l.files.length > 0).map(runLane));
clearTimeout(budget);
if (laneCount > 1) {
  const total = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const r of results) for (const k of Object.keys(total)) total[k] += r.summary[k];
  console.log(`\nall ${laneCount} lanes, ${((Date.now() - started) / 60_000).toFixed(1)} min:`);
  for (const r of results) if (r.code !== 0) console.log(`✖ ${r.label}exited with ${r.signal ?? r.code}`);
  for (const r of results) for (const f of r.failing) console.log(`${r.label}${f}`);
  for (const [k, v] of Object.entries(total)) console.log(`ℹ ${k} ${v}`);
  console.log(`ℹ duration_ms ${Date.now() - started}`);
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
