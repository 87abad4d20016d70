/**
 * The client-latency model of a simulated DB server (SIMULATED: no ArangoDB figure comes out of it; pure and
 * deterministic apart from the random draw the caller passes in).
 *
 * 1. **A shared service queue.** A DB server serves client reads and writes and the replication traffic of shard
 *    copies with the same resources (scheduler threads, RocksDB, the NIC). The simulator's links already share
 *    their capacity between copies by processor sharing (src/sim/bandwidth.ts); the same discipline is applied to
 *    requests: with `n` copy flows running on the server (each copy it sends as a leader and each copy it
 *    receives as a new follower), a client request gets 1/(n + 1) of the server. The sojourn time of a job in a
 *    processor-sharing queue with n permanent jobs is S·(n + 1) = S / (1 − ρ) with ρ = n / (n + 1) — the M/M/1
 *    form the issue asks for — and the clients' own load ρc (their arrival rate × S) shares the rest:
 *    ρ = 1 − (1 − ρc) / (n + 1). The delay is drawn from the exponential distribution of an M/M/1 sojourn time
 *    with mean S / (1 − ρ) (so p99 = ln 100 · mean ≈ 4.6 × mean), and ρ is capped at RHO_MAX so a delay stays
 *    finite (the real server answers, slowly).
 * 2. **The final catch-up of a shard sync holds writes.** ArangoDB's SynchronizeShard (arangod/Cluster/
 *    SynchronizeShard.cpp) copies the shard (`replicationSynchronize`), tails the leader's WAL once under a soft
 *    lock that does not stop writes on RocksDB (`catchupWithReadLock`), then takes the hard lock on the leader —
 *    writes to that shard wait — tails the rest (`catchupWithExclusiveLock` → `startReadLockOnLeader(…, soft =
 *    false)`, `replicationSynchronizeFinalize`) and joins as an in-sync follower (`addShardFollower`) before the
 *    lock is released. With W writes arriving during a copy of T seconds (rate λ = W/T) and a follower applying
 *    tailed operations at μ per second, the soft catch-up replays W in W/μ seconds while λ·W/μ more arrive; the
 *    hard lock holds writes while those are applied: hold = HOLD_BASE_MS + (λ·W/μ)/μ = HOLD_BASE_MS + W²/(T·μ²).
 *
 * Parameters (fixed before the controller was written, the same for every strategy; src/sim/README.md):
 * - SERVICE_MS = 1 ms: one single-document request's own time on an idle DB server — a RocksDB point read from
 *   the block cache or a write into the memtable (tens of µs) plus VelocyPack/HTTP handling and the scheduler
 *   hand-off. The loopback HTTP hops of the simulator come on top, as the network would.
 * - RHO_MAX = 0.99: at most 100 × SERVICE_MS mean delay.
 * - APPLY_OPS_PER_SECOND = 10,000: a follower's tailing applier is one thread applying WAL markers of small
 *   documents into RocksDB (about 0.1 ms each).
 * - HOLD_BASE_MS = 2 ms: under the hard lock the leader syncs its WAL once and the follower flushes its applied
 *   batch (an fsync each, about 1 ms on SSD). The three round trips (lock, finalize, addFollower) are real HTTP
 *   requests in the simulator and not modelled again.
 */

export const SERVICE_MS = 1;
export const RHO_MAX = 0.99;
export const APPLY_OPS_PER_SECOND = 10_000;
export const HOLD_BASE_MS = 2;

/** Utilisation of a DB server's service queue seen by a client request: n copy flows, the clients' own load. */
export function utilisation(copyFlows: number, clientLoad = 0): number {
  const n = Math.max(0, copyFlows);
  const rc = Math.min(Math.max(0, clientLoad), RHO_MAX);
  return Math.min(RHO_MAX, 1 - (1 - rc) / (n + 1));
}

/** Mean sojourn time (ms) of a request at utilisation rho: S / (1 − ρ), ρ capped at RHO_MAX. */
export function meanDelayMs(rho: number, serviceMs = SERVICE_MS): number {
  const r = Math.min(Math.max(0, rho), RHO_MAX);
  return serviceMs / (1 - r);
}

/** A quantile of the (exponential) M/M/1 sojourn time: −mean · ln(1 − q). */
export function delayQuantileMs(rho: number, q: number, serviceMs = SERVICE_MS): number {
  return -meanDelayMs(rho, serviceMs) * Math.log(1 - q);
}

/** One request's delay (ms): the exponential draw for `u` ∈ [0, 1) (pass Math.random()). */
export function sampleDelayMs(rho: number, u: number, serviceMs = SERVICE_MS): number {
  return -meanDelayMs(rho, serviceMs) * Math.log(1 - Math.min(Math.max(0, u), 1 - 1e-12));
}

/**
 * How long the final catch-up of a shard sync holds writes to the shard (ms): HOLD_BASE_MS + W² / (T · μ²) with
 * W writes that arrived during a copy of `copySeconds`, μ = APPLY_OPS_PER_SECOND (see the header).
 */
export function catchupHoldMs(
  writesDuringCopy: number,
  copySeconds: number,
  applyOpsPerSecond = APPLY_OPS_PER_SECOND,
): number {
  const w = Math.max(0, writesDuringCopy);
  const t = Math.max(copySeconds, 1e-3);
  const mu = applyOpsPerSecond;
  return HOLD_BASE_MS + ((w * w) / (t * mu * mu)) * 1000;
}
