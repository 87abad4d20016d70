/**
 * Client requests cut into windows, for scripts/bench-latency.ts and its best-any-strategy estimate (ideal.ts).
 */
import { percentile } from '../../src/workflows/latency';

/**
 * The windows of [from, to), `windowMs` each, with at least `minSamples` successful requests: their start (ms after
 * `from`), count and p99; `switch`: a time in `switches` falls in the window or within `slackMs` before it.
 */
export function windowP99s(
  recs: { t: number; ms: number; ok: boolean }[],
  from: number,
  to: number,
  windowMs: number,
  minSamples: number,
  switches: number[] = [],
  slackMs = 0,
): { start: number; n: number; p99: number | null; switch: boolean }[] {
  const out: { start: number; n: number; p99: number | null; switch: boolean }[] = [];
  for (let s = from; s < to; s += windowMs) {
    const end = Math.min(s + windowMs, to);
    const xs = recs.filter((r) => r.ok && r.t >= s && r.t < end).map((r) => r.ms);
    const sw = switches.some((t) => t >= s - slackMs && t < end);
    if (xs.length >= minSamples) out.push({ start: s - from, n: xs.length, p99: percentile(xs, 0.99), switch: sw });
  }
  return out;
}
