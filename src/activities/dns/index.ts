// DNS activities for the cutover: read, compare-and-set switch, propagation wait, rollback, TTL policy.
// createDnsActivities(deps) returns plain async functions, registered as Temporal activities by the worker
// (`activities: { ...createDnsActivities({ readSecret }) }`) and callable directly in unit tests.
// Inside an activity they heartbeat through @temporalio/activity and stop on its cancellation signal; outside
// one, `deps` supplies heartbeat/sleep/signal.
import { asyncLocalStorage, heartbeat as activityHeartbeat } from '@temporalio/activity';
import { DnsConfigError } from './errors';
import { authoritativeServers, typeFor, waitOutTtl, waitUntilAll, type ServerTiming } from './propagation';
import { secretReader } from '../credentials';
import { externalDnsProvider, type WorkerKubeConfig } from './external-dns';
import { Rfc2136Provider } from './rfc2136';
import { fqdn, normalizeValues, sameValues, type DnsSpec } from './spec';
import { defaultTools, throwIfAborted, type ToolPaths } from './tools';
import type { SecretReader } from './tsig';
import type { CallContext, DnsProvider, DnsRecord } from './types';
import type { MigrationSpec } from '../../spec/schema';

export * from './errors';
export type { DnsSpec, DnsRecordType, TsigKeyRef, TsigKeyFileRef, TsigKeySecretRef } from './spec';
export type { DnsRecord, DnsProvider, SetResult, CallContext } from './types';
export type { SecretReader } from './tsig';
export type { ServerView, ServerTiming } from './propagation';
export { authoritativeServers } from './propagation';
export { externalDnsProvider, endpointObjectName } from './external-dns';
export type { WorkerKubeConfig, DnsEndpointSpec } from './external-dns';

export interface DnsActivityDeps {
  /**
   * The worker's kubeconfig: used by the external-dns provider (default: KUBECONFIG / ~/.kube/config) and,
   * when given, to read tsigKey.secret.
   */
  kubeConfig?: WorkerKubeConfig;
  /** Reads a Kubernetes Secret key (for tsigKey.secret); default: through kubeConfig when that is given. */
  readSecret?: SecretReader;
  /** Overrides for use outside an activity (unit tests); inside one, the activity context provides them. */
  heartbeat?: (details: unknown) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  now?: () => number;
  tools?: Partial<ToolPaths>;
  /** Per DNS query/update (default 3000 ms). */
  queryTimeoutMs?: number;
  /** Between propagation polls (default 500 ms). */
  pollIntervalMs?: number;
  /** Port of the servers found through the zone's NS records (default 53). */
  nameServerPort?: number;
  /** Provider factories, replacing the built-in ones (tests, or other providers). */
  providers?: Partial<Record<DnsSpec['provider'], (dns: DnsSpec, ctx: CallContext) => DnsProvider>>;
}

export interface SwitchInput {
  dns: DnsSpec;
  /** Values the record must hold now (empty: the record must not exist). */
  from: string[];
  to: string[];
  /** TTL to write; default: keep the record's current TTL. */
  ttl?: number;
}

export interface SwitchResult {
  changed: boolean;
  record: DnsRecord;
  /** Epoch ms when the primary accepted the change (or when the retry found it done): pass to waitForPropagation. */
  switchedAt: number;
}

export interface PropagationInput {
  dns: DnsSpec;
  values: string[];
  /** TTL (s) of the old answer that resolvers may still cache. */
  oldTtl: number;
  /** Epoch ms of the switch (SwitchResult.switchedAt); default: when the wait starts. */
  switchedAt?: number;
  /** Give up (retryable) when not all servers answer after this long; default: wait until cancelled. */
  timeoutMs?: number;
}

export interface PropagationResult {
  servers: ServerTiming[];
  /** Switch → every authoritative server answered the new values. */
  propagatedMs: number;
  /** Time spent waiting out the old TTL afterwards. */
  ttlWaitMs: number;
  totalMs: number;
}

export interface LowerTtlResult {
  record: DnsRecord;
  /** The TTL that was in force before (resolvers may cache it): waited out. */
  previousTtl: number;
  changed: boolean;
  propagatedMs: number;
  ttlWaitMs: number;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      throwIfAborted(signal);
    } catch (e) {
      return reject(e);
    }
    const onAbort = () => {
      clearTimeout(t);
      try {
        throwIfAborted(signal);
      } catch (e) {
        reject(e);
      }
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

type ProviderFactory = (dns: DnsSpec, ctx: CallContext) => DnsProvider;

/**
 * Every DNS provider, by spec.dns.provider: the one place a provider is registered. Keyed by the spec
 * schema's provider enum, so a provider named there without a factory here (or the reverse) does not compile.
 */
export const DNS_PROVIDERS: {
  readonly [P in MigrationSpec['dns']['provider']]: (deps: DnsActivityDeps) => ProviderFactory;
} = {
  rfc2136: () => (dns, ctx) => new Rfc2136Provider(dns, ctx),
  'external-dns': (deps) => externalDnsProvider(deps.kubeConfig),
};

export function createDnsActivities(deps: DnsActivityDeps = {}) {
  const context = (): CallContext => {
    const act = asyncLocalStorage.getStore(); // the Temporal activity Context, when running as one
    const signal = deps.signal ?? act?.cancellationSignal;
    return {
      tools: { ...defaultTools, ...deps.tools },
      queryTimeoutMs: deps.queryTimeoutMs ?? 3_000,
      pollIntervalMs: deps.pollIntervalMs ?? 500,
      signal,
      heartbeat: deps.heartbeat ?? (act ? (d) => activityHeartbeat(d) : () => undefined),
      sleep: (ms) => (deps.sleep ? deps.sleep(ms, signal) : abortableSleep(ms, signal)),
      now: deps.now ?? Date.now,
      readSecret,
      nameServerPort: deps.nameServerPort,
    };
  };
  // tsigKey.secret through the one credentials reader (src/activities/credentials.ts), redacted like every credential.
  const readSecret =
    deps.readSecret ?? (deps.kubeConfig ? secretReader({ loadKubeConfig: deps.kubeConfig }) : undefined);
  const providers: Partial<Record<string, ProviderFactory>> = {
    ...Object.fromEntries(Object.entries(DNS_PROVIDERS).map(([name, make]) => [name, make(deps)])),
    ...deps.providers,
  };
  const provider = (dns: DnsSpec, ctx: CallContext): DnsProvider => {
    const make = providers[dns.provider];
    if (!make) {
      throw new DnsConfigError(
        `DNS provider ${dns.provider} is not available on this worker (it knows ${Object.keys(providers).join(', ')}): register it in DNS_PROVIDERS (src/activities/dns/index.ts)`,
      );
    }
    return make(dns, ctx);
  };

  async function readRecord(input: { dns: DnsSpec }): Promise<DnsRecord> {
    return provider(input.dns, context()).read();
  }

  /** Compare-and-set from → to. A retry after success is a no-op; any other current value is a DnsConflictError. */
  async function switchRecord(input: SwitchInput): Promise<SwitchResult> {
    const ctx = context();
    const r = await provider(input.dns, ctx).compareAndSet(input.from, input.to, input.ttl);
    return { ...r, switchedAt: ctx.now() };
  }

  /** Rollback: compare-and-set back from the values Transit switched to (`from`) to the original ones (`to`). */
  async function restoreRecord(input: SwitchInput): Promise<SwitchResult> {
    return switchRecord(input);
  }

  /** Waits until every authoritative server answers exactly `values`, then waits out `oldTtl`. */
  async function waitForPropagation(input: PropagationInput): Promise<PropagationResult> {
    const ctx = context();
    const start = ctx.now();
    const since = input.switchedAt ?? start;
    const name = fqdn(input.dns.name);
    const type = typeFor(input.dns, input.values);
    const want = normalizeValues(type, input.values);
    const servers = await authoritativeServers(input.dns, ctx);
    const all = await waitUntilAll(ctx, servers, name, type, (r) => sameValues(type, r.values, want), {
      zone: fqdn(input.dns.zone),
      since,
      timeoutMs: input.timeoutMs,
      phase: 'servers',
      want,
    });
    const ttlWaitMs = await waitOutTtl(ctx, input.oldTtl, name);
    return { servers: all.servers, propagatedMs: all.allAt - since, ttlWaitMs, totalMs: ctx.now() - since };
  }

  /**
   * TTL policy, ahead of the cutover: lower the record's TTL (same values, compare-and-set), wait until every
   * authoritative server answers the low TTL, then wait out the previous TTL, so that no resolver still caches
   * an answer longer than the low TTL when the switch happens.
   */
  async function lowerTtl(input: { dns: DnsSpec; ttl?: number; timeoutMs?: number }): Promise<LowerTtlResult> {
    const ctx = context();
    const p = provider(input.dns, ctx);
    const target = input.ttl ?? input.dns.lowerTtl;
    if (target === undefined) throw new DnsConfigError('lowerTtl needs spec.dns.lowerTtl (seconds) or an explicit ttl');
    const before = await p.read();
    if (!before.values.length) {
      throw new DnsConfigError(
        `${before.name} ${before.type} does not exist at the zone's primary: create it before the cutover, or fix spec.dns.name`,
      );
    }
    // A retry after the TTL was already lowered cannot see the old TTL any more: wait out the normal one.
    const previousTtl = before.ttl > target ? before.ttl : Math.max(input.dns.ttl, before.ttl);
    const set = await p.compareAndSet(before.values, before.values, target);
    const since = ctx.now();
    const servers = await authoritativeServers(input.dns, ctx);
    const all = await waitUntilAll(
      ctx,
      servers,
      before.name,
      before.type,
      (r) => sameValues(before.type, r.values, before.values) && r.ttl <= target,
      {
        zone: fqdn(input.dns.zone),
        since,
        timeoutMs: input.timeoutMs,
        phase: 'lower-ttl',
        want: { values: before.values, ttl: target },
      },
    );
    const ttlWaitMs = await waitOutTtl(ctx, previousTtl, before.name);
    return { record: set.record, previousTtl, changed: set.changed, propagatedMs: all.allAt - since, ttlWaitMs };
  }

  /** TTL policy, after the cutover: back to spec.dns.ttl (or `ttl`), same values, compare-and-set. */
  async function restoreTtl(input: { dns: DnsSpec; ttl?: number }): Promise<SwitchResult> {
    const ctx = context();
    const p = provider(input.dns, ctx);
    const now = await p.read();
    if (!now.values.length) {
      throw new DnsConfigError(
        `${now.name} ${now.type} does not exist, so its TTL cannot be restored: check spec.dns.name and who removed the record`,
      );
    }
    const r = await p.compareAndSet(now.values, now.values, input.ttl ?? input.dns.ttl);
    return { ...r, switchedAt: ctx.now() };
  }

  return { readRecord, switchRecord, restoreRecord, waitForPropagation, lowerTtl, restoreTtl };
}
