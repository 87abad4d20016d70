// How DB servers and coordinators talk to the agency: through the endpoints they were started with and the pool
// the agency publishes (refreshed like HeartbeatThread::updateAgentPool), following 307 to the leader and
// retrying 503/connection errors; plus an AgencyCache fed by /_api/agency/poll (the real AgencyCache does the
// same), so members react to Plan/Current changes without busy polling.
import type { HttpClient, HttpResult } from './net.js';
import { urlToEndpoint } from './net.js';
import { Lifecycle, StoppedError } from './lifecycle.js';
import type { Logger } from './log.js';
import { Store, normalizeOps, type Json } from './store.js';

export class AgencyUnavailable extends Error {
  override name = 'AgencyUnavailable';
}

export class AgencyClient {
  private endpoints: string[];
  private leader?: string;
  private next = 0;

  constructor(
    private http: HttpClient,
    endpoints: string[],
    private lc: Lifecycle,
    private log: Logger,
  ) {
    this.endpoints = [...new Set(endpoints)];
  }

  get knownEndpoints(): string[] {
    return [...this.endpoints];
  }

  /** Replaces the endpoint list (from the agency pool in the cache, like HeartbeatThread::updateAgentPool). */
  setEndpoints(eps: string[]): void {
    const next = [...new Set(eps)];
    if (next.length === 0) return;
    this.endpoints = next;
    if (this.leader && !next.includes(this.leader)) this.leader = undefined;
  }

  /** Performs one agency call, following redirects and retrying until `deadlineMs`. */
  async call(
    path: string,
    body?: unknown,
    o: { method?: string; timeoutMs?: number; deadlineMs?: number } = {},
  ): Promise<HttpResult> {
    const deadline = Date.now() + (o.deadlineMs ?? 60_000);
    let lastErr = '';
    for (let attempt = 0; ; attempt++) {
      this.lc.check();
      let target = this.leader ?? this.endpoints[this.next % this.endpoints.length];
      try {
        for (let hop = 0; hop < 4; hop++) {
          const r = await this.http.request(target, path, {
            method: o.method ?? (body === undefined ? 'GET' : 'POST'),
            body,
            timeoutMs: o.timeoutMs ?? 20_000,
          });
          if (r.status === 307 && typeof r.headers.location === 'string') {
            target = urlToEndpoint(new URL(r.headers.location).origin);
            this.leader = target;
            continue;
          }
          if (r.status === 503) {
            lastErr = `503 from ${target}`;
            break;
          }
          if (hop === 0 && !this.leader) this.leader = target;
          return r;
        }
      } catch (e) {
        if (e instanceof StoppedError) throw e;
        lastErr = `${target}: ${(e as Error).message}`;
      }
      this.leader = undefined;
      this.next += 1;
      if (Date.now() > deadline) throw new AgencyUnavailable(`agency unavailable (${lastErr})`);
      // Try every known endpoint once before backing off.
      if ((attempt + 1) % Math.max(1, this.endpoints.length) !== 0) continue;
      await this.lc.sleep(
        Math.min(1000, 50 * 2 ** Math.min(Math.floor(attempt / Math.max(1, this.endpoints.length)), 4)),
      );
    }
  }

  async write(trxs: unknown[][], deadlineMs?: number): Promise<{ ok: boolean; results: number[] }> {
    const r = await this.call('/_api/agency/write', trxs, { deadlineMs });
    if (r.status !== 200 && r.status !== 412)
      throw new AgencyUnavailable(`agency write: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    const results = ((r.body as { results?: number[] })?.results ?? []) as number[];
    return { ok: r.status === 200, results };
  }

  async read(paths: string[][]): Promise<Json[]> {
    const r = await this.call('/_api/agency/read', paths);
    if (r.status !== 200) throw new AgencyUnavailable(`agency read: HTTP ${r.status}`);
    return r.body as Json[];
  }

  async transact(trxs: unknown[]): Promise<{ status: number; body: unknown[] }> {
    const r = await this.call('/_api/agency/transact', trxs);
    if (r.status !== 200 && r.status !== 412) throw new AgencyUnavailable(`agency transact: HTTP ${r.status}`);
    return { status: r.status, body: r.body as unknown[] };
  }

  async transient(trxs: unknown[], deadlineMs?: number): Promise<HttpResult> {
    return this.call('/_api/agency/transient', trxs, { deadlineMs, timeoutMs: 5000 });
  }

  /** Pool endpoints from /_api/agency/config, leader first (HB updateAgentPool). */
  async refreshPool(): Promise<void> {
    const r = await this.call('/_api/agency/config', undefined, { deadlineMs: 5000, timeoutMs: 3000 });
    const cfg = r.body as { leaderId?: string; configuration?: { pool?: Record<string, string> } };
    const pool = cfg?.configuration?.pool;
    if (!pool || Object.keys(pool).length === 0) return;
    const lead = cfg.leaderId ? pool[cfg.leaderId] : undefined;
    const eps = Object.values(pool);
    this.endpoints = lead ? [lead, ...eps.filter((e) => e !== lead)] : eps;
    if (lead) this.leader = lead;
    this.log.debug(`agency pool: ${this.endpoints.join(', ')}`);
  }
}

export type CacheListener = (changedPaths: string[] | 'all') => void;

/** A replica of the agency tree at `index`, updated by long-polling the leader. */
export class AgencyCache {
  store = new Store();
  index = 0;
  private listeners = new Set<CacheListener>();
  private waiters = new Set<() => void>();
  private running = false;

  constructor(
    private client: AgencyClient,
    private lc: Lifecycle,
    private log: Logger,
  ) {}

  onChange(l: CacheListener): void {
    this.listeners.add(l);
  }

  get(path: string): Json | undefined {
    return this.store.get(path);
  }

  /** Resolves after the next change or after ms, whichever comes first. */
  changed(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        this.lc.clear(t);
        resolve();
      };
      const t = this.lc.timeout(ms, done);
      this.waiters.add(done);
      if (this.lc.stopped) done();
    });
  }

  /** Waits until `pred()` holds (re-checked on every change), or throws after ms. */
  async waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await this.changed(Math.min(left, 1000));
      this.lc.check();
    }
  }

  /** Waits until the cache has caught up with agency index `idx`. */
  async waitIndex(idx: number, ms = 10_000): Promise<void> {
    await this.waitFor(() => this.index >= idx, ms, `agency index ${idx}`);
  }

  async start(): Promise<void> {
    await this.pollOnce();
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running && !this.lc.stopped) {
      try {
        await this.pollOnce();
      } catch (e) {
        if (e instanceof StoppedError || this.lc.stopped) return;
        this.log.debug(`agency poll failed: ${(e as Error).message}`);
        await this.lc.sleep(200).catch(() => undefined);
      }
    }
  }

  private async pollOnce(): Promise<void> {
    const r = await this.client.call(`/_api/agency/poll?index=${this.index + 1}&timeout=20`, undefined, {
      timeoutMs: 30_000,
    });
    if (r.status !== 200) throw new Error(`poll: HTTP ${r.status}`);
    const res = (
      r.body as {
        result?: { commitIndex: number; readDB?: Json[]; log?: { index: number; query: Record<string, unknown> }[] };
      }
    ).result;
    if (!res) return;
    if (res.readDB) {
      this.store = Store.fromJSON(res.readDB[0]);
      this.index = res.commitIndex;
      this.emit('all');
      return;
    }
    const changed: string[] = [];
    for (const e of res.log ?? []) {
      if (e.index !== this.index + 1) {
        if (e.index <= this.index) continue;
        // A gap should not happen; resynchronise from a full snapshot.
        this.index = 0;
        return;
      }
      const ops = normalizeOps(e.query);
      this.store.applyOps(ops);
      for (const [p] of ops) changed.push(p);
      this.index = e.index;
    }
    if (changed.length) this.emit(changed);
  }

  private emit(paths: string[] | 'all'): void {
    for (const l of this.listeners) {
      try {
        l(paths);
      } catch (e) {
        this.log.warn(`cache listener: ${(e as Error).message}`);
      }
    }
    for (const w of [...this.waiters]) w();
  }

  stop(): void {
    this.running = false;
    for (const w of [...this.waiters]) w();
  }
}
