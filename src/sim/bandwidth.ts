// The modelled network of a simulated DB server: one send link and one receive link, each of `capacity`
// bytes/s, shared fairly between the shard copies (flows) using it at the moment (processor sharing per flow,
// FIFO within a flow). A copy's chunk occupies the leader's send link and the follower's receive link at the same
// time and completes when both are done; because every link is work-conserving and a flow keeps at most a small
// window of chunks ahead, a copy bottlenecked elsewhere leaves its unused share to the others, which approximates
// max-min fair sharing. A copy of B bytes therefore never finishes before B / bandwidth, and a set of copies never
// before max over servers of (bytes sent or received) / bandwidth — the lower bound a benchmark compares against.

interface Job {
  remaining: number;
  resolve: () => void;
}

export class Link {
  private flows = new Map<string, Job[]>();
  private last = performance.now();
  private timer?: NodeJS.Timeout;
  /** Total modelled bytes through this link (for reports and tests). */
  bytes = 0;

  constructor(private rate: number) {}

  /** Bytes/s (≤ 0 or not finite: unbounded). */
  get capacity(): number {
    return this.rate;
  }

  /** Changes the rate from now on: what has flowed so far flowed at the old rate (a link that drops or recovers). */
  setCapacity(rate: number): void {
    this.advance();
    this.rate = rate;
    this.reschedule();
  }

  get unbounded(): boolean {
    return !Number.isFinite(this.capacity) || this.capacity <= 0;
  }

  /** Resolves once `bytes` of flow `flow` have passed the link. */
  transfer(flow: string, bytes: number): Promise<void> {
    this.bytes += bytes;
    if (this.unbounded || bytes <= 0) return Promise.resolve();
    this.advance();
    return new Promise<void>((resolve) => {
      const q = this.flows.get(flow);
      const job = { remaining: bytes, resolve };
      if (q) q.push(job);
      else this.flows.set(flow, [job]);
      this.reschedule();
    });
  }

  /** Number of flows currently transferring. */
  get activeFlows(): number {
    return this.flows.size;
  }

  private advance(): void {
    const t = performance.now();
    const dt = (t - this.last) / 1000;
    this.last = t;
    if (this.flows.size === 0 || dt <= 0) return;
    const share = (this.capacity / this.flows.size) * dt;
    const done: Job[] = [];
    for (const [flow, q] of this.flows) {
      const head = q[0];
      head.remaining -= share;
      if (head.remaining <= 1e-6 * this.capacity) {
        done.push(head);
        q.shift();
        if (q.length === 0) this.flows.delete(flow);
      }
    }
    for (const j of done) j.resolve();
  }

  private reschedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.flows.size === 0) return;
    let min = Infinity;
    for (const q of this.flows.values()) min = Math.min(min, q[0].remaining);
    const ms = (min / (this.capacity / this.flows.size)) * 1000;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.advance();
        this.reschedule();
      },
      Math.max(0, Math.ceil(ms)),
    );
  }

  /** Drops every queued transfer (the server stopped); waiters are released. */
  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const q of this.flows.values()) for (const j of q) j.resolve();
    this.flows.clear();
  }
}

/** Parses a bandwidth: a number of bytes/s, or strings like "100MB/s", "1 Gbit/s", "unbounded". */
export function parseBandwidth(v: unknown): number {
  if (v === undefined || v === null || v === 'unbounded' || v === 'unlimited' || v === 0 || v === '0') return Infinity;
  if (typeof v === 'number') return v;
  const m = /^\s*([\d.]+)\s*([kKmMgGtT]?i?)(B|bit|b)?\s*(\/s)?\s*$/.exec(String(v));
  if (!m) throw new Error(`bad bandwidth "${String(v)}" (e.g. 104857600, "100MB/s", "1Gbit/s", "unbounded")`);
  const prefix = m[2].toUpperCase();
  const bin = prefix.endsWith('I');
  const mult = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[prefix.replace('I', '')] ?? 1;
  const binMult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[prefix.replace('I', '')] ?? 1;
  const bits = m[3] === 'bit' || m[3] === 'b';
  return (Number(m[1]) * (bin ? binMult : mult)) / (bits ? 8 : 1);
}
