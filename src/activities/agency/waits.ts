// Heartbeats, cancellation and sleeping for the agency activities: from the Temporal activity context when
// there is one, otherwise from injected hooks (tests, scripts), so the same waits work in both places.
import { asyncLocalStorage } from '@temporalio/activity';

export interface WaitHooks {
  heartbeat?: (details: unknown) => void;
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface Waits {
  now(): number;
  heartbeat(details: unknown): void;
  signal: AbortSignal | undefined;
  /** Sleeps, rejecting at once when cancelled (with the cancellation reason). */
  sleep(ms: number): Promise<void>;
  throwIfCancelled(): void;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function makeWaits(hooks: WaitHooks = {}): Waits {
  const ctx = asyncLocalStorage.getStore();
  const signal = hooks.signal ?? ctx?.cancellationSignal;
  const now = hooks.now ?? (() => Date.now());
  const sleep = hooks.sleep ?? abortableSleep;
  return {
    now,
    signal,
    heartbeat: (d) => {
      if (hooks.heartbeat) hooks.heartbeat(d);
      else ctx?.heartbeat(d);
    },
    sleep: (ms) => sleep(ms, signal),
    throwIfCancelled: () => {
      if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    },
  };
}
