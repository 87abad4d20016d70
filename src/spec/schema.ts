/**
 * The migration spec: one schema for types, validation and the exported JSON Schema.
 *
 * The spec is stored in workflow history forever, so it holds references to credentials (a file path or a
 * Kubernetes Secret name), never a password, token, key or JWT. Every object is strict: an unknown key is an
 * error, which also stops a credential value from slipping in under a made-up name.
 */
import { z } from 'zod';
import { resolveCredentialRefs } from './credentials';

const dnsLabel = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'expected a DNS label (lower-case letters, digits and "-", at most 63)',
  );
const nonEmpty = z.string().min(1, 'expected a non-empty string');
const fqdn = z
  .string()
  .regex(
    /^([a-zA-Z0-9_]([-a-zA-Z0-9_]{0,61}[a-zA-Z0-9])?\.)+$/,
    'expected a fully qualified domain name ending with "." (e.g. "db.example.com.")',
  );
const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected "host:port" (e.g. "10.0.0.53:53")');
const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'expected an IPv4 CIDR such as "10.10.0.0/16"');
const url = z.string().regex(/^https?:\/\/[^\s/]+(\/.*)?$/, 'expected an http:// or https:// URL');

/** A key of a Kubernetes Secret. Parsing fills in namespace and context (src/spec/credentials.ts). */
const SecretRef = z
  .object({
    name: dnsLabel.describe('Secret name'),
    key: nonEmpty.describe('key inside the Secret'),
    namespace: dnsLabel.optional().describe('default: the namespace of the side it belongs to'),
    context: nonEmpty.optional().describe('kube context holding the Secret; default: the source context'),
  })
  .strict();
export type SecretRef = z.infer<typeof SecretRef>;

/** Where a credential lives. Activities resolve it at run time; the value never enters workflow history. */
export const CredentialRef = z
  .union([
    z.object({ file: nonEmpty.describe('path readable by the worker') }).strict(),
    z.object({ secret: SecretRef }).strict(),
  ])
  .describe('a reference to a credential: {"file": path} or {"secret": {"name", "key"}} — never the value itself');
export type CredentialRef = z.infer<typeof CredentialRef>;

const ClusterSide = z
  .object({
    context: nonEmpty.describe('kube context name in the worker kubeconfig (or in `kubeconfig`)'),
    kubeconfig: CredentialRef.optional().describe('kubeconfig file or Secret; default: the worker kubeconfig'),
    region: nonEmpty.describe('region label, e.g. "eu"; used in the latency table'),
    namespace: dnsLabel.describe('namespace of the ArangoDB deployment in this cluster'),
  })
  .strict();
export type ClusterSide = z.infer<typeof ClusterSide>;

/**
 * One variant per network.mode; each mode's implementation is a BridgeMode in src/activities/kube/bridge-modes/,
 * registered in BRIDGE_MODES there (typed by this union: the two cannot drift).
 */
const Network = z.discriminatedUnion('mode', [
  z
    .object({
      mode: z.literal('clustermesh').describe('pods reach pod IPs directly; Pod CIDRs must not overlap'),
      clusterMesh: z
        .object({
          sourcePodCIDRs: z.array(cidr).optional().describe('default: read from the source Nodes'),
          targetPodCIDRs: z.array(cidr).optional().describe('default: read from the target Nodes'),
        })
        .strict()
        .optional(),
    })
    .strict(),
  z
    .object({
      mode: z.literal('loadbalancer').describe('one LoadBalancer Service per namespace, one port per member'),
      loadBalancer: z
        .object({
          serviceName: dnsLabel.optional().describe('default: "<deployment>-transit-bridge"'),
          annotations: z.record(z.string(), z.string()).optional().describe('cloud LB annotations'),
          sourceRanges: z.array(cidr).optional().describe('loadBalancerSourceRanges'),
          firstPort: z.number().int().min(1024).max(65000).optional().describe('default 30001'),
        })
        .strict()
        .optional(),
    })
    .strict(),
]);

/**
 * The DNS providers and the field of `dns` each one needs. Their implementations are registered in
 * DNS_PROVIDERS (src/activities/dns/index.ts), keyed by this table's names.
 */
const DNS_PROVIDERS = { rfc2136: 'tsigKey', 'external-dns': 'externalDns' } as const;
type DnsProviderName = keyof typeof DNS_PROVIDERS;

const Dns = z
  .object({
    provider: z.enum(Object.keys(DNS_PROVIDERS) as [DnsProviderName, ...DnsProviderName[]]),
    name: fqdn.describe('the client-facing record, e.g. "db.example.com."'),
    zone: fqdn.describe('the zone holding the record, e.g. "example.com."'),
    ttl: z.number().int().min(1).max(86400).describe('TTL of the record after the cutover, seconds'),
    recordType: z.enum(['A', 'CNAME']).optional().describe('default: CNAME when the name holds a CNAME now, else A'),
    servers: z.array(hostPort).optional().describe('authoritative servers to check; default: the zone NS records'),
    primary: hostPort.optional().describe('where updates go; default: the SOA MNAME'),
    tsigKey: z
      .union([
        z.object({ file: nonEmpty, name: nonEmpty.optional(), algorithm: nonEmpty.optional() }).strict(),
        z.object({ secret: SecretRef, name: nonEmpty.optional(), algorithm: nonEmpty.optional() }).strict(),
      ])
      .optional()
      .describe('TSIG key reference (rfc2136): a key file or a Secret — never the key itself'),
    lowerTtl: z.number().int().min(1).max(86400).optional().describe('lower the TTL to this before the cutover'),
    externalDns: z
      .object({ context: nonEmpty, namespace: dnsLabel, name: dnsLabel.optional() })
      .strict()
      .optional()
      .describe('where the DNSEndpoint object lives (external-dns)'),
  })
  .strict();

const Arango = z
  .object({
    endpoint: url.describe('a source coordinator URL reachable from the worker'),
    targetEndpoint: url.optional().describe('a target coordinator URL, once it exists; default: derived'),
    jwtSecret: CredentialRef.describe('the cluster JWT secret (kube-arangodb "<name>-jwt", key "token")'),
  })
  .strict();

/**
 * policy.latency: the client-visible latency objective. Probes read and write through the coordinators; the
 * controller (src/workflows/latency.ts) backs off on a window whose p99 exceeds p99Ms and grows below it.
 */
const Latency = z
  .object({
    p99Ms: z
      .number({ error: 'expected the p99 objective in milliseconds (a number, e.g. 25)' })
      .positive('expected a p99 objective above 0 ms')
      .max(60_000, 'expected a p99 objective of at most 60000 ms')
      .describe('client p99 latency (ms) the migration must stay within, per window'),
    windowSeconds: z
      .number()
      .int('expected whole seconds')
      .min(5, 'expected a window of at least 5 s (enough probe samples for a p99)')
      .max(60, 'expected a window of at most 60 s (one probe activity measures a whole window)')
      .default(10)
      .describe('length of a measurement window; one control step per window'),
    parkAfterSeconds: z
      .number()
      .int('expected whole seconds')
      .min(0)
      .max(7 * 86400)
      .default(300)
      .describe('park when the objective is breached even at one move in flight for this long; 0 = never park'),
    minSamples: z
      .number()
      .int('expected a whole number of samples')
      .min(1, 'expected at least 1 sample per window')
      .max(100_000)
      .default(20)
      .describe('a window with fewer probe samples is no measurement (moves hold at a safe low rate)'),
    probeRatePerSecond: z
      .number({ error: 'expected probe requests per second (a whole number, e.g. 50)' })
      .int('expected a whole number of probe requests per second')
      .min(1, 'expected at least 1 probe request per second per region')
      .max(1000, 'expected at most 1000 probe requests per second per region')
      .optional()
      .describe(
        'probe requests per second to each probed region (half reads, half writes; default 50): the probes are load ' +
          'on the cluster too, keep them a small share of the clients',
      ),
    probeFrom: z
      .enum(['worker', 'each-region'], {
        error: 'expected "worker" (the probes run where the workflow\'s workers run) or "each-region"',
      })
      .default('worker')
      .describe(
        'where client-like probes run: "worker" = on the main task queue, from wherever its workers sit; "each-region" = ' +
          'from the source and the target region, on task queue <task queue>-probe-<region> (a `transit worker --region R` ' +
          'serves its region; `--probe-only` runs just that); the worst region decides, a region without a probe worker ' +
          'is no measurement',
      ),
  })
  .strict();
export type LatencyPolicy = z.infer<typeof Latency>;

const Policy = z
  .object({
    maxConcurrentShardMoves: z.number().int().min(1).max(1000).default(16),
    bandwidthBytesPerSecond: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('per-server replication bandwidth cap used to plan moves and estimate the ETA'),
    timeouts: z
      .object({
        shardSyncSeconds: z
          .number()
          .int()
          .min(10)
          .max(7 * 86400)
          .default(6 * 3600),
        activitySeconds: z.number().int().min(5).max(86400).default(600),
        propagationSeconds: z.number().int().min(5).max(86400).default(1800),
        approvalSeconds: z
          .number()
          .int()
          .min(60)
          .max(30 * 86400)
          .optional(),
        drainSeconds: z
          .number()
          .int()
          .min(0)
          .max(86400)
          .default(30)
          .describe('after DNS has propagated, how long the source coordinators keep serving before Decommission'),
      })
      .strict()
      .prefault({}),
    requireApproval: z.boolean().default(false),
    verifyReplicationFactorOne: z
      .boolean()
      .default(true)
      .describe(
        'verify shards of replicationFactor-1 collections too: Transit raises such a collection to 2 while its shards move (supervision adds a second copy, the new copy is compared before the source copy goes), then sets it back to 1; false: they move in one MoveShard job each, reported "not verifiable"',
      ),
    latency: Latency.optional().describe(
      'client-latency objective: shard moves go as fast as it allows (AIMD on moves in flight); none = no throttle',
    ),
  })
  .strict();

const MigrationSpecShape = z
  .object({
    deployment: z.object({ name: dnsLabel, namespace: dnsLabel }).strict(),
    source: ClusterSide,
    target: ClusterSide,
    network: Network,
    dns: Dns,
    arango: Arango,
    policy: Policy.prefault({}),
  })
  .strict();

/** The spec schema: parsing applies every default, those of credential references included. */
export const MigrationSpec = MigrationSpecShape.transform((spec) => resolveCredentialRefs(spec));

/** A validated spec, defaults applied. */
export type MigrationSpec = z.infer<typeof MigrationSpec>;
/** What a user writes (defaults may be left out). */
export type MigrationSpecInput = z.input<typeof MigrationSpec>;
/** The `dns` section as the DNS activities read it. */
export type DnsSpec = MigrationSpec['dns'];
export type DnsRecordType = NonNullable<DnsSpec['recordType']>;
export type TsigKeyRef = NonNullable<DnsSpec['tsigKey']>;

/** The JSON Schema of the spec (draft 2020-12), for editors and `transit schema`. */
export function specJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(MigrationSpec, { io: 'input' }) as Record<string, unknown>;
}

/**
 * Cross-field rules. They run on the raw input even when the shape has other problems, so the user sees
 * every problem at once; each returns [path, message].
 */
export function crossFieldProblems(raw: unknown): [string[], string][] {
  const get = (...path: string[]): unknown =>
    path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), raw);
  const out: [string[], string][] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  const sc = get('source', 'context');
  if (
    typeof sc === 'string' &&
    sc === get('target', 'context') &&
    same(get('source', 'kubeconfig'), get('target', 'kubeconfig'))
  ) {
    out.push([['target', 'context'], `target must be another cluster than source (both are context "${sc}")`]);
  }
  const name = get('dns', 'name');
  const zone = get('dns', 'zone');
  if (
    typeof name === 'string' &&
    typeof zone === 'string' &&
    zone.endsWith('.') &&
    name.endsWith('.') &&
    !name.endsWith(zone)
  ) {
    out.push([['dns', 'name'], `"${name}" is not inside zone "${zone}"`]);
  }
  const provider = get('dns', 'provider');
  const needs =
    typeof provider === 'string' && Object.hasOwn(DNS_PROVIDERS, provider)
      ? DNS_PROVIDERS[provider as DnsProviderName]
      : undefined;
  if (needs && get('dns', needs) === undefined) out.push([['dns', needs], `required for provider "${provider}"`]);
  const lower = get('dns', 'lowerTtl');
  const ttl = get('dns', 'ttl');
  if (typeof lower === 'number' && typeof ttl === 'number' && lower > ttl) {
    out.push([['dns', 'lowerTtl'], `must not exceed dns.ttl (${ttl})`]);
  }
  const window = get('policy', 'latency', 'windowSeconds') ?? (get('policy', 'latency') ? 10 : undefined);
  const park = get('policy', 'latency', 'parkAfterSeconds');
  if (typeof park === 'number' && typeof window === 'number' && park > 0 && park < window) {
    out.push([
      ['policy', 'latency', 'parkAfterSeconds'],
      `must be 0 or at least one window (policy.latency.windowSeconds = ${window})`,
    ]);
  }
  return out;
}
