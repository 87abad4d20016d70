// The Kubernetes activities of TransitActivities (src/activities/contract.ts). createKubeActivities(deps)
// returns plain async functions: the worker registers them as Temporal activities, tests call them directly.
// Inside an activity they heartbeat and stop on cancellation; every write is create-or-update by name and
// labelled app.kubernetes.io/managed-by=transit, transit.arangodb.io/migration-id=<id>, so a retried or
// repeated call converges on the same objects.
//
// kube-arangodb interaction: Transit annotates the source ArangoDeployment with
// deployment.arangodb.com/maintenance=true (and transit.arangodb.io/paused-by=<id>) before it removes or
// replaces operator-owned members (moveAgent, decommissionSourceMembers), so the operator does not recreate
// them. removeBridge lifts it again after a rollback; after Decommission it stays (plus
// transit.arangodb.io/migrated-to): the source deployment then has no member left in the source cluster, and
// resuming the operator would recreate them all. Delete that ArangoDeployment with --cascade=orphan once done.
import type { MemberInfo, MigrationRef, Side, TransitActivities } from '../contract';
import { bridgeNetworks, type BridgeResult } from './bridge';
import { moveAgent } from './agents';
import { K } from './client';
import { readInventory, resumeOperator } from './deployment';
import { Env, type KubeActivityDeps } from './env';
import { decommissionSourceMembers, provisionTargetMembers, readClientEndpoint, removeTargetMembers } from './members';
import { transitSelector } from './names';
import { preflight } from './preflight';

export * from './errors';
export { kubeConfigLoader, type KubeConfigLoader, type KubeConfigLoaderOptions } from './config';
export type { KubeActivityDeps } from './env';
export type { BridgeProbe, BridgeResult } from './bridge';
export { REQUIRED_PERMISSIONS, cidrsOverlap, type Permission } from './preflight';
export { DOMAIN, L as TRANSIT_LABELS, A as TRANSIT_ANNOTATIONS, MANAGED_BY, MANAGER, OPERATOR_MAINTENANCE_ANNOTATION, migrationLabel, targetName, transitSelector } from './names';

export type KubeActivities = Pick<
  TransitActivities,
  | 'preflight'
  | 'readSourceDeployment'
  | 'provisionTargetMembers'
  | 'readClientEndpoint'
  | 'moveAgent'
  | 'removeTargetMembers'
  | 'decommissionSourceMembers'
  | 'removeBridge'
> & {
  /** The contract's BridgeReport plus the latency of every bridged path (`probes`). */
  bridgeNetworks(a: MigrationRef & { members: MemberInfo[] }): Promise<BridgeResult>;
};

export function createKubeActivities(deps: KubeActivityDeps): KubeActivities {
  const env = (ref: MigrationRef): Env => new Env(deps, ref);
  return {
    async preflight(a) {
      return preflight(env(a));
    },
    async readSourceDeployment(a) {
      return readInventory(env(a));
    },
    async bridgeNetworks(a) {
      return bridgeNetworks(env(a), a.members);
    },
    async provisionTargetMembers(a) {
      return provisionTargetMembers(env(a), a.members);
    },
    async readClientEndpoint(a) {
      return readClientEndpoint(env(a), a.side);
    },
    async moveAgent(a) {
      return moveAgent(env(a), a.agent, a.to);
    },
    async removeTargetMembers(a) {
      return removeTargetMembers(env(a), a.names);
    },
    async decommissionSourceMembers(a) {
      return decommissionSourceMembers(env(a), a.names);
    },
    /** Every bridge object of this migration, both clusters; then the operator resumes unless the source was migrated away. */
    async removeBridge(a) {
      const e = env(a);
      const c = await e.both();
      let removed = 0;
      for (const side of ['source', 'target'] as Side[]) {
        // Endpoints first: KCM deletes the Endpoints of a deleted Service itself, which would race the count.
        for (const kind of [K.endpoints, K.service]) {
          for (const o of await c[side].list(kind, { labelSelector: transitSelector(e.migrationId, 'bridge') })) {
            if (await c[side].delete(kind, o.metadata!.name!, { uid: o.metadata?.uid })) removed++;
          }
        }
      }
      await resumeOperator(e);
      return { removed };
    },
  };
}
