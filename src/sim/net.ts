// Outbound HTTP for simulated members: every call between members goes over real HTTP, carries the cluster
// JWT, binds its socket to the member's own source address (TRANSIT_SOURCE_ADDRESS; regions are modelled by
// proxies that look at it) and resolves host names like a pod would (TRANSIT_DNS_SERVER + TRANSIT_DNS_SEARCH).
import http from 'node:http';
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { lookup as systemLookup } from 'node:dns';

export interface Endpoint {
  host: string;
  port: number;
}

/** `tcp://host:port` / `http://host:port` (also `[::1]`) → host and port. ssl:// is not simulated. */
export function parseEndpoint(endpoint: string): Endpoint {
  const m = /^(tcp|http|ssl|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(endpoint.trim());
  if (!m) throw new Error(`bad endpoint "${endpoint}" (expected tcp://host:port)`);
  if (m[1] === 'ssl' || m[1] === 'https') {
    throw new Error(`endpoint "${endpoint}": TLS (ssl://) is not supported by the simulator; use tcp://`);
  }
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  return { host, port: m[3] ? Number(m[3]) : 8529 };
}

/** The URI form ArangoDB uses in 307 Location headers: tcp:// → http://. */
export function endpointToUrl(endpoint: string): string {
  const { host, port } = parseEndpoint(endpoint);
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

export function urlToEndpoint(url: string): string {
  const u = new URL(url);
  return `tcp://${u.hostname.startsWith('[') ? u.hostname : u.hostname}:${u.port || '80'}`;
}

type LookupCb = (
  err: NodeJS.ErrnoException | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request that resolves through `dnsServer` (ip:port) with a search domain, as a pod's
 * resolv.conf would (ndots:5: names with fewer than five dots try the search domains first). Falls back to the
 * system resolver when no DNS server is configured.
 */
export function makeLookup(dnsServer?: string, search?: string[]): (host: string, opts: unknown, cb: LookupCb) => void {
  if (!dnsServer) return systemLookup as unknown as (host: string, opts: unknown, cb: LookupCb) => void;
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([dnsServer]);
  const cache = new Map<string, { address: string; until: number }>();
  const resolve = async (host: string): Promise<string> => {
    if (isIP(host)) return host;
    if (host === 'localhost') return '127.0.0.1';
    const hit = cache.get(host);
    if (hit && hit.until > Date.now()) return hit.address;
    const absolute = host.endsWith('.');
    const bare = absolute ? host.slice(0, -1) : host;
    const dots = bare.split('.').length - 1;
    const names = absolute
      ? [bare]
      : dots >= 5
        ? [bare, ...(search ?? []).map((s) => `${bare}.${s}`)]
        : [...(search ?? []).map((s) => `${bare}.${s}`), bare];
    let lastErr: unknown;
    for (const name of names) {
      try {
        const addrs = await resolver.resolve4(name);
        if (addrs.length > 0) {
          cache.set(host, { address: addrs[0], until: Date.now() + 2000 });
          return addrs[0];
        }
      } catch (e) {
        lastErr = e;
      }
    }
    const err = new Error(`getaddrinfo ENOTFOUND ${host}`) as NodeJS.ErrnoException;
    err.code = 'ENOTFOUND';
    err.cause = lastErr;
    throw err;
  };
  return (host, opts, cb) => {
    const all = typeof opts === 'object' && opts !== null && (opts as { all?: boolean }).all;
    resolve(host).then(
      (address) => (all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)),
      (e: NodeJS.ErrnoException) => cb(e, all ? [] : ''),
    );
  };
}

export interface NetOptions {
  /** Bind outbound sockets to this address. */
  sourceAddress?: string;
  dnsServer?: string;
  dnsSearch?: string[];
}

export function netOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NetOptions {
  return {
    sourceAddress: env.TRANSIT_SOURCE_ADDRESS || undefined,
    dnsServer: env.TRANSIT_DNS_SERVER || undefined,
    dnsSearch: env.TRANSIT_DNS_SEARCH ? env.TRANSIT_DNS_SEARCH.split(/[\s,]+/).filter(Boolean) : undefined,
  };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export class NetError extends Error {
  override name = 'NetError';
  /** Reset on a reused keep-alive socket before any response: the server never read the request. */
  staleSocket = false;
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * A member's HTTP client. `close()` destroys every socket and makes later calls fail at once, so a stopped
 * in-process member cannot act any more.
 */
/**
 * A WAN between the members of one process (the rehearsal's copy: src/rehearse/copy.ts): the round trip, ms, that a
 * request from a member bound to `from` to `toHost` costs on top of loopback — half before it is sent, half after
 * its answer. Not ArangoDB behaviour: the network's. Unset (the default): no delay.
 */
let wanModel: ((from: string | undefined, toHost: string) => number) | null = null;

export function setWanModel(model: ((from: string | undefined, toHost: string) => number) | null): void {
  wanModel = model;
}

function hostOf(target: string): string {
  try {
    return parseEndpoint(target.replace(/\/+$/, '')).host;
  } catch {
    return '';
  }
}

export class HttpClient {
  private agent: http.Agent;
  private lookup: ReturnType<typeof makeLookup>;
  private closed = false;
  private pending = new Set<http.ClientRequest>();

  constructor(
    private opts: NetOptions,
    private authHeader: () => string,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 1000 });
    this.lookup = makeLookup(opts.dnsServer, opts.dnsSearch);
  }

  close(): void {
    this.closed = true;
    for (const r of this.pending) r.destroy(new NetError('client closed', 'ECLOSED'));
    this.pending.clear();
    this.agent.destroy();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * `target` is an endpoint (tcp://…) or a base URL (http://…); `path` includes any query. A request sent on a
   * kept-alive socket that the server closed as idle at the same moment fails with ECONNRESET before the server read
   * it; such a request is sent once more on a new socket (Node's documented `request.reusedSocket` pattern), since
   * nothing of it reached the server. A reset after a response began, or on a fresh socket, is reported.
   */
  async request(target: string, path: string, o: RequestOptions = {}): Promise<HttpResult> {
    const rtt = wanModel ? wanModel(this.opts.sourceAddress, hostOf(target)) : 0;
    if (rtt > 0) await new Promise((r) => setTimeout(r, rtt / 2));
    try {
      return await this.requestOnce(target, path, o);
    } catch (e) {
      // Awaited here, not returned: the WAN delay in `finally` must not leave its rejection unobserved meanwhile.
      if (e instanceof NetError && e.staleSocket && !this.closed) return await this.requestOnce(target, path, o);
      throw e;
    } finally {
      if (rtt > 0) await new Promise((r) => setTimeout(r, rtt / 2));
    }
  }

  private requestOnce(target: string, path: string, o: RequestOptions): Promise<HttpResult> {
    if (this.closed) return Promise.reject(new NetError('client closed', 'ECLOSED'));
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseEndpoint(target.replace(/\/+$/, '')));
    } catch (e) {
      return Promise.reject(e);
    }
    const payload =
      o.body === undefined
        ? undefined
        : Buffer.from(
            typeof o.body === 'string' && o.headers?.['content-type'] === 'text/plain'
              ? o.body
              : JSON.stringify(o.body),
          );
    return new Promise<HttpResult>((resolve, reject) => {
      const req = http.request(
        {
          host,
          port,
          path,
          method: o.method ?? (payload ? 'POST' : 'GET'),
          agent: this.agent,
          localAddress: this.opts.sourceAddress,
          lookup: this.lookup as never,
          headers: {
            authorization: this.authHeader(),
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...o.headers,
          },
          signal: o.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            this.pending.delete(req);
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            if (text && /json/.test(String(res.headers['content-type'] ?? ''))) {
              try {
                body = JSON.parse(text);
              } catch {
                body = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
          });
          res.on('error', (e) => {
            this.pending.delete(req);
            reject(new NetError(e.message, (e as NodeJS.ErrnoException).code));
          });
        },
      );
      this.pending.add(req);
      if (o.timeoutMs) {
        req.setTimeout(o.timeoutMs, () => req.destroy(new NetError(`timeout after ${o.timeoutMs} ms`, 'ETIMEDOUT')));
      }
      let responded = false;
      req.on('response', () => (responded = true));
      req.on('error', (e) => {
        this.pending.delete(req);
        const err = e instanceof NetError ? e : new NetError(e.message, (e as NodeJS.ErrnoException).code);
        err.staleSocket = !responded && req.reusedSocket && err.code === 'ECONNRESET';
        reject(err);
      });
      req.end(payload);
    });
  }
}
