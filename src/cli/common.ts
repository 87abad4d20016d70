/**
 * What every `transit` command shares: Temporal connection flags, reading a spec file, one-line errors.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { TransitClient } from '../client';
import { parseSpecDocument } from '../spec/text';
import { assertValidSpec, InvalidSpecError } from '../spec/validate';
import type { MigrationSpec } from '../spec/schema';

export interface ConnectionFlags {
  address?: string;
  namespace?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
  apiKeyFile?: string;
  codecKeyFile?: string;
}

/** The Temporal connection flags, each with the environment variable it is also read from (src/connection.ts). */
const CONNECTION_OPTIONS: { key: keyof ConnectionFlags; flag: string; help: string; env: string }[] = [
  { key: 'address', flag: '--address <host:port>', help: 'Temporal frontend', env: 'TEMPORAL_ADDRESS' },
  { key: 'namespace', flag: '--namespace <name>', help: 'Temporal namespace', env: 'TEMPORAL_NAMESPACE' },
  { key: 'tlsCert', flag: '--tls-cert <file>', help: 'mTLS client certificate', env: 'TEMPORAL_TLS_CERT' },
  { key: 'tlsKey', flag: '--tls-key <file>', help: 'mTLS client key', env: 'TEMPORAL_TLS_KEY' },
  { key: 'tlsCa', flag: '--tls-ca <file>', help: 'CA of the Temporal server certificate', env: 'TEMPORAL_TLS_CA' },
  {
    key: 'tlsServerName',
    flag: '--tls-server-name <name>',
    help: 'server name to verify',
    env: 'TEMPORAL_TLS_SERVER_NAME',
  },
  {
    key: 'apiKeyFile',
    flag: '--api-key-file <file>',
    help: 'file holding a Temporal API key',
    env: 'TEMPORAL_API_KEY_FILE',
  },
  {
    key: 'codecKeyFile',
    flag: '--codec-key-file <file>',
    help: 'payload encryption keys (JSON)',
    env: 'TRANSIT_CODEC_KEY_FILE',
  },
];

/** Adds the Temporal connection flags (each also read from the environment, see src/connection.ts). */
export function withConnection(cmd: Command): Command {
  for (const o of CONNECTION_OPTIONS) cmd.addOption(new Option(o.flag, o.help).env(o.env));
  return cmd;
}

/** The environment a child process (a worker) needs to connect as these flags say: the flags over `base`. */
export function connectionEnv(f: ConnectionFlags, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const o of CONNECTION_OPTIONS) if (f[o.key] !== undefined) env[o.env] = f[o.key];
  return env;
}

/** The Temporal client is loaded only by commands that talk to Temporal (keeps `transit --help` fast). */
export async function connectClient(flags: ConnectionFlags): Promise<TransitClient> {
  const { TransitClient: Client } = require('../client') as typeof import('../client');
  return Client.connect(flags);
}

/**
 * Reads a spec file once and parses its YAML/JSON: the value as written, not validated yet (the edge that uses
 * it validates it once: `transit start` through the client, `validate` and `plan` through readSpecFile).
 * Throws InvalidSpecError when the file cannot be read or is not YAML/JSON.
 */
export function readSpecValue(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidSpecError([`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const doc = parseSpecDocument(text, path);
  if (!doc.ok) throw new InvalidSpecError(doc.problems);
  return doc.value;
}

/** Reads and validates a spec file; throws InvalidSpecError with one line per problem. */
export function readSpecFile(path: string): MigrationSpec {
  return assertValidSpec(readSpecValue(path));
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}
