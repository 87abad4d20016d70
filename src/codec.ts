/**
 * Encryption of what Temporal stores: an AES-256-GCM payload codec with the key id in each payload's metadata,
 * so keys can rotate (new payloads use the current key; old ones decrypt with theirs). Used by worker, CLI,
 * client and the codec server alike. Search attributes are never encoded by Temporal: they hold nothing
 * sensitive by design (phase, cluster labels, deployment name).
 *
 * Key file (JSON; a mounted Secret in production): {"current": "2026-11", "keys": {"2026-11": "<base64 of 32 bytes>"}}.
 * Path from the option or TRANSIT_CODEC_KEY_FILE; without one, payloads are stored as plain JSON.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { registerSecret } from './observability';

export const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const CIPHER = 'encryption-cipher';

export interface CodecKeys {
  current: string;
  keys: Record<string, Buffer>;
}

export function loadCodecKeys(path: string): CodecKeys {
  let raw: { current?: unknown; keys?: Record<string, unknown> };
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the codec key file ${path}: ${(e as Error).message}`);
  }
  const keys: Record<string, Buffer> = {};
  for (const [id, v] of Object.entries(raw.keys ?? {})) {
    const b = Buffer.from(String(v), 'base64');
    if (b.length !== 32) throw new Error(`codec key "${id}" in ${path} must be 32 bytes (base64), got ${b.length}`);
    keys[id] = b;
    // Never written to a log line, whatever echoes it.
    registerSecret(String(v));
  }
  const current = typeof raw.current === 'string' || typeof raw.current === 'number' ? String(raw.current) : '';
  if (!keys[current])
    throw new Error(
      `codec key file ${path}: "current" must name one of its keys (${Object.keys(keys).join(', ') || 'none'})`,
    );
  return { current, keys };
}

export class AesGcmCodec implements PayloadCodec {
  constructor(private readonly k: CodecKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.k.keys[this.k.current]!, iv);
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          encoding: Buffer.from(ENCODING),
          [KEY_ID]: Buffer.from(this.k.current),
          [CIPHER]: Buffer.from('AES-256-GCM'),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (Buffer.from(p.metadata?.encoding ?? []).toString() !== ENCODING) return p;
      const id = Buffer.from(p.metadata?.[KEY_ID] ?? []).toString();
      const key = this.k.keys[id];
      if (!key)
        throw new Error(
          `no codec key "${id}" to decrypt this payload: add it to the key file (keys rotate; old ids must stay)`,
        );
      const data = Buffer.from(p.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(data.length - 16));
      const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/**
 * The data converter for worker and client: with a key file, payloads are encrypted and failure messages and
 * stack traces too (infrastructure errors often echo hostnames and paths).
 */
export async function dataConverter(opts: { keyFile?: string } = {}): Promise<DataConverter> {
  const keyFile = opts.keyFile ?? process.env.TRANSIT_CODEC_KEY_FILE;
  if (!keyFile) return {};
  return {
    payloadCodecs: [new AesGcmCodec(loadCodecKeys(keyFile))],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
