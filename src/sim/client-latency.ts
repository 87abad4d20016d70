/**
 * The client-latency model (src/sim/latency-model.ts) applied to one simulated DB server's request path
 * (SIMULATED). Enabled per server (`DBServerOptions.clientLatency`) or for every server of a process with
 * `TRANSIT_SIM_CLIENT_LATENCY=1` in its environment; off by default, so other tests keep their timing.
 *
 * - `serve()`: every document request the server handles (reads, inserts, updates, replaces, removes as leader,
 *   and the replicated writes it applies as follower) waits its M/M/1 sojourn time, drawn at the utilisation the
 *   server has now: the copy flows on its send and receive links (`Link.activeFlows`: each copy it feeds or
 *   receives) and the clients' own load (their arrival rate over the last second × SERVICE_MS).
 * - `hold(shard, writes, copySeconds)`: the final catch-up of a sync on the leader holds writes to the shard for
 *   catchupHoldMs(writes during the copy, copy seconds); `writable(shard)` is where a write waits for it.
 */
import { SERVICE_MS, catchupHoldMs, sampleDelayMs, utilisation } from './latency-model.js';

export interface ClientLatencyStats {
  /** Requests delayed, their total delay (ms), holds of the final catch-up and their total (ms). */
  requests: number;
  delayMs: number;
  holds: number;
  holdMs: number;
}

export class ClientLatency {
  readonly stats: ClientLatencyStats = { requests: 0, delayMs: 0, holds: 0, holdMs: 0 };
  private arrivals: number[] = [];
  private held = new Map<string, Promise<void>>();

  constructor(
    readonly enabled: boolean,
    private copyFlows: () => number,
    private random: () => number = Math.random,
  ) {}

  /** Utilisation a request arriving now sees. */
  utilisation(now = performance.now()): number {
    while (this.arrivals.length && this.arrivals[0]! < now - 1000) this.arrivals.shift();
    return utilisation(this.copyFlows(), (this.arrivals.length * SERVICE_MS) / 1000);
  }

  /** Waits one request's sojourn time (no wait when disabled). */
  async serve(): Promise<void> {
    if (!this.enabled) return;
    const now = performance.now();
    const ms = sampleDelayMs(this.utilisation(now), this.random());
    this.arrivals.push(now);
    this.stats.requests += 1;
    this.stats.delayMs += ms;
    await sleep(ms);
  }

  /** The final catch-up of a sync: writes to `shard` wait until it is over; resolves when it is. */
  async hold(shard: string, writesDuringCopy: number, copySeconds: number): Promise<void> {
    if (!this.enabled) return;
    const ms = catchupHoldMs(writesDuringCopy, copySeconds);
    this.stats.holds += 1;
    this.stats.holdMs += ms;
    const p = sleep(ms);
    this.held.set(shard, p);
    try {
      await p;
    } finally {
      if (this.held.get(shard) === p) this.held.delete(shard);
    }
  }

  /** Where a write to `shard` waits while the final catch-up of a sync holds it. */
  async writable(shard: string): Promise<void> {
    const p = this.held.get(shard);
    if (p) await p;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
