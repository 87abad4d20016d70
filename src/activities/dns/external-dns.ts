// The external-dns provider: the record lives in a DNSEndpoint object (externaldns.k8s.io/v1alpha1) in the
// cluster named by spec.dns.externalDns.context; external-dns writes it to the DNS provider. Compare-and-set
// is the API server's optimistic concurrency: replace carries the resourceVersion it read, a 409 means
// someone wrote in between, so we read again and decide again (no-op, conflict, or retry).
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { workerKubeConfig } from '../credentials';
import { DnsAuthError, DnsConfigError, DnsConflictError, DnsUnavailableError } from './errors';
import { fqdn, normalizeValues, sameValues, type DnsRecordType, type DnsSpec } from './spec';
import { typeFor } from './propagation';
import { throwIfAborted } from './tools';
import type { CallContext, DnsProvider, DnsRecord, SetResult } from './types';

export interface DnsEndpointSpec {
  dnsName: string;
  recordType: string;
  targets: string[];
  recordTTL?: number;
  labels?: Record<string, string>;
  [k: string]: unknown;
}

interface DnsEndpointObject extends KubernetesObject {
  spec?: { endpoints?: DnsEndpointSpec[] };
}

/** The worker's own kubeconfig (the credentials module's loader; default: KUBECONFIG or ~/.kube/config). */
export type WorkerKubeConfig = ReturnType<typeof workerKubeConfig>;

function objectApi(
  load: WorkerKubeConfig,
  context: string | undefined,
  what: string,
): { api: KubernetesObjectApi; context: string } {
  const kc = load();
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context)) {
      throw new DnsConfigError(
        `${what}: kube context ${context} is not in the worker's kubeconfig (it has ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        }): fix the context name or the worker's KUBECONFIG`,
      );
    }
    kc.setCurrentContext(context);
  }
  return { api: KubernetesObjectApi.makeApiClient(kc), context: kc.getCurrentContext() };
}

function status(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/** Maps a Kubernetes API failure to the DNS error classes; `where` names context/namespace/object. */
function kubeError(e: unknown, where: string, verbs: string, notFound: string): Error {
  const code = status(e);
  const msg = (e as Error).message ?? String(e);
  const cause = e instanceof Error ? e : undefined;
  if (code === 401 || code === 403) {
    return new DnsAuthError(
      `${where}: the API server answered ${code}: grant the worker's user ${verbs} there (RBAC), or use another context`,
      String(code),
      cause,
    );
  }
  if (code === 404 || /Unrecognized API version and kind|not find the requested resource/i.test(msg)) {
    return new DnsConfigError(`${where}: not found (${msg.slice(0, 200)}): ${notFound}`, cause);
  }
  if (code === 422 || code === 400) {
    return new DnsConfigError(`${where}: the API server rejected the object (${code}): ${msg.slice(0, 300)}`, cause);
  }
  return new DnsUnavailableError(
    `${where}: Kubernetes API unavailable (${code ?? msg.slice(0, 200)}); it is retried`,
    where,
    cause,
  );
}

const CRD_HINT = 'install the external-dns DNSEndpoint CRD (externaldns.k8s.io/v1alpha1) and create the namespace';

export function endpointObjectName(dns: DnsSpec): string {
  if (dns.externalDns?.name) return dns.externalDns.name;
  const base = `transit-${fqdn(dns.name)
    .slice(0, -1)
    .replace(/[^a-z0-9-]+/g, '-')}`;
  return base.slice(0, 63).replace(/-+$/, '');
}

export class ExternalDnsProvider implements DnsProvider {
  private readonly name: string;
  private readonly dnsName: string;
  private readonly where: string;

  constructor(
    private readonly dns: DnsSpec,
    private readonly ctx: CallContext,
    private readonly load: WorkerKubeConfig,
  ) {
    if (!dns.externalDns?.context || !dns.externalDns.namespace) {
      throw new DnsConfigError('spec.dns.externalDns { context, namespace } is required for provider external-dns');
    }
    this.name = fqdn(dns.name);
    this.dnsName = this.name.slice(0, -1); // external-dns writes names without the trailing dot
    this.where = `DNSEndpoint ${dns.externalDns.namespace}/${endpointObjectName(dns)} in context ${dns.externalDns.context}`;
  }

  private api(): KubernetesObjectApi {
    return objectApi(this.load, this.dns.externalDns!.context, this.where).api;
  }

  private header(): DnsEndpointObject {
    return {
      apiVersion: 'externaldns.k8s.io/v1alpha1',
      kind: 'DNSEndpoint',
      metadata: { name: endpointObjectName(this.dns), namespace: this.dns.externalDns!.namespace },
    };
  }

  private async get(api: KubernetesObjectApi): Promise<DnsEndpointObject | undefined> {
    try {
      return await api.read<DnsEndpointObject>(this.header() as DnsEndpointObject & { metadata: { name: string } });
    } catch (e) {
      if (
        status(e) === 404 &&
        /dnsendpoints?\b.*not found|NotFound/i.test(JSON.stringify((e as { body?: unknown }).body ?? ''))
      )
        return undefined;
      throw kubeError(e, this.where, 'get on dnsendpoints.externaldns.k8s.io', CRD_HINT);
    }
  }

  private find(obj: DnsEndpointObject | undefined, type?: string): DnsEndpointSpec | undefined {
    return obj?.spec?.endpoints?.find((ep) => fqdn(ep.dnsName) === this.name && (!type || ep.recordType === type));
  }

  private toRecord(ep: DnsEndpointSpec | undefined, type: DnsRecordType): DnsRecord {
    return {
      name: this.name,
      type,
      values: normalizeValues(type, ep?.targets ?? []),
      ttl: ep ? (ep.recordTTL ?? 0) : 0,
    };
  }

  async read(): Promise<DnsRecord> {
    throwIfAborted(this.ctx.signal);
    const obj = await this.get(this.api());
    const ep = this.find(obj, this.dns.recordType);
    return this.toRecord(ep, (this.dns.recordType ?? ep?.recordType ?? 'A') as DnsRecordType);
  }

  async compareAndSet(from: string[], to: string[], ttl: number | undefined): Promise<SetResult> {
    const api = this.api();
    for (let attempt = 0; attempt < 5; attempt++) {
      throwIfAborted(this.ctx.signal);
      const obj = await this.get(api);
      const found = this.find(obj, this.dns.recordType);
      const type = (this.dns.recordType ?? found?.recordType ?? typeFor(this.dns, to)) as DnsRecordType;
      const cur = this.toRecord(found, type);
      const want = normalizeValues(type, to);
      const expect = normalizeValues(type, from);
      if (want.length === 0)
        throw new DnsConfigError(`refusing to empty ${this.name} ${type}: give at least one new value`);
      const newTtl = ttl ?? (found ? found.recordTTL : this.dns.ttl);
      if (sameValues(type, cur.values, want) && (ttl === undefined || cur.ttl === ttl))
        return { changed: false, record: cur };
      if (!sameValues(type, cur.values, expect))
        throw new DnsConflictError(`${this.name} ${type} (${this.where})`, expect, cur.values, want);
      const endpoint: DnsEndpointSpec = {
        ...found,
        dnsName: this.dnsName,
        recordType: type,
        targets: want,
        ...(newTtl !== undefined ? { recordTTL: newTtl } : {}),
      };
      const others = (obj?.spec?.endpoints ?? []).filter((ep) => ep !== found);
      const next: DnsEndpointObject = {
        ...(obj ?? this.header()),
        spec: { ...obj?.spec, endpoints: [...others, endpoint] },
      };
      try {
        // replace sends the resourceVersion we read: the API server refuses (409) if the object changed since.
        if (obj) await api.replace(next);
        else await api.create(next);
        return { changed: true, record: this.toRecord(endpoint, type) };
      } catch (e) {
        if (status(e) === 409) continue; // written by someone else meanwhile: read and decide again
        throw kubeError(e, this.where, `${obj ? 'update' : 'create'} on dnsendpoints.externaldns.k8s.io`, CRD_HINT);
      }
    }
    throw new DnsUnavailableError(
      `${this.where} kept changing while Transit tried to update it; it is retried`,
      this.where,
    );
  }
}

/** Provider factory for createDnsActivities({ providers: { 'external-dns': externalDnsProvider() } }). */
export function externalDnsProvider(
  load: WorkerKubeConfig = workerKubeConfig(),
): (dns: DnsSpec, ctx: CallContext) => DnsProvider {
  return (dns, ctx) => new ExternalDnsProvider(dns, ctx, load);
}
