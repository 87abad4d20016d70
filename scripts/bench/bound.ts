/**
 * Lower bounds on a MoveShards makespan (seconds), from the plan and each link's real (modelled) rate, following a
 * change of rate mid-run.
 *
 * - assignmentIndependentBound: for every server, the time its own link needs for the bytes it must carry under
 *   *any* assignment and strategy: a source leader sends at least one copy of every group it leads (ArangoDB
 *   copies from the leader; the other new copies may come from the new leader); the new servers together receive
 *   every new copy (at best spread so that they all finish together: total ÷ their summed rates), and some new
 *   server receives the largest group. The bound is the largest of these.
 * - assignmentBound: today's bound for Transit's own assignment (src/workflows/scheduler.ts makespanLowerBound,
 *   here with per-link rates): per server, the bytes it sends as the current leader (one copy per new server of
 *   the group) and receives as a new server, ÷ its rate.
 */
import type { ShardPlan } from '../../src/activities/agency-types';
import { groupBytes, groupServers, indexPlan } from '../../src/workflows/plan';

export interface LinkRates {
  /** Base rate of a server's link (bytes/s). */
  base(server: string, dir: 'send' | 'recv'): number;
  /** A change of one link mid-run: from `atSeconds` on, the rate is base × factor. */
  change?: { server: string; dir: 'send' | 'recv'; atSeconds: number; factor: number };
}

/** Seconds a link needs for `bytes`, following its change of rate. */
export function linkSeconds(r: LinkRates, server: string, dir: 'send' | 'recv', bytes: number): number {
  const b = r.base(server, dir);
  const c = r.change;
  if (!c || c.server !== server || c.dir !== dir || bytes <= b * c.atSeconds) return bytes / b;
  return c.atSeconds + (bytes - b * c.atSeconds) / (b * c.factor);
}

/** Bytes a link carries in `seconds` at full rate. */
function linkBytes(r: LinkRates, server: string, dir: 'send' | 'recv', seconds: number): number {
  const b = r.base(server, dir);
  const c = r.change;
  if (!c || c.server !== server || c.dir !== dir || seconds <= c.atSeconds) return b * seconds;
  return b * c.atSeconds + b * c.factor * (seconds - c.atSeconds);
}

export interface Bound {
  seconds: number;
  /** Which term sets it. */
  by: string;
}

export function assignmentIndependentBound(plan: ShardPlan, targets: string[], r: LinkRates): Bound {
  const ix = indexPlan(plan);
  const led = new Map<string, number>();
  let receive = 0;
  let largest = 0;
  for (let g = 0; g < ix.count; g++) {
    const cur = groupServers(ix, g);
    const b = groupBytes(ix, g);
    const newCopies = Math.max(0, cur.length - cur.filter((s) => targets.includes(s)).length);
    if (newCopies === 0) continue;
    if (!targets.includes(cur[0]!)) led.set(cur[0]!, (led.get(cur[0]!) ?? 0) + b);
    receive += b * newCopies;
    largest = Math.max(largest, b);
  }
  const terms: Bound[] = [];
  for (const [s, b] of led) terms.push({ seconds: linkSeconds(r, s, 'send', b), by: `${s.slice(-6)} sends ${mb(b)}` });
  // Receive: the least T at which the new servers together can have received every new copy.
  let lo = 0;
  let hi = 1;
  const can = (t: number) => targets.reduce((acc, s) => acc + linkBytes(r, s, 'recv', t), 0) >= receive;
  while (!can(hi)) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (can(mid)) hi = mid;
    else lo = mid;
  }
  terms.push({ seconds: hi, by: `targets receive ${mb(receive)}` });
  terms.push({
    seconds: Math.min(...targets.map((s) => linkSeconds(r, s, 'recv', largest))),
    by: `largest group ${mb(largest)}`,
  });
  return terms.reduce((a, b) => (b.seconds > a.seconds ? b : a));
}

export function assignmentBound(plan: ShardPlan, desired: string[][], r: LinkRates): Bound {
  const ix = indexPlan(plan);
  const sent = new Map<string, number>();
  const recv = new Map<string, number>();
  for (let g = 0; g < ix.count; g++) {
    const cur = groupServers(ix, g);
    const receivers = desired[g]!.filter((s) => !cur.includes(s));
    const b = groupBytes(ix, g);
    sent.set(cur[0]!, (sent.get(cur[0]!) ?? 0) + b * receivers.length);
    for (const s of receivers) recv.set(s, (recv.get(s) ?? 0) + b);
  }
  const terms: Bound[] = [
    ...[...sent].map(([s, b]) => ({ seconds: linkSeconds(r, s, 'send', b), by: `${s.slice(-6)} sends ${mb(b)}` })),
    ...[...recv].map(([s, b]) => ({ seconds: linkSeconds(r, s, 'recv', b), by: `${s.slice(-6)} receives ${mb(b)}` })),
  ];
  return terms.reduce((a, b) => (b.seconds > a.seconds ? b : a), { seconds: 0, by: '-' });
}

function mb(b: number): string {
  return `${(b / 1024 / 1024).toFixed(0)} MiB`;
}
