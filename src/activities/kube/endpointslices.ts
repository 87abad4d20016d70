// The endpoints of a Service without selector, written as discovery.k8s.io/v1 EndpointSlices (v1 Endpoints are
// deprecated since Kubernetes 1.33). Transit's slices carry kubernetes.io/service-name (kube-proxy, CoreDNS and
// Cilium find them by it), endpointslice.kubernetes.io/managed-by=transit.arangodb.io (so the endpointslice and
// mirroring controllers leave them alone, and Transit never touches theirs), Transit's own labels, and an owner
// reference to their Service (deleting the Service takes them along).
//
// One slice per named Service port, named <service>-<port name>: every endpoint of a slice shares its ports,
// and the bridge LoadBalancer sends each port to another member.
//
// Migrations started by an earlier Transit wrote v1 Endpoints (mirrored into slices by kube-controller-manager);
// whenever Transit writes or removes a Service's slices it also removes its own legacy Endpoints of that name,
// found through their mirrored slices, so no stale address stays in rotation. Current Endpoints objects are
// otherwise never read or written.
import { isIPv6 } from 'node:net';
import type { V1EndpointSlice, V1Endpoints } from '@kubernetes/client-node';
import { KINDS, type ClusterClient } from './client';
import { KubeOwnershipError } from './errors';
import { isOwnedBy } from './names';
import { holds, mergeMap } from './objects';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
/** The managed-by value on Transit's EndpointSlices. */
export const SLICE_MANAGER = 'transit.arangodb.io';
const MIRROR_MANAGER = 'endpointslicemirroring-controller.k8s.io';
const CONTROLLER_MANAGER = 'endpointslice-controller.k8s.io';

/** One address behind one named port of the Service. */
export interface SliceTarget {
  portName: string;
  ip: string;
  port: number;
}

export function sliceName(service: string, portName: string): string {
  return `${service}-${portName}`;
}

function desiredSlice(
  c: ClusterClient,
  svc: { name: string; uid?: string },
  labels: Record<string, string>,
  t: SliceTarget,
): V1EndpointSlice & Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(svc.name, t.portName),
      namespace: c.namespace,
      labels: { ...labels, [SERVICE_NAME_LABEL]: svc.name, [SLICE_MANAGED_BY]: SLICE_MANAGER },
      ...(svc.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.name, uid: svc.uid }] } : {}),
    },
    addressType: isIPv6(t.ip) ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [t.ip], conditions: { ready: true } }],
    ports: [{ name: t.portName, port: t.port, protocol: 'TCP' }],
  };
}

/** Transit's slices of one Service. */
export function listSlices(c: ClusterClient, service: string): Promise<V1EndpointSlice[]> {
  return c.list<V1EndpointSlice>(KINDS.endpointSlice, {
    labelSelector: `${SERVICE_NAME_LABEL}=${service},${SLICE_MANAGED_BY}=${SLICE_MANAGER}`,
  });
}

/** What Transit's slices of a Service say now: port name → address. */
export function targetsOf(slices: V1EndpointSlice[]): SliceTarget[] {
  return slices.flatMap((s) => {
    const p = s.ports?.[0];
    const ip = s.endpoints?.[0]?.addresses?.[0];
    return p?.name && p.port && ip ? [{ portName: p.name, ip, port: p.port }] : [];
  });
}

/**
 * Makes the Service's endpoints exactly `targets` (one slice per port name); Transit's slices for other port
 * names go. `svc.uid` becomes the slices' owner. Converges from any state: re-running writes nothing.
 */
export async function writeSlices(
  c: ClusterClient,
  migrationId: string,
  svc: { name: string; uid?: string },
  labels: Record<string, string>,
  targets: SliceTarget[],
): Promise<void> {
  const want = new Map(targets.map((t) => [sliceName(svc.name, t.portName), desiredSlice(c, svc, labels, t)]));
  for (const d of want.values()) {
    const cur = await c.get<V1EndpointSlice & Record<string, unknown>>(KINDS.endpointSlice, d.metadata!.name!);
    if (cur && cur.addressType !== d.addressType && cur.metadata?.labels?.[SLICE_MANAGED_BY] === SLICE_MANAGER) {
      // addressType is immutable: replace the slice.
      await c.delete(KINDS.endpointSlice, d.metadata!.name!, { uid: cur.metadata?.uid });
    }
    await c.apply(KINDS.endpointSlice, d, {
      check: (x) => {
        if (x.metadata?.labels?.[SLICE_MANAGED_BY] !== SLICE_MANAGER || !isOwnedBy(x.metadata?.labels, migrationId)) {
          throw new KubeOwnershipError(
            `EndpointSlice ${c.namespace}/${x.metadata?.name} (context ${c.context}) exists and is not this migration's: remove it`,
          );
        }
      },
      same: (x) => holds(x, d),
      merge: (x) => ({
        ...x,
        metadata: {
          ...x.metadata,
          labels: mergeMap(x.metadata?.labels, d.metadata?.labels),
          ownerReferences: d.metadata?.ownerReferences ?? x.metadata?.ownerReferences,
        },
        endpoints: d.endpoints,
        ports: d.ports,
      }),
    });
  }
  for (const s of await listSlices(c, svc.name)) {
    if (!want.has(s.metadata!.name!)) await c.delete(KINDS.endpointSlice, s.metadata!.name!, { uid: s.metadata?.uid });
  }
  await dropLegacyEndpoints(c, migrationId, svc.name);
}

/** Removes Transit's slices of a Service (and its legacy Endpoints); the number of objects deleted. */
export async function deleteSlices(c: ClusterClient, migrationId: string, service: string): Promise<number> {
  let n = 0;
  for (const s of await listSlices(c, service))
    if (await c.delete(KINDS.endpointSlice, s.metadata!.name!, { uid: s.metadata?.uid })) n++;
  return n + (await dropLegacyEndpoints(c, migrationId, service));
}

/**
 * Every Service labelled with `selector`, with its endpoints: Transit's slices and an earlier Transit's v1
 * Endpoints (found by Service name), then the Service; then Transit's slices left with that label whose
 * Service is gone already. Slices go first: the garbage collector would delete them with their Service,
 * racing the count. The number of objects deleted, and the Services' names.
 */
export async function deleteServicesWithSlices(
  c: ClusterClient,
  migrationId: string,
  selector: string,
): Promise<{ removed: number; services: string[] }> {
  let removed = 0;
  const services: string[] = [];
  for (const svc of await c.list(KINDS.service, { labelSelector: selector })) {
    const name = svc.metadata!.name!;
    services.push(name);
    removed += await deleteSlices(c, migrationId, name);
    if (await c.delete(KINDS.service, name, { uid: svc.metadata?.uid })) removed++;
  }
  for (const s of await c.list<V1EndpointSlice>(KINDS.endpointSlice, {
    labelSelector: `${selector},${SLICE_MANAGED_BY}=${SLICE_MANAGER}`,
  })) {
    if (await c.delete(KINDS.endpointSlice, s.metadata!.name!, { uid: s.metadata?.uid })) removed++;
  }
  return { removed, services };
}

/** The endpointslice controller leaves its slices behind when a Service loses its selector: remove them. */
export async function dropControllerSlices(c: ClusterClient, service: string): Promise<void> {
  const slices = await c.list<V1EndpointSlice>(KINDS.endpointSlice, {
    labelSelector: `${SERVICE_NAME_LABEL}=${service},${SLICE_MANAGED_BY}=${CONTROLLER_MANAGER}`,
  });
  for (const s of slices) await c.delete(KINDS.endpointSlice, s.metadata!.name!, { uid: s.metadata?.uid });
}

/** Endpoints an earlier Transit wrote for this Service (seen through their mirrored slices): deleted. */
async function dropLegacyEndpoints(c: ClusterClient, migrationId: string, service: string): Promise<number> {
  const mirrored = await c.list<V1EndpointSlice>(KINDS.endpointSlice, {
    labelSelector: `${SERVICE_NAME_LABEL}=${service},${SLICE_MANAGED_BY}=${MIRROR_MANAGER}`,
  });
  if (mirrored.length === 0) return 0;
  const eps = await c.get<V1Endpoints>(KINDS.endpoints, service);
  if (!eps || !isOwnedBy(eps.metadata?.labels, migrationId)) return 0;
  return (await c.delete(KINDS.endpoints, service, { uid: eps.metadata?.uid })) ? 1 : 0;
}
