/**
 * `transit rehearse`: the very same migrationWorkflow, on its own task queue, against a simulated copy of the live
 * source — never against the real clusters.
 *
 * 1. Survey the live source READ-ONLY (the dry run's steps: preflight, health, the ArangoDeployment, the agency's
 *    Plan with every shard group's size from the coordinator's figures, the DNS record).
 * 2. Build the copy: a simulated cluster of the same shape (src/rehearse/copy.ts) and the in-memory world for the
 *    Kubernetes and DNS side (src/sim/world.ts), with the operator's link rate and pod start time.
 * 3. Run the workflow through the operator's Temporal with a worker process of its own (src/rehearse/worker.ts),
 *    strike the scheduled faults (src/rehearse/faults.ts), and watch it end.
 * 4. Predict: each phase's duration scaled back from `--speed`, bytes crossing regions, peak moves in flight, the
 *    step plan, each fault's outcome; optionally the HTML report of the rehearsal's own workflow.
 *
 * `--speed N` multiplies the copy's link rate by N and divides the modelled waits (pod starts, DNS TTL, the
 * drain, the faults' durations) by N; supervision, heartbeats and Temporal's timeouts are not compressed (they
 * are what a migration really waits on). A phase's prediction is what it took plus (N − 1) × its compressed part,
 * so job overheads are not multiplied. The simulator is loaded here, lazily: it stays out of workflows and
 * activities.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TransitClient } from '../client';
import type { MigrationSpec } from '../spec/schema';
import type { MigrationPhase, MigrationProgress } from '../shared/types';
import type { World } from '../sim/world';
import type { SimCluster } from '../sim/cluster';
import { dryRunFrom, surveySource, type DryRun, type DryRunActivities } from '../cli/dry-run';
import { copyShape, startCopy, type RehearsalCopy } from './copy';
import { DEFAULT_FAULT_SECONDS, describeFault, type Fault, type FaultOutcome } from './faults';

export interface RehearseOptions {
  spec: MigrationSpec;
  /** The read-only activities the survey calls (the real ones, against the live source). */
  acts: DryRunActivities;
  client: TransitClient;
  /** Environment for the rehearsal's worker process: the Temporal connection (TEMPORAL_ADDRESS, TLS, codec key). */
  workerEnv: NodeJS.ProcessEnv;
  faults?: Fault[];
  speed?: number;
  /** Each DB server's link rate per direction at full scale, bytes/s (Infinity: unbounded). */
  bandwidthBytesPerSecond: number;
  /** Where the rate came from (printed beside every prediction). */
  bandwidthSource: string;
  /**
   * How long one pod takes to start in the target (provisioning, each agent move), seconds at full scale. Default:
   * what the source's member pods took (creation → first Ready, the median), else 5 s.
   */
  podStartSeconds?: number;
  /**
   * The round trip between the two regions, ms (`--rtt-ms`; there is no bridge to probe before a migration): added
   * to every request between members of the copy on different sides. Default none.
   */
  crossRegionRttMs?: number;
  /** Give up after this long (real seconds of the rehearsal). */
  timeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface PhasePrediction {
  phase: string;
  /** What the phase took in the rehearsal (seconds, real time of the rehearsal). */
  rehearsedSeconds: number;
  /** The part of it compressed by --speed (seconds, rehearsal time). */
  compressedSeconds: number;
  /** Predicted at full scale: P50, and P90 where the phase has a spread (MoveShards' jobs). */
  p50Seconds: number;
  p90Seconds: number;
}

export interface Rehearsal {
  arango: 'simulated';
  workflowId: string;
  taskQueue: string;
  speed: number;
  bandwidth: { bytesPerSecond: number | null; source: string };
  podStart: { seconds: number; source: string };
  crossRegionRttMs: number;
  /** How the rehearsal ended: completed, rolledBack, aborted, failed, or parked (with its message). */
  ended: string;
  lastError: string | null;
  phases: PhasePrediction[];
  moveShards: { p50Seconds: number; p90Seconds: number } | null;
  total: { p50Seconds: number; p90Seconds: number };
  /** Modelled bytes the copy's new DB servers received (what crosses regions in a real migration). */
  bytesCrossingRegions: number;
  peakMovesInFlight: number;
  plan: Pick<DryRun, 'phases' | 'create' | 'agents' | 'totals' | 'bytesToCopy' | 'dns'> & {
    groupsMoving: number;
    estimate: DryRun['estimate'];
  };
  copy: { settings: string[]; dbServers: number; targets: number; agents: number; coordinators: number };
  faults: FaultOutcome[];
}

const TERMINAL = new Set(['completed', 'rolledBack', 'aborted', 'failed']);
const WORKER = join(__dirname, 'worker.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts (and restarts, after a worker-sigkill fault) the rehearsal's worker process. */
class RehearsalWorker {
  private proc: ChildProcess | null = null;
  private tail: string[] = [];
  constructor(
    private args: string[],
    private env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [...process.execArgv, WORKER, ...this.args], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = child;
    await new Promise<void>((resolve, reject) => {
      const onLine = (b: Buffer) => {
        for (const l of b.toString().split('\n').filter(Boolean)) {
          this.tail = [...this.tail, l].slice(-20);
          if (l.includes('worker ready')) resolve();
        }
      };
      child.stdout!.on('data', onLine);
      child.stderr!.on('data', onLine);
      child.once('exit', (code, sig) =>
        reject(new Error(`the rehearsal's worker exited (${code ?? sig}):\n${this.tail.join('\n')}`)),
      );
    });
  }

  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

/** A point of progress: it moved when any of these changed. */
const mark = (p: MigrationProgress) => `${p.phase}|${p.shardsDone}|${p.agentsMoved}|${p.bytesDone}|${p.status}`;

/** How far the phase has come, 0..1 (MoveShards: bytes, else groups; MoveAgents: agents). */
function fraction(p: MigrationProgress): number {
  if (p.phase === 'MoveShards')
    return p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.shardsTotal > 0 ? p.shardsDone / p.shardsTotal : 0;
  if (p.phase === 'MoveAgents') return p.agentsTotal > 0 ? p.agentsMoved / p.agentsTotal : 0;
  return 0;
}

export async function rehearse(o: RehearseOptions): Promise<Rehearsal> {
  const log = o.log ?? (() => undefined);
  const speed = o.speed ?? 1;
  const spec = o.spec;
  const workflowId = `rehearse-${spec.deployment.namespace}-${spec.deployment.name}-${Date.now()}`;
  const taskQueue = `transit-rehearse-${Date.now().toString(36)}`;
  const bw = o.bandwidthBytesPerSecond;

  // 1. The live source, read-only.
  log(`reading ${spec.deployment.namespace}/${spec.deployment.name} in ${spec.source.context} (read-only)…`);
  const survey = await surveySource(o.acts, spec, workflowId);
  const measured = survey.inventory.podStart;
  const podStart = o.podStartSeconds ?? measured?.medianSeconds ?? 5;
  const podStartSource =
    o.podStartSeconds !== undefined
      ? '--pod-start-seconds'
      : measured
        ? `the source's ${measured.pods} member pods, creation → Ready (median)`
        : 'no pod of the source told (a default)';
  const finite = Number.isFinite(bw) ? bw : undefined;
  const dry = dryRunFrom(survey, spec, workflowId, { bandwidthBytesPerSecond: finite });
  const dryAtSpeed = dryRunFrom(survey, spec, workflowId, {
    bandwidthBytesPerSecond: finite === undefined ? undefined : finite * speed,
  });

  // 2. The copy and the world.
  const shape = copyShape(survey, finite === undefined ? Infinity : finite * speed);
  const refOf = (c: SimCluster) => ({ endpoint: c.coordinatorUrl, jwtSecret: { file: c.jwtSecretFile } });
  log(
    `building the simulated copy (${shape.topology.dbServers} DB servers; ${shape.targets} more in ProvisionTarget)…`,
  );
  const copy: RehearsalCopy = await startCopy(shape, { log, crossRegionRttMs: o.crossRegionRttMs });
  const { World: WorldClass } = require('../sim/world') as typeof import('../sim/world');
  const world: World = new WorldClass({
    collections: [],
    provisionMs: (podStart * 1000) / speed,
    propagationMs: (survey.record.ttl * 1000) / speed,
    dns: { values: survey.record.values, ttl: survey.record.ttl },
    // The world plays Kubernetes for the copy: pods it creates, moves and deletes are the copy's members.
    members: {
      sourceMembers: copy.mirror(survey.inventory.members),
      provision: (m) => copy.addMember(m.role === 'dbserver' ? 'dbserver' : 'coordinator'),
      moveAgent: (agent, to) => copy.moveAgent(agent.id, (podStart * 1000) / speed, to),
      stop: (m) => copy.stopMember(m.id),
      clientUrl: (side) => copy.coordinatorUrl(side),
    },
  });
  await world.start();
  const dir = mkdtempSync(join(tmpdir(), 'transit-rehearse-'));
  const bundle = join(dir, 'workflow-bundle.js');
  let worker: RehearsalWorker | null = null;
  const restores: (() => Promise<void>)[] = [];
  try {
    const { writeWorkflowBundle } = require('../worker') as typeof import('../worker');
    const { DefaultLogger } = require('@temporalio/worker') as typeof import('@temporalio/worker');
    await writeWorkflowBundle(bundle, { logger: new DefaultLogger('WARN') });
    worker = new RehearsalWorker([taskQueue, world.url, bundle], o.workerEnv);
    await worker.start();

    // 3. The workflow, against the copy.
    const drain = spec.policy.timeouts.drainSeconds;
    const rspec = {
      ...spec,
      arango: refOf(copy.cluster),
      policy: {
        ...spec.policy,
        timeouts: { ...spec.policy.timeouts, drainSeconds: drain / speed },
        ...(spec.policy.bandwidthBytesPerSecond
          ? { bandwidthBytesPerSecond: spec.policy.bandwidthBytesPerSecond * speed }
          : {}),
      },
    };
    await o.client.startMigration(rspec, { workflowId, taskQueue });
    log(`rehearsal ${workflowId} started on task queue ${taskQueue} (speed ×${speed})`);
    const t0 = Date.now();
    const pending = (o.faults ?? []).map((f) => ({ f, struck: false }));
    const open: { f: Fault; at: number; mark: string; errors: Set<string>; outcome: FaultOutcome }[] = [];
    const outcomes: FaultOutcome[] = [];
    let peak = 0;
    let last: MigrationProgress | null = null;
    let lastLogged = '';
    const deadline = t0 + (o.timeoutSeconds ?? 6 * 3600) * 1000;
    for (;;) {
      const p = await o.client.getProgress(workflowId).catch(() => null);
      if (p) {
        last = p;
        peak = Math.max(peak, p.shardsInFlight);
        const m = mark(p);
        const blocked = open.filter((x) => x.outcome.blockedSeconds === null);
        // While a fault blocks: what the workflow reports, and the failures of the steps Temporal is retrying.
        const retrying = blocked.length ? await retriedSteps(o.client, workflowId) : [];
        for (const x of blocked) {
          if (p.lastError) x.errors.add(p.lastError.slice(0, 160));
          for (const r of retrying) x.errors.add(r);
          if (m !== x.mark) x.outcome.blockedSeconds = (Date.now() - x.at) / 1000;
        }
        if (p.phase !== lastLogged) {
          log(`  ${p.phase}…`);
          lastLogged = p.phase;
        }
        for (const x of pending.filter((x) => !x.struck)) {
          if (x.f.at.phase === p.phase && fraction(p) >= x.f.at.fraction && !TERMINAL.has(p.status)) {
            x.struck = true;
            log(`  fault: ${describeFault(x.f)}`);
            const outcome: FaultOutcome = {
              fault: describeFault(x.f),
              atSeconds: (Date.now() - t0) / 1000,
              blockedSeconds: null,
              transit: '',
              ended: '',
            };
            outcomes.push(outcome);
            open.push({ f: x.f, at: Date.now(), mark: m, errors: new Set(), outcome });
            const note = await strike(x.f, {
              copy,
              world,
              worker: worker!,
              speed,
              bandwidth: shape.topology.bandwidth,
              restores,
            });
            if (note) outcome.transit = note;
          }
        }
        // The rehearsal never pauses its workflow: paused means parked by a step that failed.
        if (TERMINAL.has(p.status) || p.paused) break;
      }
      if (Date.now() > deadline) throw new Error(`rehearsal ${workflowId}: no end after ${o.timeoutSeconds} s`);
      await sleep(250);
    }
    for (const r of restores.splice(0)) await r();
    const parked = !!last && last.paused && !TERMINAL.has(last.status);
    const ended = parked ? `parked: ${last!.lastError ?? '(no message)'}` : last!.status;
    if (parked)
      await o.client
        .handle(workflowId)
        .terminate('rehearsal ended: parked')
        .catch(() => undefined);
    for (const x of open) {
      x.outcome.transit ||= x.errors.size
        ? [...x.errors].join(' | ')
        : 'waited; no step failed (progress resumed on its own)';
      x.outcome.ended = ended;
    }

    // 4. Predictions, scaled back.
    const compressed: Partial<Record<MigrationPhase, number>> = {
      ProvisionTarget: podStart / speed,
      MoveAgents: (dry.agents.length * podStart) / speed,
      CutoverDNS: survey.record.ttl / speed,
      Drain: drain / speed,
      MoveShards: dryAtSpeed.estimate.linkSeconds ?? 0,
    };
    const jobSpread = dry.estimate.p50Seconds > 0 ? dry.estimate.p90Seconds / dry.estimate.p50Seconds : 1;
    const phases: PhasePrediction[] = (last?.phaseTimings ?? [])
      .filter((t) => t.endedAt !== undefined)
      .map((t) => {
        const rehearsed = t.seconds ?? (t.endedAt! - t.startedAt) / 1000;
        const c = Math.min(rehearsed, compressed[t.phase as MigrationPhase] ?? 0);
        const p50 = rehearsed + (speed - 1) * c;
        return {
          phase: t.phase,
          rehearsedSeconds: round(rehearsed),
          compressedSeconds: round(c),
          p50Seconds: round(p50),
          p90Seconds: round(t.phase === 'MoveShards' ? p50 * Math.max(1, jobSpread) : p50),
        };
      });
    const sum = (k: 'p50Seconds' | 'p90Seconds') => round(phases.reduce((n, x) => n + x[k], 0));
    const ms = phases.find((x) => x.phase === 'MoveShards');
    return {
      arango: 'simulated',
      workflowId,
      taskQueue,
      speed,
      bandwidth: { bytesPerSecond: finite ?? null, source: o.bandwidthSource },
      podStart: { seconds: podStart, source: podStartSource },
      crossRegionRttMs: o.crossRegionRttMs ?? 0,
      ended,
      lastError: last?.lastError ?? null,
      phases,
      moveShards: ms ? { p50Seconds: ms.p50Seconds, p90Seconds: ms.p90Seconds } : null,
      total: { p50Seconds: sum('p50Seconds'), p90Seconds: sum('p90Seconds') },
      bytesCrossingRegions: copy.bytesReceived(),
      peakMovesInFlight: peak,
      plan: {
        phases: dry.phases,
        create: dry.create,
        agents: dry.agents,
        totals: dry.totals,
        bytesToCopy: dry.bytesToCopy,
        dns: dry.dns,
        groupsMoving: dry.groups.filter((g) => g.to.some((s) => !g.from.includes(s))).length,
        estimate: dry.estimate,
      },
      copy: {
        settings: shape.settings,
        dbServers: shape.topology.dbServers ?? 0,
        targets: shape.targets,
        agents: shape.topology.agents ?? 0,
        coordinators: shape.topology.coordinators ?? 0,
      },
      faults: outcomes,
    };
  } finally {
    for (const r of restores.splice(0)) await r().catch(() => undefined);
    await worker?.kill().catch(() => undefined);
    await world.stop().catch(() => undefined);
    await copy.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

/** Activities Temporal is retrying now: "<type> (attempt n): <last failure>". */
async function retriedSteps(client: TransitClient, workflowId: string): Promise<string[]> {
  const d = await client
    .handle(workflowId)
    .describe()
    .catch(() => null);
  return (d?.raw.pendingActivities ?? [])
    .filter((a) => (a.attempt ?? 1) > 1 && a.lastFailure?.message)
    .map((a) => `${a.activityType?.name ?? 'activity'} retried: ${String(a.lastFailure!.message).slice(0, 120)}`);
}

interface StrikeContext {
  copy: RehearsalCopy;
  world: World;
  worker: RehearsalWorker;
  speed: number;
  /** The copy's link rate per direction (bytes/s or 'unbounded'). */
  bandwidth: unknown;
  /** Undo steps still due when the rehearsal ends (a member to start again, a link to restore). */
  restores: (() => Promise<void>)[];
}

/** Strikes one fault on the copy (never on anything real); its end is scheduled, compressed by the speed. */
async function strike(f: Fault, x: StrikeContext): Promise<string | void> {
  const c = x.copy.cluster;
  const secs = (f.seconds ?? DEFAULT_FAULT_SECONDS[f.fault] ?? 0) / x.speed;
  const later = (undo: () => Promise<void>) => {
    let done = false;
    const once = async () => {
      if (done) return;
      done = true;
      x.restores.splice(x.restores.indexOf(once), 1);
      await undo();
    };
    x.restores.push(once);
    setTimeout(() => void once().catch(() => undefined), secs * 1000);
  };
  const dbServer = (ids: string[]) => {
    const id = ids[Math.min(f.server, ids.length - 1)];
    const m = id ? c.memberById(id) : undefined;
    if (!m) throw new Error(`fault ${f.fault}: no DB server #${f.server}`);
    return m;
  };
  const rate = typeof x.bandwidth === 'number' ? x.bandwidth : Infinity;
  switch (f.fault) {
    case 'kill-source-dbserver':
    case 'kill-target-dbserver': {
      const m = dbServer(f.fault === 'kill-source-dbserver' ? x.copy.sources : x.copy.targets);
      x.copy.noteRestart(m);
      await m.stop();
      later(() => c.restart(m));
      return;
    }
    case 'agency-leader': {
      const leader = await c.agencyLeader();
      if (!leader) throw new Error('fault agency-leader: the copy has no agency leader');
      await leader.stop();
      later(() => c.restart(leader));
      return;
    }
    case 'bridge-down': {
      // The copy has no network between regions: the bridge going down stalls every copy into the target.
      const links = x.copy.targets.map((id) => c.memberById(id)?.dbServer?.recvLink).filter((l) => !!l);
      for (const l of links) l.setCapacity(1);
      later(async () => links.forEach((l) => l.setCapacity(rate)));
      return;
    }
    case 'worker-sigkill':
      // As a Deployment would: the process dies, another starts at once.
      await x.worker.kill();
      await x.worker.start();
      return;
    case 'dns-server-stop': {
      const until = Date.now() + secs * 1000;
      for (const n of ['readRecord', 'switchRecord', 'waitForPropagation', 'restoreRecord'])
        x.world.outages.set(n, until);
      return;
    }
    case 'halve-link': {
      const l = dbServer(x.copy.targets).dbServer?.recvLink;
      if (!l || !Number.isFinite(l.capacity))
        return "no effect: the copy's links are unbounded (give --bandwidth to rehearse a link that halves)";
      l.setCapacity(l.capacity / 2);
      return;
    }
  }
}
