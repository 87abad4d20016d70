/**
 * The client-latency controller (pure, deterministic: workflow code). It turns the p99 the probes measured over a
 * window into a cap on moves in flight, which the scheduler takes as `latencyCap` (movesInFlightLimit: moves in
 * flight = min(setConcurrency ceiling, this cap, the scheduler's choice) — one decision point).
 *
 * AIMD, as TCP and Cruise Control's concurrency adjuster:
 * - a window whose p99 exceeds `policy.latency.p99Ms` → multiplicative back-off (cap × BACKOFF, rounded down,
 *   never below one move). The window right after a back-off still shows the moves started under the old cap (a
 *   cap stops new starts; running copies finish), so it does not back off again (settling): at most one halving
 *   every two windows;
 * - a breach that only the canary shards whose leader changed in the window show (the probes' `steadyP99Ms`, the
 *   other shards' p99, is within the objective) → hold: those writes waited for the new leader, a stall of the
 *   switch that no pacing of copies avoids; backing off on it only slowed the migration (bench-latency, 3 Dec 2026);
 * - a window within the objective → growth: doubling until the first breach (slow start: a migration starts with
 *   a cap of START_MOVES and reaches its ceiling in a few windows when clients do not suffer), then +1 per window
 *   (additive increase);
 * - bounds: never below one move, never above the ceiling (the operator's setConcurrency / maxConcurrentShardMoves);
 * - a window with fewer than `minSamples` samples (probes failing, a worker that just started, a shared machine's
 *   stall) is no measurement: the cap holds at a safe low rate (at most SAFE_MOVES) until measurements return;
 * - windows that breach while the cap is already one move, for `parkAfterSeconds` in a row, → "park": the
 *   objective cannot be met even at the slowest rate Transit can move; the migration parks with a message saying so
 *   (resume starts again at one move).
 */
import { inWorkflowContext, patched } from '@temporalio/workflow';
import { LATENCY_CAP_PATCH } from './patches';
import type { LatencyPolicy } from '../spec/schema';

/**
 * The objective: policy.latency as parsed (the spec's schema is the one source of the type): p99Ms, windowSeconds,
 * parkAfterSeconds (0 = never park), minSamples.
 */
export type LatencyObjective = LatencyPolicy;

/** What the probes measured in one window. */
export interface LatencyWindow {
  /** Window start and end (workflow time, ms). */
  startMs: number;
  endMs: number;
  /** Successful samples in the window. */
  samples: number;
  /** Their p99 (ms); null when there were none. */
  p99Ms: number | null;
  /** Probe requests that failed (counted, not timed). */
  errors?: number;
  /**
   * Canary shards whose leader changed in the window, and the p99 of the other shards' samples (probeClientLatency;
   * absent in results recorded before 3 December 2026, and then the window is judged by `p99Ms` alone).
   */
  switchedShards?: number;
  steadyP99Ms?: number | null;
}

export type LatencyAction = 'start' | 'hold' | 'backoff' | 'grow' | 'settle' | 'no-measurement' | 'park';

export interface LatencyControlState {
  /** The cap on moves in flight the scheduler reads. */
  cap: number;
  /** Slow start: doubling until the first breach. */
  slowStart: boolean;
  /** When the last back-off happened (ms), for settling. */
  lastBackoffMs: number | null;
  /** Since when windows have breached at a cap of one move (ms), for parking. */
  floorBreachSinceMs: number | null;
  /** The last window's p99 and samples, for progress and status. */
  lastP99Ms: number | null;
  lastSamples: number;
  /** The last decision and why. */
  lastAction: LatencyAction;
  reason: string;
  /** When the cap last changed (ms). */
  changedAtMs: number | null;
}

export interface LatencyDecision {
  state: LatencyControlState;
  /** The cap to apply (== state.cap). */
  cap: number;
  action: LatencyAction;
  /** Human-readable reason (progress, status, history). */
  reason: string;
  /** Only with action 'park': the message the migration parks with. */
  park?: string;
}

/** Multiplicative decrease factor. */
export const BACKOFF = 0.5;
/** Additive increase per window within the objective (after slow start). */
export const GROW_STEP = 1;
/** The cap a migration starts with. */
export const START_MOVES = 2;
/** The cap while there is no measurement. */
export const SAFE_MOVES = 2;
/** Default minimum samples per window. */
export const MIN_SAMPLES = 20;

export function newLatencyState(ceiling: number): LatencyControlState {
  const cap = clamp(START_MOVES, ceiling);
  return {
    cap,
    slowStart: true,
    lastBackoffMs: null,
    floorBreachSinceMs: null,
    lastP99Ms: null,
    lastSamples: 0,
    lastAction: 'start',
    reason: `start at ${cap} move${cap === 1 ? '' : 's'} in flight`,
    changedAtMs: null,
  };
}

function clamp(cap: number, ceiling: number): number {
  return Math.max(1, Math.min(Math.floor(cap), Math.max(1, Math.floor(ceiling))));
}

const ms = (x: number): string => `${Math.round(x * 10) / 10} ms`;

/** One control step per measured window. `ceiling`: the operator's ceiling now (it may change between windows). */
export function stepLatency(
  prev: LatencyControlState,
  w: LatencyWindow,
  objective: LatencyObjective,
  ceiling: number,
): LatencyDecision {
  const s: LatencyControlState = { ...prev, lastSamples: w.samples };
  const before = clamp(prev.cap, ceiling);
  const out = (action: LatencyAction, cap: number, reason: string, park?: string): LatencyDecision => {
    const c = clamp(cap, ceiling);
    if (c !== prev.cap) s.changedAtMs = w.endMs;
    s.cap = c;
    s.lastAction = action;
    s.reason = reason;
    return { state: s, cap: c, action, reason, ...(park ? { park } : {}) };
  };

  if (w.samples < objective.minSamples || w.p99Ms === null) {
    s.lastP99Ms = w.p99Ms;
    const cap = Math.min(before, SAFE_MOVES);
    return out(
      'no-measurement',
      cap,
      `no measurement: ${w.samples} sample${w.samples === 1 ? '' : 's'} in the window (at least ${objective.minSamples})` +
        `${w.errors ? `, ${w.errors} probe errors` : ''}; holding at ${clamp(cap, ceiling)}`,
    );
  }
  s.lastP99Ms = w.p99Ms;
  const p99 = w.p99Ms;
  const target = objective.p99Ms;

  // A breach that only the shards which changed leader show: their writes waited for the new leader (a stall of the
  // switch itself, part of every move), not for load — backing off would not have avoided it, and growing on it
  // would ignore it: hold.
  if (p99 > target && w.switchedShards && typeof w.steadyP99Ms === 'number' && w.steadyP99Ms <= target) {
    s.floorBreachSinceMs = null;
    return out(
      'hold',
      before,
      `p99 ${ms(p99)} > ${ms(target)} only on ${w.switchedShards} canary shard${w.switchedShards === 1 ? '' : 's'} ` +
        `that changed leader in the window (the others: p99 ${ms(w.steadyP99Ms)}): a leader switch, not load; ` +
        `holding at ${before}`,
    );
  }

  if (p99 > target) {
    // Parking: breaches at one move, for parkAfterSeconds in a row.
    if (before === 1) {
      s.floorBreachSinceMs = prev.floorBreachSinceMs ?? w.startMs;
      const forS = (w.endMs - s.floorBreachSinceMs) / 1000;
      if (objective.parkAfterSeconds > 0 && forS >= objective.parkAfterSeconds) {
        const msg =
          `client latency objective cannot be met: p99 ${ms(p99)} > ${ms(target)} even at one move in flight ` +
          `for ${Math.round(forS)} s (parkAfterSeconds ${objective.parkAfterSeconds}); resume to try again, or ` +
          `raise policy.latency.p99Ms`;
        s.floorBreachSinceMs = null; // after a resume the clock starts again
        return out('park', 1, msg, msg);
      }
      return out('hold', 1, `p99 ${ms(p99)} > ${ms(target)} at one move in flight for ${Math.round(forS)} s`);
    }
    s.floorBreachSinceMs = null;
    s.slowStart = false;
    if (prev.lastAction === 'backoff') {
      return out('settle', before, `p99 ${ms(p99)} > ${ms(target)}; settling after the back-off to ${before}`);
    }
    const cap = Math.max(1, Math.floor(before * BACKOFF));
    s.lastBackoffMs = w.endMs;
    return out('backoff', cap, `p99 ${ms(p99)} > ${ms(target)}: back off ${before} → ${clamp(cap, ceiling)}`);
  }

  s.floorBreachSinceMs = null;
  if (before >= Math.max(1, Math.floor(ceiling))) {
    return out('hold', before, `p99 ${ms(p99)} ≤ ${ms(target)}; at the ceiling ${before}`);
  }
  const cap = s.slowStart ? before * 2 : before + GROW_STEP;
  return out(
    'grow',
    cap,
    `p99 ${ms(p99)} ≤ ${ms(target)}: ${s.slowStart ? 'slow start' : 'grow'} ${before} → ${clamp(cap, ceiling)}`,
  );
}

/** p99 (nearest rank) of a list of latencies (ms); null for none. */
export function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const xs = [...values].sort((a, b) => a - b);
  const rank = Math.min(xs.length, Math.max(1, Math.ceil(q * xs.length)));
  return xs[rank - 1]!;
}

/** What the loop needs from the engine: the objective, the ceiling now, one probe window (the activity), a clock. */
export interface LatencyLoopDeps {
  objective: LatencyObjective;
  /** The operator's ceiling now (setConcurrency / policy.maxConcurrentShardMoves). */
  ceiling: () => number;
  /** One window of probes (probeClientLatency); a failure counts as a window without samples. */
  probe: (
    windowMs: number,
  ) => Promise<
    Pick<LatencyWindow, 'startMs' | 'endMs' | 'samples' | 'p99Ms' | 'errors' | 'switchedShards' | 'steadyP99Ms'>
  >;
  /** Workflow time (ms). */
  now: () => number;
  /** Workflow sleep: after a failed probe the loop waits out the rest of the window (no tight retry loop). */
  sleep?: (ms: number) => Promise<void>;
  /** The controller state to continue from (carried over continue-as-new); default: a fresh start. */
  state?: LatencyControlState;
  /** After every step (progress, status, metrics, the workflow's log). */
  onDecision?: (d: LatencyDecision) => void;
  /** The objective cannot be met even at one move: the engine parks with this message. */
  onPark?: (message: string) => void;
}

/**
 * The controller's loop beside the job engine (workflow code, deterministic: it only awaits the probe activity):
 * one probe window after another, one control step per window. The engine reads `cap` where it calls pickNext
 * (`latencyCap`), so moves in flight = min(ceiling, cap, the scheduler's choice). `stop()` ends the loop after the
 * window in flight (its result is ignored).
 */
export class LatencyLoop {
  state: LatencyControlState;
  private stopped = false;
  private running?: Promise<void>;

  constructor(private deps: LatencyLoopDeps) {
    this.state = deps.state ?? newLatencyState(deps.ceiling());
  }

  get cap(): number {
    return clamp(this.state.cap, this.deps.ceiling());
  }

  start(): this {
    this.running ??= this.run();
    return this;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Resolves when the loop has ended (after stop(): once the window in flight is over). */
  ended(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const windowMs = this.deps.objective.windowSeconds * 1000;
    while (!this.stopped) {
      const startMs = this.deps.now();
      let w: LatencyWindow;
      try {
        w = await this.deps.probe(windowMs);
      } catch {
        const rest = startMs + windowMs - this.deps.now();
        if (rest > 0 && this.deps.sleep) await this.deps.sleep(rest);
        w = { startMs, endMs: this.deps.now(), samples: 0, p99Ms: null, errors: 1 };
      }
      if (this.stopped) break;
      const d = stepLatency(this.state, w, this.deps.objective, this.deps.ceiling());
      this.state = d.state;
      this.deps.onDecision?.(d);
      if (d.park) this.deps.onPark?.(d.park);
    }
  }
}

/** The part of a probe window's summary (probeClientLatency) the controller and the status read. */
export interface ProbeWindowSummary {
  startMs: number;
  endMs: number;
  samples: number;
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** See LatencyWindow. */
  switchedShards?: number;
  steadyP99Ms?: number | null;
}

/** One region's share of a window (policy.latency.probeFrom "each-region"). */
export interface RegionWindow {
  region: string;
  samples: number;
  errors: number;
  p99Ms: number | null;
  /** Why the region has no measurement (no probe worker on its queue, a failed window). */
  problem?: string;
}

/**
 * One window from every region's probes, as one summary for the controller: the worst region decides — p50 and
 * p99 are the largest of the regions', samples the fewest (a region without a measurement makes the window no
 * measurement: its clients cannot be seen), errors the sum. Pure (workflow code).
 */
export function mergeRegionWindows(
  parts: { region: string; window?: ProbeWindowSummary; problem?: string }[],
): ProbeWindowSummary & { regions: RegionWindow[] } {
  const ok = parts.filter((p) => p.window);
  const maxOf = (xs: (number | null)[]): number | null => {
    const ys = xs.filter((x): x is number => x !== null);
    return ys.length ? Math.max(...ys) : null;
  };
  return {
    startMs: ok.length ? Math.min(...ok.map((p) => p.window!.startMs)) : 0,
    endMs: ok.length ? Math.max(...ok.map((p) => p.window!.endMs)) : 0,
    samples: parts.length ? Math.min(...parts.map((p) => p.window?.samples ?? 0)) : 0,
    errors: parts.reduce((n, p) => n + (p.window ? p.window.errors : 1), 0),
    p50Ms: maxOf(ok.map((p) => p.window!.p50Ms)),
    p99Ms: maxOf(ok.map((p) => p.window!.p99Ms)),
    // The steady p99 only when every region measured one (the worst decides, as for p99).
    ...(ok.length && ok.every((p) => p.window!.steadyP99Ms !== undefined)
      ? {
          switchedShards: Math.max(...ok.map((p) => p.window!.switchedShards ?? 0)),
          // A region with no steady sample (all its samples on switched shards) cannot clear the breach.
          steadyP99Ms: ok.some((p) => p.window!.steadyP99Ms === null)
            ? null
            : maxOf(ok.map((p) => p.window!.steadyP99Ms ?? null)),
        }
      : {}),
    regions: parts.map((p) => ({
      region: p.region,
      samples: p.window?.samples ?? 0,
      errors: p.window?.errors ?? 1,
      p99Ms: p.window?.p99Ms ?? null,
      ...(p.problem ? { problem: p.problem } : {}),
    })),
  };
}

/** What progress, status and continue-as-new carry (MigrationState.clientLatency). */
export interface ClientLatencyStatus {
  control: LatencyControlState;
  /** The canary's keys, one per shard (ensureLatencyCanary). */
  canaryKeys: string[];
  /** The last window as the probes measured it (per region with probeFrom "each-region"). */
  last?: Omit<ProbeWindowSummary, 'startMs'> & { regions?: RegionWindow[] };
}

export interface EngineLatencyDeps {
  /** spec.policy.latency; undefined = no loop (moves in flight = min(ceiling, the scheduler's choice)). */
  objective: LatencyObjective | undefined;
  ceiling: () => number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Where the status lives (carried over continue-as-new). */
  status: { get(): ClientLatencyStatus | undefined; set(s: ClientLatencyStatus): void };
  acts: {
    ensureLatencyCanary(): Promise<{ keys: { key: string }[] }>;
    probeClientLatency(a: {
      keys: string[];
      windowMs: number;
      ratePerSecond?: number;
    }): Promise<ProbeWindowSummary & { regions?: RegionWindow[] }>;
  };
  /** The objective cannot be met even at one move: park the migration with this message. */
  park(message: string): void;
  onProgress(): void;
  log(msg: string, meta?: Record<string, unknown>): void;
}

/**
 * The job engine's whole use of the controller: `const lat = await startEngineLatencyLoop(…)` before its loop,
 * `latencyCap: lat?.cap` where it calls pickNext, `lat?.stop()` when it returns. Null without policy.latency, or in
 * a run recorded before LATENCY_CAP_PATCH.
 */
export async function startEngineLatencyLoop(d: EngineLatencyDeps): Promise<LatencyLoop | null> {
  if (!d.objective) return null;
  if (inWorkflowContext() && !patched(LATENCY_CAP_PATCH)) return null;
  const objective = d.objective;
  let st = d.status.get();
  if (!st?.canaryKeys.length) {
    const canary = await d.acts.ensureLatencyCanary();
    st = { control: st?.control ?? newLatencyState(d.ceiling()), canaryKeys: canary.keys.map((k) => k.key) };
    d.status.set(st);
  }
  const keys = st.canaryKeys;
  let last: ClientLatencyStatus['last'];
  const loop = new LatencyLoop({
    objective,
    ceiling: d.ceiling,
    now: d.now,
    sleep: d.sleep,
    state: st.control,
    probe: async (windowMs) => {
      const w = await d.acts.probeClientLatency({
        keys,
        windowMs,
        // Only when the spec sets it: runs without it keep the inputs they recorded.
        ...(objective.probeRatePerSecond ? { ratePerSecond: objective.probeRatePerSecond } : {}),
      });
      last = {
        endMs: w.endMs,
        samples: w.samples,
        errors: w.errors,
        p50Ms: w.p50Ms,
        p99Ms: w.p99Ms,
        ...(w.regions ? { regions: w.regions } : {}),
      };
      return w;
    },
    onDecision: (dec) => {
      const prevCap = d.status.get()?.control.cap;
      d.status.set({ control: dec.state, canaryKeys: keys, ...(last ? { last } : {}) });
      if (dec.cap !== prevCap || dec.action === 'park')
        d.log('client latency: moves in flight cap', { cap: dec.cap, action: dec.action, reason: dec.reason });
      d.onProgress();
    },
    onPark: (m) => d.park(m),
  });
  return loop.start();
}
