/**
 * Every `patched()` name of the migration workflow, in one place. A patch keeps migrations started before a
 * behaviour change replaying with the code they recorded (docs/workflow-changes.md says when one may go).
 */

/** Runs started before this patch validated the spec in a `validateSpec` activity; new runs check it on input. */
export const SPEC_CHECKED_ON_INPUT_PATCH = 'spec-checked-on-input';

/**
 * Shard runs started after this patch move shards with ArangoDB's MoveShard jobs (job-engine.ts); runs started
 * before it keep the lock-holding engine (shard-mover.ts) so that migrations in flight replay and finish.
 */
export const MOVESHARD_JOBS_PATCH = 'moveshard-jobs';

/** Since this patch, CutoverDNS and Decommission first move again what ArangoDB failed back to the source. */
export const RECONVERGE_PATCH = 'reconverge-before-cutover';

/** Since this patch, removeBridge after Decommission gets the target members (their server IDs label the pods). */
export const END_STATE_MEMBERS_PATCH = 'transit-end-state-members';

/**
 * Since this patch the jobs engine verifies each group before leadership leaves its source copy or its last source
 * copy goes (the new leader joins as a follower first), and a pause lets the copies in flight finish while progress
 * counts them (job-engine.ts).
 */
export const VERIFY_BEFORE_REMOVE_PATCH = 'verify-before-remove';

/** Since this patch the scheduler plans on link rates learned from copy progress (bandwidth.ts). */
export const BANDWIDTH_ESTIMATE_PATCH = 'bandwidth-estimate';

/**
 * Since this patch a migration with policy.latency runs the latency loop beside the job engine (and creates and
 * removes the canary; latency.ts). Runs recorded before it never call the probes, so their histories replay.
 */
export const LATENCY_CAP_PATCH = 'latency-cap';

/**
 * Since this patch the jobs engine verifies replicationFactor-1 groups too (policy.verifyReplicationFactorOne): the
 * prototype's replicationFactor is raised to 2 before its groups move, they move and are compared as two-copy groups,
 * and the factor is set back (supervision removes the extra follower, never the leader). Runs recorded before it
 * move such groups in one job each, reported not verifiable.
 */
export const RAISE_TO_VERIFY_PATCH = 'raise-rf1-to-verify';

/**
 * Since this patch the jobs engine re-reads the Plan of groups that wait on supervision (a copy too few or too many:
 * readShardServers, at most every WAITING_REFRESH_MS) — before it, such a group kept the servers it last saw and
 * waited for ever once supervision had acted (a stall with nothing in flight) — and parks, naming the group, when one
 * waits longer than WAITING_PARK_MS.
 */
export const REFRESH_WAITING_PATCH = 'refresh-waiting-groups';

/**
 * Since this patch MoveShards ends with the re-convergence the cutover uses (reconverge in shard-runs.ts: move what
 * fell back, verify, and on "not converged" check again after 10 s, parking only at the third failure) instead of one
 * verifyConvergence that parked at once: a copy that a restarted DB server is still re-syncing is Plan ≠ Current for a
 * few seconds, a state that passes on its own (the fault matrix killed a target DB server late in MoveShards and the
 * run parked).
 */
export const SETTLE_AFTER_MOVE_PATCH = 'settle-after-moveshards';

/**
 * Since this patch the latency canary is created at the start of MoveShards, before the run reads the Plan, so it is
 * in the plan and moves like any other collection (its probes see what clients of a moving collection see: the
 * copies, the leader switches, the final catch-ups); it stays through the re-convergences and is removed when the
 * migration ends (completed, rolled back or aborted). Before it the canary was created when each engine run started
 * (not in that run's plan: it never moved) and removed when it returned. `MigrationState.canaryInPlan` records which.
 */
export const CANARY_MOVES_PATCH = 'canary-moves';

/**
 * Since this patch the shard engine's decisions read a clock made of recorded values only (EngineClock in
 * job-engine.ts: the readClock activity when a run starts, each waitForShardMoves result's `at`, the end of each
 * timer it slept) instead of the workflow task's time. A worker that takes a migration over has been seen to run its
 * first workflow task with another time than the replay of that task uses; a lock gap, back-off or timeout started in
 * that task then released a group in one and not in the other (a nondeterminism error once the run is replayed).
 */
export const RECORDED_CLOCK_PATCH = 'engine-recorded-clock';

/**
 * Since this patch the client-latency controller's cap bounds the moves still *copying* (in-flight groups with bytes
 * left to copy: what loads a DB server's links and the service queue its clients share), each server at most its
 * fair share of them (scheduler.ts `latencyCapCounts: 'copies'`); groups between their jobs no longer count against
 * it. (A copy job still counted until the job ended, its tail of supervision rounds after the copy included: the
 * engine could not tell a copy in sync until LATENCY_SYNCED_PATCH.) Before it the cap bounded every move in flight, so a back-off to one move made
 * the whole cluster wait for one group's three jobs (about 12 s) per group.
 */
export const LATENCY_COPIES_PATCH = 'latency-cap-copies';

/**
 * Since this patch a copy counts against the latency cap only until its new copy is in sync. Under
 * LATENCY_COPIES_PATCH alone the engine could not tell: a copy job counted from its submission to its end, and the
 * end of a MoveShard job comes some supervision rounds after its copy (the leader's resignation, the new leader in
 * Current, the old copy's removal), when no byte moves any more. Under a latency cap on copies the engine now gives
 * waitForShardMoves each copy job's `toServer`; the wait also returns when a new copy is in sync in Current (what
 * MoveShard::pendingLeader / pendingFollower wait for), and that job's servers take their next copy at once.
 */
export const LATENCY_SYNCED_PATCH = 'latency-copies-synced';
