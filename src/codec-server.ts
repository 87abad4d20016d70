/**
 * The codec server: the HTTP endpoint Temporal's Web UI (and `temporal --codec-endpoint`) calls to show
 * encrypted payloads decoded — `POST /decode` and `POST /encode` with `{payloads: [{metadata: {k: base64},
 * data: base64}]}` — using the same codecs (gzip of large payloads, AES-256-GCM) and key file as worker and
 * client (src/codec.ts).
 *
 * Threat model. Whoever can make this server decode can read everything Transit stores in Temporal (specs,
 * progress, errors); the keys never leave it. So:
 *   - Browsers: CORS answers only the Web UI's own origins (--ui-origin, exact match); a request carrying any
 *     other Origin is refused outright, so a web page the operator happens to visit cannot use the server as a
 *     decryption oracle (browsers set Origin; scripts cannot forge it). Only `application/json` bodies are
 *     accepted, which forces a CORS preflight for every cross-origin call.
 *   - Who may decode: a caller with a bearer token from --token-file (CLI, scripts, a UI that passes an
 *     access token), or a browser on an allowed UI origin when origin trust is on. An Origin header can be
 *     forged by non-browser clients, so origin trust is on by default only when the server listens on
 *     loopback (the operator's own machine: the recommended set-up, as with `kubectl port-forward`); on any
 *     other address it needs --trust-ui-origin, meaning "the network in front of me already authenticates
 *     users" (an authenticating proxy, a private network). Otherwise, use tokens.
 *   - Optional --namespace allow-list (the UI sends X-Namespace).
 *   - Nothing sensitive is logged: one JSON line per request with status, origin, namespace and counts;
 *     never payloads, tokens or keys. Responses are `Cache-Control: no-store`.
 *   - The key file and token file are re-read when they change (Kubernetes Secret rotation).
 * Serve HTTPS (--tls-cert/--tls-key) whenever the server is not on loopback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { CodecChain, loadCodecKeys, storageCodecs } from './codec';

export interface CodecServerOptions {
  /** The codec key file (JSON, as for the worker); re-read when it changes. */
  keyFile: string;
  /** Origins of the Web UI allowed to call (CORS), e.g. https://temporal.example.com. */
  uiOrigins: string[];
  /** Bearer tokens, one per line ('#' comments); re-read when it changes. */
  tokenFile?: string;
  /** Let an allowed UI origin alone authorise a request: 'auto' (default) = only when listening on loopback. */
  trustUiOrigin?: boolean | 'auto';
  /** Namespaces whose payloads may be encoded/decoded (X-Namespace); default: any. */
  namespaces?: string[];
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** Largest request body (default 16 MiB: a long history's payloads in one call). */
  maxBodyBytes?: number;
  /** One JSON object per request (default: stdout). */
  log?: (entry: Record<string, unknown>) => void;
}

export interface RunningCodecServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A file re-read when its mtime or size changes (checked at most once a second). */
function watched<T>(path: string, load: (p: string) => T): () => T {
  let value: T | undefined;
  let stamp = '';
  let checkedAt = 0;
  return () => {
    const now = Date.now();
    if (value !== undefined && now - checkedAt < 1000) return value;
    checkedAt = now;
    const st = statSync(path);
    const s = `${st.mtimeMs}:${st.size}`;
    if (value === undefined || s !== stamp) {
      value = load(path);
      stamp = s;
    }
    return value;
  };
}

function loadTokens(path: string): Buffer[] {
  const tokens = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (tokens.length === 0) throw new Error(`the token file ${path} holds no token`);
  return tokens.map((t) => sha256(t));
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison against every configured token (hashes: equal lengths). */
function tokenMatches(presented: string, tokens: Buffer[]): boolean {
  const h = sha256(presented);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(h, t) || ok;
  return ok;
}

function normaliseOrigin(o: string): string {
  try {
    return new URL(o).origin;
  } catch {
    throw new Error(`--ui-origin ${o}: not an origin (expected e.g. https://temporal.example.com)`);
  }
}

export function createCodecServer(o: CodecServerOptions, listenHost = '127.0.0.1'): Server {
  const origins = new Set(o.uiOrigins.map(normaliseOrigin));
  // The worker's codecs: large payloads compressed, then encrypted.
  const codec = watched(o.keyFile, (p) => new CodecChain(storageCodecs(loadCodecKeys(p))));
  codec(); // fail at start, not on the first request, when the key file is wrong
  const tokens = o.tokenFile ? watched(o.tokenFile, loadTokens) : null;
  tokens?.();
  const loopback =
    listenHost === 'localhost' || (isIP(listenHost) !== 0 && (listenHost.startsWith('127.') || listenHost === '::1'));
  const trustOrigin = o.trustUiOrigin === 'auto' || o.trustUiOrigin === undefined ? loopback : o.trustUiOrigin;
  const maxBody = o.maxBodyBytes ?? 16 * 1024 * 1024;
  const log = o.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const t0 = Date.now();
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    const namespace = typeof req.headers['x-namespace'] === 'string' ? req.headers['x-namespace'] : undefined;
    const path = (req.url ?? '/').split('?')[0]!;
    const entry: Record<string, unknown> = {
      time: new Date().toISOString(),
      component: 'codec-server',
      method: req.method,
      path,
      origin,
      namespace,
    };
    const allowedOrigin = origin !== undefined && origins.has(origin);
    const headers: Record<string, string> = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      vary: 'Origin',
    };
    if (allowedOrigin) {
      headers['access-control-allow-origin'] = origin!;
      headers['access-control-allow-credentials'] = 'true';
    }
    const send = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, {
        ...headers,
        'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
        ...extra,
      });
      res.end(text);
      log({ ...entry, status, ms: Date.now() - t0 });
    };
    try {
      if (req.method === 'GET' && path === '/healthz') return send(200, 'ok');
      if (origin !== undefined && !allowedOrigin)
        throw new HttpError(403, `origin ${origin} is not an allowed UI origin (--ui-origin)`);
      if (req.method === 'OPTIONS') {
        if (!allowedOrigin) throw new HttpError(403, 'CORS preflight without an allowed Origin');
        res.writeHead(204, {
          ...headers,
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': 'content-type, x-namespace, authorization',
          'access-control-max-age': '600',
        });
        res.end();
        log({ ...entry, status: 204, ms: Date.now() - t0 });
        return;
      }
      if (path !== '/encode' && path !== '/decode') throw new HttpError(404, 'not found: POST /encode or /decode');
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      // Authorisation before reading the body.
      const auth = req.headers.authorization;
      const bearer =
        typeof auth === 'string' && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
      let by: string | null = null;
      if (bearer !== undefined && tokens && tokenMatches(bearer, tokens())) by = 'token';
      else if (bearer !== undefined && !(allowedOrigin && trustOrigin))
        throw new HttpError(401, 'the bearer token is not valid');
      else if (allowedOrigin && trustOrigin) by = 'origin';
      if (!by) {
        throw new HttpError(
          401,
          tokens
            ? 'a bearer token is required (Authorization: Bearer …)'
            : 'not authorised: no token file configured and origin trust is off',
        );
      }
      entry.by = by;
      if (o.namespaces?.length && (!namespace || !o.namespaces.includes(namespace))) {
        throw new HttpError(403, `namespace ${namespace ?? '(none; send X-Namespace)'} is not allowed here`);
      }
      if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? '')))
        throw new HttpError(415, 'send Content-Type: application/json');
      const body = await readBody(req, maxBody);
      const payloads = parsePayloads(body);
      entry.payloads = payloads.length;
      const c = codec();
      let out: Payload[];
      if (path === '/encode') out = await c.encode(payloads);
      else {
        // Decode one by one: a payload this server cannot decrypt (unknown key id, another key) stays as it is.
        let failed = 0;
        out = [];
        for (const p of payloads) {
          try {
            out.push(...(await c.decode([p])));
          } catch {
            failed++;
            out.push(p);
          }
        }
        if (failed) entry.undecodable = failed;
      }
      return send(200, { payloads: out.map(toJson) });
    } catch (e) {
      if (e instanceof HttpError) {
        entry.reason = e.message;
        const extra: Record<string, string> =
          e.status === 401 ? { 'www-authenticate': 'Bearer realm="transit-codec"' } : {};
        if (e.status === 403 || (e.status === 401 && !allowedOrigin)) {
          delete headers['access-control-allow-origin'];
          delete headers['access-control-allow-credentials'];
        }
        return send(e.status, { error: e.message }, extra);
      }
      entry.reason = (e as Error).message;
      return send(500, { error: 'codec failure (see the codec server log)' });
    }
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => void handler(req, res);
  return o.tls
    ? createHttpsServer({ cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile) }, listener)
    : createHttpServer(listener);
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(new HttpError(413, `body larger than ${max} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parsePayloads(body: string): Payload[] {
  let j: { payloads?: unknown };
  try {
    j = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (!j || !Array.isArray(j.payloads)) throw new HttpError(400, 'expected {"payloads": [...]}');
  return j.payloads.map((p: JsonPayload, i: number) => {
    if (!p || typeof p !== 'object') throw new HttpError(400, `payloads[${i}] is not an object`);
    const metadata: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(p.metadata ?? {})) {
      if (typeof v !== 'string') throw new HttpError(400, `payloads[${i}].metadata.${k} must be base64`);
      metadata[k] = Buffer.from(v, 'base64');
    }
    if (p.data !== undefined && typeof p.data !== 'string')
      throw new HttpError(400, `payloads[${i}].data must be base64`);
    return { metadata, data: Buffer.from(p.data ?? '', 'base64') };
  });
}

function toJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v ?? []).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? []).toString('base64') };
}

/** Starts the server on host:port (port 0: any free port) and returns its URL. */
export async function startCodecServer(o: CodecServerOptions & { listen: string }): Promise<RunningCodecServer> {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(o.listen);
  if (!m) throw new Error(`--listen ${o.listen}: expected host:port, e.g. 127.0.0.1:8888`);
  const host = m[1]!;
  const server = createCodecServer(o, host);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${o.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
