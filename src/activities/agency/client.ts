// Access to one ArangoDB cluster for the agency activities: a coordinator through arangojs, and the agency
// through arangojs `route()` on the agents (307 followed by hand to the leader's pool endpoint, 503 and
// connection errors retried across agents for a while, then a retryable failure). The superuser JWT is minted
// here from the secret the credential reference points at; it never leaves the activity.
import { createHmac } from 'node:crypto';
import { Database } from 'arangojs';
import { isArangoError, isNetworkError, HttpError } from 'arangojs/errors';
import type { ArangoRef, CredentialRef } from '../agency-types';
import { AgencyUnavailableError, ArangoAuthError, ArangoUnavailableError } from './errors';
import type { Waits } from './waits';

export function mintSuperuserJwt(secret: string, now = Date.now()): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const iat = Math.floor(now / 1000);
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: 'arangodb', server_id: 'transit', iat, exp: iat + 3600 })}`;
  return `${head}.${createHmac('sha256', secret.trim()).update(head).digest('base64url')}`;
}

/** tcp://h:p → http://h:p, ssl://h:p → https://h:p; http(s) URLs pass through without a trailing slash. */
export function endpointToUrl(endpoint: string): string {
  const e = endpoint.trim().replace(/\/+$/, '');
  if (e.startsWith('tcp://')) return `http://${e.slice(6)}`;
  if (e.startsWith('ssl://')) return `https://${e.slice(6)}`;
  return e;
}

/** The form used to compare endpoints: scheme-less, lower case, no trailing slash. */
export function endpointKey(endpoint: string): string {
  return endpointToUrl(endpoint)
    .replace(/^https?:\/\//, '')
    .toLowerCase();
}

export interface AgencyResponse {
  status: number;
  body: unknown;
}

export interface ClientOptions {
  waits: Waits;
  /** How long one agency call keeps retrying 503/connection errors across agents (ms). */
  agencyRetryMs: number;
  requestTimeoutMs: number;
  mapEndpoint: (endpoint: string) => string;
}

function credentialName(ref: CredentialRef): string {
  return 'file' in ref
    ? `file ${ref.file}`
    : `Secret ${ref.secret.namespace ? `${ref.secret.namespace}/` : ''}${ref.secret.name} key ${ref.secret.key}`;
}

function authFailure(status: number, url: string, ref: CredentialRef): ArangoAuthError {
  return new ArangoAuthError(
    `HTTP ${status} from ${url}: the cluster rejected Transit's superuser JWT. Make the credential reference (${credentialName(ref)}) ` +
      'hold the same secret the cluster uses (--server.jwt-secret-keyfile, kube-arangodb Secret <deployment>-jwt, key "token").',
  );
}

export class ArangoClient {
  readonly coordinator: Database;
  private dbs = new Map<string, Database>();
  private agencyUrls: string[] | undefined;
  private leaderUrl: string | undefined;

  constructor(
    readonly ref: ArangoRef,
    private token: string,
    private o: ClientOptions,
  ) {
    this.coordinator = this.db(this.url(ref.endpoint));
    if (ref.agencyEndpoints?.length) this.agencyUrls = ref.agencyEndpoints.map((e) => this.url(e));
  }

  private url(endpoint: string): string {
    return endpointToUrl(this.o.mapEndpoint(endpoint));
  }

  private db(url: string): Database {
    let d = this.dbs.get(url);
    if (!d) {
      d = new Database({ url, auth: { token: this.token }, poolSize: 8, maxRetries: false });
      this.dbs.set(url, d);
    }
    return d;
  }

  close(): void {
    for (const d of this.dbs.values()) d.close();
  }

  /** Classifies an arangojs error from `url` into our named failures (or returns the HTTP status to handle). */
  private classify(e: unknown, url: string): { status: number; body?: unknown; response?: Response } {
    if (isArangoError(e))
      return { status: e.code ?? 500, body: e.toJSON(), response: e.response as Response | undefined };
    if (e instanceof HttpError) return { status: e.code, response: e.response as unknown as Response };
    if (isNetworkError(e)) return { status: 0, body: String((e as Error).message) };
    throw e;
  }

  /** A coordinator call; 401/403 → ArangoAuthError, 5xx/network → ArangoUnavailableError, else the response. */
  async coordinatorCall(
    method: string,
    path: string,
    body?: unknown,
    opts: { db?: string; timeoutMs?: number; search?: Record<string, string> } = {},
  ): Promise<AgencyResponse> {
    const url = this.url(this.ref.endpoint);
    const route = (opts.db ? this.coordinator.database(opts.db) : this.coordinator).route(path);
    try {
      const r = await route.request({
        method,
        body,
        search: opts.search,
        timeout: opts.timeoutMs ?? this.o.requestTimeoutMs,
      });
      return { status: r.status, body: (r as unknown as { parsedBody?: unknown }).parsedBody };
    } catch (e) {
      const c = this.classify(e, url);
      if (c.status === 401 || c.status === 403) {
        const msg = JSON.stringify(c.body ?? '');
        if (c.status === 401 || /not authorized|forbidden|unauthorized/i.test(msg))
          throw authFailure(c.status, url, this.ref.jwtSecret);
      }
      if (c.status === 0 || c.status >= 500)
        throw new ArangoUnavailableError(
          `${method} ${url}${path}: ${c.status ? `HTTP ${c.status}` : c.body}`,
          e as Error,
        );
      let parsed = c.body;
      if (c.response && !isArangoError(e)) parsed = await c.response.json().catch(() => undefined);
      return { status: c.status, body: parsed };
    }
  }

  /** Like coordinatorCall but throws on any non-2xx status. */
  async coordinatorJson(
    method: string,
    path: string,
    body?: unknown,
    opts: { db?: string; timeoutMs?: number; search?: Record<string, string> } = {},
  ): Promise<Record<string, unknown>> {
    const r = await this.coordinatorCall(method, path, body, opts);
    if (r.status >= 300)
      throw new ArangoUnavailableError(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return (r.body ?? {}) as Record<string, unknown>;
  }

  /** Agent URLs from the coordinator's health report (Role "Agent"), unless ArangoRef names them. */
  async agentUrls(refresh = false): Promise<string[]> {
    if (this.agencyUrls && !refresh) return this.agencyUrls;
    const h = await this.coordinatorJson('GET', '/_admin/cluster/health');
    const urls = Object.values((h.Health ?? {}) as Record<string, { Role?: string; Endpoint?: string }>)
      .filter((x) => x.Role === 'Agent' && typeof x.Endpoint === 'string')
      .map((x) => this.url(x.Endpoint!));
    if (urls.length === 0 && !this.agencyUrls)
      throw new ArangoUnavailableError('the coordinator reports no agents in /_admin/cluster/health');
    if (urls.length) this.agencyUrls = urls;
    return this.agencyUrls!;
  }

  /** One HTTP call to a specific agent (no redirect following); status 0 = unreachable. */
  async agentCall(
    url: string,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 5000,
  ): Promise<AgencyResponse & { location?: string }> {
    try {
      const r = await this.db(url)
        .route(path)
        .request({ method, body, timeout: timeoutMs, fetchOptions: { redirect: 'manual' } });
      return { status: r.status, body: (r as unknown as { parsedBody?: unknown }).parsedBody };
    } catch (e) {
      const c = this.classify(e, url);
      if (c.status === 401) throw authFailure(401, url, this.ref.jwtSecret);
      if (c.status === 307)
        return { status: 307, body: undefined, location: c.response?.headers.get('location') ?? undefined };
      let parsed = c.body;
      if (c.response && !isArangoError(e)) parsed = await c.response.json().catch(() => undefined);
      return { status: c.status, body: parsed };
    }
  }

  /** A GET to one specific server (e.g. a DB server about its own shard copy) in database `db`; status 0 = unreachable. */
  async serverGet(
    url: string,
    db: string,
    path: string,
    search?: Record<string, string>,
    timeoutMs = 30_000,
  ): Promise<AgencyResponse> {
    try {
      const r = await this.db(url).database(db).route(path).request({ method: 'GET', search, timeout: timeoutMs });
      return { status: r.status, body: (r as unknown as { parsedBody?: unknown }).parsedBody };
    } catch (e) {
      const c = this.classify(e, url);
      if (c.status === 401) throw authFailure(401, url, this.ref.jwtSecret);
      let parsed = c.body;
      if (c.response && !isArangoError(e)) parsed = await c.response.json().catch(() => undefined);
      return { status: c.status, body: parsed };
    }
  }

  /**
   * An agency call that follows 307 to the leader and retries 503/connection errors across the agents for
   * agencyRetryMs, then throws AgencyUnavailableError (retryable). 412 is returned to the caller.
   */
  async agency(path: string, body?: unknown, method = 'POST'): Promise<AgencyResponse> {
    const deadline = this.o.waits.now() + this.o.agencyRetryMs;
    let last = '';
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const urls = await this.agentUrls();
      const candidates = this.leaderUrl ? [this.leaderUrl, ...urls.filter((u) => u !== this.leaderUrl)] : urls;
      for (const start of candidates) {
        let url = start;
        for (let hop = 0; hop < 4; hop++) {
          const r = await this.agentCall(url, method, path, body, this.o.requestTimeoutMs);
          if (r.status === 307 && r.location) {
            const next = new URL(r.location);
            url = this.url(`${next.protocol}//${next.host}`);
            continue;
          }
          if (r.status === 200 || r.status === 412 || (r.status >= 400 && r.status < 500 && r.status !== 408)) {
            this.leaderUrl = url;
            if (r.status === 403)
              throw new AgencyUnavailableError(`agency ${path} refused with 403: ${JSON.stringify(r.body)}`);
            return r;
          }
          last = `${url}: ${r.status ? `HTTP ${r.status}` : String(r.body)}`;
          break;
        }
      }
      this.leaderUrl = undefined;
      if (this.o.waits.now() > deadline) throw new AgencyUnavailableError(`agency unavailable: ${last}`);
      if (!refreshed && !this.ref.agencyEndpoints?.length) {
        refreshed = true;
        await this.agentUrls(true).catch(() => undefined);
      }
      await this.o.waits.sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 3)));
    }
  }

  async agencyRead(paths: string[]): Promise<Record<string, unknown>> {
    const r = await this.agency('/_api/agency/read', [paths]);
    if (r.status !== 200) throw new AgencyUnavailableError(`agency read: HTTP ${r.status}`);
    return ((r.body as unknown[])[0] ?? {}) as Record<string, unknown>;
  }

  /** Writes transactions; returns one raft index per transaction (0 = precondition failed). */
  async agencyWrite(trxs: [Record<string, unknown>, Record<string, unknown>?][]): Promise<number[]> {
    if (trxs.length === 0) return [];
    const r = await this.agency(
      '/_api/agency/write',
      trxs.map((t) => (t[1] ? [t[0], t[1]] : [t[0]])),
    );
    if (r.status !== 200 && r.status !== 412) throw new AgencyUnavailableError(`agency write: HTTP ${r.status}`);
    const results = (r.body as { results?: number[] })?.results;
    if (!Array.isArray(results) || results.length !== trxs.length)
      throw new AgencyUnavailableError('agency write: malformed answer');
    return results;
  }

  /** /_api/agency/config of one agent (undefined when unreachable). */
  async agentConfig(url: string, timeoutMs = 3000): Promise<Record<string, unknown> | undefined> {
    const r = await this.agentCall(url, 'GET', '/_api/agency/config', undefined, timeoutMs).catch((e) => {
      if (e instanceof ArangoAuthError) throw e;
      return undefined;
    });
    return r && r.status === 200 ? (r.body as Record<string, unknown>) : undefined;
  }

  mapUrl(endpoint: string): string {
    return this.url(endpoint);
  }
}
