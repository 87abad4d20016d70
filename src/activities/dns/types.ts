import type { DnsRecordType } from './spec';
import type { SecretReader } from './tsig';
import type { ToolPaths } from './tools';

export interface DnsRecord {
  /** FQDN with trailing dot. */
  name: string;
  type: DnsRecordType;
  /** Canonical, sorted; empty when the record does not exist. */
  values: string[];
  /** Seconds; 0 when the record does not exist. */
  ttl: number;
}

export interface SetResult {
  /** false: the record already held the new values (an idempotent retry) and nothing was sent. */
  changed: boolean;
  record: DnsRecord;
}

/**
 * Where the record is written. rfc2136: the zone's primary, via a TSIG-signed UPDATE with prerequisites.
 * external-dns: a DNSEndpoint object in a Kubernetes cluster, compare-and-set through its resourceVersion;
 * external-dns then writes the DNS provider, and propagation is checked on the zone's servers as for rfc2136.
 */
export interface DnsProvider {
  /** The record as its source of truth holds it now. */
  read(): Promise<DnsRecord>;
  /**
   * Replaces the RRset with `to` only while it holds exactly `from` (empty `from`: only while absent).
   * Holds `to` already → { changed: false }. Holds anything else → DnsConflictError, nothing written.
   * `ttl` undefined keeps the current TTL.
   */
  compareAndSet(from: string[], to: string[], ttl: number | undefined): Promise<SetResult>;
}

/** What one activity call works with: injected dependencies resolved against the activity context. */
export interface CallContext {
  tools: ToolPaths;
  queryTimeoutMs: number;
  pollIntervalMs: number;
  signal?: AbortSignal;
  heartbeat(details: unknown): void;
  sleep(ms: number): Promise<void>;
  now(): number;
  readSecret?: SecretReader;
  /** Port of the servers found through the zone's NS records (default 53; tests run BIND elsewhere). */
  nameServerPort?: number;
}
