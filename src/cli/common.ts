/**
 * What every `transit` command shares: Temporal connection flags, reading a spec file, one-line errors.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { TransitClient } from '../client';
import { parseSpecText, InvalidSpecError } from '../spec/validate';
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

/** Adds the Temporal connection flags (each also read from the environment, see src/connection.ts). */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend').env('TEMPORAL_ADDRESS'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE'))
    .addOption(new Option('--tls-cert <file>', 'mTLS client certificate').env('TEMPORAL_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'mTLS client key').env('TEMPORAL_TLS_KEY'))
    .addOption(new Option('--tls-ca <file>', 'CA of the Temporal server certificate').env('TEMPORAL_TLS_CA'))
    .addOption(new Option('--tls-server-name <name>', 'server name to verify').env('TEMPORAL_TLS_SERVER_NAME'))
    .addOption(new Option('--api-key-file <file>', 'file holding a Temporal API key').env('TEMPORAL_API_KEY_FILE'))
    .addOption(new Option('--codec-key-file <file>', 'payload encryption keys (JSON)').env('TRANSIT_CODEC_KEY_FILE'));
}

/** The Temporal client is loaded only by commands that talk to Temporal (keeps `transit --help` fast). */
export async function connectClient(flags: ConnectionFlags): Promise<TransitClient> {
  const { TransitClient: Client } = (require('../client') as typeof import('../client'));
  return Client.connect(flags);
}

/** Reads and validates a spec file; throws InvalidSpecError with one line per problem. */
export function readSpecFile(path: string): MigrationSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidSpecError([`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  const r = parseSpecText(text, path);
  if (!r.ok) throw new InvalidSpecError(r.problems);
  return r.spec;
}

/** Raw spec text parsed (not validated): what goes into the workflow input as the user wrote it. */
export function readSpecRaw(path: string): unknown {
  readSpecFile(path);
  const { parse } = require('yaml') as typeof import('yaml');
  return parse(readFileSync(path, 'utf8'));
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}
