// The `dns` section of the migration spec, as the DNS activities read it. It carries references only
// (a key file path or a Kubernetes Secret reference), never key material: the activities read the key at run
// time, so no secret travels through workflow arguments or history.
import { DnsConfigError } from './errors';

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME';

/** TSIG key in a file: BIND key-file text (`tsig-keygen` output), or a bare base64 secret with `name`. */
export interface TsigKeyFileRef {
  file: string;
  /** Key name; required for a bare-secret file, otherwise checked against the file. */
  name?: string;
  /** HMAC algorithm, e.g. 'hmac-sha256' (the default for a bare-secret file). */
  algorithm?: string;
}

/** TSIG key in a Kubernetes Secret: `data[key]` holds BIND key-file text (`tsig-keygen` output). */
export interface TsigKeySecretRef {
  secret: { name: string; key: string; namespace?: string; context?: string };
}

export type TsigKeyRef = TsigKeyFileRef | TsigKeySecretRef;

export interface DnsSpec {
  provider: 'rfc2136' | 'external-dns';
  /** FQDN of the client-facing record. */
  name: string;
  zone: string;
  /** TTL in normal operation: `restoreTtl` returns the record to it; a switch that creates the record uses it. */
  ttl: number;
  /** Record type; default: CNAME when the name holds a CNAME, else A. */
  recordType?: DnsRecordType;
  /** 'ip:port' authoritative servers to check for propagation; default: the zone's NS records. */
  servers?: string[];
  /** 'ip:port' to send updates and authoritative reads to; default: the SOA MNAME. */
  primary?: string;
  /** Port for servers found through NS/SOA names (default 53). */
  port?: number;
  tsigKey?: TsigKeyRef;
  /** Optional policy: lower the TTL to this many seconds ahead of the cutover, restore it afterwards. */
  lowerTtl?: number;
  externalDns?: { context: string; namespace: string; name?: string };
}

export function fqdn(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

/** Canonical text of one value, so that what the user wrote compares equal to what a server answers. */
export function normalizeValue(type: string, value: string): string {
  const v = value.trim();
  if (type === 'CNAME') return fqdn(v);
  if (type === 'AAAA') {
    try {
      return new URL(`http://[${v}]/`).hostname.slice(1, -1);
    } catch {
      return v.toLowerCase();
    }
  }
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

/** Checks the fields the activities rely on; the full schema lives in src/spec/. */
export function checkDnsSpec(dns: DnsSpec): void {
  const bad = (what: string) => {
    throw new DnsConfigError(`spec.dns: ${what}`);
  };
  if (!dns || typeof dns !== 'object') bad('missing: add a dns section to the migration spec');
  if (dns.provider !== 'rfc2136' && dns.provider !== 'external-dns') {
    bad(`provider "${String(dns.provider)}" is not supported: use "rfc2136" or "external-dns"`);
  }
  if (!dns.name || !dns.zone) bad('name and zone are required (FQDNs)');
  const name = fqdn(dns.name);
  const zone = fqdn(dns.zone);
  if (name !== zone && !name.endsWith(`.${zone}`)) bad(`name ${name} is not inside zone ${zone}: fix name or zone`);
  if (!Number.isInteger(dns.ttl) || dns.ttl < 0) bad(`ttl must be a whole number of seconds, got ${dns.ttl}`);
  if (dns.lowerTtl !== undefined && (!Number.isInteger(dns.lowerTtl) || dns.lowerTtl < 0)) {
    bad(`lowerTtl must be a whole number of seconds, got ${dns.lowerTtl}`);
  }
  if (dns.recordType && !['A', 'AAAA', 'CNAME'].includes(dns.recordType)) {
    bad(`recordType ${dns.recordType} is not supported: use A, AAAA or CNAME`);
  }
  for (const s of [...(dns.servers ?? []), ...(dns.primary ? [dns.primary] : [])]) parseServer(s);
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
