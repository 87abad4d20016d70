// The rfc2136 provider: reads from the zone's primary and changes the record with one TSIG-signed RFC 2136
// UPDATE whose prerequisites make it a compare-and-set.
import { DnsAuthError, DnsConfigError, DnsConflictError, DnsUnavailableError } from './errors';
import {
  fqdn,
  normalizeValues,
  parseServer,
  sameValues,
  type DnsRecordType,
  type DnsSpec,
  type ServerAddr,
} from './spec';
import { loadTsigKey, scrub, type TsigKey } from './tsig';
import { digQuery, nsupdate, type DnsAnswer } from './tools';
import type { CallContext, DnsProvider, DnsRecord, SetResult } from './types';

/** Resolves a server's host name to an address, asking `via` first (glue in the zone), then the worker's resolver. */
export async function resolveHost(ctx: CallContext, host: string, via: ServerAddr | undefined): Promise<string[]> {
  if (/^[\d.]+$/.test(host) || host.includes(':')) return [host];
  for (const server of via ? [via, undefined] : [undefined]) {
    try {
      const a = await digQuery(ctx.tools, server, fqdn(host), 'A', ctx.queryTimeoutMs, ctx.signal);
      const ips = a.answer.filter((r) => r.type === 'A').map((r) => r.data);
      if (ips.length) return ips;
    } catch (e) {
      if (!(e instanceof DnsUnavailableError)) throw e;
    }
  }
  throw new DnsConfigError(`cannot resolve DNS server name ${host}: set spec.dns.primary/servers to 'ip:port'`);
}

/** spec.primary, else the zone's SOA MNAME (asked of the listed servers or the worker's resolver). */
export async function primaryOf(dns: DnsSpec, ctx: CallContext): Promise<ServerAddr> {
  if (dns.primary) return parseServer(dns.primary);
  const zone = fqdn(dns.zone);
  const via = dns.servers?.[0] ? parseServer(dns.servers[0]) : undefined;
  const soa = await digQuery(ctx.tools, via, zone, 'SOA', ctx.queryTimeoutMs, ctx.signal);
  const mname = soa.answer.find((r) => r.type === 'SOA')?.data.split(/\s+/)[0];
  if (!mname) {
    throw new DnsConfigError(
      `zone ${zone} has no SOA record at ${via?.text ?? 'the worker resolver'} (${soa.rcode}): set spec.dns.primary to 'ip:port' of its primary`,
    );
  }
  const [ip] = await resolveHost(ctx, mname, via);
  return parseServer(`${ip!.includes(':') ? `[${ip}]` : ip}:${ctx.nameServerPort ?? 53}`);
}

export function checkAuthoritative(a: DnsAnswer, server: ServerAddr, zone: string, name: string): void {
  if (a.rcode === 'SERVFAIL') {
    throw new DnsUnavailableError(
      `DNS server ${server.text} answered SERVFAIL for ${name} (zone ${zone} not loaded?); it is retried`,
      server.text,
    );
  }
  if (
    a.rcode === 'REFUSED' ||
    a.rcode === 'NOTAUTH' ||
    (a.rcode === 'NOERROR' && !a.aa) ||
    (a.rcode === 'NXDOMAIN' && !a.aa)
  ) {
    throw new DnsAuthError(
      `DNS server ${server.text} is not authoritative for zone ${zone} (${a.rcode}${a.aa ? '' : ', no AA flag'}): point spec.dns.primary/servers at the zone's own servers`,
      a.rcode,
    );
  }
  if (a.rcode !== 'NOERROR' && a.rcode !== 'NXDOMAIN') {
    throw new DnsUnavailableError(
      `DNS server ${server.text} answered ${a.rcode} for ${name}; it is retried`,
      server.text,
    );
  }
}

/** The RRset of `name` in an authoritative answer; type detected (CNAME vs A) when not given. */
export function recordFrom(a: DnsAnswer, name: string, type: DnsRecordType | undefined): DnsRecord {
  const own = a.answer.filter((r) => r.name === name);
  const t: DnsRecordType = type ?? (own.some((r) => r.type === 'CNAME') ? 'CNAME' : 'A');
  const rrs = own.filter((r) => r.type === t);
  return {
    name,
    type: t,
    values: normalizeValues(
      t,
      rrs.map((r) => r.data),
    ),
    ttl: rrs.length ? Math.min(...rrs.map((r) => r.ttl)) : 0,
  };
}

export class Rfc2136Provider implements DnsProvider {
  private key?: Promise<TsigKey | undefined>;
  private primary?: Promise<ServerAddr>;
  private readonly name: string;
  private readonly zone: string;

  constructor(
    private readonly dns: DnsSpec,
    private readonly ctx: CallContext,
  ) {
    this.name = fqdn(dns.name);
    this.zone = fqdn(dns.zone);
  }

  private getPrimary(): Promise<ServerAddr> {
    return (this.primary ??= primaryOf(this.dns, this.ctx));
  }

  async read(): Promise<DnsRecord> {
    const server = await this.getPrimary();
    const a = await digQuery(
      this.ctx.tools,
      server,
      this.name,
      this.dns.recordType ?? 'A',
      this.ctx.queryTimeoutMs,
      this.ctx.signal,
    );
    checkAuthoritative(a, server, this.zone, this.name);
    return recordFrom(a, this.name, this.dns.recordType);
  }

  async compareAndSet(from: string[], to: string[], ttl: number | undefined): Promise<SetResult> {
    const before = await this.read();
    const type = before.type;
    const want = normalizeValues(type, to);
    const expect = normalizeValues(type, from);
    if (want.length === 0)
      throw new DnsConfigError(`refusing to empty ${this.name} ${type}: give at least one new value`);
    if (type === 'CNAME' && want.length > 1)
      throw new DnsConfigError(`${this.name} is a CNAME and takes one value, got ${want.join(', ')}`);
    const newTtl = ttl ?? (before.values.length ? before.ttl : this.dns.ttl);
    // Already there (a retry after success): nothing to send.
    if (sameValues(type, before.values, want) && before.ttl === newTtl) return { changed: false, record: before };

    const server = await this.getPrimary();
    const key = await (this.key ??= loadTsigKey(this.dns.tsigKey, this.ctx.readSecret));
    const prereq = expect.length
      ? expect.map((v) => `prereq yxrrset ${this.name} ${type} ${v}`)
      : [`prereq nxrrset ${this.name} ${type}`];
    const lines = [
      ...prereq,
      `update delete ${this.name} ${type}`,
      ...want.map((v) => `update add ${this.name} ${newTtl} ${type} ${v}`),
    ];
    for (let attempt = 0; attempt < 3; attempt++) {
      const out = await nsupdate(
        this.ctx.tools,
        server,
        this.zone,
        key,
        lines,
        this.ctx.queryTimeoutMs,
        this.ctx.signal,
      );
      if (out.status === 'ok') {
        return { changed: true, record: { name: this.name, type, values: want, ttl: newTtl } };
      }
      if (out.status === 'rcode' && ['NXRRSET', 'YXRRSET', 'NXDOMAIN', 'YXDOMAIN'].includes(out.rcode)) {
        // The prerequisite failed: the RRset is not `from`. Either our earlier try already wrote `to`, or someone
        // else changed it - never overwrite that.
        const now = await this.read();
        if (sameValues(type, now.values, want)) return { changed: false, record: now };
        if (sameValues(type, now.values, expect)) continue; // changed and changed back meanwhile: try again
        throw new DnsConflictError(`${this.name} ${type}`, expect, now.values, want);
      }
      throw this.updateError(out, server, key);
    }
    throw new DnsUnavailableError(
      `the record ${this.name} kept changing while Transit tried to update it; it is retried`,
      server.text,
    );
  }

  private updateError(
    out: Exclude<Awaited<ReturnType<typeof nsupdate>>, { status: 'ok' }>,
    server: ServerAddr,
    key: TsigKey | undefined,
  ): Error {
    const detail = scrub(out.text, key).split('\n').filter(Boolean).slice(-3).join('; ');
    const cause = new Error(`nsupdate: ${detail}`);
    const keyText = key
      ? `TSIG key ${key.name} (${key.algorithm}, from ${key.source})`
      : 'no TSIG key (spec.dns.tsigKey is unset)';
    const z = `zone ${this.zone} on ${server.text}`;
    if (out.status === 'unreachable') {
      return new DnsUnavailableError(
        `cannot reach the primary ${server.text} of zone ${this.zone} to update ${this.name} (${detail}); it is retried - check that it runs and is reachable`,
        server.text,
        cause,
      );
    }
    if (out.status === 'invalid') {
      return new DnsConfigError(
        `nsupdate rejected the update of ${this.name} in zone ${this.zone}: ${detail} - fix the values or the TSIG key`,
        cause,
      );
    }
    switch (out.tsig ?? out.rcode) {
      case 'BADSIG':
        return new DnsAuthError(
          `${z} rejected the signature of ${keyText} (BADSIG): the secret differs from the server's key of that name - install the matching key`,
          'BADSIG',
          cause,
        );
      case 'BADKEY':
        return new DnsAuthError(
          `${z} does not know ${keyText} (BADKEY): add the key to the server, or fix the key name/algorithm in the spec`,
          'BADKEY',
          cause,
        );
      case 'BADTIME':
        return new DnsAuthError(
          `${z} rejected ${keyText} because the clocks differ (BADTIME): synchronise the worker's and the server's clocks`,
          'BADTIME',
          cause,
        );
      case 'REFUSED':
        return new DnsAuthError(
          `${z} REFUSED the update of ${this.name} signed with ${keyText}: grant the key update rights on the zone's primary (allow-update { key ...; } or update-policy), and check that spec.dns.primary is the primary, not a secondary`,
          'REFUSED',
          cause,
        );
      case 'NOTAUTH':
        return new DnsAuthError(
          `${z} is not authoritative for the zone (NOTAUTH) when updating with ${keyText}: set spec.dns.primary to the zone's primary, or fix spec.dns.zone`,
          'NOTAUTH',
          cause,
        );
      case 'NOTZONE':
        return new DnsConfigError(
          `${this.name} is not inside zone ${this.zone} (NOTZONE): fix spec.dns.name or spec.dns.zone`,
          cause,
        );
      case 'FORMERR':
      case 'NOTIMP':
        return new DnsConfigError(
          `${z} does not accept RFC 2136 updates (${out.rcode}): use a server with dynamic update, or the external-dns provider`,
          cause,
        );
      default:
        return new DnsUnavailableError(
          `${z} answered ${out.rcode} to the update of ${this.name}; it is retried`,
          server.text,
          cause,
        );
    }
  }
}
