/**
 * How worker, CLI and client library reach Temporal: one set of settings, from flags, environment or files.
 * Precedence: explicit option (CLI flag) → environment → default. Credentials are read from files, never taken
 * as literal values on the command line (where `ps` would show them); the one exception is TEMPORAL_API_KEY in
 * the environment, Temporal's own convention (e.g. from a Kubernetes secretKeyRef).
 *
 * Either mTLS (client certificate + key, CA, server name) or an API key (over TLS; with a private CA, give
 * --tls-ca too). Certificates are checked before connecting (readable, a key that belongs to the certificate,
 * not expired); when a connection fails anyway, a TLS probe finds out why and says what to fix in one line.
 */
import { readFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { registerSecret } from './observability';

export interface TemporalSettings {
  /** host:port of the Temporal frontend. Env TEMPORAL_ADDRESS; default 127.0.0.1:7233. */
  address: string;
  /** Env TEMPORAL_NAMESPACE; default "default". */
  namespace: string;
  /** mTLS: client certificate and key files, CA file, server name override. Env TEMPORAL_TLS_CERT etc. */
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  /** A file holding an API key (Temporal Cloud). Env TEMPORAL_API_KEY_FILE (or the key itself in TEMPORAL_API_KEY). */
  apiKeyFile?: string;
}

export type SettingsInput = Partial<Omit<TemporalSettings, 'tls'>> & {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
};

/** Which flag / environment variable sets each file: error messages name them. */
const SOURCES = {
  cert: '--tls-cert / TEMPORAL_TLS_CERT',
  key: '--tls-key / TEMPORAL_TLS_KEY',
  ca: '--tls-ca / TEMPORAL_TLS_CA',
  serverName: '--tls-server-name / TEMPORAL_TLS_SERVER_NAME',
  apiKey: '--api-key-file / TEMPORAL_API_KEY_FILE',
  address: '--address / TEMPORAL_ADDRESS',
};

export function temporalSettings(opts: SettingsInput = {}, env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const pick = (v: string | undefined, ...names: string[]) =>
    v ?? names.map((n) => env[n]).find((x) => x !== undefined && x !== '');
  const certFile = pick(opts.tlsCert, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CLIENT_CERT_PATH');
  const keyFile = pick(opts.tlsKey, 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CLIENT_KEY_PATH');
  const caFile = pick(opts.tlsCa, 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const serverName = pick(opts.tlsServerName, 'TEMPORAL_TLS_SERVER_NAME');
  const s: TemporalSettings = {
    address: pick(opts.address, 'TEMPORAL_ADDRESS') ?? '127.0.0.1:7233',
    namespace: pick(opts.namespace, 'TEMPORAL_NAMESPACE') ?? 'default',
    apiKeyFile: pick(opts.apiKeyFile, 'TEMPORAL_API_KEY_FILE'),
  };
  if (certFile || keyFile || caFile || serverName || env.TEMPORAL_TLS === 'true')
    s.tls = { certFile, keyFile, caFile, serverName };
  if ((certFile && !keyFile) || (keyFile && !certFile)) {
    throw new Error(`mTLS needs both a client certificate and its key: set ${SOURCES.cert} and ${SOURCES.key}`);
  }
  return s;
}

function readFile(path: string, what: string, source: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(
      `cannot read the ${what} file ${path} (${source}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** The API key, from its file or TEMPORAL_API_KEY; undefined without one. Never logged. */
export function apiKeyOf(s: TemporalSettings, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (s.apiKeyFile) {
    const k = readFile(s.apiKeyFile, 'API key', SOURCES.apiKey).toString('utf8').trim();
    if (!k) throw new Error(`the API key file ${s.apiKeyFile} is empty (${SOURCES.apiKey})`);
    registerSecret(k);
    return k;
  }
  const k = env.TEMPORAL_API_KEY?.trim() || undefined;
  registerSecret(k);
  return k;
}

/**
 * Checks the TLS files before connecting, so the common mistakes get a precise message instead of a
 * handshake failure: unreadable or not PEM, a key that is not the certificate's, an expired or not yet valid
 * certificate, a CA file that holds no certificate.
 */
export function checkTlsFiles(s: TemporalSettings, now = new Date()): void {
  const t = s.tls;
  if (!t) return;
  if (t.caFile) {
    const pem = readFile(t.caFile, 'TLS CA', SOURCES.ca);
    try {
      new X509Certificate(pem);
    } catch {
      throw new Error(`the TLS CA file ${t.caFile} holds no PEM certificate (${SOURCES.ca})`);
    }
  }
  if (t.certFile && t.keyFile) {
    const certPem = readFile(t.certFile, 'TLS client certificate', SOURCES.cert);
    const keyPem = readFile(t.keyFile, 'TLS client key', SOURCES.key);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw new Error(`the TLS client certificate file ${t.certFile} holds no PEM certificate (${SOURCES.cert})`);
    }
    let key;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw new Error(`the TLS client key file ${t.keyFile} holds no PEM private key (${SOURCES.key})`);
    }
    if (!cert.checkPrivateKey(key)) {
      throw new Error(
        `the TLS client key ${t.keyFile} does not belong to the certificate ${t.certFile}: give the key the certificate was issued for (${SOURCES.key})`,
      );
    }
    const to = new Date(cert.validTo);
    const from = new Date(cert.validFrom);
    if (to < now) {
      throw new Error(
        `the TLS client certificate ${t.certFile} (${subjectOf(cert)}) expired on ${to.toISOString()}: renew it (${SOURCES.cert})`,
      );
    }
    if (from > now) {
      throw new Error(
        `the TLS client certificate ${t.certFile} (${subjectOf(cert)}) is not valid before ${from.toISOString()}: check the clock or the certificate (${SOURCES.cert})`,
      );
    }
  }
}

function subjectOf(c: X509Certificate): string {
  return c.subject.split('\n').filter(Boolean).join(', ');
}

/**
 * gRPC channel settings for client connections (`Connection.connect`; the worker's NativeConnection has its own):
 * a page of a 10,000-shard migration's history exceeds gRPC's default 4 MiB receive limit.
 */
export const CLIENT_CHANNEL_ARGS = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 };

type TlsOptions = {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
};

/** Connection options shared by `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export function connectionOptions(s: TemporalSettings): {
  address: string;
  tls?: TlsOptions | true;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  const out: ReturnType<typeof connectionOptions> = { address: s.address };
  if (s.tls) {
    const t: TlsOptions = {};
    if (s.tls.serverName) t.serverNameOverride = s.tls.serverName;
    if (s.tls.caFile) t.serverRootCACertificate = readFile(s.tls.caFile, 'TLS CA', SOURCES.ca);
    if (s.tls.certFile && s.tls.keyFile) {
      t.clientCertPair = {
        crt: readFile(s.tls.certFile, 'TLS client certificate', SOURCES.cert),
        key: readFile(s.tls.keyFile, 'TLS client key', SOURCES.key),
      };
    }
    out.tls = Object.keys(t).length ? t : true;
  }
  const apiKey = apiKeyOf(s);
  if (apiKey) {
    out.apiKey = apiKey;
    // With an API key and no TLS options the SDK turns TLS on (system CAs), as Temporal Cloud needs.
    out.metadata = { 'temporal-namespace': s.namespace };
  }
  return out;
}

/** Quick one-line explanation from the error text alone (see diagnoseConnectError for the thorough one). */
export function explainConnectError(s: TemporalSettings, e: unknown): Error {
  const m = firstLine(e);
  let hint = `check ${SOURCES.address} (${s.address}) and that the server is up`;
  if (/certificate|ssl|tls|handshake|expired/i.test(m))
    hint = `check the TLS certificate, key, CA and server name (${SOURCES.cert}, ${SOURCES.ca}, ${SOURCES.serverName})`;
  else if (/unauthenticated|api key|permission/i.test(m))
    hint = 'check the API key or client certificate and the namespace';
  return connectError(s, m, hint, e);
}

function connectError(s: TemporalSettings, what: string, fix: string, original: unknown): Error {
  const err = new Error(`cannot connect to Temporal at ${s.address}: ${what} — ${fix}`);
  // Kept for debugging, not as `cause` (the CLI prints a cause's message after the line).
  Object.defineProperty(err, 'original', { value: original, enumerable: false });
  return err;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}

/**
 * After a failed connect: probes the address with Node's TLS stack (and one gRPC call over HTTP/2 when the
 * handshake succeeds) to tell the operator exactly what is wrong — the server's certificate not signed by the
 * given CA or issued for another name, a client certificate missing, rejected or expired, TLS where there is
 * none or none where it is required, an API key refused. Falls back to explainConnectError.
 */
export async function diagnoseConnectError(s: TemporalSettings, e: unknown, timeoutMs = 5000): Promise<Error> {
  let verdict: { what: string; fix: string } | null = null;
  try {
    verdict = await probe(s, timeoutMs);
  } catch {
    verdict = null;
  }
  return verdict ? connectError(s, verdict.what, verdict.fix, e) : explainConnectError(s, e);
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) return { host: address, port: 7233 };
  return { host: m[1]!, port: Number(m[2]) };
}

type Verdict = { what: string; fix: string } | null;

async function probe(s: TemporalSettings, timeoutMs: number): Promise<Verdict> {
  const { host, port } = splitAddress(s.address);
  const tcp = await new Promise<{ ok: true } | { ok: false; code: string }>((resolve) => {
    const sock = new Socket();
    const done = (r: { ok: true } | { ok: false; code: string }) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, code: 'ETIMEDOUT' }));
    sock.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, code: err.code ?? 'ERROR' }));
    sock.connect(port, host, () => done({ ok: true }));
  });
  if (!tcp.ok) {
    return {
      what: `no connection (${tcp.code})`,
      fix: `check ${SOURCES.address} (${s.address}), the network, and that the server is up`,
    };
  }
  const apiKey = safeApiKey(s);
  const useTls = !!s.tls || !!apiKey;
  if (!useTls) {
    // Plain gRPC failed: does the server want TLS?
    const r = await handshake({ host, port, rejectUnauthorized: false }, timeoutMs);
    if (r.ok) {
      return {
        what: 'the server speaks TLS and the client does not',
        fix: `set ${SOURCES.ca} (and ${SOURCES.cert} + ${SOURCES.key} for mTLS, or ${SOURCES.apiKey})`,
      };
    }
    return null;
  }
  const t = s.tls ?? {};
  const opts: ConnectionOptions = { host, port, ALPNProtocols: ['h2'], rejectUnauthorized: true };
  const name = t.serverName ?? (isIP(host) ? undefined : host);
  if (name) opts.servername = name;
  if (t.caFile) opts.ca = readFileSync(t.caFile);
  if (t.certFile && t.keyFile) {
    opts.cert = readFileSync(t.certFile);
    opts.key = readFileSync(t.keyFile);
  }
  const r = await handshake(opts, timeoutMs);
  if (!r.ok) return classifyTlsError(s, r.code, r.message);
  return grpcProbe(r.socket, s, apiKey, timeoutMs);
}

function safeApiKey(s: TemporalSettings): string | undefined {
  try {
    return apiKeyOf(s);
  } catch {
    return undefined;
  }
}

type Handshake = { ok: true; socket: import('node:tls').TLSSocket } | { ok: false; code: string; message: string };

function handshake(opts: ConnectionOptions, timeoutMs: number): Promise<Handshake> {
  return new Promise((resolve) => {
    let settled = false;
    const sock = tlsConnect(opts);
    const fail = (code: string, message: string) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve({ ok: false, code, message });
    };
    sock.setTimeout(timeoutMs, () => fail('ETIMEDOUT', 'TLS handshake timed out'));
    sock.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? 'ERROR', e.message));
    sock.once('secureConnect', () => {
      if (settled) return;
      settled = true;
      sock.setTimeout(0);
      resolve({ ok: true, socket: sock });
    });
  });
}

function classifyTlsError(s: TemporalSettings, code: string, message: string): Verdict {
  const t = s.tls ?? {};
  const ca = t.caFile ? `the CA in ${t.caFile}` : "the system's CAs";
  const unknownIssuer = [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_GET_ISSUER_CERT',
    'CERT_SIGNATURE_FAILURE',
  ];
  if (unknownIssuer.includes(code)) {
    return {
      what: `the server's certificate is not signed by ${ca}`,
      fix: `give the CA that issued the server's certificate (${SOURCES.ca})`,
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = /not in the cert's altnames: (.*)$/.exec(message)?.[1] ?? '';
    return {
      what: `the server's certificate is not valid for the name ${t.serverName ?? splitAddress(s.address).host}${names ? ` (it has ${names})` : ''}`,
      fix: `set ${SOURCES.serverName} to a name in the server's certificate, or connect by that name`,
    };
  }
  if (code === 'CERT_HAS_EXPIRED')
    return { what: "the server's certificate has expired", fix: "the server's operator must renew it" };
  if (code === 'CERT_NOT_YET_VALID')
    return { what: "the server's certificate is not valid yet", fix: 'check the clocks of client and server' };
  const alert =
    /ALERT_([A-Z_]+)$/.exec(code)?.[1] ??
    /alert (certificate required|bad certificate|unknown ca|certificate expired|certificate revoked|handshake failure)/i
      .exec(message)?.[1]
      ?.toUpperCase()
      .replace(/ /g, '_');
  if (alert) return clientCertRejected(s, alert.toLowerCase().replace(/_/g, ' '));
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(message)) {
    return {
      what: 'the server does not speak TLS at this address',
      fix: `drop the TLS options, or check ${SOURCES.address}`,
    };
  }
  if (code === 'ECONNRESET' || code === 'ETIMEDOUT') return null;
  return {
    what: `TLS handshake failed (${code}: ${message.split('\n')[0]})`,
    fix: `check ${SOURCES.cert}, ${SOURCES.key}, ${SOURCES.ca} and ${SOURCES.serverName}`,
  };
}

function clientCertRejected(s: TemporalSettings, reason: string): Verdict {
  const t = s.tls ?? {};
  if (!t.certFile || reason === 'certificate required') {
    return {
      what: 'the server requires a client certificate (mTLS) and none was given',
      fix: `set ${SOURCES.cert} and ${SOURCES.key}`,
    };
  }
  return {
    what: `the server rejected the client certificate ${t.certFile} (${reason})`,
    fix: `use a certificate issued by a CA the server trusts for clients, not expired (${SOURCES.cert}, ${SOURCES.key})`,
  };
}

/** One GetSystemInfo call over the TLS socket: what a proxy or the server answers tells what is refused. */
function grpcProbe(
  socket: import('node:tls').TLSSocket,
  s: TemporalSettings,
  apiKey: string | undefined,
  timeoutMs: number,
): Promise<Verdict> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (v: Verdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    const session = http2Connect(`https://${s.address}`, { createConnection: () => socket });
    // TLS 1.3: a server that refuses the client certificate says so (an alert) after the handshake.
    const onError = (e: NodeJS.ErrnoException) => finish(classifyTlsError(s, e.code ?? 'ERROR', e.message));
    session.on('error', onError);
    socket.on('error', onError);
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': '/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo',
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (apiKey) {
      headers.authorization = `Bearer ${apiKey}`;
      headers['temporal-namespace'] = s.namespace;
    }
    const req = session.request(headers);
    req.on('error', onError);
    let status = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    let body = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      grpcStatus = h['grpc-status'] as string | undefined;
      grpcMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
    });
    req.on('trailers', (h) => {
      grpcStatus ??= h['grpc-status'] as string | undefined;
      grpcMessage ||= decodeURIComponent(String(h['grpc-message'] ?? ''));
    });
    req.on('data', (d: Buffer) => {
      if (body.length < 4096) body += d.toString('latin1');
    });
    req.on('end', () => {
      if (status === 400 && /no required ssl certificate/i.test(body))
        return finish(clientCertRejected(s, 'certificate required'));
      if (status === 400 && /ssl certificate error/i.test(body))
        return finish(clientCertRejected(s, 'not trusted, or expired'));
      if (status === 495 || status === 496)
        return finish(clientCertRejected(s, status === 496 ? 'certificate required' : 'certificate error'));
      if (grpcStatus === '16' || grpcStatus === '7' || status === 401 || status === 403) {
        const by = apiKey
          ? `the API key (${s.apiKeyFile ? `${SOURCES.apiKey}: ${s.apiKeyFile}` : 'TEMPORAL_API_KEY'})`
          : 'the client certificate';
        return finish({
          what: `the server refused ${by}${grpcMessage ? `: ${grpcMessage}` : ''}`,
          fix: apiKey
            ? 'use a valid, unexpired API key for this namespace'
            : `check ${SOURCES.cert} and the namespace's permissions`,
        });
      }
      if (status && status !== 200)
        return finish({
          what: `the server answered HTTP ${status}`,
          fix: `check ${SOURCES.address}: is it a Temporal frontend (gRPC)?`,
        });
      finish(null);
    });
    // An empty GetSystemInfoRequest: a gRPC frame of length 0.
    req.end(Buffer.alloc(5));
  });
}
