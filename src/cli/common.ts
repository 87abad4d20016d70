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
