// The HTTP front of every simulated member: a tiny router with ArangoDB's conventions (optional /_db/<name>
// prefix, JWT superuser auth, error bodies {error, code, errorNum, errorMessage}).
import http from 'node:http';
import { verifyJwt } from './jwt.js';
import type { Endpoint } from './net.js';

export interface SimRequest {
  method: string;
  /** Path without the /_db/<name> prefix and without the query. */
  path: string;
  db: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  params: string[];
}

export interface SimResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: SimRequest) => Promise<SimResponse> | SimResponse;

export function ok(body: unknown, status = 200): SimResponse {
  return { status, body };
}

export function arangoError(
  code: number,
  errorNum: number,
  errorMessage: string,
  extra?: Record<string, unknown>,
): SimResponse {
  return { status: code, body: { error: true, code, errorNum, errorMessage, ...extra } };
}

/** Thrown inside handlers to answer with an ArangoDB error. */
export class HttpFailure extends Error {
  constructor(readonly response: SimResponse) {
    super(String((response.body as { errorMessage?: string })?.errorMessage ?? response.status));
  }
}

export function fail(code: number, errorNum: number, message: string): never {
  throw new HttpFailure(arangoError(code, errorNum, message));
}

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
  open: boolean;
}

export interface ServerOptions {
  listen: Endpoint;
  jwtSecret: string;
  /** Accept `Basic root:<password>` too (arangod accepts user auth besides the superuser JWT). */
  rootPassword?: string;
  log: (msg: string) => void;
}

export class SimServer {
  private routes: Route[] = [];
  private server?: http.Server;

  constructor(private o: ServerOptions) {}

  /** `pattern` is matched against the whole path; capture groups become `params`. */
  on(method: string, pattern: string | RegExp, handler: Handler, opts: { open?: boolean } = {}): this {
    const re =
      typeof pattern === 'string' ? new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : pattern;
    this.routes.push({ method: method.toUpperCase(), re, handler, open: opts.open ?? false });
    return this;
  }

  async start(): Promise<void> {
    const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => void this.handle(req, res));
    server.headersTimeout = 60_000;
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.o.listen.host, port: this.o.listen.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  get port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : this.o.listen.port;
  }

  /** Stops listening and drops every connection at once (a crash, as far as peers can tell). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }

  private authorized(req: http.IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^bearer\s+(.+)$/i.exec(h);
    if (m) return verifyJwt(m[1].trim(), this.o.jwtSecret);
    const b = /^basic\s+(.+)$/i.exec(h);
    if (b && this.o.rootPassword !== undefined) {
      const [user, ...pw] = Buffer.from(b[1], 'base64').toString('utf8').split(':');
      return user === 'root' && pw.join(':') === this.o.rootPassword;
    }
    return false;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (r: SimResponse): void => {
      if (res.headersSent || res.destroyed) return;
      const headers: Record<string, string> = { server: 'ArangoDB', ...r.headers };
      let payload: Buffer | undefined;
      if (r.body !== undefined) {
        payload = Buffer.from(
          typeof r.body === 'string' && headers['content-type'] === 'text/plain' ? r.body : JSON.stringify(r.body),
        );
        headers['content-type'] ??= 'application/json; charset=utf-8';
      }
      headers['content-length'] = String(payload?.length ?? 0);
      res.writeHead(r.status, headers);
      res.end(req.method === 'HEAD' ? undefined : payload);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      let path = url.pathname;
      let db = '_system';
      const m = /^\/_db\/([^/]+)(\/.*)?$/.exec(path);
      if (m) {
        db = decodeURIComponent(m[1]);
        path = m[2] ?? '/';
      }
      const method = (req.method ?? 'GET').toUpperCase();
      let route: Route | undefined;
      let params: string[] = [];
      let pathMatched = false;
      for (const r of this.routes) {
        const mm = r.re.exec(path);
        if (!mm) continue;
        pathMatched = true;
        if (r.method !== '*' && r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
        route = r;
        params = mm.slice(1).map((x) => (x === undefined ? '' : decodeURIComponent(x)));
        break;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (!route) {
        send(
          pathMatched ? arangoError(405, 405, 'method not supported') : arangoError(404, 404, `unknown path '${path}'`),
        );
        return;
      }
      if (!route.open && !this.authorized(req)) {
        send({
          ...arangoError(401, 11, 'not authorized to execute this request'),
          headers: { 'www-authenticate': 'Bearer token_type="JWT", realm="ArangoDB"' },
        });
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          if (/json/.test(String(req.headers['content-type'] ?? ''))) {
            send(arangoError(400, 600, 'VPackError error: Expecting a JSON body'));
            return;
          }
          body = text;
        }
      }
      const r = await route.handler({ method, path, db, query: url.searchParams, headers: req.headers, body, params });
      send(r);
    } catch (e) {
      if (e instanceof HttpFailure) send(e.response);
      else {
        this.o.log(`internal error: ${(e as Error).stack ?? e}`);
        send(arangoError(500, 4, `simulated server internal error: ${(e as Error).message}`));
      }
    }
  }
}
