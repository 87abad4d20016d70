/**
 * A client load generator that behaves like real clients: it resolves the client-facing name through DNS (the
 * BIND servers, honouring the TTL of the answer), connects to whatever address it got, writes documents with
 * unique keys and reads them back, and records every acknowledged write, so that "nothing lost" can be checked
 * at the end by reading every acknowledged key again. Each client sits in a region (its own source address),
 * and measures version checks (`GET /_api/version`) to whatever region serves it.
 */
import { Resolver } from 'node:dns/promises';
import { request, Agent } from 'node:http';
import { regionOf } from './network';

export interface LoadClientOptions {
  name: string;
  region: string;
  /** Source address of this client (its region's client range). */
  localAddress?: string;
  /** Authoritative DNS servers 'ip:port' to ask (both BIND servers; the first that answers wins). */
  dnsServers: string[];
  hostname: string;
  port: number;
  database: string;
  collection: string;
  /** Authorization header value (a user JWT or basic auth). */
  authorization: string;
  /** Pause between operations, ms. */
  intervalMs?: number;
}

export interface LoadStats {
  ok: number;
  failed: number;
  acked: string[];
  failures: { at: number; op: string; error: string; servedBy: string | null }[];
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

  constructor(readonly o: LoadClientOptions) {
    this.resolver.setServers(o.dnsServers);
    // A client keeps connections alive like a driver does; a new address after the TTL means a new connection.
    this.agent = new Agent({ keepAlive: true, maxSockets: 4, localAddress: o.localAddress } as ConstructorParameters<typeof Agent>[0]);
  }

  /** The address the name resolves to now, from cache while its TTL lasts. */
  async resolve(): Promise<string> {
    if (this.cached && Date.now() < this.cached.expires) return this.cached.ip;
    const rr = await this.resolver.resolve4(this.o.hostname, { ttl: true });
    if (!rr.length) throw new Error(`no A record for ${this.o.hostname}`);
    const pick = rr[this.seq % rr.length]!;
    this.stats.resolutions.push({ at: Date.now(), values: rr.map((r) => r.address), ttl: pick.ttl });
    this.cached = { ip: pick.address, expires: Date.now() + pick.ttl * 1000 };
    return pick.address;
  }

  private http(method: string, ip: string, path: string, body?: unknown): Promise<{ status: number; json: any; ms: number }> {
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
          headers: { authorization: this.o.authorization, 'content-type': 'application/json', ...(data ? { 'content-length': data.length } : {}) },
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
    const key = `${this.o.name}-${Date.now().toString(36)}-${this.seq++}`;
    let ip: string | null = null;
    try {
      ip = await this.resolve();
      const w = await this.http('POST', ip, `/_db/${this.o.database}/_api/document/${this.o.collection}`, { _key: key, by: this.o.name, at: Date.now() });
      if (w.status !== 201 && w.status !== 202) throw new Error(`insert HTTP ${w.status}: ${JSON.stringify(w.json).slice(0, 160)}`);
      this.stats.acked.push(key);
      const r = await this.http('GET', ip, `/_db/${this.o.database}/_api/document/${this.o.collection}/${key}`);
      if (r.status !== 200) throw new Error(`read-back HTTP ${r.status}`);
      this.stats.ok += 2;
    } catch (e) {
      this.stats.failed++;
      this.stats.failures.push({ at: Date.now(), op: 'write/read', error: (e as Error).message, servedBy: ip ? regionOf(ip) ?? ip : null });
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
      if (r.status === 200) this.stats.versionChecks.push({ at: Date.now(), from: this.o.region, to: regionOf(ip) ?? ip, ms: r.ms });
    } catch {
      /* counted by the write loop */
    }
  }

  start(): void {
    this.running = true;
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
