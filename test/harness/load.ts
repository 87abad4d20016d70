/**
 * A client load generator that behaves like real clients: it resolves the client-facing name through DNS (the
 * BIND servers, honouring the TTL of the answer), connects to whatever address it got, writes documents with
 * unique keys and reads them back, and records every acknowledged write, so that "nothing lost" can be checked
 * at the end by reading every acknowledged key again. Each client sits in a region (its own source address),
 * and measures version checks (`GET /_api/version`) to whatever region serves it.
 *
 * With `mix`, a client runs a mixed workload instead — inserts, updates (PATCH), replaces (PUT), removes and
 * reads of its OWN keys, paced at `opsPerSecond` — and keeps the state every key must have: after an
 * acknowledged operation the key's content is known (certain); after a failed one (outcome unknown) it is not,
 * until an acknowledged replace or remove makes it known again. `verifyState()` then compares every certain key
 * with the cluster (missing, different content, or present although removed); reads during the run compare too.
 * `startLoad()` runs many clients and reports the rate achieved (to print, never to assert).
 */
import { Resolver } from 'node:dns/promises';
import { request, Agent } from 'node:http';
import { clientAddress, regionOf } from './network';

export interface LoadClientOptions {
  name: string;
  region: string;
  /** Source address of this client (its region's client range). */
  localAddress?: string;
  /** Authoritative DNS servers 'ip:port' to ask (both BIND servers; the first that answers wins). */
  dnsServers: string[];
  hostname: string;
  /** A fixed address to connect to instead of resolving `hostname` (a client pinned to one coordinator). */
  address?: string;
  port: number;
  database: string;
  collection: string;
  /** Authorization header value (a user JWT or basic auth). */
  authorization: string;
  /** Pause between operations, ms (insert/read-back mode). */
  intervalMs?: number;
  /** Mixed workload: relative weights of the operations (any omitted: 0). */
  mix?: Partial<Record<MixedOp, number>>;
  /** Mixed workload: target operations per second of this client (default 25). */
  opsPerSecond?: number;
}

export type MixedOp = 'insert' | 'update' | 'replace' | 'remove' | 'read';
export const DEFAULT_MIX: Record<MixedOp, number> = { insert: 30, update: 20, replace: 10, remove: 10, read: 30 };

/** What a key must hold: its content without system attributes (null: removed), if known. */
interface KeyState {
  doc: Record<string, unknown> | null;
  certain: boolean;
}

export interface StateCheck {
  /** Certain keys checked. */
  checked: number;
  /** Certain keys that must exist and do not. */
  lost: string[];
  /** Certain keys whose content differs from the last acknowledged write. */
  wrong: string[];
  /** Certain keys acknowledged as removed that exist. */
  resurrected: string[];
  /** Keys whose last operation failed (outcome unknown): not checked. */
  uncertain: number;
  /** Keys expected to exist (certain). */
  live: number;
}

export interface LoadStats {
  ok: number;
  failed: number;
  acked: string[];
  /** `startedAt`: when the failed request was sent (a request overlapping a window counts as inside it). */
  failures: { at: number; startedAt?: number; op: string; error: string; servedBy: string | null }[];
  /** Mixed workload: acknowledged operations per kind, and reads that found other content than acknowledged. */
  ops?: Record<MixedOp, number>;
  anomalies?: string[];
  startedAt?: number;
  stoppedAt?: number;
  /** Version-check samples: client region → serving region. */
  versionChecks: { at: number; from: string; to: string; ms: number }[];
  resolutions: { at: number; values: string[]; ttl: number }[];
}

export class LoadClient {
  readonly stats: LoadStats = { ok: 0, failed: 0, acked: [], failures: [], versionChecks: [], resolutions: [] };
  private resolver = new Resolver({ timeout: 1000, tries: 1 });
  private cached: { ip: string; expires: number } | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private seq = 0;
  private agent: Agent;
  /** Mixed workload: every key this client wrote and what it must hold. */
  readonly keys = new Map<string, KeyState>();
  private live: string[] = [];

  constructor(readonly o: LoadClientOptions) {
    this.resolver.setServers(o.dnsServers);
    // A client keeps connections alive like a driver does; a new address after the TTL means a new connection.
    this.agent = new Agent({ keepAlive: true, maxSockets: 4, localAddress: o.localAddress } as ConstructorParameters<
      typeof Agent
    >[0]);
  }

  /** The address the name resolves to now, from cache while its TTL lasts. */
  async resolve(): Promise<string> {
    if (this.o.address) return this.o.address;
    if (this.cached && Date.now() < this.cached.expires) return this.cached.ip;
    const rr = await this.resolver.resolve4(this.o.hostname, { ttl: true });
    if (!rr.length) throw new Error(`no A record for ${this.o.hostname}`);
    const pick = rr[this.seq % rr.length]!;
    this.stats.resolutions.push({ at: Date.now(), values: rr.map((r) => r.address), ttl: pick.ttl });
    this.cached = { ip: pick.address, expires: Date.now() + pick.ttl * 1000 };
    return pick.address;
  }

  private http(
    method: string,
    ip: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: any; ms: number }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const t0 = process.hrtime.bigint();
      const req = request(
        {
          host: ip,
          port: this.o.port,
          method,
          path,
          agent: this.agent,
          timeout: 10_000,
          headers: {
            authorization: this.o.authorization,
            'content-type': 'application/json',
            ...(data ? { 'content-length': data.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: any = null;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              json = { raw: text.slice(0, 200) };
            }
            resolve({ status: res.statusCode ?? 0, json, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** One write, read back; the key counts as acknowledged only once the write returned 201/202. */
  async step(): Promise<void> {
    const startedAt = Date.now();
    const key = `${this.o.name}-${Date.now().toString(36)}-${this.seq++}`;
    let ip: string | null = null;
    try {
      ip = await this.resolve();
      const w = await this.http('POST', ip, `/_db/${this.o.database}/_api/document/${this.o.collection}`, {
        _key: key,
        by: this.o.name,
        at: Date.now(),
      });
      if (w.status !== 201 && w.status !== 202)
        throw new Error(`insert HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
      this.stats.acked.push(key);
      const r = await this.http('GET', ip, `/_db/${this.o.database}/_api/document/${this.o.collection}/${key}`);
      if (r.status !== 200) throw new Error(`read-back HTTP ${r.status}`);
      this.stats.ok += 2;
    } catch (e) {
      this.stats.failed++;
      this.stats.failures.push({
        at: Date.now(),
        startedAt,
        op: 'write/read',
        error: (e as Error).message,
        servedBy: ip ? (regionOf(ip) ?? ip) : null,
      });
      this.cached = null; // a failed address is resolved again, as drivers do on connection errors
    }
  }

  /** One version check to whoever serves the name now. */
  async versionCheck(): Promise<void> {
    try {
      const ip = await this.resolve();
      // A fresh connection per check (resolve, connect, request), as the talk's "version check" did.
      const fresh = new LoadClient({ ...this.o });
      const r = await fresh.http('GET', ip, '/_api/version');
      fresh.close();
      if (r.status === 200)
        this.stats.versionChecks.push({ at: Date.now(), from: this.o.region, to: regionOf(ip) ?? ip, ms: r.ms });
    } catch {
      /* counted by the write loop */
    }
  }

  start(): void {
    this.running = true;
    this.stats.startedAt = Date.now();
    if (this.o.mix) {
      this.loop = this.mixedLoop();
      return;
    }
    this.loop = (async () => {
      let i = 0;
      while (this.running) {
        await this.step();
        if (i++ % 5 === 0) await this.versionCheck();
        await new Promise((r) => setTimeout(r, this.o.intervalMs ?? 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.stats.stoppedAt ??= Date.now();
  }

  /** Acknowledged operations per second over the run (mixed workload: all kinds; else write+read pairs). */
  rate(): number {
    const ms = (this.stats.stoppedAt ?? Date.now()) - (this.stats.startedAt ?? Date.now());
    const n = this.stats.ops ? Object.values(this.stats.ops).reduce((a, b) => a + b, 0) : this.stats.ok;
    return ms > 0 ? (n * 1000) / ms : 0;
  }

  // ------------------------------------------------------------------ mixed workload

  private pick(): MixedOp {
    const mix = { ...this.o.mix };
    if (this.live.length === 0) return 'insert';
    const entries = (Object.keys(DEFAULT_MIX) as MixedOp[]).map((k) => [k, Math.max(0, mix[k] ?? 0)] as const);
    const total = entries.reduce((a, [, w]) => a + w, 0);
    let x = Math.random() * total;
    for (const [k, w] of entries) if ((x -= w) < 0) return k;
    return 'insert';
  }

  private liveKey(): string {
    return this.live[Math.floor(Math.random() * this.live.length)]!;
  }

  private setLive(key: string, alive: boolean): void {
    const i = this.live.indexOf(key);
    if (alive && i < 0) this.live.push(key);
    if (!alive && i >= 0) this.live.splice(i, 1);
  }

  private async mixedLoop(): Promise<void> {
    this.stats.ops = { insert: 0, update: 0, replace: 0, remove: 0, read: 0 };
    this.stats.anomalies = [];
    const every = 1000 / (this.o.opsPerSecond ?? 25);
    let next = Date.now();
    let i = 0;
    while (this.running) {
      await this.mixedStep(this.pick());
      if (i++ % 25 === 0) await this.versionCheck();
      next += every;
      const now = Date.now();
      if (next < now - 1000) next = now; // far behind: do not burst to catch up
      if (next > now) await new Promise((r) => setTimeout(r, next - now));
    }
  }

  private static content(d: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
    if (!d) return null;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(d).sort()) if (k !== '_key' && k !== '_id' && k !== '_rev') out[k] = d[k];
    return out;
  }

  private static same(a: Record<string, unknown> | null, b: Record<string, unknown> | null): boolean {
    return JSON.stringify(LoadClient.content(a)) === JSON.stringify(LoadClient.content(b));
  }

  /** One operation of the mixed workload; the expected state changes only on acknowledgement. */
  async mixedStep(op: MixedOp): Promise<void> {
    const base = `/_db/${this.o.database}/_api/document/${this.o.collection}`;
    const startedAt = Date.now();
    let ip: string | null = null;
    const key = op === 'insert' ? `${this.o.name}-${Date.now().toString(36)}-${this.seq++}` : this.liveKey();
    const before = this.keys.get(key);
    // What the key held for sure before this operation (undefined: not known).
    const known = before?.certain ? before.doc : undefined;
    // While a write is in flight (and after it fails) its outcome is unknown.
    if (op !== 'read') this.keys.set(key, { doc: before?.doc ?? null, certain: false });
    try {
      ip = await this.resolve();
      if (op === 'insert') {
        const body = { _key: key, by: this.o.name, v: 0, at: startedAt };
        const w = await this.http('POST', ip, base, body);
        if (w.status !== 201 && w.status !== 202)
          throw new Error(`insert HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
        this.keys.set(key, { doc: LoadClient.content(body), certain: true });
        this.setLive(key, true);
        this.stats.acked.push(key);
      } else if (op === 'update') {
        const patch = {
          v: Number(before?.doc?.v ?? 0) + 1,
          upd: startedAt,
          nested: { by: this.o.name, at: startedAt },
        };
        const w = await this.http('PATCH', ip, `${base}/${encodeURIComponent(key)}?returnNew=true`, patch);
        if (w.status === 404 && known) this.anomaly(`update of ${key}: 404 although acknowledged as present`);
        if (w.status !== 201 && w.status !== 202)
          throw new Error(`update HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
        const now = LoadClient.content(w.json?.new);
        if (known && !LoadClient.same({ ...known, ...patch }, now))
          this.anomaly(`update of ${key}: new version ${JSON.stringify(now)} is not ${JSON.stringify(known)} patched`);
        // The acknowledged new version is what the key must hold from now on.
        this.keys.set(key, { doc: now, certain: now !== null });
      } else if (op === 'replace') {
        const body = { by: this.o.name, v: Number(before?.doc?.v ?? 0) + 1, replaced: startedAt };
        const w = await this.http('PUT', ip, `${base}/${encodeURIComponent(key)}`, body);
        if (w.status === 404 && known) this.anomaly(`replace of ${key}: 404 although acknowledged as present`);
        if (w.status !== 201 && w.status !== 202)
          throw new Error(`replace HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
        this.keys.set(key, { doc: LoadClient.content(body), certain: true });
      } else if (op === 'remove') {
        const w = await this.http('DELETE', ip, `${base}/${encodeURIComponent(key)}`);
        if (w.status === 404 && known) this.anomaly(`remove of ${key}: 404 although acknowledged as present`);
        if (w.status !== 200 && w.status !== 202 && w.status !== 404)
          throw new Error(`remove HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
        this.keys.set(key, { doc: null, certain: true });
        this.setLive(key, false);
      } else {
        const r = await this.http('GET', ip, `${base}/${encodeURIComponent(key)}`);
        if (r.status !== 200 && r.status !== 404) throw new Error(`read HTTP ${r.status}`);
        if (known !== undefined && !LoadClient.same(known, r.status === 200 ? r.json : null)) {
          this.anomaly(
            `read of ${key}: ${r.status} ${JSON.stringify(LoadClient.content(r.json))}, acknowledged ${JSON.stringify(known)}`,
          );
        }
      }
      this.stats.ok++;
      this.stats.ops![op]++;
    } catch (e) {
      this.stats.failed++;
      this.stats.failures.push({
        at: Date.now(),
        startedAt,
        op,
        error: (e as Error).message,
        servedBy: ip ? (regionOf(ip) ?? ip) : null,
      });
      this.cached = null;
    }
  }

  private anomaly(what: string): void {
    if ((this.stats.anomalies ??= []).length < 100) this.stats.anomalies.push(what);
  }

  /**
   * Compares every certain key with the cluster, reading in batches of 500 (`PUT …?onlyget=true`, through DNS
   * like every other request). Throws if a batch cannot be read at all.
   */
  async verifyState(): Promise<StateCheck> {
    const out: StateCheck = { checked: 0, lost: [], wrong: [], resurrected: [], uncertain: 0, live: 0 };
    const certain = [...this.keys].filter(([, s]) => s.certain);
    out.uncertain = this.keys.size - certain.length;
    for (let i = 0; i < certain.length; i += 500) {
      const part = certain.slice(i, i + 500);
      let got: any[] | undefined;
      let last = '';
      for (let attempt = 0; attempt < 5 && !got; attempt++) {
        try {
          const ip = await this.resolve();
          const r = await this.http(
            'PUT',
            ip,
            `/_db/${this.o.database}/_api/document/${this.o.collection}?onlyget=true`,
            part.map(([k]) => k),
          );
          if (r.status === 200 && Array.isArray(r.json)) got = r.json;
          else last = `HTTP ${r.status}`;
        } catch (e) {
          last = (e as Error).message;
          this.cached = null;
        }
        if (!got) await new Promise((res) => setTimeout(res, 300 * (attempt + 1)));
      }
      if (!got) throw new Error(`${this.o.name}: cannot read its keys back: ${last}`);
      part.forEach(([k, s], j) => {
        const d = got![j];
        const present = d && !d.error && d._key === k;
        out.checked++;
        if (s.doc) {
          out.live++;
          if (!present) out.lost.push(k);
          else if (!LoadClient.same(s.doc, d)) out.wrong.push(k);
        } else if (present) out.resurrected.push(k);
      });
    }
    return out;
  }

  close(): void {
    this.agent.destroy();
  }

  /** Reads every acknowledged key again; returns the keys that are gone (lost writes). */
  async verify(): Promise<string[]> {
    const lost: string[] = [];
    for (const key of this.stats.acked) {
      let found = false;
      for (let attempt = 0; attempt < 3 && !found; attempt++) {
        try {
          const ip = await this.resolve();
          const r = await this.http('GET', ip, `/_db/${this.o.database}/_api/document/${this.o.collection}/${key}`);
          if (r.status === 200 && r.json?._key === key) found = true;
          else if (r.status === 404) break;
        } catch {
          await new Promise((res) => setTimeout(res, 200));
        }
      }
      if (!found) lost.push(key);
    }
    return lost;
  }
}

export interface MixedLoadOptions {
  /** Clients per region (eu and us): ≥ 4 for the 8-client load. */
  perRegion: number;
  /** DNS servers and the name to resolve; or `addressOf` instead. */
  dnsServers?: string[];
  hostname?: string;
  /** Client i of a region connects to this fixed address (e.g. a coordinator of that region) instead of DNS. */
  addressOf?: (region: 'eu' | 'us', i: number) => string;
  /** Client i of a region writes to this collection (default `collection`). */
  collectionOf?: (region: 'eu' | 'us', i: number) => string;
  port?: number;
  database: string;
  collection: string;
  authorization: string;
  /** Target operations per second over all clients together (default 200). */
  opsPerSecond?: number;
  mix?: Partial<Record<MixedOp, number>>;
  /** First client index per region (client addresses are distinct per index). */
  firstIndex?: number;
  /** Source address of client i of a region (default: its region's client range, `clientAddress`). */
  localAddress?: (region: 'eu' | 'us', i: number) => string | undefined;
}

/** Mixed-workload clients in both regions (not started), each at its share of the total target rate. */
export function mixedClients(o: MixedLoadOptions): LoadClient[] {
  const n = o.perRegion * 2;
  const out: LoadClient[] = [];
  for (const region of ['eu', 'us'] as const) {
    for (let i = 0; i < o.perRegion; i++) {
      const idx = (o.firstIndex ?? 0) + i;
      out.push(
        new LoadClient({
          name: `${region}-mixed-${idx}`,
          region,
          localAddress: (o.localAddress ?? clientAddress)(region, idx),
          dnsServers: o.dnsServers ?? [],
          hostname: o.hostname ?? '',
          address: o.addressOf?.(region, i),
          port: o.port ?? 8529,
          database: o.database,
          collection: o.collectionOf?.(region, i) ?? o.collection,
          authorization: o.authorization,
          mix: o.mix ?? DEFAULT_MIX,
          opsPerSecond: (o.opsPerSecond ?? 200) / n,
        }),
      );
    }
  }
  return out;
}

/**
 * The documents of a collection only these clients write to, accounted for: every key present was written by
 * one of them (no phantom), and as many are present as they left — acknowledged alive (each one's content
 * checked by `verifyState`) plus those of unknown outcome (a failed request) that exist.
 */
export function accountFor(
  clients: LoadClient[],
  present: string[],
): { present: number; phantoms: string[]; acknowledgedAlive: number; uncertainPresent: number } {
  const owner = new Map(clients.flatMap((c) => [...c.keys]));
  return {
    present: present.length,
    phantoms: present.filter((k) => !owner.has(k)),
    acknowledgedAlive: [...owner.values()].filter((s) => s.certain && s.doc).length,
    uncertainPresent: present.filter((k) => owner.has(k) && !owner.get(k)!.certain).length,
  };
}

/** Totals over clients, for printing (the rate is a figure, never an assertion). */
export function loadSummary(clients: LoadClient[]): {
  clients: number;
  ops: Record<string, number>;
  acknowledged: number;
  failed: number;
  seconds: number;
  opsPerSecond: number;
  byRegion: Record<string, { clients: number; acknowledged: number; failed: number }>;
} {
  const ops: Record<string, number> = {};
  for (const c of clients) for (const [k, v] of Object.entries(c.stats.ops ?? {})) ops[k] = (ops[k] ?? 0) + v;
  const acked = (c: LoadClient) => (c.stats.ops ? Object.values(c.stats.ops).reduce((x, y) => x + y, 0) : c.stats.ok);
  const acknowledged = clients.reduce((a, c) => a + acked(c), 0);
  const byRegion: Record<string, { clients: number; acknowledged: number; failed: number }> = {};
  for (const c of clients) {
    const r = (byRegion[c.o.region] ??= { clients: 0, acknowledged: 0, failed: 0 });
    r.clients++;
    r.acknowledged += acked(c);
    r.failed += c.stats.failed;
  }
  const t0 = Math.min(...clients.map((c) => c.stats.startedAt ?? Date.now()));
  const t1 = Math.max(...clients.map((c) => c.stats.stoppedAt ?? Date.now()));
  const seconds = Math.max(0.001, (t1 - t0) / 1000);
  return {
    clients: clients.length,
    ops,
    acknowledged,
    failed: clients.reduce((a, c) => a + c.stats.failed, 0),
    seconds: Math.round(seconds),
    opsPerSecond: Math.round((acknowledged / seconds) * 10) / 10,
    byRegion,
  };
}

/** A span of time in which client requests may fail (a DNS change in flight). */
export interface Window {
  from: number;
  to: number;
}

/**
 * The cutover windows seen by the clients: forward from `cutoverStartedAt` until the last client resolved the
 * name away from `sourceIp`; with `rollbackAt`, back from then until the last client resolved it to `sourceIp`
 * again (the reverse cutover), not to the end of the rollback. `missing` names clients that never switched.
 */
export function cutoverWindows(
  clients: LoadClient[],
  sourceIp: string,
  cutoverStartedAt: number,
  rollbackAt?: number,
): { windows: Window[]; missing: string[] } {
  const missing: string[] = [];
  const end = rollbackAt ?? Infinity;
  const there = clients.map((c) => {
    const t = c.stats.resolutions.find(
      (x) => x.at >= cutoverStartedAt && x.at <= end && !x.values.includes(sourceIp),
    )?.at;
    if (t === undefined && rollbackAt === undefined) missing.push(`${c.o.name} never resolved to the target`);
    return t ?? rollbackAt ?? cutoverStartedAt;
  });
  const windows: Window[] = [{ from: cutoverStartedAt, to: Math.max(...there) }];
  if (rollbackAt !== undefined) {
    const back = clients.map((c) => {
      const t = c.stats.resolutions.find((x) => x.at > rollbackAt && x.values.includes(sourceIp))?.at;
      if (t === undefined) missing.push(`${c.o.name} never resolved back to the source`);
      return t ?? Date.now();
    });
    windows.push({ from: rollbackAt, to: Math.max(...back) });
  }
  return { windows, missing };
}

/** Failed requests that did not overlap any window (a request overlapping one counts as inside it). */
export function failuresOutside(clients: LoadClient[], windows: Window[]): LoadStats['failures'] {
  return clients
    .flatMap((c) => c.stats.failures)
    .filter((f) => !windows.some((w) => f.at >= w.from && (f.startedAt ?? f.at) <= w.to));
}
