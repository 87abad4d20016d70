// Propagation: every authoritative server of the zone must answer the new RRset, then the old TTL must pass
// (resolvers may cache the old answer that long). Provider-independent: it only asks DNS.
import { isIPv4, isIPv6 } from 'node:net';
import { DnsAuthError, DnsConfigError, DnsUnavailableError } from './errors';
import { checkAuthoritative, recordFrom, resolveHost } from './rfc2136';
import { fqdn, parseServer, type DnsRecordType, type DnsSpec, type ServerAddr } from './spec';
import { digQuery, throwIfAborted } from './tools';
import type { CallContext, DnsRecord } from './types';

/** spec.servers, else the zone's NS records (asked of spec.primary or the worker's resolver), at port 53 (ctx.nameServerPort). */
export async function authoritativeServers(dns: DnsSpec, ctx: CallContext): Promise<ServerAddr[]> {
  if (dns.servers?.length) return dns.servers.map((s) => parseServer(s));
  const zone = fqdn(dns.zone);
  const via = dns.primary ? parseServer(dns.primary) : undefined;
  const ns = await digQuery(ctx.tools, via, zone, 'NS', ctx.queryTimeoutMs, ctx.signal);
  const names = ns.answer.filter((r) => r.type === 'NS').map((r) => r.data);
  if (!names.length) {
    throw new DnsConfigError(
      `zone ${zone} has no NS records at ${via?.text ?? 'the worker resolver'} (${ns.rcode}): list the servers in spec.dns.servers`,
    );
  }
  const out = new Map<string, ServerAddr>();
  for (const n of names.sort()) {
    for (const ip of await resolveHost(ctx, n, via)) {
      const s = parseServer(`${ip.includes(':') ? `[${ip}]` : ip}:${ctx.nameServerPort ?? 53}`);
      out.set(s.text, { ...s, text: `${s.text} (${n})` });
    }
  }
  return [...out.values()];
}

/**
 * The record type when the spec does not say (spec.dns.recordType, as the schema allows: A or CNAME): A for
 * IPv4 addresses, CNAME for one name. IPv6 addresses would need an AAAA record, which the schema does not offer.
 */
export function typeFor(dns: DnsSpec, values: string[]): DnsRecordType {
  if (dns.recordType) return dns.recordType;
  if (values.length > 0 && values.every((v) => isIPv4(v))) return 'A';
  if (values.some((v) => isIPv6(v))) {
    throw new DnsConfigError(
      `${dns.name}: IPv6 addresses (${values.join(', ')}) need an AAAA record, which Transit does not write: give the target coordinators an IPv4 address or a DNS name (CNAME)`,
    );
  }
  return 'CNAME';
}

export interface ServerView {
  server: string;
  /** matched: answers what we wait for; other: answers something else (e.g. the old values); unreachable: no answer. */
  state: 'matched' | 'other' | 'unreachable';
  values?: string[];
  ttl?: number;
  error?: string;
}

export interface ServerTiming {
  server: string;
  /** Milliseconds from the start mark (the switch) to this server's first matching answer. */
  answeredAfterMs: number;
}

/** Polls every server until all answer a record that `accept`s in the same round. Heartbeats each round. */
export async function waitUntilAll(
  ctx: CallContext,
  servers: ServerAddr[],
  name: string,
  type: DnsRecordType,
  accept: (r: DnsRecord) => boolean,
  opts: { zone: string; since: number; timeoutMs?: number; phase: string; want: unknown },
): Promise<{ servers: ServerTiming[]; allAt: number }> {
  const first = new Map<string, number>();
  const started = ctx.now();
  for (;;) {
    throwIfAborted(ctx.signal);
    const views: ServerView[] = await Promise.all(
      servers.map(async (s): Promise<ServerView> => {
        try {
          const a = await digQuery(ctx.tools, s, name, type, ctx.queryTimeoutMs, ctx.signal);
          checkAuthoritative(a, s, opts.zone, name);
          const rec = recordFrom(a, name, type);
          const ok = accept(rec);
          if (ok && !first.has(s.text)) first.set(s.text, ctx.now());
          return { server: s.text, state: ok ? 'matched' : 'other', values: rec.values, ttl: rec.ttl };
        } catch (e) {
          if (e instanceof DnsAuthError) {
            throw new DnsAuthError(
              `${e.message} - it was asked because it is listed as authoritative (spec.dns.servers or NS)`,
              e.rcode,
              e,
            );
          }
          if (!(e instanceof DnsUnavailableError)) throw e;
          return { server: s.text, state: 'unreachable', error: e.message };
        }
      }),
    );
    const now = ctx.now();
    ctx.heartbeat({ phase: opts.phase, record: name, want: opts.want, elapsedMs: now - opts.since, servers: views });
    if (views.every((v) => v.state === 'matched')) {
      return {
        servers: servers.map((s) => ({ server: s.text, answeredAfterMs: first.get(s.text)! - opts.since })),
        allAt: now,
      };
    }
    if (opts.timeoutMs !== undefined && now - started > opts.timeoutMs) {
      const lagging = views
        .filter((v) => v.state !== 'matched')
        .map((v) => `${v.server}: ${v.state === 'other' ? `[${v.values?.join(', ')}] ttl ${v.ttl}` : v.error}`);
      throw new DnsUnavailableError(
        `${name} ${type} has not propagated after ${opts.timeoutMs} ms; still lagging: ${lagging.join('; ')} - check zone transfers (NOTIFY, allow-transfer) to these servers`,
        lagging.join('; '),
      );
    }
    await ctx.sleep(ctx.pollIntervalMs);
  }
}

/** Sleeps out a TTL in slices, heartbeating the remaining time. */
export async function waitOutTtl(ctx: CallContext, ttlSeconds: number, record: string): Promise<number> {
  const start = ctx.now();
  const end = start + ttlSeconds * 1000;
  for (let now = start; now < end; now = ctx.now()) {
    ctx.heartbeat({ phase: 'ttl', record, remainingMs: end - now });
    await ctx.sleep(Math.min(end - now, Math.max(ctx.pollIntervalMs, 1000)));
  }
  return ctx.now() - start;
}
