// The Kubernetes activities of TransitActivities (src/activities/contract.ts). createKubeActivities(deps)
// returns plain async functions: the worker registers them as Temporal activities, tests call them directly.
// Inside an activity they heartbeat and stop on cancellation; every write is create-or-update by name (read,
// compare, replace with the resourceVersion read; 409 → read again) and labelled
// app.kubernetes.io/managed-by=transit, transit.arangodb.io/migration-id=<id>, transit.arangodb.io/component=
// bridge|member|client|secret, so a retried or repeated call converges on the same objects.
//
// Layout decisions (kube-arangodb conventions; see deployment.ts, names.ts):
//  - members register short-dns endpoints, tcp://<deployment>-<role>-<id>:8529 (communicationMethod
//    short-dns, "used in migration"): the bare name resolves in each pod's own namespace, so source and
//    target namespaces may differ; preflight refuses other communication methods;
//  - the bridge is a Service without selector of that name in the other cluster, plus the EndpointSlice
//    Transit writes for it (endpointslices.ts; what kube-proxy, CoreDNS and Cilium read — no v1 Endpoints,
//    deprecated since Kubernetes 1.33); where it points is the bridge mode's (bridge-modes/: one file per
//    spec.network.mode behind the BridgeMode interface — preflight checks, routes, agent homes, teardown);
//  - target copies are named <source pod>-t (the workflow's targetMemberName()), register tcp://<svc>-t:8529,
//    and until they register their MemberInfo.id is that name (the workflow maps the registered ID by endpoint);
//  - an agent keeps its pod name, Service name and endpoint string when it moves; only where the name
//    resolves changes (a Service with selector at home, a bridge in the other cluster).
//
// kube-arangodb interaction: Transit annotates the source ArangoDeployment with
// deployment.arangodb.com/maintenance=true (and transit.arangodb.io/paused-by=<id>) before it removes or
// replaces operator-owned members (moveAgent, decommissionSourceMembers), so the operator does not recreate
// them. removeBridge lifts it again after a rollback; after Decommission it stays (plus
// transit.arangodb.io/migrated-to): the source deployment then has no member left in the source cluster, and
// resuming the operator would recreate them all. removeBridge after Decommission also settles the end state
// (endstate.ts): the target gets <name>, <name>-int and <name>-ea and kube-arangodb's member labels, the
// source loses its client LoadBalancer, and the ArangoDeployment carries its state and the command that
// retires it. The target members are plain pods (no operator there); README "After the migration".
import type { MemberInfo, MigrationRef, Side, TransitActivities } from '../contract';
import { bridgeNetworks, type BridgeResult } from './bridge';
import { deleteServicesWithSlices } from './endpointslices';
import { settleEndState, type EndStateReport } from './endstate';
import { moveAgent } from './agents';
import { readDeploymentCr, readInventory, resumeOperator } from './deployment';
import { Env, type KubeActivityDeps } from './env';
import { provisionTargetMembers, readClientEndpoint } from './members';
import { decommissionSourceMembers, removeTargetMembers } from './remove';
import { A, transitSelector } from './names';
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
  L as TRANSIT_LABELS,
  A as TRANSIT_ANNOTATIONS,
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
      if (!cr.metadata?.annotations?.[A.migratedTo]) return { removed };
      return { removed, endState: await settleEndState(e, a.members) };
    },
    async settleEndState(a) {
      return settleEndState(env(a), a.members);
    },
  };
}
