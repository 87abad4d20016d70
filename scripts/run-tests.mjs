#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's built-in test runner (TypeScript through tsx).
// Files run one after another (each test file starts its own real servers; two cores are not enough to
// run several sets of servers at once). Optional arguments filter files by substring.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

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
// A hung test must fail the run, not eat CI's time budget: every test gets a default timeout (tests that
// need longer say so), the runner exits once the tests are done even if a stray handle is left, and the
// whole run is killed after TRANSIT_TEST_BUDGET_MIN minutes.
const budgetMin = Number(process.env.TRANSIT_TEST_BUDGET_MIN ?? 40);
const r = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec',
    '--test-timeout=600000', '--test-force-exit', ...selected,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, TRANSIT_TEST: '1' }, timeout: budgetMin * 60_000, killSignal: 'SIGKILL' },
);
if (r.error?.code === 'ETIMEDOUT') console.error(`[run-tests] the test run exceeded ${budgetMin} min and was killed`);
process.exit(r.status ?? 1);
