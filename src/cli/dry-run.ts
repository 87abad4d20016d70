/**
 * The dry run behind `transit plan`: the read-only steps of Validate and Plan (preflight, health, the source's
 * inventory, the shard plan, the DNS record), then the workflow's own decisions (src/workflows/decisions.ts) on
 * what they returned. Nothing is written anywhere and no workflow is started.
 *
 * The target's DB servers get their IDs from ArangoDB when they register (ProvisionTarget), so the dry run
 * names them `target-dbserver-01` … in the order their IDs will sort; the scheduler breaks ties by ID order
 * only, so the i-th placeholder stands for the target DB server whose ID sorts i-th.
 */
import type { TransitActivities } from '../activities/contract';
import type { MigrationPhase } from '../shared/types';
import type { MigrationSpec } from '../spec/schema';
import {
  agentsToMove,
  autoShrinkFloor,
  bytesToCopy,
  membersToCreate,
  phasesToRun,
  targetAssignment,
} from '../workflows/decisions';
import { groupBytes, groupKey, groupLabel, groupServers, indexPlan, totals } from '../workflows/plan';
import { estimateMoveShards, formatEstimate, type MoveShardsEstimate } from './estimate';

/** The activities the dry run calls: every one only reads. */
export type DryRunActivities = Pick<
  TransitActivities,
  'preflight' | 'checkClusterHealth' | 'readSourceDeployment' | 'readShardPlan' | 'readRecord'
>;

export interface DryRunGroup {
  /** database/collectionId/shard of the group's prototype shard. */
  key: string;
  /** The same, with the number of distributeShardsLike clones that move with it. */
  shard: string;
  bytes: number;
  /** Plan servers now (IDs, leader first). */
  from: string[];
  /** Where the migration puts it (placeholders of the target's DB servers, leader first). */
  to: string[];
}

export interface DryRun {
  migrationId: string;
  deployment: string;
  source: { context: string; region: string; namespace: string };
  target: { context: string; region: string; namespace: string };
  networkMode: string;
  phases: MigrationPhase[];
  /** Members ProvisionTarget creates (one per source member but agents), by role: the source pods they mirror. */
  create: { role: string; mirrors: string[] }[];
  /** Agents MoveAgents moves, in order. */
  agents: string[];
  autoShrinkAtLeast: number;
  targetDbServers: string[];
  groups: DryRunGroup[];
  totals: { groups: number; shards: number; bytes: number; databases: number; collections: number };
  bytesToCopy: number;
  /** How long MoveShards should take, before it starts (a model: src/cli/estimate.ts). */
  estimate: MoveShardsEstimate;
  dns: { name: string; now: string[]; ttl: number };
  warnings: string[];
}

function identity(k: { database: string; collectionId: string; shard: string }): string {
  return `${k.database}/${k.collectionId}/${k.shard}`;
}

/** Placeholder IDs for the target's DB servers, zero-padded so that they sort in index order. */
export function targetPlaceholders(count: number): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `target-dbserver-${String(i + 1).padStart(Math.max(2, width), '0')}`);
}

/** What the read-only steps return: the live source as Transit sees it before anything changes. */
export interface SourceSurvey {
  preflight: Awaited<ReturnType<DryRunActivities['preflight']>>;
  health: Awaited<ReturnType<DryRunActivities['checkClusterHealth']>>;
  inventory: Awaited<ReturnType<DryRunActivities['readSourceDeployment']>>;
  plan: Awaited<ReturnType<DryRunActivities['readShardPlan']>>;
  record: Awaited<ReturnType<DryRunActivities['readRecord']>>;
}

/** The read-only steps of Validate and Plan, in the workflow's order (`transit plan`, `transit rehearse`). */
export async function surveySource(
  acts: DryRunActivities,
  spec: MigrationSpec,
  migrationId: string,
): Promise<SourceSurvey> {
  const ref = { migrationId, spec };
  const preflight = await acts.preflight(ref);
  const health = await acts.checkClusterHealth({ arango: spec.arango });
  const inventory = await acts.readSourceDeployment(ref);
  const plan = await acts.readShardPlan({ migrationId, arango: spec.arango });
  const record = await acts.readRecord({ dns: spec.dns });
  return { preflight, health, inventory, plan, record };
}

export async function dryRun(
  acts: DryRunActivities,
  spec: MigrationSpec,
  migrationId: string,
  o: { bandwidthBytesPerSecond?: number } = {},
): Promise<DryRun> {
  return dryRunFrom(await surveySource(acts, spec, migrationId), spec, migrationId, o);
}

/** The workflow's own decisions on a survey. */
export function dryRunFrom(
  survey: SourceSurvey,
  spec: MigrationSpec,
  migrationId: string,
  o: { bandwidthBytesPerSecond?: number } = {},
): DryRun {
  const { preflight, health, inventory, plan, record } = survey;
  const created = membersToCreate(inventory);
  const ix = indexPlan(plan);
  const targets = targetPlaceholders(created.filter((m) => m.role === 'dbserver').length);
  const desired = targetAssignment(ix, targets);
  const side = (s: MigrationSpec['source']) => ({ context: s.context, region: s.region, namespace: s.namespace });
  return {
    migrationId,
    deployment: `${spec.deployment.namespace}/${spec.deployment.name}`,
    source: side(spec.source),
    target: side(spec.target),
    networkMode: spec.network.mode,
    phases: phasesToRun(spec.policy.requireApproval),
    create: (['dbserver', 'coordinator'] as const).map((role) => ({
      role,
      mirrors: created.filter((m) => m.role === role).map((m) => m.podName),
    })),
    agents: agentsToMove(inventory).map((m) => m.id),
    autoShrinkAtLeast: autoShrinkFloor(inventory),
    targetDbServers: targets,
    groups: Array.from({ length: ix.count }, (_, g) => ({
      key: identity(groupKey(ix, g)),
      shard: groupLabel(ix, g),
      bytes: groupBytes(ix, g),
      from: groupServers(ix, g),
      to: desired[g]!,
    })),
    totals: totals(ix),
    bytesToCopy: bytesToCopy(ix, desired),
    estimate: estimateMoveShards(ix, desired, {
      concurrency: spec.policy.maxConcurrentShardMoves,
      bandwidthBytesPerSecond: o.bandwidthBytesPerSecond ?? spec.policy.bandwidthBytesPerSecond ?? null,
    }),
    dns: { name: spec.dns.name, now: record.values, ttl: record.ttl },
    warnings: [...preflight.warnings, ...(health.healthy ? [] : health.problems.map((p) => `cluster: ${p}`))],
  };
}

/** The dry run as text, one line per decision. */
export function formatDryRun(d: DryRun): string[] {
  const lines = [
    `Plan for ${d.deployment}: ${d.source.region} (${d.source.context}) → ${d.target.region} (${d.target.context}), network ${d.networkMode} — dry run, nothing changed`,
    `Phases: ${d.phases.join(' → ')}`,
    ...d.create.map(
      (c) =>
        `Create in ${d.target.context}/${d.target.namespace}: ${c.mirrors.length} ${c.role}s (mirroring ${c.mirrors.join(', ') || '-'})`,
    ),
    `Agents moved one at a time, keeping quorum: ${d.agents.join(', ')}`,
    `Supervision auto-shrink held at ≥ ${d.autoShrinkAtLeast} servers while old and new coexist`,
    `Shards: ${d.totals.groups} groups, ${d.totals.shards} shards, ${d.totals.bytes} bytes in ${d.totals.databases} databases / ${d.totals.collections} collections; ${d.bytesToCopy} bytes to copy`,
    `Target DB servers (IDs given by ArangoDB on registration, in ID order): ${d.targetDbServers.join(', ')}`,
  ];
  for (const g of d.groups) lines.push(`  ${g.shard} (${g.bytes} bytes): ${g.from.join(',')} → ${g.to.join(',')}`);
  lines.push(formatEstimate(d.estimate));
  lines.push(`DNS ${d.dns.name}: ${d.dns.now.join(',')} (TTL ${d.dns.ttl}s) → the target's coordinators`);
  for (const w of d.warnings) lines.push(`warning: ${w}`);
  return lines;
}
