// The `dns` section of the migration spec, as the DNS activities read it. It carries references only
// (a key file path or a Kubernetes Secret reference), never key material: the activities read the key at run
// time, so no secret travels through workflow arguments or history.
import type { DnsRecordType, DnsSpec, TsigKeyRef } from '../../spec/schema';
import { DnsConfigError } from './errors';

// The types are the schema's (src/spec/schema.ts): one definition of the spec.
export type { DnsRecordType, DnsSpec, TsigKeyRef };
/** A TSIG key in a file: BIND key-file text (`tsig-keygen` output), or a bare base64 secret with `name`. */
export type TsigKeyFileRef = Extract<TsigKeyRef, { file: string }>;
/** A TSIG key in a Kubernetes Secret: `data[key]` holds BIND key-file text (`tsig-keygen` output). */
export type TsigKeySecretRef = Extract<TsigKeyRef, { secret: unknown }>;

export function fqdn(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

/** Canonical text of one value, so that what the user wrote compares equal to what a server answers. */
export function normalizeValue(type: string, value: string): string {
  const v = value.trim();
  if (type === 'CNAME') return fqdn(v);
  return v;
}

export function normalizeValues(type: string, values: readonly string[]): string[] {
  return [...new Set(values.map((v) => normalizeValue(type, v)))].sort();
}

export function sameValues(type: string, a: readonly string[], b: readonly string[]): boolean {
  const x = normalizeValues(type, a);
  const y = normalizeValues(type, b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export interface ServerAddr {
  host: string;
  port: number;
  /** As written, for messages. */
  text: string;
}

/** 'ip', 'ip:port', '[v6]:port' or 'host:port'. */
export function parseServer(text: string, defaultPort = 53): ServerAddr {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || !m[1] || !(port > 0 && port < 65536)) {
    throw new DnsConfigError(`spec.dns: server "${text}" is not 'ip:port' (IPv6: '[addr]:port'): fix servers/primary`);
  }
  return { host: m[1], port, text };
}
