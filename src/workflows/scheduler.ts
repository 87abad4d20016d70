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
  /** The client-latency controller's cap (src/workflows/latency.ts); what it bounds: `latencyCapCounts`. */
  latencyCap?: number;
  /**
   * What `latencyCap` bounds. 'moves' (runs recorded before LATENCY_COPIES_PATCH): every move in flight, like the
   * ceiling. 'copies': the moves still copying (`remaining` > 0) — what loads a DB server's links and the queue its
   * clients share; a move that is in sync and waits for its leader switch or its removal does not count — and each
   * server takes at most its fair share of them (`latencyPerServer`), so a cap of one copy per server is the
   * controller's floor above one move, not one move for the whole cluster.
   */
  latencyCapCounts?: 'moves' | 'copies';
}

/**
 * Moves in flight: the one decision point — the least of the operator's ceiling (setConcurrency /
 * policy.maxConcurrentShardMoves) and the latency controller's cap; within it, the scheduler's choice (pickNext)
 * decides how many actually start.
 */
export function movesInFlightLimit(ceiling: number, latencyCap?: number): number {
  return Math.max(1, Math.min(ceiling, latencyCap ?? Infinity));
}

/**
 * With `latencyCapCounts` 'copies' the latency cap bounds the moves still copying, not the moves in flight: moves in
 * flight = min(ceiling, the scheduler's choice), copies in flight ≤ the latency cap, and each server carries at most
 * ceil(cap × (1 + receivers per group) ÷ DB servers) of them (its fair share of the whole cluster, also when only a
 * few servers still have work: a copy loads its sender and each receiver, and their clients wait behind it).
 * Otherwise (and before LATENCY_COPIES_PATCH) the cap bounds the moves in flight like the ceiling.
 */
const copiesCapped = (p: Pick<PickInput, 'latencyCap' | 'latencyCapCounts'>): boolean =>
  p.latencyCap !== undefined && p.latencyCapCounts === 'copies';

/** How many moves may start now (see copiesCapped). */
export function pickRoom(
  p: Pick<PickInput, 'limit' | 'latencyCap' | 'latencyCapCounts' | 'inFlight' | 'remaining'>,
): number {
  if (!copiesCapped(p)) return movesInFlightLimit(p.limit, p.latencyCap) - p.inFlight.length;
  const copying = p.remaining ? p.inFlight.filter((g) => p.remaining!(g) > 0).length : p.inFlight.length;
  return Math.min(movesInFlightLimit(p.limit) - p.inFlight.length, Math.max(1, Math.floor(p.latencyCap!)) - copying);
}

/** The copies one server may carry under the latency cap (Infinity unless copiesCapped). */
export function latencyPerServer(
  p: Pick<PickInput, 'latencyCap' | 'latencyCapCounts'>,
  servers: number,
  perGroup: number,
): number {
  if (!copiesCapped(p)) return Infinity;
  return Math.max(1, Math.ceil((Math.max(1, Math.floor(p.latencyCap!)) * (1 + perGroup)) / Math.max(1, servers)));
}

export const QUEUE_SECONDS = 5;

/**
 * Which pending groups start now. Each group's load sits on its sender (current leader, sending one copy per
 * new server) and its receivers; groups whose busiest server has the most remaining work go first, and a
 * server takes at most its fair share of the concurrency limit so that every server stays busy.
 */
export function pickNext(p: PickInput): number[] {
  if (p.rate) return pickByRate(p, p.rate);
  const free = pickRoom(p);
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
  const perGroup =
    p.pending.slice(0, 100).reduce((n, g) => n + roles(g).receivers.length, 0) / Math.min(100, p.pending.length);
  const perServer = Math.min(
    Math.max(1, Math.ceil((2 * p.limit) / Math.max(1, servers.size))),
    latencyPerServer(p, Math.max(servers.size, p.ix.plan.servers.length), perGroup),
  );
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

/**
 * pickNext with per-server rates learned online (PickInput.rate). The pick is the same as scoring every pending
 * group and scanning them in order (score desc, bytes desc, group asc), but computed per *role signature* (sender
 * and receivers): a group's score depends only on its signature, so groups are bucketed by it, buckets are merged
 * lazily in that order (a heap), and a bucket is left early once its next groups cannot fit either (the limits
 * only tighten during one pick). At 100,000 pending groups this takes milliseconds where sorting them all took a
 * third of a second per loop iteration. test/scheduler-equivalence.test.ts checks it against the plain scan.
 */
function pickByRate(p: PickInput, rate: (server: string, dir: Direction) => number | undefined): number[] {
  const limit = copiesCapped(p) ? movesInFlightLimit(p.limit) : movesInFlightLimit(p.limit, p.latencyCap);
  const free = pickRoom(p);
  if (free <= 0 || p.pending.length === 0) return [];
  const roles = (g: number): Roles => {
    const cur = p.current(g);
    const receivers = p.desired(g).filter((s) => !cur.includes(s));
    return { sender: cur[0]!, receivers, bytes: groupBytes(p.ix, g) };
  };
  const sendLoad = new Map<string, number>();
  const recvLoad = new Map<string, number>();
  const add = (m: Map<string, number>, s: string, b: number) => m.set(s, (m.get(s) ?? 0) + b);
  const buckets = new Map<string, Bucket>();
  let receivers = 0;
  p.pending.forEach((g, i) => {
    const r = roles(g);
    if (i < 100) receivers += r.receivers.length;
    add(sendLoad, r.sender, r.bytes * r.receivers.length);
    for (const s of r.receivers) add(recvLoad, s, r.bytes);
    const k = `${r.sender}\u0000${r.receivers.join('\u0000')}`;
    let b = buckets.get(k);
    if (!b) buckets.set(k, (b = { sender: r.sender, receivers: r.receivers, score: 0, groups: [], bytes: [], at: 0 }));
    b.groups.push(g);
    b.bytes.push(r.bytes);
  });
  const flows = new Map<string, number>();
  const queuedSend = new Map<string, number>();
  const queuedRecv = new Map<string, number>();
  const enqueue = (r: Roles, bytes = r.bytes) => {
    if (bytes <= 0) return;
    for (const s of new Set([r.sender, ...r.receivers])) flows.set(s, (flows.get(s) ?? 0) + 1);
    add(queuedSend, r.sender, bytes * r.receivers.length);
    for (const s of r.receivers) add(queuedRecv, s, bytes);
  };
  // Links seen (pending and in flight), for the median known rate.
  const links = new Set<string>();
  const note = (r: Pick<Roles, 'sender' | 'receivers'>) => {
    links.add(`send:${r.sender}`);
    for (const s of r.receivers) links.add(`recv:${s}`);
  };
  for (const b of buckets.values()) note(b);
  for (const g of p.inFlight) {
    const r = roles(g);
    note(r);
    enqueue(r, p.remaining ? Math.min(r.bytes, Math.max(0, p.remaining(g))) : r.bytes);
  }
  const known: number[] = [];
  if (p.ix.count)
    for (const l of links) {
      const i = l.indexOf(':');
      const v = rate(l.slice(i + 1), l.slice(0, i) as Direction);
      if (v !== undefined) known.push(v);
    }
  // A link not measured yet is scored at the median known rate (or 1: scores in bytes while nothing is known).
  const fallback = known.length ? known.sort((a, b) => a - b)[Math.floor(known.length / 2)]! : 1;
  const secs = (s: string, dir: Direction, bytes: number) => bytes / (rate(s, dir) ?? fallback);
  const servers = new Set<string>([...sendLoad.keys(), ...recvLoad.keys(), ...flows.keys()]);
  // Queue depth (seconds of a link's rate): see PickInput.copySeconds.
  const perGroup = receivers / Math.min(100, p.pending.length);
  const depth = Math.max(QUEUE_SECONDS, 2 * (p.copySeconds ?? 0) * (1 + perGroup));
  // A server takes at most twice its fair share of the moves in flight (a group involves 1 + perGroup servers).
  // Under a latency cap on copies (copiesCapped) at most its fair share of that cap.
  const perServer = Math.min(
    Math.max(1, Math.ceil((2 * limit * (1 + perGroup)) / Math.max(1, servers.size))),
    latencyPerServer(p, Math.max(servers.size, p.ix.plan.servers.length), perGroup),
  );
  // Seconds of work the group's busiest link still has (send and receive links scored at their own rate).
  const heap: Bucket[] = [];
  for (const b of buckets.values()) {
    b.score = Math.max(
      secs(b.sender, 'send', sendLoad.get(b.sender) ?? 0),
      ...b.receivers.map((s) => secs(s, 'recv', recvLoad.get(s) ?? 0)),
    );
    sortBucket(b);
    heapPush(heap, b);
  }
  /** Whether a link takes `adds` more bytes: 'no' while it stays full whatever the bytes (limits only tighten). */
  const fits = (s: string, dir: Direction, queued: Map<string, number>, adds: number): 'yes' | 'bytes' | 'no' => {
    const q = queued.get(s) ?? 0;
    if (q <= 0) return 'yes'; // an idle link always takes the next group
    const bw = rate(s, dir);
    if (bw === undefined) return (flows.get(s) ?? 0) < START_FLOWS ? 'yes' : 'no';
    return q + adds <= bw * depth ? 'yes' : 'bytes';
  };
  const first = heap[0]!.groups[0]!;
  const picked: number[] = [];
  while (heap.length && picked.length < free) {
    const b = heap[0]!;
    const g = b.groups[b.at]!;
    const bytes = b.bytes[b.at]!;
    const r: Roles = { sender: b.sender, receivers: b.receivers, bytes };
    let verdict: 'yes' | 'bytes' | 'no' = [r.sender, ...r.receivers].some((s) => (flows.get(s) ?? 0) >= perServer)
      ? 'no'
      : fits(r.sender, 'send', queuedSend, bytes * r.receivers.length);
    for (const s of r.receivers) {
      if (verdict === 'no') break;
      const v = fits(s, 'recv', queuedRecv, bytes);
      if (v !== 'yes') verdict = v;
    }
    if (verdict === 'yes') {
      picked.push(g);
      enqueue(r);
      b.at += 1;
    } else if (verdict === 'bytes') {
      // Every later group of the bucket with as many bytes does not fit either: skip them.
      while (b.at < b.groups.length && b.bytes[b.at]! >= bytes) b.at += 1;
    } else b.at = b.groups.length;
    if (b.at < b.groups.length) heapDown(heap, 0);
    else heapPop(heap);
  }
  if (picked.length === 0 && p.inFlight.length === 0) picked.push(first);
  return picked;
}

interface Roles {
  sender: string;
  receivers: string[];
  bytes: number;
}

/** Pending groups with the same sender and receivers: the same score. `at` is the next one the scan looks at. */
interface Bucket {
  sender: string;
  receivers: string[];
  score: number;
  groups: number[];
  bytes: number[];
  at: number;
}

/** A bucket's groups in scan order: bytes desc, then group asc. */
function sortBucket(b: Bucket): void {
  let sorted = true;
  for (let i = 1; i < b.groups.length && sorted; i++)
    sorted = b.bytes[i - 1]! > b.bytes[i]! || (b.bytes[i - 1] === b.bytes[i] && b.groups[i - 1]! < b.groups[i]!);
  if (sorted) return;
  const order = b.groups.map((_, i) => i).sort((x, y) => b.bytes[y]! - b.bytes[x]! || b.groups[x]! - b.groups[y]!);
  b.groups = order.map((i) => b.groups[i]!);
  b.bytes = order.map((i) => b.bytes[i]!);
}

/** Scan order across buckets: score desc, then the next group's bytes desc, then its number asc. */
function before(a: Bucket, b: Bucket): boolean {
  return (
    a.score > b.score ||
    (a.score === b.score &&
      (a.bytes[a.at]! > b.bytes[b.at]! || (a.bytes[a.at] === b.bytes[b.at] && a.groups[a.at]! < b.groups[b.at]!)))
  );
}

function heapPush(h: Bucket[], b: Bucket): void {
  h.push(b);
  let i = h.length - 1;
  while (i > 0) {
    const up = (i - 1) >> 1;
    if (!before(h[i]!, h[up]!)) break;
    [h[i], h[up]] = [h[up]!, h[i]!];
    i = up;
  }
}

function heapDown(h: Bucket[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < h.length && before(h[l]!, h[top]!)) top = l;
    if (r < h.length && before(h[r]!, h[top]!)) top = r;
    if (top === i) return;
    [h[i], h[top]] = [h[top]!, h[i]!];
    i = top;
  }
}

function heapPop(h: Bucket[]): void {
  const last = h.pop()!;
  if (h.length) {
    h[0] = last;
    heapDown(h, 0);
  }
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
