// Loads the TSIG key named by the spec's reference, at activity run time. Key material stays inside the activity:
// it is handed to nsupdate on stdin (never on the command line, where `ps` would show it) and is scrubbed from
// any tool output before that output reaches an error message.
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { DnsConfigError } from './errors';
import type { TsigKeyRef, TsigKeySecretRef } from './spec';

export interface TsigKey {
  name: string;
  algorithm: string;
  secret: string;
  /** Where it came from, for messages (a path or secret ref, never the material). */
  source: string;
}

/** Reads one key of a Kubernetes Secret (decoded). Injected: the DNS activities do not own a kube client. */
export type SecretReader = (ref: TsigKeySecretRef['secret']) => Promise<string>;

const ALGORITHMS = new Set(['hmac-md5', 'hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512']);

/** Parses BIND key-file text: `key "name" { algorithm hmac-sha256; secret "base64"; };` (one or more keys). */
export function parseKeyText(text: string): Array<{ name: string; algorithm: string; secret: string }> {
  const clean = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)(#|\/\/).*$/gm, '$1');
  const keys: Array<{ name: string; algorithm: string; secret: string }> = [];
  for (const m of clean.matchAll(/\bkey\s+"?([^"\s{]+)"?\s*\{([^}]*)\}/g)) {
    const body = m[2]!;
    const algorithm = /\balgorithm\s+"?([\w.-]+)"?\s*;/.exec(body)?.[1];
    const secret = /\bsecret\s+"([^"]+)"\s*;/.exec(body)?.[1];
    if (algorithm && secret) keys.push({ name: m[1]!.replace(/\.$/, ''), algorithm: algorithm.toLowerCase(), secret });
  }
  return keys;
}

export async function loadTsigKey(
  ref: TsigKeyRef | undefined,
  readSecret?: SecretReader,
): Promise<TsigKey | undefined> {
  if (!ref) return undefined;
  let text: string;
  let source: string;
  let wantName: string | undefined;
  let algorithm: string | undefined;
  if ('file' in ref) {
    source = `key file ${ref.file} (spec.dns.tsigKey.file)`;
    wantName = ref.name;
    algorithm = ref.algorithm;
    try {
      text = await readFile(ref.file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new DnsConfigError(
        `cannot read the TSIG ${source}: ${code}; mount the key file on the worker or fix the path`,
        e as Error,
      );
    }
  } else if ('secret' in ref) {
    const s = ref.secret;
    source = `Secret ${s.namespace ?? '(namespace not resolved)'}/${s.name} key ${s.key}${s.context ? ` in context ${s.context}` : ''} (spec.dns.tsigKey.secret)`;
    if (!readSecret) {
      throw new DnsConfigError(
        `the TSIG key is a ${source}, but this worker has no Kubernetes secret reader: register the DNS activities with readSecret, or use tsigKey.file`,
      );
    }
    try {
      text = await readSecret(s);
    } catch (e) {
      // The credentials reader's failures already say what to fix, and whether a retry can help.
      if (e instanceof ApplicationFailure) throw e;
      throw new DnsConfigError(
        `cannot read the TSIG ${source}: ${(e as Error).message}; create the Secret or fix the reference`,
        e as Error,
      );
    }
  } else {
    throw new DnsConfigError(
      'spec.dns.tsigKey must be { file, name?, algorithm? } or { secret: { name, key, namespace?, context? } }',
    );
  }

  const keys = parseKeyText(text);
  let key: { name: string; algorithm: string; secret: string } | undefined;
  if (keys.length > 0) {
    key = wantName ? keys.find((k) => k.name === wantName.replace(/\.$/, '')) : keys[0];
    if (!key) {
      throw new DnsConfigError(
        `the TSIG ${source} has no key named ${wantName} (it has ${keys.map((k) => k.name).join(', ')}): fix tsigKey.name`,
      );
    }
  } else {
    // A bare base64 secret: name and algorithm come from the spec.
    const secret = text.trim();
    if (!wantName || !/^[A-Za-z0-9+/]+=*$/.test(secret)) {
      throw new DnsConfigError(
        `the TSIG ${source} holds neither a BIND key clause (tsig-keygen output) nor a bare base64 secret with tsigKey.name set: fix the key or the spec`,
      );
    }
    key = { name: wantName, algorithm: algorithm ?? 'hmac-sha256', secret };
  }
  if (algorithm && algorithm.toLowerCase() !== key.algorithm && keys.length > 0) {
    throw new DnsConfigError(
      `the TSIG ${source} says algorithm ${key.algorithm}, the spec says ${algorithm}: make them agree`,
    );
  }
  if (!ALGORITHMS.has(key.algorithm)) {
    throw new DnsConfigError(
      `TSIG algorithm ${key.algorithm} of key ${key.name} is not supported: use one of ${[...ALGORITHMS].join(', ')}`,
    );
  }
  return { ...key, source };
}

/** Removes key material from text that is about to be shown. */
export function scrub(text: string, key: TsigKey | undefined): string {
  return key ? text.split(key.secret).join('[secret]') : text;
}
