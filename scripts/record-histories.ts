/**
 * Records the workflow histories that CI replays (test/replay-histories.test.ts): real runs of migrationWorkflow on
 * the real Temporal dev server, run by a production worker (src/worker.ts createWorker: the prebuilt workflow
 * bundle with Transit's failure converter, the AES-GCM payload codec) whose activities act on the in-memory world
 * (src/sim/world.ts). Payloads and failure messages are encrypted with the TEST key committed beside the
 * histories (test/histories/codec-test-key.json, made here once if missing: never a production key).
 *
 *   scripts/netns-run node --import tsx scripts/record-histories.ts                 # every scenario
 *   scripts/netns-run node --import tsx scripts/record-histories.ts parked-Drain ... # only these (by file name)
 *   scripts/netns-run node --import tsx scripts/record-histories.ts --as <prefix> [scenario ...]
 *       files <prefix>-<scenario>.json (how new histories are added after a workflow change)
 *   scripts/netns-run node --import tsx scripts/record-histories.ts --at <commit> --as <prefix> [scenario ...]
 *       the workflow code of an earlier commit (its src/ bundled from `git archive`), files <prefix>-<scenario>.json:
 *       histories of migrations an earlier release started, which the current code must still replay (default
 *       scenarios: completed, parked-mid-MoveShards, rolled-back)
 *   --replace: overwrite committed histories. Refused without it: a committed history is only replaced or removed
 *       together with the entry in docs/workflow-changes.md ("Retired histories") naming the release that stopped
 *       supporting it.
 *
 * Writes test/histories/<scenario>.json (Temporal's history JSON, as `temporal workflow show --output json`
 * writes it) and test/histories/manifest.json (per file: what it covers, the commit and date it was recorded at).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { AesGcmCodec, dataConverter, loadCodecKeys } from '../src/codec';
import { createWorker } from '../src/worker';
import {
  abortSignal,
  approveUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  rollbackSignal,
  setConcurrencyUpdate,
} from '../src/shared/controls';
import type { MigrationPhase } from '../src/shared/types';
import { startDevServer, ROOT, TEMPORAL_CLI, type DevServer } from '../test/harness/temporal';
import { productionBundleFile } from '../test/harness/transit-worker';
import { World, type WorldOptions } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from '../test/harness/specs';
import { waitFor } from '../test/harness/procs';
import { historyToJson } from '../test/histories/history-json';

const DIR = join(ROOT, 'test/histories');
export const KEY_FILE = join(DIR, 'codec-test-key.json');
const MANIFEST = join(DIR, 'manifest.json');

interface Recorded {
  file: string;
  covers: string;
  workflowId: string;
  runId: string;
  /** Run n of a continue-as-new chain (1 = the first). */
  run?: number;
  status: string;
  events: number;
  bytes: number;
  /** patched() ids recorded in this history (markers). */
  patches: string[];
  commit: string;
  recordedAt: string;
}

interface Ctx {
  world: World;
  client: Client;
  handle: WorkflowHandle;
  taskQueue: string;
}

interface Scenario {
  /** File name without .json (several files for a continue-as-new chain: <name>-run<n>). */
  name: string;
  covers: string;
  world?: WorldOptions;
  requireApproval?: boolean;
  /** The workflow input (default {spec: worldSpec()}). */
  input?: (spec: Record<string, unknown>) => unknown;
  /** Drives the run to the state the history is exported in; returns when it is there. */
  drive(ctx: Ctx): Promise<void>;
  /** Every run of the chain (continue-as-new), not only the first. */
  chain?: boolean;
  /** Must be in the history (activity types, signal or update names; 'a|b': one of them), checked after export. */
  mustContain?: string[];
}

// ---------------------------------------------------------------- the scenarios

/** As in test/workflow-controls.test.ts: the last activity call of `from` (or the first of `to`). */
const probeOf = (phase: string) => () => (name: string, a: any) => name === 'probeVersionChecks' && a.phase === phase;
const nth = (activity: string, n: number) => () => {
  let seen = 0;
  return (name: string) => activity.split('|').includes(name) && ++seen === n;
};
/** The shard engine's first step: MoveShard jobs (submitShardMoves), or the earlier lock-holding engine's addShardFollower. */
const SHARD_STEP = 'submitShardMoves|addShardFollower';
const BOUNDARIES: { from: MigrationPhase; to: MigrationPhase; gate: () => (name: string, a: any) => boolean }[] = [
  { from: 'Validate', to: 'Plan', gate: nth('readRecord', 1) },
  { from: 'Plan', to: 'BridgeNetworks', gate: probeOf('Plan') },
  { from: 'BridgeNetworks', to: 'ProvisionTarget', gate: probeOf('BridgeNetworks') },
  { from: 'ProvisionTarget', to: 'MoveShards', gate: probeOf('ProvisionTarget') },
  { from: 'MoveShards', to: 'MoveAgents', gate: probeOf('MoveShards') },
  { from: 'MoveAgents', to: 'CutoverDNS', gate: probeOf('MoveAgents') },
  { from: 'CutoverDNS', to: 'Drain', gate: probeOf('CutoverDNS') },
  // Drain has no activity: the pause arrives during Decommission's first step and parks before its next one.
  { from: 'Drain', to: 'Decommission', gate: nth('verifyConvergence', 3) },
  { from: 'Decommission', to: 'Complete', gate: nth('removeBridge', 1) },
];

async function parkedIn(handle: WorkflowHandle, phase: MigrationPhase): Promise<void> {
  const p = await waitFor(
    `the workflow to park in ${phase}`,
    async () => {
      const q = await handle.query(progressQuery);
      return q.paused ? q : undefined;
    },
    { timeoutMs: 60_000 },
  );
  if (p.phase !== phase) throw new Error(`parked in ${p.phase}, expected ${phase}`);
}

async function ended(handle: WorkflowHandle, status: string): Promise<void> {
  const r = (await handle.result()) as { status: string };
  if (r.status !== status) throw new Error(`ended ${r.status}, expected ${status}`);
}

/**
 * Drives a run to its second batch of shard moves (the engine's second submit), sends `signal` there with a
 * "recorded history: <reason>" note, then waits for `then`.
 */
function midMoveShards(
  signal: typeof pauseSignal,
  reason: string,
  then: (handle: WorkflowHandle) => Promise<void>,
): Scenario['drive'] {
  return async ({ world, handle }) => {
    const gate = world.gate(nth(SHARD_STEP, 2)());
    await gate.hit;
    await handle.signal(signal, { reason: `recorded history: ${reason}` });
    gate.release();
    await then(handle);
  };
}

/** The default world's rf-2 collection (with a clone) and a replicationFactor-1 one. */
const RF1_WORLD: NonNullable<WorldOptions['collections']> = [
  { name: 'orders', shards: 4, replicationFactor: 2, clones: 1, bytes: 1000 },
  { name: 'single', shards: 3, replicationFactor: 1, bytes: 1000 },
];

/** The spec with a client-latency objective the world's probes (round trips to its HTTP server) keep. */
function withLatency(spec: Record<string, any>): Record<string, unknown> {
  return {
    ...spec,
    policy: { ...spec.policy, latency: { p99Ms: 500, windowSeconds: 5, parkAfterSeconds: 0, minSamples: 1 } },
  };
}

const SCENARIOS: Scenario[] = [
  ...BOUNDARIES.map((b): Scenario => ({
    name: `parked-${b.to}`,
    covers: `paused at the ${b.from} → ${b.to} boundary (pause signal while ${b.from === 'Drain' ? "Decommission's first step" : `${b.from}'s last step`} runs); parked in ${b.to}, open`,
    async drive({ world, handle }) {
      const gate = world.gate(b.gate());
      await gate.hit;
      await handle.signal(pauseSignal, { reason: 'recorded history: parked at a phase boundary' });
      gate.release();
      await parkedIn(handle, b.to);
    },
    mustContain: ['pause'],
  })),
  {
    name: 'parked-mid-MoveShards',
    covers:
      'pause signal in the middle of MoveShards while shard groups are moving: in-flight moves are waited for, the migration parks in MoveShards with groups done and groups not started, open',
    world: { syncMs: 300 },
    drive: midMoveShards(pauseSignal, 'pause mid-MoveShards', (h) => parkedIn(h, 'MoveShards')),
    mustContain: ['pause', SHARD_STEP],
  },
  {
    name: 'completed',
    covers:
      'a migration from Validate to Complete without a control: every phase, the MoveShard-job engine forward, the end state (removeBridge with the target members)',
    async drive({ handle }) {
      await ended(handle, 'completed');
    },
    mustContain: [SHARD_STEP, 'removeBridge'],
  },
  {
    name: 'rolled-back',
    covers:
      'rollback signal in the middle of MoveShards while MoveShard jobs are open: the rollback cancels and drains them (cancelShardMoves, waitForShardMoves all), moves every group back and removes the target; ends rolledBack',
    world: { syncMs: 400 },
    drive: midMoveShards(rollbackSignal, 'rollback mid-MoveShards', (h) => ended(h, 'rolledBack')),
    mustContain: ['rollback', 'cancelShardMoves|removeShardFollower', 'removeTargetMembers'],
  },
  // Patch 'raise-rf1-to-verify': a world with a replicationFactor-1 collection, whose groups Transit verifies by
  // raising the collection's replicationFactor while they move (changeReplicationFactor), forward and on the way back.
  {
    name: 'rf1-raised-completed',
    covers:
      'a migration with a replicationFactor-1 collection: its replicationFactor raised to 2 (changeReplicationFactor), its groups compared before the source copy goes, the factor set back; ends completed',
    world: { collections: RF1_WORLD },
    async drive({ handle }) {
      await ended(handle, 'completed');
    },
    mustContain: [SHARD_STEP, 'changeReplicationFactor', 'verifyShardCopies'],
  },
  {
    name: 'rf1-raised-rolled-back',
    covers:
      'rollback mid-MoveShards with a replicationFactor-1 collection raised: the rollback moves the groups back (compared again), the factor is restored; ends rolledBack',
    world: { syncMs: 300, collections: RF1_WORLD },
    drive: midMoveShards(rollbackSignal, 'rollback mid-MoveShards, rf-1 raised', (h) => ended(h, 'rolledBack')),
    mustContain: ['rollback', 'changeReplicationFactor', 'removeTargetMembers'],
  },
  {
    name: 'rf1-raised-aborted',
    covers:
      'abort mid-MoveShards with a replicationFactor-1 collection raised: in-flight moves finish, the factor is restored; ends aborted',
    world: { syncMs: 300, collections: RF1_WORLD },
    drive: midMoveShards(abortSignal, 'abort mid-MoveShards, rf-1 raised', (h) => ended(h, 'aborted')),
    mustContain: ['abort', 'changeReplicationFactor'],
  },
  // Patch 'refresh-waiting-groups': a group waits on supervision (a follower gone from Plan as its job is written),
  // the engine re-reads its Plan (readShardServers) and goes on once supervision added the copy back.
  {
    name: 'waiting-group-refreshed',
    covers:
      'a group loses a follower in Plan as its MoveShard job is written (planChanged), waits on supervision, the engine re-reads its Plan (readShardServers) and completes once supervision added the copy back; ends completed',
    async drive({ world, handle }) {
      const gate = world.gate(nth('submitShardMoves', 1)());
      await gate.hit;
      const g = world.groups.find((x) => x.plan.length === 2)!;
      const follower = g.plan[1]!;
      g.plan = [g.plan[0]!];
      g.inSync.delete(follower);
      gate.release();
      await new Promise((r) => setTimeout(r, 3000));
      g.plan = [...g.plan, follower];
      g.inSync.add(follower);
      await ended(handle, 'completed');
    },
    mustContain: ['readShardServers', SHARD_STEP],
  },
  {
    name: 'aborted',
    covers:
      'abort signal in the middle of MoveShards: in-flight MoveShard jobs finish, nothing new starts; ends aborted in MoveShards',
    world: { syncMs: 300 },
    drive: midMoveShards(abortSignal, 'abort mid-MoveShards', (h) => ended(h, 'aborted')),
    mustContain: ['abort', SHARD_STEP],
  },
  // policy.latency: the latency loop beside the engine (patch 'latency-cap'); since the 'canary-moves' patch the
  // canary is created when MoveShards starts (ensureLatencyCanary before its first readShardPlan) and removed when the
  // migration ends (Complete, the end of a rollback, an abort) — before it, each engine run created and removed it.
  {
    name: 'latency-completed',
    covers:
      'policy.latency: probe windows beside the MoveShard-job engine, the canary created and removed; ends completed',
    // Jobs end 300 ms after their copy is in sync (since the patch latency-copies-synced the waits return on a copy in
    // sync too: recorded here).
    world: { moveTailMs: 300 },
    input: (spec) => ({ spec: withLatency(spec) }),
    async drive({ handle }) {
      await ended(handle, 'completed');
    },
    mustContain: ['ensureLatencyCanary', 'probeClientLatency', 'removeLatencyCanary', SHARD_STEP],
  },
  {
    name: 'latency-rolled-back',
    covers:
      'policy.latency, rollback signal mid-MoveShards: probes on the way back too, the canary removed; ends rolledBack',
    world: { syncMs: 400, moveTailMs: 300 },
    input: (spec) => ({ spec: withLatency(spec) }),
    drive: midMoveShards(rollbackSignal, 'rollback mid-MoveShards, policy.latency', (h) => ended(h, 'rolledBack')),
    mustContain: ['rollback', 'ensureLatencyCanary', 'removeLatencyCanary', 'removeTargetMembers'],
  },
  {
    name: 'latency-aborted',
    covers: 'policy.latency, abort signal mid-MoveShards: in-flight moves finish, the canary removed; ends aborted',
    world: { syncMs: 300 },
    input: (spec) => ({ spec: withLatency(spec) }),
    drive: midMoveShards(abortSignal, 'abort mid-MoveShards, policy.latency', (h) => ended(h, 'aborted')),
    mustContain: ['abort', 'ensureLatencyCanary', 'removeLatencyCanary'],
  },
  {
    name: 'failed-step-resumed',
    covers:
      'a step fails non-retryably (bridgeNetworks: an encrypted ActivityFailure), the migration parks with lastError, resume retries it; ends completed',
    async drive({ world, handle }) {
      world.failing.set('bridgeNetworks', 'simulated: quota exceeded in the target region (recorded history)');
      await parkedIn(handle, 'BridgeNetworks');
      world.failing.clear();
      await handle.signal(resumeSignal, { reason: 'recorded history: retry the failed step' });
      await ended(handle, 'completed');
    },
    mustContain: ['resume', 'bridgeNetworks'],
  },
  {
    name: 'approved',
    covers:
      'policy.requireApproval: waits in AwaitApproval; setConcurrency update (accepted, 4 → 7) and approve update, then completes',
    requireApproval: true,
    async drive({ handle }) {
      await waitFor('AwaitApproval', async () => (await handle.query(progressQuery)).status === 'awaitingApproval', {
        timeoutMs: 60_000,
      });
      await handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: 7 }] });
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'recorder', reason: 'recorded history' }] });
      await ended(handle, 'completed');
    },
    mustContain: ['approve', 'setConcurrency'],
  },
  {
    name: 'continued-as-new',
    covers:
      'continueAsNewAfterEvents: 100 — the state carried across runs (every run of the chain is a file: -run<n>); the last run completes',
    input: (spec) => ({ spec, continueAsNewAfterEvents: 100 }),
    chain: true,
    async drive({ handle }) {
      await ended(handle, 'completed');
    },
  },
  {
    name: 'invalid-input',
    covers:
      'a workflow input that is not a valid spec: the first workflow task fails the workflow with the non-retryable InvalidSpecError (message encoded by the failure converter), no activity',
    input: (spec) => ({
      spec: { ...spec, deployment: { name: 'arango' }, network: { mode: 'carrier-pigeon' } },
      migrationId: '',
    }),
    async drive({ handle }) {
      const err = await handle.result().then(
        () => null,
        (e: Error & { cause?: { type?: string } }) => e,
      );
      if (err?.cause?.type !== 'InvalidSpecError')
        throw new Error(
          `expected InvalidSpecError, got ${err ? ((err.cause as Error | undefined)?.message ?? err.message) : 'success'}`,
        );
    },
  },
];

// ---------------------------------------------------------------- recording

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

function ensureKey(): void {
  if (existsSync(KEY_FILE)) return;
  const id = 'TEST-ONLY-histories-2026-11';
  writeFileSync(
    KEY_FILE,
    `${JSON.stringify({ current: id, keys: { [id]: randomBytes(32).toString('base64') } }, null, 2)}\n`,
  );
  console.log(`made the test key ${KEY_FILE}`);
}

type JsonHistory = { events: Record<string, any>[] };

/** What a history holds, in words the manifest and the checks use: activity types, signals, updates, patch ids. */
async function summarize(h: JsonHistory, codec: AesGcmCodec) {
  const names = new Set<string>();
  const patches: string[] = [];
  for (const e of h.events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) names.add(a.activityType.name);
    const s = e.workflowExecutionSignaledEventAttributes;
    if (s) names.add(s.signalName);
    const u = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (u) names.add(u.acceptedRequest?.input?.name);
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName === 'core_patch') {
      const raw = (m.details?.['patch-data'] ?? m.details?.patch_data)?.payloads?.[0];
      if (raw) {
        const [p] = await codec.decode([
          {
            metadata: Object.fromEntries(
              Object.entries(raw.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v as string, 'base64')]),
            ),
            data: Buffer.from(raw.data ?? '', 'base64'),
          },
        ]);
        const v = JSON.parse(Buffer.from(p!.data ?? []).toString()) as { id?: string };
        if (v.id && !patches.includes(v.id)) patches.push(v.id);
      }
    }
  }
  return { names, patches };
}

/** Which workflow code records: the current tree (prefix '') or an earlier commit's (files <prefix>-<scenario>). */
interface Code {
  replace: boolean;
  bundlePath: string;
  commit: string;
  prefix: string;
  note: string;
}

async function record(server: DevServer, code: Code, sc: Scenario): Promise<Recorded[]> {
  const { bundlePath, commit } = code;
  const base = `${code.prefix}${sc.name}`;
  const first = sc.chain ? `${base}-run1.json` : `${base}.json`;
  if (existsSync(join(DIR, first)) && !code.replace) throw new Error(`${first} exists: ${REPLACE_RULE}`);
  const world = new World({ syncMs: 20, ...sc.world });
  await world.start();
  const taskQueue = `record-${base}-${randomBytes(3).toString('hex')}`;
  const { worker, connection } = await createWorker({
    address: server.address,
    taskQueue,
    codecKeyFile: KEY_FILE,
    workflowBundlePath: bundlePath,
    logLevel: 'WARN',
    activityImplementations: createWorldActivities(world.url),
    identity: 'history-recorder',
  });
  const running = worker.run();
  const client = new Client({
    connection: server.connection,
    namespace: server.namespace,
    dataConverter: await dataConverter({ keyFile: KEY_FILE }),
  });
  const codec = new AesGcmCodec(loadCodecKeys(KEY_FILE));
  try {
    const spec = worldSpec() as Record<string, any>;
    spec.policy = { ...spec.policy, requireApproval: !!sc.requireApproval };
    const workflowId = `recorded-${base}`;
    const handle = await client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId,
      args: [sc.input ? sc.input(spec) : { spec }],
    });
    const started = Date.now();
    await sc.drive({ world, client, handle, taskQueue });
    // A parked workflow has nothing left to do: its last workflow task is complete once the query answers.
    const runs: string[] = [handle.firstExecutionRunId];
    const out: Recorded[] = [];
    for (let i = 0; i < runs.length; i++) {
      const h = await client.workflow.getHandle(workflowId, runs[i]).fetchHistory();
      const json = historyToJson(h) as JsonHistory;
      const last = json.events[json.events.length - 1]!;
      const next = last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId as string | undefined;
      if (next) {
        if (!sc.chain) throw new Error(`${sc.name}: continued as new unexpectedly`);
        runs.push(next);
      }
      const file = sc.chain ? `${base}-run${i + 1}.json` : `${base}.json`;
      if (existsSync(join(DIR, file)) && !code.replace) throw new Error(`${file} exists: ${REPLACE_RULE}`);
      const text = `${JSON.stringify(json)}\n`;
      writeFileSync(join(DIR, file), text);
      const { names, patches } = await summarize(json, codec);
      const status = next
        ? 'CONTINUED_AS_NEW'
        : (await client.workflow.getHandle(workflowId, runs[i]).describe()).status.name;
      out.push({
        file,
        covers: `${code.note}${sc.chain ? `${sc.covers} (run ${i + 1})` : sc.covers}`,
        workflowId,
        runId: runs[i]!,
        ...(sc.chain ? { run: i + 1 } : {}),
        status,
        events: json.events.length,
        bytes: Buffer.byteLength(text),
        patches,
        commit,
        recordedAt: new Date().toISOString(),
      });
      for (const want of i === 0 ? (sc.mustContain ?? []) : []) {
        if (!want.split('|').some((w) => names.has(w)))
          throw new Error(`${file}: expected ${want} in the history, has ${[...names].join(', ')}`);
      }
    }
    if (sc.chain && runs.length < 2) throw new Error(`${sc.name}: did not continue as new`);
    console.log(
      `${base}: ${out.map((r) => `${r.file} (${r.status}, ${r.events} events, ${(r.bytes / 1024).toFixed(0)} KiB)`).join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') await handle.terminate('recorded');
    return out;
  } finally {
    worker.shutdown();
    await running.catch(() => undefined);
    await connection.close().catch(() => undefined);
    await world.stop();
  }
}

/** An earlier commit's src/ (git archive) bundled as a production image bundles it (with its failure converter). */
async function bundleAt(commit: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'transit-workflow-at-'));
  execFileSync('sh', ['-c', `git archive ${commit} src | tar -x -C ${dir}`], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(dir, 'src/workflows'),
    failureConverterPath: join(dir, 'src/failure-converter.ts'),
    logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m) },
  });
  const path = join(dir, 'workflow-bundle.js');
  writeFileSync(path, code);
  return path;
}

const REPLACE_RULE =
  'committed histories are not overwritten; record under a new --as <prefix>, or retire it as docs/workflow-changes.md says ("Retired histories") and pass --replace';

const EARLIER_DEFAULT = ['completed', 'parked-mid-MoveShards', 'rolled-back'];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (!v || v.startsWith('--')) throw new Error(`${name} needs a value`);
    args.splice(i, 2);
    return v;
  };
  const replace = args.includes('--replace');
  if (replace) args.splice(args.indexOf('--replace'), 1);
  const at = opt('--at');
  const as = opt('--as');
  if (at && !as) throw new Error('--at <commit> needs --as <prefix>');
  const only = args.length ? args : at ? EARLIER_DEFAULT : [];
  const selected = only.length
    ? SCENARIOS.filter((s) => only.some((o) => o === s.name || o.startsWith(`${s.name}-run`) || o === `${s.name}.json`))
    : SCENARIOS;
  if (selected.length === 0)
    throw new Error(`no scenario named ${only.join(' ')}; scenarios: ${SCENARIOS.map((s) => s.name).join(' ')}`);
  ensureKey();
  const commit = git('rev-parse', 'HEAD');
  const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean);
  if (dirty.length)
    console.warn(
      `note: src/ differs from ${commit.slice(0, 10)} (recorded with the working tree):\n${dirty.join('\n')}`,
    );
  let code: Code;
  if (at) {
    const full = git('rev-parse', '--verify', `${at}^{commit}`);
    code = {
      replace,
      bundlePath: await bundleAt(full),
      commit: full,
      prefix: `${as}-`,
      note: `Workflow code of ${full.slice(0, 10)} ("${git('log', '-1', '--format=%s', full).slice(0, 80)}"), recorded by ${commit.slice(0, 10)}'s recorder: `,
    };
  } else {
    code = {
      replace,
      bundlePath: await productionBundleFile(),
      commit: dirty.length ? `${commit} (+ uncommitted src changes)` : commit,
      prefix: as ? `${as}-` : '',
      note: '',
    };
  }
  const server = await startDevServer();
  const recorded: Recorded[] = [];
  try {
    for (const sc of selected) recorded.push(...(await record(server, code, sc)));
  } finally {
    await server.stop();
  }
  // The manifest keeps every entry it had; a scenario recorded now replaces its own files' entries.
  const prev = existsSync(MANIFEST)
    ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { histories: Recorded[] }).histories
    : [];
  const chains = new Set(selected.filter((s) => s.chain).map((s) => `${code.prefix}${s.name}`));
  const mine = (f: string) => recorded.some((r) => r.file === f) || [...chains].some((c) => f.startsWith(`${c}-run`));
  const histories = [...prev.filter((h) => !mine(h.file)), ...recorded].sort((a, b) => a.file.localeCompare(b.file));
  const cli = execFileSync(TEMPORAL_CLI, ['--version'], { encoding: 'utf8' }).trim();
  const sdk = (
    JSON.parse(readFileSync(join(ROOT, 'node_modules/@temporalio/worker/package.json'), 'utf8')) as { version: string }
  ).version;
  const manifest = {
    about:
      'Workflow histories of real migrationWorkflow runs, replayed in CI by test/replay-histories.test.ts. Recorded by scripts/record-histories.ts; when one may be replaced: docs/workflow-changes.md.',
    format:
      "Temporal's history JSON (proto3 JSON of temporal.api.history.v1.History, as `temporal workflow show --output json` writes it)",
    codec:
      'payloads and failure attributes encrypted with src/codec.ts (AES-256-GCM) and the TEST key codec-test-key.json in this directory',
    recordedWith: {
      temporalSdk: sdk,
      temporalCli: cli,
      worker:
        'src/worker.ts createWorker with the production bundle (writeWorkflowBundle) and activities on src/sim/world.ts',
    },
    histories,
  };
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  const total = histories.reduce((n, h) => n + statSync(join(DIR, h.file)).size, 0);
  console.log(`${histories.length} histories, ${(total / 1024).toFixed(0)} KiB in ${DIR}`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
