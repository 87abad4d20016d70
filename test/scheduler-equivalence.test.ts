// pickNext with learned rates (src/workflows/scheduler.ts) is computed per role signature with a lazy merge; its picks
// must stay exactly those of the plain scan it replaced (recorded workflow histories replay them: a different pick
// would be a non-determinism error in a migration in flight). `referencePick` below is that plain scan as it shipped
// up to a59a747: score every pending group, sort all of them, take them in order while they fit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { START_FLOWS, type Direction } from '../src/workflows/bandwidth';
import { QUEUE_SECONDS, movesInFlightLimit, pickNext, type PickInput } from '../src/workflows/scheduler';
import { groupBytes, groupServers, indexPlan } from '../src/workflows/plan';
import type { ShardPlan } from '../src/activities/agency-types';
import { mulberry32 } from './harness/random';

type Scored = { g: number; r: { bytes: number }; score: number };
const SHIPPED_ORDER = (a: Scored, b: Scored) => b.score - a.score || b.r.bytes - a.r.bytes || a.g - b.g;

function referencePick(
  p: PickInput,
  rate: (server: string, dir: Direction) => number | undefined,
  order: (a: Scored, b: Scored) => number = SHIPPED_ORDER,
): number[] {
  // Since LATENCY_COPIES_PATCH, with latencyCapCounts 'copies': the cap bounds the moves still copying, and each
  // server carries at most its share of it over all the plan's DB servers.
  const copies = p.latencyCap !== undefined && p.latencyCapCounts === 'copies';
  const cap = Math.max(1, Math.floor(p.latencyCap ?? 1));
  const limit = copies ? movesInFlightLimit(p.limit) : movesInFlightLimit(p.limit, p.latencyCap);
  let free = limit - p.inFlight.length;
  if (copies) free = Math.min(free, cap - p.inFlight.filter((g) => (p.remaining ? p.remaining(g) : 1) > 0).length);
  if (free <= 0 || p.pending.length === 0) return [];
  const roles = (g: number) => {
    const cur = p.current(g);
    const receivers = p.desired(g).filter((s) => !cur.includes(s));
    return { sender: cur[0]!, receivers, bytes: groupBytes(p.ix, g) };
  };
  const known: number[] = [];
  const seen = new Set<string>();
  for (const g of [...p.pending, ...p.inFlight]) {
    const r = roles(g);
    for (const [s, dir] of [[r.sender, 'send'], ...r.receivers.map((x) => [x, 'recv'])] as [string, Direction][]) {
      if (seen.has(`${dir}:${s}`)) continue;
      seen.add(`${dir}:${s}`);
      const v = rate(s, dir);
      if (v !== undefined) known.push(v);
    }
  }
  const fallback = known.length ? known.sort((a, b) => a - b)[Math.floor(known.length / 2)]! : 1;
  const secs = (s: string, dir: Direction, bytes: number) => bytes / (rate(s, dir) ?? fallback);
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
  let receivers = 0;
  for (const g of p.pending.slice(0, 100)) receivers += roles(g).receivers.length;
  const perGroup = receivers / Math.min(100, p.pending.length);
  const depth = Math.max(QUEUE_SECONDS, 2 * (p.copySeconds ?? 0) * (1 + perGroup));
  let perServer = Math.max(1, Math.ceil((2 * limit * (1 + perGroup)) / Math.max(1, servers.size)));
  if (copies)
    perServer = Math.min(
      perServer,
      Math.ceil((cap * (1 + perGroup)) / Math.max(servers.size, p.ix.plan.servers.length)),
    );
  const scored = p.pending
    .map((g) => {
      const r = roles(g);
      const score = Math.max(
        secs(r.sender, 'send', sendLoad.get(r.sender) ?? 0),
        ...r.receivers.map((s) => secs(s, 'recv', recvLoad.get(s) ?? 0)),
      );
      return { g, r, score };
    })
    .sort(order);
  const fits = (s: string, dir: Direction, queued: Map<string, number>, adds: number) => {
    const q = queued.get(s) ?? 0;
    if (q <= 0) return true;
    const bw = rate(s, dir);
    if (bw === undefined) return (flows.get(s) ?? 0) < START_FLOWS;
    return q + adds <= bw * depth;
  };
  const picked: number[] = [];
  for (const { g, r } of scored) {
    if (picked.length >= free) break;
    if ([r.sender, ...r.receivers].some((s) => (flows.get(s) ?? 0) >= perServer)) continue;
    if (!fits(r.sender, 'send', queuedSend, r.bytes * r.receivers.length)) continue;
    if (r.receivers.some((s) => !fits(s, 'recv', queuedRecv, r.bytes))) continue;
    picked.push(g);
    enqueue(r);
  }
  if (picked.length === 0 && p.inFlight.length === 0) picked.push(scored[0]!.g);
  return picked;
}

const MB = 1024 * 1024;

function randomCase(seed: number): { p: PickInput; rate: (s: string, d: Direction) => number | undefined } {
  const r = mulberry32(seed);
  const int = (n: number) => Math.floor(r() * n);
  const olds = 1 + int(6);
  const news = 1 + int(6);
  const ids = Array.from({ length: olds + news }, (_, i) => `PRMR-${i}`);
  const sizes = [0, MB, MB, 3 * MB, 100 * MB, 1];
  const sizeMode = int(4); // 0: all zero, 1: all equal, 2: a few values, 3: skewed (Zipf-like)
  const collections = Array.from({ length: 1 + int(8) }, (_, c) => {
    const rf = 1 + int(Math.min(3, olds, news));
    return {
      database: 'db',
      collectionId: `c${c}`,
      name: `c${c}`,
      replicationFactor: rf,
      writeConcern: 1,
      clones: [],
      shards: Array.from({ length: 1 + int(40) }, (_, s) => {
        const first = int(olds + news);
        const servers = Array.from({ length: rf }, (_, k) => (first + k) % (olds + (r() < 0.2 ? news : 0)));
        const bytes =
          sizeMode === 0
            ? 0
            : sizeMode === 1
              ? MB
              : sizeMode === 2
                ? sizes[int(sizes.length)]!
                : Math.floor((64 * MB) / (1 + int(200)));
        return [`s${c}-${s}`, [...new Set(servers)], bytes] as [string, number[], number];
      }),
    };
  });
  const plan: ShardPlan = { servers: ids.map((id) => ({ id, name: id })), collections } as unknown as ShardPlan;
  const ix = indexPlan(plan);
  const targets = ids.slice(olds);
  const desired = Array.from({ length: ix.count }, (_, g) => {
    const rf = groupServers(ix, g).length;
    const start = int(news);
    return Array.from({ length: Math.min(rf, news) }, (_, k) => targets[(start + k) % news]!);
  });
  const all = Array.from({ length: ix.count }, (_, g) => g);
  const inFlight = all.filter(() => r() < 0.15);
  const pending = all.filter((g) => !inFlight.includes(g) && r() < 0.9);
  if (r() < 0.3) pending.reverse(); // the scan must not depend on the order pending is given in
  const rates = new Map<string, number | undefined>();
  const rateMode = int(3); // 0: none known, 1: all known, 2: some known
  for (const id of ids)
    for (const d of ['send', 'recv'])
      rates.set(`${d}:${id}`, rateMode === 0 || (rateMode === 2 && r() < 0.4) ? undefined : (1 + int(16)) * MB);
  const remaining = new Map(inFlight.map((g) => [g, r() < 0.5 ? 0 : int(8 * MB)]));
  const p: PickInput = {
    ix,
    desired: (g) => desired[g]!,
    current: (g) => groupServers(ix, g),
    pending,
    inFlight,
    limit: 1 + int(60),
    ...(r() < 0.3
      ? { latencyCap: 1 + int(20), latencyCapCounts: r() < 0.5 ? ('copies' as const) : ('moves' as const) }
      : {}),
    ...(r() < 0.7 ? { remaining: (g: number) => remaining.get(g) ?? 0 } : {}),
    ...(r() < 0.6 ? { copySeconds: r() * 10 } : {}),
  };
  return { p, rate: (s, d) => rates.get(`${d}:${s}`) };
}

test('pickNext with learned rates picks exactly what the plain scan picked (2,000 random cases)', () => {
  let nonEmpty = 0;
  let blocked = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const { p, rate } = randomCase(seed);
    const want = referencePick(p, rate);
    const got = pickNext({ ...p, rate });
    assert.deepEqual(got, want, `seed ${seed}`);
    if (want.length) nonEmpty++;
    if (want.length && want.length < Math.min(p.pending.length, p.limit - p.inFlight.length)) blocked++;
  }
  // The cases exercise the limits, not only "take the first n": many picks stop short of the free slots.
  console.log(`non-empty ${nonEmpty}, cut short ${blocked}`);
  assert.ok(nonEmpty > 1000, `non-empty picks: ${nonEmpty}`);
  assert.ok(blocked > 200, `picks cut short by a link or server limit: ${blocked}`);
});

test('twin: the cases tell the scan order apart (a tie broken the other way, or bytes ignored, gives other picks)', () => {
  const variants = {
    'groups desc on a tie': (a: Scored, b: Scored) => b.score - a.score || b.r.bytes - a.r.bytes || b.g - a.g,
    'bytes ignored': (a: Scored, b: Scored) => b.score - a.score || a.g - b.g,
    'score ignored': (a: Scored, b: Scored) => b.r.bytes - a.r.bytes || a.g - b.g,
  };
  for (const [name, order] of Object.entries(variants)) {
    let differs = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const { p, rate } = randomCase(seed);
      if (JSON.stringify(referencePick(p, rate, order)) !== JSON.stringify(referencePick(p, rate))) differs++;
    }
    assert.ok(differs > 100, `${name}: differs in ${differs} of 2,000 cases`);
  }
});
