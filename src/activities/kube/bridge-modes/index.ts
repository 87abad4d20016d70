// The registry of bridge modes: spec.network.mode → its BridgeMode. Typed by the spec schema's `network`
// union, so a mode in the schema without an implementation here (or the reverse) does not compile.
import type { Side } from '../../contract';
import type { Env } from '../env';
import { KubeInvalidError } from '../errors';
import type { Permission } from '../preflight';
import { clusterMesh } from './clustermesh';
import { loadBalancer } from './loadbalancer';
import type { BridgeMode, NetworkMode } from './types';

export const BRIDGE_MODES: { readonly [M in NetworkMode]: BridgeMode<M> } = {
  clustermesh: clusterMesh,
  loadbalancer: loadBalancer,
};

/** The bridge mode of a migration's spec. */
export function bridgeMode(env: Env): BridgeMode {
  const m = (BRIDGE_MODES as Record<string, BridgeMode | undefined>)[env.spec.network.mode];
  if (!m)
    throw new KubeInvalidError(
      `network.mode ${env.spec.network.mode} is not a bridge mode this worker knows (${Object.keys(BRIDGE_MODES).join(', ')})`,
    );
  return m;
}

/** Every permission some mode needs on a side, once each. */
export function modePermissions(side: Side): Permission[] {
  const seen = new Set<string>();
  return Object.values(BRIDGE_MODES)
    .flatMap((m: BridgeMode) => m.permissions[side])
    .filter((p) => {
      const k = `${p.scope} ${p.verb} ${p.group}/${p.resource}#${p.name ?? ''}`;
      return !seen.has(k) && !!seen.add(k);
    });
}

export { cidrsOverlap } from './clustermesh';
export { lbName } from './loadbalancer';
export type { BridgeMode, Exposed, ModePreflight, NetworkMode, Route } from './types';
