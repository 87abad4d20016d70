// The test harness's own checks, on hand-written Plan/Current pairs: a check that cannot fail proves nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inSyncCopies } from './harness/sim';

test('inSyncCopies: a leader switch keeps both copies; a missing follower or a foreign leader does not', () => {
  assert.equal(inSyncCopies(['A', 'B'], ['A', 'B']), 2);
  // MoveShard's switch: Plan already names the new leader A, Current still shows the resigned old leader _B.
  assert.equal(inSyncCopies(['A', 'B'], ['_B', 'A']), 2);
  // The old leader resigned in Plan and in Current (`_A`), the follower still in sync.
  assert.equal(inSyncCopies(['_A', 'B'], ['_A', 'B']), 2);
  assert.equal(inSyncCopies(['B', 'A'], ['A', 'B']), 2, 'Plan switched, Current not yet');
  assert.equal(inSyncCopies(['A', 'B'], ['A']), 1, 'a follower not (yet) in sync');
  assert.equal(inSyncCopies(['A', 'B'], ['C', 'A', 'B']), 0, 'Current led by a server Plan does not name');
  assert.equal(inSyncCopies(['A', 'B'], ['_C', 'A', 'B']), 0, 'a resigned leader that is not in Plan');
  assert.equal(inSyncCopies(['A', 'B'], []), 0);
});
