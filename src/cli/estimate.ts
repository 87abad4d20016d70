/**
 * The pre-start estimate `transit plan` prints: how long MoveShards should take, as a P50 and a P90, before any byte
 * has moved. A model, not a measurement — the running migration's own ETA (from the rate it measures) replaces it
 * once shards move. Two limits, the larger wins:
 *
 * - the jobs: each shard group moves with one MoveShard job per new copy, plus one when its leader changes (the
 *   verifying engine brings the new leader in as a follower, compares, then switches: an rf-2 group that moves both
 *   copies takes three jobs, as the benchmark counts them), one after another; a job waits in ToDo, runs, and the
 *   group's next job starts after a gap (Transit noticing the end at its next poll, then LOCK_GAP_MS).
 *   `maxConcurrentShardMoves` groups move at once. The per-job times are the medians and 90th percentiles of
 *   `npm run bench`'s scale-out run through Temporal with the shipped defaults (1,800 MoveShard jobs' own
 *   timestamps in Target/Finished, simulated supervision; docs/performance.md);
 * - the links, when the per-server bandwidth is known (`--bandwidth`, or policy.bandwidthBytesPerSecond): the
 *   busiest server's bytes to send or receive at that rate (makespanLowerBound, the assignment the migration uses).
 *
 * Not included: the other phases (bridge, provisioning, agents, DNS propagation, drain), a latency objective that
 * slows the moves down, and link contention with client traffic.
 */
import { groupServers, type GroupIndex } from '../workflows/plan';
import { makespanLowerBound } from '../workflows/scheduler';

/** Seconds per MoveShard job (ToDo + running) and between a group's jobs, median and p90 (simulated supervision). */
export const JOB_SECONDS = { p50: { job: 0.9 + 1.0, gap: 3.2 }, p90: { job: 1.0 + 2.1, gap: 4.2 } } as const;

export interface MoveShardsEstimate {
  p50Seconds: number;
  p90Seconds: number;
  /** What bounds the P50: the jobs, or the links. */
  boundBy: 'jobs' | 'links';
  jobs: number;
  groupsMoving: number;
  concurrency: number;
  /** The links' bound in seconds, when a bandwidth was given. */
  linkSeconds: number | null;
  bandwidthBytesPerSecond: number | null;
  model: string;
}

export function estimateMoveShards(
  ix: GroupIndex,
  desired: string[][],
  o: { concurrency: number; bandwidthBytesPerSecond?: number | null },
): MoveShardsEstimate {
  // MoveShard jobs per moving group: one per new copy, one more when the leader changes.
  const copies: number[] = [];
  for (let g = 0; g < ix.count; g++) {
    const cur = groupServers(ix, g);
    const k = desired[g]!.filter((s) => !cur.includes(s)).length;
    if (k > 0) copies.push(k + (desired[g]![0] !== cur[0] ? 1 : 0));
  }
  const jobs = copies.reduce((a, k) => a + k, 0);
  const groupTime = (k: number, s: { job: number; gap: number }) => k * s.job + (k - 1) * s.gap;
  const c = Math.max(1, o.concurrency);
  // Groups run c at a time; the slowest group is a floor whatever the concurrency.
  const bound = (s: { job: number; gap: number }) =>
    copies.length
      ? Math.max(copies.reduce((a, k) => a + groupTime(k, s), 0) / c, Math.max(...copies.map((k) => groupTime(k, s))))
      : 0;
  const jobP50 = bound(JOB_SECONDS.p50);
  const jobP90 = bound(JOB_SECONDS.p90);
  const groupsMoving = copies.length;
  const bw = o.bandwidthBytesPerSecond ?? null;
  const link = bw ? makespanLowerBound(ix, desired, bw) : null;
  return {
    p50Seconds: Math.round(Math.max(jobP50, link ?? 0)),
    p90Seconds: Math.round(Math.max(jobP90, link ?? 0)),
    boundBy: link !== null && link > jobP50 ? 'links' : 'jobs',
    jobs,
    groupsMoving,
    concurrency: c,
    linkSeconds: link === null ? null : Math.round(link),
    bandwidthBytesPerSecond: bw,
    model:
      `${jobs} MoveShard jobs for ${groupsMoving} groups, ${c} groups at a time, ` +
      `${JOB_SECONDS.p50.job} s per job + ${JOB_SECONDS.p50.gap} s between a group's jobs (P50; P90 ${JOB_SECONDS.p90.job} + ${JOB_SECONDS.p90.gap} s: ` +
      `measured by npm run bench on the simulator's supervision)` +
      (link === null
        ? '; links not counted (no bandwidth given: --bandwidth BYTES_PER_SECOND per server)'
        : `; links at ${bw} bytes/s per server: ${Math.round(link)} s for the busiest server`),
  };
}

/** "MoveShards: about 2 min (P50), 4 min (P90) — bound by the jobs; …" */
export function formatEstimate(e: MoveShardsEstimate): string {
  const t = (s: number) => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
  return `Estimate before start: MoveShards about ${t(e.p50Seconds)} (P50), ${t(e.p90Seconds)} (P90), bound by the ${e.boundBy} — a model (${e.model}); the other phases not included. While it runs, the ETA comes from the rate it measures.`;
}
