// Timers and waits owned by one member, all cancelled when it stops, so a stopped in-process member goes
// quiet exactly like a killed process.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export class StoppedError extends Error {
  override name = 'StoppedError';
  constructor() {
    super('member stopped');
  }
}

export class Lifecycle {
  stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private sleepers = new Set<() => void>();

  timeout(ms: number, fn: () => void): NodeJS.Timeout | undefined {
    if (this.stopped) return undefined;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  interval(ms: number, fn: () => void): NodeJS.Timeout | undefined {
    if (this.stopped) return undefined;
    const t = setInterval(() => {
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clear(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  /** Resolves after ms; rejects with StoppedError if the member stops first. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.reject(new StoppedError());
    return new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        reject(new StoppedError());
      };
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.sleepers.delete(wake);
        resolve();
      }, ms);
      this.timers.add(t);
      this.sleepers.add(wake);
    });
  }

  check(): void {
    if (this.stopped) throw new StoppedError();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of [...this.sleepers]) w();
  }
}

/**
 * A server's identity is bound to its data directory through the file UUID (invariant 10 of the notes):
 * read it, or create it with a fresh `<prefix>-<uuid>` (or `forcedId`). A different forcedId is refused.
 */
export function loadOrCreateId(
  dataDir: string | undefined,
  prefix: string,
  forcedId?: string,
): { id: string; fresh: boolean } {
  if (!dataDir) return { id: forcedId ?? `${prefix}-${randomUUID().slice(0, 8)}`, fresh: true };
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'UUID');
  if (existsSync(file)) {
    const id = readFileSync(file, 'utf8').trim();
    if (forcedId && forcedId !== id) {
      throw new Error(`data directory ${dataDir} belongs to ${id}, refusing to start as ${forcedId}`);
    }
    return { id, fresh: false };
  }
  const id = forcedId ?? `${prefix}-${randomUUID().slice(0, 8)}`;
  writeFileSync(file, id + '\n');
  return { id, fresh: true };
}
