/**
 * Transit's workflow metrics, emitted from publish() on every state change through the workflow metricMeter
 * (replay-safe: nothing is emitted while a worker replays history, so a replay never double-counts). All are
 * gauges of absolute values read from the state, so whichever worker holds the workflow reports correct
 * values; after a replay (worker restart, another worker taking over) the first live publish emits them all.
 *
 * The meter adds namespace, task_queue and workflow_type; we add migration_id (one migration = a handful of
 * series; the phase and status gauges are one series per phase/status, 1 for the current one, 0 otherwise).
 */
import type { MetricGauge } from '@temporalio/common';
import { metricMeter, workflowInfo } from '@temporalio/workflow';
import { PHASES } from '../shared/types';
import { workflowNow } from './clock';
import { shardProgress, verificationOf, type MigrationState } from './state';

export const WORKFLOW_METRICS = {
  phase: 'transit_migration_phase',
  status: 'transit_migration_status',
  shardsMoved: 'transit_migration_shards_moved',
  shardsTotal: 'transit_migration_shards_total',
  movesInFlight: 'transit_migration_shard_moves_in_flight',
  bytesMoved: 'transit_migration_bytes_moved',
  bytesTotal: 'transit_migration_bytes_total',
  bytesCopied: 'transit_migration_bytes_copied',
  agentsMoved: 'transit_migration_agents_moved',
  concurrency: 'transit_migration_concurrency',
  paused: 'transit_migration_paused',
  shardsVerified: 'transit_migration_shards_verified',
  shardsUnverified: 'transit_migration_shards_unverified',
  copiesFinishing: 'transit_migration_copies_finishing',
  versionCheck: 'transit_version_check_latency_seconds',
  latencyCap: 'transit_client_latency_moves_cap',
  latencyP99: 'transit_client_latency_p99_seconds',
  latencyP50: 'transit_client_latency_p50_seconds',
  latencyObjective: 'transit_client_latency_objective_seconds',
  latencyBreach: 'transit_client_latency_breach',
  lastUpdate: 'transit_migration_last_update_seconds',
} as const;

const STATUSES = [
  'running',
  'paused',
  'awaitingApproval',
  'rollingBack',
  'completed',
  'aborted',
  'rolledBack',
  'failed',
] as const;

/** What was last emitted for one run's state object (keyed weakly: the workflow VM may be shared). */
interface Emitted {
  phase: string;
  status: string;
  values: Record<string, number>;
  latency: number;
}
const emitted = new WeakMap<MigrationState, Emitted>();

let gauges: Record<string, MetricGauge> | null = null;
function g(name: string, valueType: 'int' | 'float', unit: string, description: string): MetricGauge {
  gauges ??= {};
  // Gauges hold no per-workflow state (tags are resolved per call), so they can be made once per VM.
  return (gauges[name] ??= metricMeter.createGauge(name, valueType, unit, description));
}

/** Emits what changed since the last live call for this state (everything, the first time after a replay). */
export function emitMigrationMetrics(s: MigrationState): void {
  if (workflowInfo().unsafe.isReplaying) return;
  const last = emitted.get(s) ?? { phase: '', status: '', values: {}, latency: 0 };
  const tags = { migration_id: s.migrationId };

  if (last.phase !== s.phase) {
    const phase = g(
      WORKFLOW_METRICS.phase,
      'int',
      '',
      'the phase a migration is in: 1 for the current phase, 0 for the others',
    );
    for (const p of PHASES) phase.set(p === s.phase ? 1 : 0, { ...tags, phase: p });
    last.phase = s.phase;
  }
  if (last.status !== s.status) {
    const status = g(
      WORKFLOW_METRICS.status,
      'int',
      '',
      'the status of a migration: 1 for the current status, 0 for the others',
    );
    for (const x of STATUSES) status.set(x === s.status ? 1 : 0, { ...tags, status: x });
    last.status = s.status;
  }

  const p = shardProgress(s);
  const values: [string, number, string, string][] = [
    [WORKFLOW_METRICS.shardsMoved, p.shardsDone, '', 'shards moved in the current run (forward, or back on rollback)'],
    [WORKFLOW_METRICS.shardsTotal, p.shardsTotal, '', 'shards to move in the current run'],
    [WORKFLOW_METRICS.movesInFlight, p.inFlight, '', 'shard groups being moved right now'],
    [WORKFLOW_METRICS.bytesMoved, p.bytesDone, 'bytes', 'bytes of the shards moved (or in sync) in the current run'],
    [WORKFLOW_METRICS.bytesTotal, p.bytesTotal, 'bytes', 'bytes of all shards of the current run'],
    [
      WORKFLOW_METRICS.bytesCopied,
      s.bytesMovedTotal,
      'bytes',
      'bytes copied to new servers so far, every copy counted, rollback included',
    ],
    [WORKFLOW_METRICS.agentsMoved, s.agents.filter((a) => a.side === 'target').length, '', 'agents on the target side'],
    [WORKFLOW_METRICS.concurrency, s.concurrency, '', 'maximum concurrent shard moves'],
    [
      WORKFLOW_METRICS.paused,
      s.parked ? 1 : 0,
      '',
      '1 while the migration is parked (paused, or waiting after a failed step)',
    ],
  ];
  const v = verificationOf(s);
  if (v) {
    values.push(
      [
        WORKFLOW_METRICS.shardsVerified,
        v.shardsVerified,
        '',
        'shards whose new copy was compared with the source copy (count and checksum) before the source copy went',
      ],
      [
        WORKFLOW_METRICS.shardsUnverified,
        v.shardsUnverified,
        '',
        'shards moved without that check: no target copy before the move (replicationFactor 1)',
      ],
    );
  }
  values.push([
    WORKFLOW_METRICS.copiesFinishing,
    s.pauseRequested && !s.parked ? (s.shards?.finishing ?? 0) : 0,
    '',
    'copies in flight that keep copying while a requested pause waits for them',
  ]);
  for (const [name, val, unit, description] of values) {
    if (last.values[name] === val) continue;
    g(name, 'int', unit, description).set(Math.max(0, val), tags);
    last.values[name] = val;
  }

  // policy.latency: the controller's cap and what the probes measured in their last window (absent without it).
  const cl = s.clientLatency;
  const objective = s.spec.policy.latency;
  if (cl && objective) {
    const floats: [string, number | null | undefined, string, string][] = [
      [
        WORKFLOW_METRICS.latencyP99,
        cl.last?.p99Ms,
        's',
        "client-like probes' p99 over the last window (reads and writes of the canary through the coordinators)",
      ],
      [WORKFLOW_METRICS.latencyP50, cl.last?.p50Ms, 's', "client-like probes' p50 over the last window"],
      [WORKFLOW_METRICS.latencyObjective, objective.p99Ms, 's', 'the p99 objective (policy.latency.p99Ms)'],
    ];
    for (const [name, v, unit, description] of floats) {
      if (v === null || v === undefined || last.values[name] === v) continue;
      g(name, 'float', unit, description).set(v / 1000, tags);
      last.values[name] = v;
    }
    const ints: [string, number, string][] = [
      [
        WORKFLOW_METRICS.latencyCap,
        cl.control.cap,
        "the client-latency controller's cap on shard moves in flight (moves in flight = min(concurrency, this cap, the scheduler's choice))",
      ],
      [
        WORKFLOW_METRICS.latencyBreach,
        cl.control.lastP99Ms !== null && cl.control.lastP99Ms > objective.p99Ms ? 1 : 0,
        "1 while the last measured probe window's p99 was above the objective",
      ],
    ];
    for (const [name, v, description] of ints) {
      if (last.values[name] === v) continue;
      g(name, 'int', '', description).set(v, tags);
      last.values[name] = v;
    }
  }

  // Version checks: the newest sample per phase and region pair (the workflow records p50/p95 per probe).
  if (s.latency.length !== last.latency) {
    const lat = g(
      WORKFLOW_METRICS.versionCheck,
      'float',
      's',
      'version check (GET /_api/version) round trip from the worker to a region, by phase',
    );
    for (const l of s.latency.slice(last.latency > s.latency.length ? 0 : last.latency)) {
      if (l.samples === 0) continue;
      const t = { ...tags, phase: l.phase, from_region: l.from, to_region: l.to };
      lat.set(l.p50Ms / 1000, { ...t, quantile: '0.5' });
      lat.set(l.p95Ms / 1000, { ...t, quantile: '0.95' });
    }
    last.latency = s.latency.length;
  }
  // Which worker reports the newest values: when a workflow moves between workers, the previous worker keeps
  // exporting its last values; dashboards pick, per migration, the series with the newest update (workflow time).
  g(
    WORKFLOW_METRICS.lastUpdate,
    'float',
    's',
    'when this worker last published the migration (workflow time, Unix seconds)',
  ).set(workflowNow() / 1000, tags);
  emitted.set(s, last);
}
