/**
 * The best any pacing strategy could do on this machine (SIMULATED: the client-latency model of src/sim applied to
 * the idle control run's real requests). scripts/bench-latency.ts prints it beside the strategies it measured.
 *
 * The question: with `k` shard copies running at every moment, how many 5 s windows would stay within the objective?
 * The model (src/sim/latency-model.ts) charges a copy to the DB servers it runs on: a server with one copy flow
 * serves a request hop in an exponential time of mean 2·S instead of S (ρ = ½). A copy's flow gets its link's whole
 * rate when it is the only one (max-min sharing, src/sim/bandwidth.ts), so one copy per server is the cheapest way to
 * keep links busy: `k` copies on 2k distinct servers move data at k links' rate and leave every other server idle.
 *
 * How it is computed: an exponential of mean 2·S has the distribution of one of mean S plus Z, where Z is 0 with
 * probability ½ and otherwise exponential of mean 2·S (memorylessness: 1/(1+2Ss) = 1/(1+Ss) · (½ + ½/(1+2Ss)),
 * test/latency-model.test.ts checks it by sampling). So each idle request — which already carries the model's idle
 * draw on each of its hops, and this machine's real noise — becomes a request under `k` copies by adding Z on each
 * hop that lands on a loaded server: a read has one DB-server hop (the leader), a write two (the leader and the
 * follower applying it), and a hop lands on a loaded server with probability f = 2k ÷ DB servers (senders and
 * receivers distinct; the clients' shards spread over the servers like the data).
 *
 * Optimistic on purpose (an upper bound on the share of windows within): links busy all the time (no job latency,
 * no supervision rounds), no leader-switch stall, no final catch-up hold, no CPU the copies cost the simulator's
 * processes on this machine — only the model's own price of one copy per server.
 */
import { SERVICE_MS } from '../../src/sim/latency-model';
import { percentile } from '../../src/workflows/latency';
import { mulberry32 } from '../../test/harness/random';
import { windowP99s } from './windows';

export interface IdleRequest {
  /** Start (ms since the epoch), latency (ms), whether it was a write (two DB-server hops), whether it succeeded. */
  t: number;
  ms: number;
  w?: boolean;
  ok: boolean;
}

/** The extra time one hop waits on a server with one copy flow instead of none: Z (see the header). */
export function extraHopMs(rand: () => number, serviceMs = SERVICE_MS): number {
  if (rand() < 0.5) return 0;
  return -2 * serviceMs * Math.log(1 - rand());
}

/** The idle requests as they would be with a share `f` of DB-server hops on servers carrying one copy each. */
export function withCopies(reqs: IdleRequest[], f: number, seed = 1): IdleRequest[] {
  const rand = mulberry32(seed);
  return reqs.map((r) => {
    if (!r.ok) return r;
    let ms = r.ms;
    for (let hop = 0; hop < (r.w ? 2 : 1); hop++) if (rand() < f) ms += extraHopMs(rand);
    return { ...r, ms };
  });
}

export interface IdealRow {
  /** Copies running at every moment, the share of hops on loaded servers. */
  copies: number;
  loadedShare: number;
  /** The makespan those copies allow at best: every byte at `copies` links' rate (null for none). */
  makespanS: number | null;
  p99Ms: number | null;
  windowsWithin: number;
  windows: number;
}

/**
 * One row per number of copies (0 … maxCopies; 0 reproduces the idle run's own windows, a check), and `extra`
 * fractional ones (e.g. the copies a makespan of 1.3 × unthrottled needs on average). Windows: [from, to) in windowMs steps with ≥ minSamples.
 */
export function idealFrontier(a: {
  reqs: IdleRequest[];
  from: number;
  to: number;
  windowMs: number;
  minSamples: number;
  objectiveMs: number;
  dbServers: number;
  maxCopies: number;
  bytes: number;
  linkBytesPerSecond: number;
  extra?: number[];
}): IdealRow[] {
  const ks = [...Array.from({ length: a.maxCopies + 1 }, (_, i) => i), ...(a.extra ?? [])].sort((x, y) => x - y);
  return ks.map((k) => {
    const f = Math.min(1, (2 * k) / a.dbServers);
    const reqs = withCopies(a.reqs, f).filter((r) => r.ok && r.t >= a.from && r.t < a.to);
    const ws = windowP99s(reqs, a.from, a.to, a.windowMs, a.minSamples);
    const windows = ws.length;
    const within = ws.filter((w) => (w.p99 ?? Infinity) <= a.objectiveMs).length;
    return {
      copies: Math.round(k * 100) / 100,
      loadedShare: Math.round(f * 100) / 100,
      makespanS: k > 0 ? Math.round((a.bytes / (k * a.linkBytesPerSecond)) * 10) / 10 : null,
      p99Ms: percentile(
        reqs.map((r) => r.ms),
        0.99,
      ),
      windowsWithin: within,
      windows,
    };
  });
}
