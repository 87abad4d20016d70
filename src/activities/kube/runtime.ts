// What every Kubernetes activity call runs with: heartbeat, sleep, clock and cancellation. Inside a Temporal
// activity they come from the activity context; outside one (tests, the CLI) from the injected deps.
import { setMaxListeners } from 'node:events';
import { asyncLocalStorage, heartbeat as activityHeartbeat } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';

export interface RuntimeDeps {
  heartbeat?: (details: unknown) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  signal?: AbortSignal;
  /** Progress lines (default: none); never given secrets. */
  log?: (msg: string) => void;
}

export interface Runtime {
  heartbeat(details: unknown): void;
  sleep(ms: number): Promise<void>;
  now(): number;
  signal?: AbortSignal;
  log(msg: string): void;
  throwIfCancelled(): void;
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new CancelledFailure('Kubernetes activity cancelled');
}

function timerSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Listeners one activity's signal may carry at once before Node warns of a leak. */
const MAX_PARALLEL_WAITS = 64;

export function makeRuntime(deps: RuntimeDeps): Runtime {
  const act = asyncLocalStorage.getStore();
  const signal = deps.signal ?? act?.cancellationSignal;
  // One activity runs its API calls and waits side by side (one per member, Service or path: bounded by the
  // deployment's size); each listens on the activity's signal while in flight and removes itself when done.
  if (signal) setMaxListeners(MAX_PARALLEL_WAITS, signal);
  return {
    heartbeat: deps.heartbeat ?? (act ? (d) => activityHeartbeat(d) : () => undefined),
    sleep: (ms) => (deps.sleep ? deps.sleep(ms, signal) : timerSleep(ms, signal)),
    now: deps.now ?? Date.now,
    signal,
    log: deps.log ?? (() => undefined),
    throwIfCancelled() {
      if (signal?.aborted) throw abortError(signal);
    },
  };
}

/**
 * Polls `check` until it returns a value (not undefined), heartbeating `progress()` each round. Throws what
 * `onTimeout` returns after `timeoutMs`.
 */
export async function pollUntil<T>(
  runtime: Runtime,
  check: () => Promise<T | undefined>,
  o: { timeoutMs: number; intervalMs?: number; progress?: () => unknown; onTimeout: () => Error },
): Promise<T> {
  const deadline = runtime.now() + o.timeoutMs;
  for (;;) {
    runtime.throwIfCancelled();
    const v = await check();
    if (v !== undefined) return v;
    runtime.heartbeat(o.progress?.() ?? null);
    if (runtime.now() >= deadline) throw o.onTimeout();
    await runtime.sleep(o.intervalMs ?? 500);
  }
}
