/**
 * The decisions of a migration as pure functions of what the read-only steps return (the source's inventory,
 * the shard plan, the spec): which phases run, which members are created on the target, the floor supervision's
 * auto-shrink is held at, and where every shard group goes. The workflow takes them from here, and so does the
 * dry run (`transit plan`, src/cli/dry-run.ts): what the dry run prints is what the workflow then does.
 * Deterministic, no I/O, no Temporal.
 */
import type { DeploymentInventory, MemberInfo } from '../activities/contract';
import type { MigrationPhase } from '../shared/types';
import { groupBytes, groupServers, type GroupIndex } from './plan';
import { assignTargets } from './scheduler';
import { nextPhase } from './state';

/** The phases a migration runs, in order, from Validate to Complete. */
export function phasesToRun(requireApproval: boolean): MigrationPhase[] {
  const phases: MigrationPhase[] = ['Validate'];
  for (let p = nextPhase('Validate', requireApproval); p; p = nextPhase(p, requireApproval)) phases.push(p);
  return phases;
}

/** ProvisionTarget creates one target member for every source member but the agents (agents move, one by one). */
export function membersToCreate(inventory: DeploymentInventory): MemberInfo[] {
  return inventory.members.filter((m) => m.role !== 'agent');
}

/** The agents MoveAgents moves to the target, in this order (a rollback moves them back in reverse). */
export function agentsToMove(inventory: DeploymentInventory): MemberInfo[] {
  return inventory.members.filter((m) => m.role === 'agent');
}

/**
 * While old and new DB servers coexist, supervision must not shrink the cluster (it would clean out the last
 * server ID, maybe a new one): auto-shrink is held at least at twice the source's DB servers.
 */
export function autoShrinkFloor(inventory: DeploymentInventory): number {
  return inventory.members.filter((m) => m.role === 'dbserver').length * 2;
}

/** The servers every shard group ends on (leader first): the scheduler's assignment over the target's servers. */
export function targetAssignment(ix: GroupIndex, targetServerIds: string[]): string[][] {
  return assignTargets(ix, targetServerIds);
}

/** Bytes the move copies: each group's size once for every server it gains. */
export function bytesToCopy(ix: GroupIndex, desired: string[][]): number {
  let bytes = 0;
  for (let g = 0; g < ix.count; g++) {
    const current = groupServers(ix, g);
    bytes += groupBytes(ix, g) * desired[g]!.filter((s) => !current.includes(s)).length;
  }
  return bytes;
}
