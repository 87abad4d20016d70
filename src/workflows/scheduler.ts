/**
 * The shard scheduler: pure, deterministic, measurable (the benchmark scores its makespan against the lower
 * bound max over servers of bytes sent or received ÷ bandwidth).
 *
 * Model: a follower copies a shard from the shard's leader, so moving a group with replicationFactor r to r new
 * servers makes its current leader send r copies and each new server receive one. Each server's bandwidth is
 * shared by its concurrent copies. The makespan approaches the lower bound when (1) receive load is balanced
 * over the target servers (assignment) and (2) no server with remaining work sits idle (ordering: serve the
 * most-loaded senders and receivers first, and keep every server busy within the concurrency limit).
 */
import { START_FLOWS, type Direction } from './bandwidth';
import { groupBytes, groupReplicationFactor, groupServers, type GroupIndex } from './plan';

/**
 * Choose the destination servers for every group: `targets` are the new servers (IDs). A group keeps servers it
 * already has among `targets`; the others go to the least-loaded targets (received bytes), biggest groups first
 * (LPT), and the leader lands on the chosen server leading the fewest bytes. Deterministic for equal input.
 */
export function assignTargets(ix: GroupIndex, targets: string[]): string[][] {
  if (targets.length === 0) throw new Error('no target DB servers to assign shards to');
  const received = new Map(targets.map((t) => [t, 0]));
  const leading = new Map(targets.map((t) => [t, 0]));
  const order = Array.from({ length: ix.count }, (_, g) => g).sort(
    (a, b) => groupBytes(ix, b) - groupBytes(ix, a) || a - b,
  );
  const out: string[][] = new Array(ix.count);
  const targetSet = new Set(targets);
  for (const g of order) {
    const rf = groupReplicationFactor(ix, g);
    const current = groupServers(ix, g);
    if (rf > targets.length) {
      throw new Error(`group ${g} needs ${rf} servers but the target has only ${targets.length} DB servers`);
    }
    const bytes = groupBytes(ix, g);
    const chosen = current.filter((s) => targetSet.has(s)).slice(0, rf);
    const byLoad = [...targets].sort((a, b) => received.get(a)! - received.get(b)! || cmp(a, b));
    for (const t of byLoad) {
      if (chosen.length >= rf) break;
      if (!chosen.includes(t)) {
        chosen.push(t);
        received.set(t, received.get(t)! + bytes);
      }
    }
    // Leader: keep a current leader that is already a target, else the chosen server leading the least.
    let leader = targetSet.has(current[0]!)
      ? current[0]!
      : [...chosen].sort((a, b) => leading.get(a)! - leading.get(b)! || cmp(a, b))[0]!;
    leading.set(leader, leading.get(leader)! + bytes);
    out[g] = [leader, ...chosen.filter((s) => s !== leader)];
  }
  return out;
}

export interface PickInput {
  ix: GroupIndex;
  /** Destination servers per group (from assignTargets, or the original servers for a rollback). */
  desired: (g: number) => string[];
  /** Current servers per group (leader first). */
  current: (g: number) => string[];
  pending: number[];
  inFlight: number[];
  limit: number;
  /**
   * Per-server bandwidth (bytes/s), when known (policy.bandwidthBytesPerSecond). Each server's queue is then kept
   * about QUEUE_SECONDS deep: enough to stay busy, shallow enough that copies finish one after another, so
   * leadership moves and removals overlap the copying instead of piling up at the end of a wave.
   */
  bandwidth?: number;
  /**
   * Bytes each new server of an in-flight group still has to copy (0 once in sync), when known: a copy that is
   * nearly done, or done and waiting for its leadership move, no longer fills its servers' queues.
   */
  remaining?: (g: number) => number;
  /**
   * Per-server link rates learned online (src/workflows/bandwidth.ts), capped by policy.bandwidthBytesPerSecond;
   * undefined for a link not measured yet. When given, it replaces `bandwidth`: each server's queue is
   * QUEUE_SECONDS of its own rate deep, groups are scored by the seconds their busiest link still needs, and a
   * server whose rate is still unknown takes at most START_FLOWS copies (the conservative start).
   */
  rate?: (server: string, dir: Direction) => number | undefined;
  /**
   * With `rate`: the median seconds a copy's job takes end to end (bandwidth.ts copySeconds). A group holds its
   * receivers' queues for about one job per new copy plus the gaps between them; each link's queue is kept twice
   * that deep in seconds of its rate (at least QUEUE_SECONDS), so that while jobs, not links, are the limit the
   * queue grows each group lifetime until the links' rates stop rising or the ceiling is reached.
   */
  copySeconds?: number;
  /** The client-latency controller's cap on moves in flight (not built yet: the hook). */
  latencyCap?: number;
}

/**
 * Moves in flight: the one decision point — the least of the operator's ceiling (setConcurrency /
 * policy.maxConcurrentShardMoves) and the latency controller's cap; within it, the scheduler's choice (pickNext)
 * decides how many actually start.
 */
export function movesInFlightLimit(ceiling: number, latencyCap?: number): number {
  return Math.max(1, Math.min(ceiling, latencyCap ?? Infinity));
}

export const QUEUE_SECONDS = 5;

/**
 * Which pending groups start now. Each group's load sits on its sender (current leader, sending one copy per
 * new server) and its receivers; groups whose busiest server has the most remaining work go first, and a
 * server takes at most its fair share of the concurrency limit so that every server stays busy.
 */
export function pickNext(p: PickInput): number[] {
  if (p.rate) return pickByRate(p, p.rate);
  const free = movesInFlightLimit(p.limit, p.latencyCap) - p.inFlight.length;
  if (free <= 0 || p.pending.length === 0) return [];
  const load = new Map<string, number>();
  const add = (s: string, b: number) => load.set(s, (load.get(s) ?? 0) + b);
  const roles = (g: number) => {
    const cur = p.current(g);
    const receivers = p.desired(g).filter((s) => !cur.includes(s));
    return { sender: cur[0]!, receivers, bytes: groupBytes(p.ix, g) };
  };
  for (const g of p.pending) {
    const r = roles(g);
    add(r.sender, r.bytes * r.receivers.length);
    for (const s of r.receivers) add(s, r.bytes);
  }
  const busy = new Map<string, number>();
  const queued = new Map<string, number>();
  const enqueue = (r: ReturnType<typeof roles>, bytes = r.bytes) => {
    if (bytes <= 0) return;
    for (const s of [r.sender, ...r.receivers]) busy.set(s, (busy.get(s) ?? 0) + 1);
    queued.set(r.sender, (queued.get(r.sender) ?? 0) + bytes * r.receivers.length);
    for (const s of r.receivers) queued.set(s, (queued.get(s) ?? 0) + bytes);
  };
  for (const g of p.inFlight) {
    const r = roles(g);
    enqueue(r, p.remaining ? Math.min(r.bytes, Math.max(0, p.remaining(g))) : r.bytes);
  }
  const budget = p.bandwidth ? p.bandwidth * QUEUE_SECONDS : Infinity;
  const servers = new Set<string>([...load.keys(), ...busy.keys()]);
  const perServer = Math.max(1, Math.ceil((2 * p.limit) / Math.max(1, servers.size)));
  const scored = p.pending
    .map((g) => {
      const r = roles(g);
      const score = Math.max(load.get(r.sender) ?? 0, ...r.receivers.map((s) => load.get(s) ?? 0));
      return { g, r, score };
    })
    .sort((a, b) => b.score - a.score || b.r.bytes - a.r.bytes || a.g - b.g);
  const picked: number[] = [];
  for (const { g, r } of scored) {
    if (picked.length >= free) break;
    const involved = [r.sender, ...r.receivers];
    if (involved.some((s) => (busy.get(s) ?? 0) >= perServer)) continue;
    // A server with work queued takes no more than its byte budget; an idle one always takes the next group.
    const adds = (s: string) => (s === r.sender ? r.bytes * r.receivers.length : r.bytes);
    if (involved.some((s) => (queued.get(s) ?? 0) > 0 && (queued.get(s) ?? 0) + adds(s) > budget)) continue;
    picked.push(g);
    enqueue(r);
  }
  // Never stall: if the per-server cap blocked everything, start the top group anyway.
  if (picked.length === 0 && p.inFlight.length === 0) picked.push(scored[0]!.g);
  return picked;
}

/** pickNext with per-server rates learned online (PickInput.rate). */
function pickByRate(p: PickInput, rate: (server: string, dir: Direction) => number | undefined): number[] {
  const limit = movesInFlightLimit(p.limit, p.latencyCap);
  const free = limit - p.inFlight.length;
  if (free <= 0 || p.pending.length === 0) return [];
  const known = p.ix.count ? knownRates(p, rate) : [];
  // A link not measured yet is scored at the median known rate (or 1: scores in bytes while nothing is known).
  const fallback = known.length ? known.sort((a, b) => a - b)[Math.floor(known.length / 2)]! : 1;
  const secs = (s: string, dir: Direction, bytes: number) => bytes / (rate(s, dir) ?? fallback);
  const roles = (g: number) => {
    const cur = p.current(g);
    const receivers = p.desired(g).filter((s) => !cur.includes(s));
    return { sender: cur[0]!, receivers, bytes: groupBytes(p.ix, g) };
  };
  const sendLoad = new Map<string, number>();
  const recvLoad = new Map<string, number>();
  const add = (m: Map<string, number>, s: string, b: number) => m.set(s, (m.get(s) ?? 0) + b);
  for (const g of p.pending) {
    const r = roles(g);
    add(sendLoad, r.sender, r.bytes * r.receivers.length);
    for (const s of r.receivers) add(recvLoad, s, r.bytes);
  }
  const flows = new Map<string, number>();
  const queuedSend = new Map<string, number>();
  const queuedRecv = new Map<string, number>();
  const enqueue = (r: ReturnType<typeof roles>, bytes = r.bytes) => {
    if (bytes <= 0) return;
    for (const s of new Set([r.sender, ...r.receivers])) flows.set(s, (flows.get(s) ?? 0) + 1);
    add(queuedSend, r.sender, bytes * r.receivers.length);
    for (const s of r.receivers) add(queuedRecv, s, bytes);
  };
  for (const g of p.inFlight) {
    const r = roles(g);
    enqueue(r, p.remaining ? Math.min(r.bytes, Math.max(0, p.remaining(g))) : r.bytes);
  }
  const servers = new Set<string>([...sendLoad.keys(), ...recvLoad.keys(), ...flows.keys()]);
  // Queue depth (seconds of a link's rate): see PickInput.copySeconds.
  let receivers = 0;
  for (const g of p.pending.slice(0, 100)) receivers += roles(g).receivers.length;
  const perGroup = p.pending.length ? receivers / Math.min(100, p.pending.length) : 1;
  const depth = Math.max(QUEUE_SECONDS, 2 * (p.copySeconds ?? 0) * (1 + perGroup));
  // A server takes at most twice its fair share of the moves in flight (a group involves 1 + perGroup servers).
  const perServer = Math.max(1, Math.ceil((2 * limit * (1 + perGroup)) / Math.max(1, servers.size)));
  // Seconds of work the group's busiest link still has (send and receive links scored at their own rate).
  const scored = p.pending
    .map((g) => {
      const r = roles(g);
      const score = Math.max(
        secs(r.sender, 'send', sendLoad.get(r.sender) ?? 0),
        ...r.receivers.map((s) => secs(s, 'recv', recvLoad.get(s) ?? 0)),
      );
      return { g, r, score };
    })
    .sort((a, b) => b.score - a.score || b.r.bytes - a.r.bytes || a.g - b.g);
  const fits = (s: string, dir: Direction, queued: Map<string, number>, adds: number) => {
    const q = queued.get(s) ?? 0;
    if (q <= 0) return true; // an idle link always takes the next group
    const bw = rate(s, dir);
    if (bw === undefined) return (flows.get(s) ?? 0) < START_FLOWS;
    return q + adds <= bw * depth;
  };
  const picked: number[] = [];
  for (const { g, r } of scored) {
    if (picked.length >= free) break;
    const involved = [r.sender, ...r.receivers];
    if (involved.some((s) => (flows.get(s) ?? 0) >= perServer)) continue;
    if (!fits(r.sender, 'send', queuedSend, r.bytes * r.receivers.length)) continue;
    if (r.receivers.some((s) => !fits(s, 'recv', queuedRecv, r.bytes))) continue;
    picked.push(g);
    enqueue(r);
  }
  if (picked.length === 0 && p.inFlight.length === 0) picked.push(scored[0]!.g);
  return picked;
}

function knownRates(p: PickInput, rate: (server: string, dir: Direction) => number | undefined): number[] {
  const out: number[] = [];
  const seen = new Set<string>();
  for (const g of [...p.pending, ...p.inFlight]) {
    const cur = p.current(g);
    for (const [s, dir] of [
      [cur[0]!, 'send'],
      ...p
        .desired(g)
        .filter((x) => !cur.includes(x))
        .map((x) => [x, 'recv']),
    ] as [string, Direction][]) {
      const k = `${dir}:${s}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const v = rate(s, dir);
      if (v !== undefined) out.push(v);
    }
  }
  return out;
}

/** The makespan lower bound in seconds for moving groups to `desired` at `bandwidth` bytes/s per server. */
export function makespanLowerBound(ix: GroupIndex, desired: string[][], bandwidth: number): number {
  const sent = new Map<string, number>();
  const recv = new Map<string, number>();
  for (let g = 0; g < ix.count; g++) {
    const cur = groupServers(ix, g);
    const receivers = desired[g]!.filter((s) => !cur.includes(s));
    const b = groupBytes(ix, g);
    sent.set(cur[0]!, (sent.get(cur[0]!) ?? 0) + b * receivers.length);
    for (const s of receivers) recv.set(s, (recv.get(s) ?? 0) + b);
  }
  return Math.max(0, ...sent.values(), ...recv.values()) / bandwidth;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
