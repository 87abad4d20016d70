/**
 * The activities of a rehearsal (and of the benchmark through Temporal): Transit's real agency and coordinator
 * activities against the simulated cluster, and the in-memory world (src/sim/world.ts) for Kubernetes, the bridge
 * and DNS. In a rehearsal the world plays Kubernetes for the simulated cluster (the members it provisions, moves
 * and deletes are the cluster's), so every agency activity is the real one. The benchmark starts its new DB
 * servers beforehand and lets the world keep agents, server removal and health (`targets`: see below).
 */
import type { TransitActivities } from '../activities/contract';
import { createAgencyActivities, fileCredentialReader } from '../activities/agency';
import { createWorldActivities } from '../sim/world-activities';

/** Agency activities the world keeps: agents, server removal and health belong to the world's members. */
const WORLD_KEEPS = new Set([
  'waitForServerRegistered',
  'checkAgentReplaceable',
  'waitForAgentCaughtUp',
  'removeServer',
  'checkClusterHealth',
]);

/**
 * `targets`: the simulated cluster's new DB server IDs, in the order the world's provisioned DB servers register
 * (the benchmark starts them beforehand); empty when the world registers them with their own IDs (the rehearsal).
 */
export function rehearsalActivities(worldUrl: string, targets: string[] = []): TransitActivities {
  const world = createWorldActivities(worldUrl);
  const agency = createAgencyActivities({ readCredential: fileCredentialReader() }) as unknown as Record<
    string,
    unknown
  >;
  const acts: Record<string, unknown> = { ...world };
  for (const [n, f] of Object.entries(agency)) if (targets.length === 0 || !WORLD_KEEPS.has(n)) acts[n] = f;
  if (targets.length === 0) return acts as unknown as TransitActivities;
  acts.waitForServerRegistered = async (a: Parameters<TransitActivities['waitForServerRegistered']>[0]) => {
    const r = await world.waitForServerRegistered(a);
    let i = 0;
    return {
      servers: r.servers.map((s) => (s.role === 'dbserver' ? { ...s, id: targets[i]!, shortName: targets[i++]! } : s)),
    };
  };
  return acts as unknown as TransitActivities;
}
