// Controller plumbing: a keyed work queue (one reconcile per key at a time, coalescing bursts, retry
// with back-off) and a restartable informer over client-node's ListWatch.
import {
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';

export type Reconcile = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly retries = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly reconcile: Reconcile,
    private readonly log: (msg: string) => void,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.running.add(key);
    // Deferred: callers enqueue from inside watch callbacks, before their caches are wired up.
    setImmediate(() => void this.work(key));
  }

  private async work(key: string): Promise<void> {
    try {
      await this.reconcile(key);
      this.retries.delete(key);
    } catch (e) {
      const n = (this.retries.get(key) ?? 0) + 1;
      this.retries.set(key, n);
      const delay = Math.min(100 * 2 ** n, 5_000);
      if (!this.stopped) {
        this.log(`${this.name} ${key}: ${(e as Error).message} (retry ${n} in ${delay} ms)`);
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.add(key);
        }, delay);
        this.timers.add(t);
      }
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      if (this.running.size === 0) this.idleWaiters.splice(0).forEach((f) => f());
    }
  }

  /** Resolves when no reconcile is running (pending retries do not count). */
  async idle(): Promise<void> {
    if (this.running.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

export function keyOf(o: KubernetesObject): string {
  return o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : `${o.metadata?.name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export interface Watched<T extends KubernetesObject> {
  get(key: string): T | undefined;
  list(): readonly T[];
  stop(): Promise<void>;
}

/**
 * Lists and watches `path`, calling onChange(obj) for every add/update/delete, and restarts the watch
 * after errors (client-node's ListWatch stops on a non-410 error). Resolves once the first list is in.
 */
export async function watchAll<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  listFn: () => Promise<KubernetesListObject<T>>,
  onChange: (obj: T, deleted: boolean) => void,
  log: (msg: string) => void,
): Promise<Watched<T>> {
  const inf = makeInformer<T>(kc, path, listFn);
  let stopped = false;
  let restartTimer: NodeJS.Timeout | undefined;
  // Events of the initial list are replayed below, once the cache is complete.
  let listed = false;
  inf.on('add', (o) => listed && onChange(o, false));
  inf.on('update', (o) => listed && onChange(o, false));
  inf.on('delete', (o) => listed && onChange(o, true));
  inf.on('error', (err: unknown) => {
    if (stopped) return;
    log(`watch ${path}: ${(err as Error)?.message ?? String(err)}; restarting in 1 s`);
    restartTimer = setTimeout(() => {
      if (!stopped) inf.start().catch(() => undefined);
    }, 1_000);
  });
  await inf.start();
  listed = true;
  for (const o of inf.list()) onChange(o, false);
  return {
    get(key) {
      const { namespace, name } = splitKey(key);
      return inf.get(name, namespace || undefined);
    },
    list: () => inf.list(),
    async stop() {
      stopped = true;
      if (restartTimer) clearTimeout(restartTimer);
      await inf.stop();
    },
  };
}
