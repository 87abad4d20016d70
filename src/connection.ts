/**
 * How worker, CLI and client library reach Temporal: one set of settings, from flags, environment or files.
 * Precedence: explicit option (CLI flag) → environment → default. Credentials are read from files, never taken
 * as literal values on the command line (where `ps` would show them).
 */
import { readFileSync } from 'node:fs';

export interface TemporalSettings {
  /** host:port of the Temporal frontend. Env TEMPORAL_ADDRESS; default 127.0.0.1:7233. */
  address: string;
  /** Env TEMPORAL_NAMESPACE; default "default". */
  namespace: string;
  /** mTLS: client certificate and key files, CA file, server name override. Env TEMPORAL_TLS_CERT etc. */
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  /** A file holding an API key (Temporal Cloud). Env TEMPORAL_API_KEY_FILE. */
  apiKeyFile?: string;
}

export type SettingsInput = Partial<Omit<TemporalSettings, 'tls'>> & {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
};

export function temporalSettings(opts: SettingsInput = {}, env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const pick = (v: string | undefined, ...names: string[]) => v ?? names.map((n) => env[n]).find((x) => x !== undefined && x !== '');
  const certFile = pick(opts.tlsCert, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CLIENT_CERT_PATH');
  const keyFile = pick(opts.tlsKey, 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CLIENT_KEY_PATH');
  const caFile = pick(opts.tlsCa, 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const serverName = pick(opts.tlsServerName, 'TEMPORAL_TLS_SERVER_NAME');
  const s: TemporalSettings = {
    address: pick(opts.address, 'TEMPORAL_ADDRESS') ?? '127.0.0.1:7233',
    namespace: pick(opts.namespace, 'TEMPORAL_NAMESPACE') ?? 'default',
    apiKeyFile: pick(opts.apiKeyFile, 'TEMPORAL_API_KEY_FILE'),
  };
  if (certFile || keyFile || caFile || serverName || env.TEMPORAL_TLS === 'true') s.tls = { certFile, keyFile, caFile, serverName };
  if ((certFile && !keyFile) || (keyFile && !certFile)) {
    throw new Error('mTLS needs both a client certificate and its key (--tls-cert and --tls-key, or TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY)');
  }
  return s;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the ${what} file ${path}: ${(e as Error).message}`);
  }
}

/** Connection options shared by `Connection.connect` (client) and `NativeConnection.connect` (worker). */
export function connectionOptions(s: TemporalSettings): {
  address: string;
  tls?: { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } } | true;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  const out: ReturnType<typeof connectionOptions> = { address: s.address };
  if (s.tls) {
    const t: { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } } = {};
    if (s.tls.serverName) t.serverNameOverride = s.tls.serverName;
    if (s.tls.caFile) t.serverRootCACertificate = readFile(s.tls.caFile, 'TLS CA');
    if (s.tls.certFile && s.tls.keyFile) {
      t.clientCertPair = { crt: readFile(s.tls.certFile, 'TLS client certificate'), key: readFile(s.tls.keyFile, 'TLS client key') };
    }
    out.tls = Object.keys(t).length ? t : true;
  }
  if (s.apiKeyFile) {
    out.apiKey = readFile(s.apiKeyFile, 'API key').toString('utf8').trim();
    out.metadata = { 'temporal-namespace': s.namespace };
  }
  return out;
}

/** One line that names what to fix when Temporal cannot be reached. */
export function explainConnectError(s: TemporalSettings, e: unknown): Error {
  const m = e instanceof Error ? e.message : String(e);
  let hint = `check --address/TEMPORAL_ADDRESS (${s.address}) and that the server is up`;
  if (/certificate|ssl|tls|handshake|expired/i.test(m)) hint = 'check the TLS certificate, key, CA and server name (is the certificate expired or for another name?)';
  else if (/unauthenticated|api key|permission/i.test(m)) hint = 'check the API key or client certificate and the namespace';
  return new Error(`cannot connect to Temporal at ${s.address}: ${m.split('\n')[0]} — ${hint}`, { cause: e });
}
