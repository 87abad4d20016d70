// What `transit status` shows of the verification before each source copy goes (issue: evidence a skeptic accepts):
// the shards compared, the groups, the cost per group, and the replicationFactor-1 shards not verifiable; nothing
// of it before verification started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import { initialState, progressOf } from '../src/workflows/state';
import { formatProgress } from '../src/cli/commands/status';
import { worldSpec } from './harness/specs';

test('status prints shards verified, groups, median and max per group, and what was not verifiable', () => {
  const p = progressOf(initialState('m', MigrationSpec.parse(worldSpec())));
  assert.doesNotMatch(formatProgress(p), /verified/, 'nothing before verification starts');
  const v = { shardsVerified: 12, shardsUnverified: 0, groupsVerified: 6, medianMs: 40, maxMs: 90 };
  assert.match(
    formatProgress({ ...p, verification: v }),
    /^ {2}verified 12 shards before their source copy went \(6 groups, median 40 ms, max 90 ms each\)$/m,
  );
  assert.match(
    formatProgress({ ...p, verification: { ...v, shardsUnverified: 3, medianMs: null, maxMs: null } }),
    /verified 12 shards before their source copy went \(6 groups\); 3 shards not verifiable \(replicationFactor 1\)$/m,
  );
});
