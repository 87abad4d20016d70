/**
 * Per-server bandwidth learned online (pure, deterministic: workflow code): each DB server's send and receive rate
 * estimated from the copy progress the shard engine already observes (waitForShardMoves: bytes copied per
 * running job, and the whole copy once a job ends). No operator hint is needed; `policy.bandwidthBytesPerSecond`,
 * when set, caps the estimate (and stands in for it before the first sample).
 *
 * Model (as in ArangoDB and the simulator): a new copy is fed by the shard's current leader, so the leader's send
 * link and the new server's receive link carry the bytes.
 *
 * - Each link keeps the intervals in which it had a copy running (busy time) and the bytes it carried in them;
 *   its rate is the bytes of the last SPAN_MS of busy time ÷ that time. Idle time (no copy running, or only jobs
 *   still queued in ToDo) is not counted, so a link the scheduler left idle is not mistaken for a slow one.
 * - Progress arrives coarse (the activity reads it every few seconds, in whole sync chunks), so a rate is only
 *   given once MIN_MS of busy time was seen (converging early), and a span of SPAN_MS smooths the chunking out.
 * - A link that slows down (a rate that halves) is followed as the faster intervals leave the span.
 * - Before MIN_MS of busy time its rate is unknown (or the cap): the scheduler then starts few copies per server
 *   (START_FLOWS), the conservative start.
 */
import { inWorkflowContext, patched } from '@temporalio/workflow';
import { BANDWIDTH_ESTIMATE_PATCH } from './patches';

/** One copy the engine observed: its job, the leader feeding it, the server receiving it, bytes so far. */
export interface CopyObservation {
  /** The job (or any stable id of the copy). */
  id: string;
  sender: string;
  receiver: string;
  /** Bytes copied so far (cumulative for this copy). */
  copied: number;
  /** Bytes the copy needs in all. */
  total: number;
  /** The copy ended (its job finished): every byte up to `total` counts. */
  ended?: boolean;
}

export type Direction = 'send' | 'recv';

/** Busy time a link's rate is measured over (the most recent). */
export const SPAN_MS = 12_000;
/** Busy time before a link has a rate at all. */
export const MIN_MS = 3000;
/** Ended copies whose lifetime is kept (copySeconds is their median). */
export const LIFETIMES = 64;
/** Copies per server the scheduler starts while the server's rate is still unknown. */
export const START_FLOWS = 2;

interface LinkWindow {
  /** [busy ms, bytes] per observed interval, oldest first, about SPAN_MS of busy time in all. */
  spans: [number, number][];
  busyMs: number;
  bytes: number;
  /** Bytes seen on this link in all (for reports: how many bytes the estimate needed). */
  seen: number;
}

export interface BandwidthState {
  lastT: number | null;
  copies: Record<string, number>;
  /** When each copy was first seen (the observation before it appeared: it started right after that). */
  since: Record<string, number>;
  /** Seconds from start to end of the last ended copies (job latency included), newest last. */
  lifetimes: number[];
  links: Record<string, LinkWindow>;
  cap?: number;
}

export function newBandwidthState(cap?: number): BandwidthState {
  return { lastT: null, copies: {}, since: {}, lifetimes: [], links: {}, ...(cap ? { cap } : {}) };
}

const linkKey = (server: string, dir: Direction) => `${dir}:${server}`;

/**
 * Feeds the copies observed at time `t` (ms). Copies observed for the first time count from the previous
 * observation (they were started right after it); copies not listed any more are forgotten.
 */
export function observeCopies(s: BandwidthState, t: number, copies: CopyObservation[]): void {
  if (s.lastT === null || t < s.lastT) {
    s.lastT = t;
    s.copies = Object.fromEntries(copies.filter((c) => !c.ended).map((c) => [c.id, c.copied]));
    s.since = Object.fromEntries(copies.filter((c) => !c.ended).map((c) => [c.id, t]));
    return;
  }
  const since: Record<string, number> = {};
  for (const c of copies) {
    const from = s.since[c.id] ?? s.lastT;
    if (!c.ended) since[c.id] = from;
    else {
      s.lifetimes.push((t - from) / 1000);
      if (s.lifetimes.length > LIFETIMES) s.lifetimes.shift();
    }
  }
  s.since = since;
  const dt = t - s.lastT;
  const bytes = new Map<string, number>();
  const busy = new Set<string>();
  const next: Record<string, number> = {};
  for (const c of copies) {
    const before = s.copies[c.id] ?? 0;
    const now = c.ended ? Math.max(c.total, c.copied) : c.copied;
    const delta = Math.max(0, now - before);
    // Busy: a copy that was still copying at the start of the interval (bytes left before it).
    const copying = before < c.total || delta > 0;
    for (const k of [linkKey(c.sender, 'send'), linkKey(c.receiver, 'recv')]) {
      bytes.set(k, (bytes.get(k) ?? 0) + delta);
      if (copying) busy.add(k);
    }
    if (!c.ended) next[c.id] = Math.max(before, c.copied);
  }
  s.copies = next;
  s.lastT = t;
  if (dt <= 0) return;
  for (const k of busy) {
    const w = (s.links[k] ??= { spans: [], busyMs: 0, bytes: 0, seen: 0 });
    const b = bytes.get(k) ?? 0;
    w.spans.push([dt, b]);
    w.busyMs += dt;
    w.bytes += b;
    w.seen += b;
    // Keep the last SPAN_MS of busy time: drop the oldest intervals, the last one dropped only in part.
    while (w.busyMs > SPAN_MS && w.spans.length > 1) {
      const [ms, by] = w.spans[0]!;
      const over = w.busyMs - SPAN_MS;
      if (ms <= over) {
        w.spans.shift();
        w.busyMs -= ms;
        w.bytes -= by;
      } else {
        const keep = (ms - over) / ms;
        w.spans[0] = [ms - over, by * keep];
        w.busyMs -= over;
        w.bytes -= by * (1 - keep);
      }
    }
  }
}

/** The estimated rate of a server's link (bytes/s), capped; undefined while unknown and uncapped. */
export function linkRate(s: BandwidthState, server: string, dir: Direction): number | undefined {
  const w = s.links[linkKey(server, dir)];
  const est = w && w.busyMs >= MIN_MS ? (w.bytes * 1000) / w.busyMs : undefined;
  if (est === undefined) return s.cap;
  return s.cap ? Math.min(s.cap, est) : est;
}

/**
 * Median seconds a copy takes from start to end *including* its job's latency (supervision rounds, the leader
 * switch, polling): undefined before any ended. When jobs take long and copies are small, a link is mostly idle
 * between copies and its measured rate is what the queue allowed, not its capacity; the scheduler then keeps each
 * link's queue deeper than what a group holds it for (scheduler.ts: queue depth), so that the queue grows, as a
 * slow start, until the link's rate stops rising or the ceiling on moves in flight is reached.
 */
export function copySeconds(s: BandwidthState): number | undefined {
  if (s.lifetimes.length === 0) return undefined;
  const xs = [...s.lifetimes].sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

/** What the scheduler reads from the estimator (PickInput.rate and PickInput.copySeconds). */
export function schedulerInputs(s: BandwidthState): {
  rate: (server: string, dir: Direction) => number | undefined;
  copySeconds?: number;
} {
  const life = copySeconds(s);
  return { rate: (server, dir) => linkRate(s, server, dir), ...(life !== undefined ? { copySeconds: life } : {}) };
}

/** Bytes the link carried so far (observed). */
export function linkBytesSeen(s: BandwidthState, server: string, dir: Direction): number {
  return s.links[linkKey(server, dir)]?.seen ?? 0;
}

/**
 * The shard engine's estimator, or null for a workflow run recorded before the estimator existed (patch
 * 'bandwidth-estimate': such a run keeps scheduling by policy.bandwidthBytesPerSecond alone, so it replays).
 */
export function engineBandwidth(cap: number | undefined): BandwidthState | null {
  if (inWorkflowContext() && !patched(BANDWIDTH_ESTIMATE_PATCH)) return null;
  return newBandwidthState(cap);
}

/**
 * Feeds one waitForShardMoves result: `jobs[i]` is the copy behind the result's index i (its job id, the leader
 * feeding it, the new server, the group's bytes). Jobs still queued in ToDo are not copying and are left out.
 */
export function observeShardMoves(
  s: BandwidthState,
  t: number,
  jobs: { id: string; sender: string; receiver: string; total: number }[],
  r: {
    ended: { index: number; status: string }[];
    progress: { index: number; bytesCopied: number }[];
    queued: { index: number }[];
  },
): void {
  const queued = new Set(r.queued.map((q) => q.index));
  const ended = new Map(r.ended.map((e) => [e.index, e.status === 'finished']));
  const copied = new Map(r.progress.map((p) => [p.index, p.bytesCopied]));
  const out: CopyObservation[] = [];
  jobs.forEach((j, i) => {
    if (queued.has(i)) return;
    const fin = ended.get(i);
    if (fin === false) return; // failed or gone: no telling what was copied
    out.push({ ...j, copied: Math.min(j.total, copied.get(i) ?? s.copies[j.id] ?? 0), ended: fin === true });
  });
  observeCopies(s, t, out);
}
