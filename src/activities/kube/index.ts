// The Kubernetes activities of TransitActivities (src/activities/contract.ts). createKubeActivities(deps)
// returns plain async functions: the worker registers them as Temporal activities, tests call them directly.
// Inside an activity they heartbeat and stop on cancellation; every write is create-or-update by name and
// labelled as Transit's, so a retried or repeated call converges on the same objects. The layout (member
// endpoints, bridges, target names, agents) and how Transit and kube-arangodb stay out of each other's way:
// docs/architecture.md, "Kubernetes layout".
import type { MemberInfo, MigrationRef, Side, TransitActivities } from '../contract';
import { bridgeNetworks, type BridgeResult } from './bridge';
import { deleteServicesWithSlices } from './endpointslices';
import { settleEndState, type EndStateReport } from './endstate';
import { moveAgent } from './agents';
import { readDeploymentCr, readInventory, resumeOperator } from './deployment';
import { Env, type KubeActivityDeps } from './env';
import { provisionTargetMembers, readClientEndpoint } from './members';
import { decommissionSourceMembers, removeTargetMembers } from './remove';
import { TRANSIT_ANNOTATIONS, transitSelector } from './names';
import { preflight } from './preflight';

export * from './errors';
export { kubeConfigLoader, type KubeConfigLoader, type KubeConfigLoaderOptions } from './config';
export type { KubeActivityDeps } from './env';
export type { BridgeProbe, BridgeResult } from './bridge';
export { BRIDGE_MODES, bridgeMode, cidrsOverlap, type BridgeMode, type NetworkMode, type Route } from './bridge-modes';
export { SLICE_MANAGER, SLICE_MANAGED_BY, SERVICE_NAME_LABEL } from './endpointslices';
export { endStateServiceNames, retireCommand, type EndStateReport } from './endstate';
export { REQUIRED_PERMISSIONS, type Permission } from './preflight';
export {
  DOMAIN,
  TRANSIT_LABELS,
  TRANSIT_ANNOTATIONS,
  MANAGED_BY,
  MANAGER,
  OPERATOR_MAINTENANCE_ANNOTATION,
  migrationLabel,
  targetName,
  transitSelector,
} from './names';

export type KubeActivities = Pick<
  TransitActivities,
  | 'preflight'
  | 'readSourceDeployment'
  | 'provisionTargetMembers'
  | 'readClientEndpoint'
  | 'moveAgent'
  | 'removeTargetMembers'
  | 'decommissionSourceMembers'
> & {
  /** The contract's BridgeReport plus the latency of every bridged path (`probes`). */
  bridgeNetworks(a: MigrationRef & { members: MemberInfo[] }): Promise<BridgeResult>;
  /**
   * Every bridge object of this migration, both clusters. After a rollback the operator resumes; after
   * Decommission the end state is settled (`members`: the target members with their server IDs, for labels).
   */
  removeBridge(a: MigrationRef & { members?: MemberInfo[] }): Promise<{ removed: number; endState?: EndStateReport }>;
  /** The end state after Decommission (endstate.ts); removeBridge runs it too. Idempotent. */
  settleEndState(a: MigrationRef & { members?: MemberInfo[] }): Promise<EndStateReport>;
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
    async removeBridge(a) {
      const e = env(a);
      const c = await e.both();
      let removed = 0;
      for (const side of ['source', 'target'] as Side[]) {
        removed += (await deleteServicesWithSlices(c[side], e.migrationId, transitSelector(e.migrationId, 'bridge')))
          .removed;
      }
      if (await resumeOperator(e)) return { removed };
      // Not resumed: rolled back with the operator paused by someone else, or migrated away (then the end state).
      const cr = await readDeploymentCr(e, c.source);
      if (!cr.metadata?.annotations?.[TRANSIT_ANNOTATIONS.migratedTo]) return { removed };
      return { removed, endState: await settleEndState(e, a.members) };
    },
    async settleEndState(a) {
      return settleEndState(env(a), a.members);
    },
  };
}
