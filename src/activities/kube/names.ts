// Names, labels and endpoint strings: kube-arangodb's conventions for what the operator creates, and Transit's
// for what it creates itself. Pure functions; every other module takes its names from here.
import { createHash } from 'node:crypto';
import type { ServerGroup, Side } from '../contract';

// ---- kube-arangodb (pkg/util/k8sutil/labels.go, names.go) ------------------------------------------------

export const ARANGO_LABELS = {
  app: 'app',
  deployment: 'arango_deployment',
  role: 'role',
  member: 'deployment.arangodb.com/member',
  active: 'deployment.arangodb.com/active',
} as const;

/**
 * The operator skips every reconciliation of an ArangoDeployment that carries this annotation "true"
 * (deployment inspector: "Deployment in maintenance mode"). Transit sets it before it deletes or replaces
 * operator-owned members (agent moves, decommission), so the operator does not recreate them.
 */
export const OPERATOR_MAINTENANCE_ANNOTATION = 'deployment.arangodb.com/maintenance';

/** kube-arangodb role strings (ServerGroup.AsRole) and the status.members / spec keys of each group. */
export const GROUPS: { role: ServerGroup; statusKey: 'agents' | 'dbservers' | 'coordinators'; idPrefix: string }[] = [
  { role: 'agent', statusKey: 'agents', idPrefix: 'AGNT' },
  { role: 'dbserver', statusKey: 'dbservers', idPrefix: 'PRMR' },
  { role: 'coordinator', statusKey: 'coordinators', idPrefix: 'CRDN' },
];

/** `<deployment>-<role>-<id without its AGNT-/PRMR-/CRDN- prefix>`, lower-cased: pod host name, Service, PVC. */
export function memberHostName(deployment: string, role: ServerGroup, id: string): string {
  return `${deployment}-${role}-${id.replace(/^(AGNT|PRMR|CRDN|SNGL)-/i, '')}`.toLowerCase();
}

export function jwtSecretName(deployment: string, configured?: string): string {
  return configured && configured !== 'None' ? configured : `${deployment}-jwt`;
}

// ---- Transit's own labels -------------------------------------------------------------------------------

export const DOMAIN = 'transit.arangodb.io';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'transit';
export const TRANSIT_LABELS = {
  migration: `${DOMAIN}/migration-id`,
  deployment: `${DOMAIN}/deployment`,
  /** bridge: remote-member Services, EndpointSlices, the bridge LoadBalancer; member: pods, PVCs, member Services;
   *  client: the Services clients and members use in the target (<name>-ea, and after the migration <name>,
   *  <name>-int); secret: the JWT secret copy. */
  component: `${DOMAIN}/component`,
  /** On Transit-created member pods and the selector of their Services. */
  member: `${DOMAIN}/member`,
  sourceMember: `${DOMAIN}/source-member`,
} as const;
export const TRANSIT_ANNOTATIONS = {
  migration: `${DOMAIN}/migration-id`,
  /** On an operator Service Transit turned into a bridge: its original selector and labels, to restore them. */
  original: `${DOMAIN}/original`,
  /** On the bridge LoadBalancer: member Service name → LB port. */
  ports: `${DOMAIN}/ports`,
  /** On the source ArangoDeployment: the migration that paused the operator, and where it migrated to. */
  pausedBy: `${DOMAIN}/paused-by`,
  migratedTo: `${DOMAIN}/migrated-to`,
  /** On the source ArangoDeployment after the migration: what state it is left in, and the command that retires it. */
  state: `${DOMAIN}/state`,
  retire: `${DOMAIN}/retire-with`,
  /** On a target member pod: the source pod it mirrors. */
  sourcePod: `${DOMAIN}/source-pod`,
  /** On the target client Service: http or https. */
  scheme: `${DOMAIN}/scheme`,
} as const;

export type Component = 'bridge' | 'member' | 'client' | 'secret';

/** A label value for the migration ID (≤63, [A-Za-z0-9._-], alphanumeric ends); long or odd IDs are hashed. */
export function migrationLabel(migrationId: string): string {
  if (/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(migrationId)) return migrationId;
  return `m-${createHash('sha256').update(migrationId).digest('hex').slice(0, 20)}`;
}

export function transitLabels(migrationId: string, deployment: string, component: Component): Record<string, string> {
  return {
    [MANAGED_BY]: MANAGER,
    [TRANSIT_LABELS.migration]: migrationLabel(migrationId),
    [TRANSIT_LABELS.deployment]: deployment,
    [TRANSIT_LABELS.component]: component,
  };
}

export function transitSelector(migrationId: string, component?: Component): string {
  const parts = [`${MANAGED_BY}=${MANAGER}`, `${TRANSIT_LABELS.migration}=${migrationLabel(migrationId)}`];
  if (component) parts.push(`${TRANSIT_LABELS.component}=${component}`);
  return parts.join(',');
}

export function isOwnedBy(labels: Record<string, string> | undefined, migrationId: string): boolean {
  return labels?.[MANAGED_BY] === MANAGER && labels?.[TRANSIT_LABELS.migration] === migrationLabel(migrationId);
}

// ---- member names ---------------------------------------------------------------------------------------

/** A DNS-1035 label ≤63: long names keep a readable head and a hash of the whole. */
export function dnsLabel(name: string): string {
  if (name.length <= 63) return name;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, 54).replace(/-+$/, '')}-${h}`;
}

/** Same rule as the workflow's targetMemberName() (src/workflows/state.ts): the source pod name plus "-t". */
export function targetName(sourceName: string): string {
  return dnsLabel(`${sourceName}-t`);
}

export function otherSide(side: Side): Side {
  return side === 'source' ? 'target' : 'source';
}

// ---- endpoints and arguments ----------------------------------------------------------------------------

export interface Endpoint {
  scheme: 'tcp' | 'ssl';
  host: string;
  port: number;
}

/** tcp://host:port, ssl://host:port, http(s)://… */
export function parseEndpoint(ep: string): Endpoint {
  const m = /^(tcp|ssl|http|https|http\+tcp|http\+ssl):\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(ep);
  if (!m) throw new Error(`not an arangod endpoint: ${ep} (expected tcp://host:port or ssl://host:port)`);
  const scheme = m[1] === 'ssl' || m[1] === 'https' || m[1] === 'http+ssl' ? 'ssl' : 'tcp';
  return { scheme, host: m[2]!, port: Number(m[3]) };
}

export function formatEndpoint(e: Endpoint): string {
  return `${e.scheme}://${e.host}:${e.port}`;
}

/** The Service name an endpoint resolves through: its first DNS label (short-dns: the whole host). */
export function serviceOfEndpoint(ep: string): string {
  return parseEndpoint(ep).host.split('.')[0]!;
}

/** Values of an arangod option in an argument list (`--opt=v` or `--opt v`). */
export function argValues(args: string[], opt: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${opt}` && i + 1 < args.length && !args[i + 1]!.startsWith('--')) out.push(args[++i]!);
    else if (a.startsWith(`--${opt}=`)) out.push(a.slice(opt.length + 3));
  }
  return out;
}

/** Replaces every value of `opt` (normalised to `--opt=value`); appends it when absent. */
export function setArg(args: string[], opt: string, value: string): string[] {
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${opt}` && i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      i++;
    } else if (!a.startsWith(`--${opt}=`)) {
      out.push(a);
      continue;
    }
    if (!done) out.push(`--${opt}=${value}`);
    done = true;
  }
  if (!done) out.push(`--${opt}=${value}`);
  return out;
}

/** The address a member registers: --agency.my-address for agents, --cluster.my-address otherwise. */
export function myAddressOption(role: ServerGroup): string {
  return role === 'agent' ? 'agency.my-address' : 'cluster.my-address';
}
