/**
 * What Temporal stores, encoded: large payloads compressed (GzipCodec), then, with a key file, everything
 * encrypted (AesGcmCodec).
 *
 * Compression keeps a large cluster's shard plan under Temporal's payload limit (2 MB per payload by default:
 * at 100,000 shards the readShardPlan result is 2.1–2.2 MB as JSON and 0.28 MB gzipped; the continue-as-new
 * state, which carries two plans, 4.6 MB and 0.56 MB). Only payloads of COMPRESS_FROM_BYTES and more are compressed, so the Web UI shows every
 * ordinary payload (spec, progress, step results) as plain JSON without a codec server.
 *
 * Encryption: an AES-256-GCM payload codec with the key id in each payload's metadata,
 * so keys can rotate (new payloads use the current key; old ones decrypt with theirs). Used by worker, CLI,
 * client and the codec server alike. Search attributes are never encoded by Temporal: they hold nothing
 * sensitive by design (phase, cluster labels, deployment name).
 *
 * Key file (JSON; a mounted Secret in production): {"current": "2026-11", "keys": {"2026-11": "<base64 of 32 bytes>"}}.
 * Path from the option or TRANSIT_CODEC_KEY_FILE; without one, payloads are stored as plain JSON.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
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

export const GZIP_ENCODING = 'binary/gzip';
/** Payloads from this size (bytes of data) on are compressed: well under Temporal's 512 KB warning. */
export const COMPRESS_FROM_BYTES = 64 * 1024;

/**
 * Gzip of large payloads. The whole original Payload (its metadata too) is compressed, so decoding restores it
 * exactly; payloads below the threshold, and payloads written before this codec existed, pass through.
 */
export class GzipCodec implements PayloadCodec {
  constructor(private readonly fromBytes = COMPRESS_FROM_BYTES) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if ((p.data?.length ?? 0) < this.fromBytes) return p;
      const data = gzipSync(temporal.api.common.v1.Payload.encode(p).finish());
      return { metadata: { encoding: Buffer.from(GZIP_ENCODING) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (Buffer.from(p.metadata?.encoding ?? []).toString() !== GZIP_ENCODING) return p;
      try {
        return temporal.api.common.v1.Payload.decode(gunzipSync(Buffer.from(p.data ?? [])));
      } catch (e) {
        throw new Error(`a ${GZIP_ENCODING} payload does not decompress (${(e as Error).message}): it is damaged`);
      }
    });
  }
}

/** Codecs applied in order when encoding and in reverse when decoding, as the SDK chains payloadCodecs. */
export class CodecChain implements PayloadCodec {
  constructor(private readonly codecs: PayloadCodec[]) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    for (const c of this.codecs) payloads = await c.encode(payloads);
    return payloads;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    for (const c of [...this.codecs].reverse()) payloads = await c.decode(payloads);
    return payloads;
  }
}

/** The codecs of what Transit stores, in encoding order: compress first (ciphertext does not compress). */
export function storageCodecs(keys?: CodecKeys): PayloadCodec[] {
  return keys ? [new GzipCodec(), new AesGcmCodec(keys)] : [new GzipCodec()];
}

/**
 * The data converter for worker and client: large payloads compressed; with a key file, payloads are encrypted,
 * and failure messages and stack traces too (infrastructure errors often echo hostnames and paths).
 */
export async function dataConverter(opts: { keyFile?: string } = {}): Promise<DataConverter> {
  const keyFile = opts.keyFile ?? process.env.TRANSIT_CODEC_KEY_FILE;
  if (!keyFile) return { payloadCodecs: storageCodecs() };
  return {
    payloadCodecs: storageCodecs(loadCodecKeys(keyFile)),
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
