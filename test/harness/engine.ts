/**
 * Transit's shard engine (src/workflows/job-engine.ts) run in this process against the simulator through the real
 * agency activities — the same decisions and activity calls the workflow makes in MoveShards, without Temporal
 * (which the workflow tests cover against the in-memory world). `kill()` plays a SIGKILLed worker: the running
 * activity is cancelled and nothing more is called; `resume()` plays a new worker taking over the same state.
 */
import { MigrationSpec } from '../../src/spec/schema';
import { groupKey, indexPlan } from '../../src/workflows/plan';
import { assignTargets } from '../../src/workflows/scheduler';
import { newShardRun } from '../../src/workflows/shard-mover';
import { runJobEngine } from '../../src/workflows/job-engine';
import { initialState, type MigrationState } from '../../src/workflows/state';
import { arangoRef, simActivities, type SimCluster } from './sim';
import { worldSpec } from './specs';

class Killed extends Error {}

export interface EngineRun {
  state: MigrationState;
  /** Every step the engine ran, in order (its `what`). */
  steps: string[];
  /** Resolves when the engine returns (or rejects with what it threw); a killed engine resolves 'killed'. */
  done: Promise<'done' | 'stopped' | 'killed'>;
  kill(): Promise<void>;
  /** A new engine on the same state (a new worker after the old one died). */
  resume(): EngineRun;
  /** Last error the engine parked with, if any. */
  parked(): string | null;
  /** Where the engine puts the group of this prototype shard (its desired servers, leader first). */
  desiredOf(shard: string): string[] | undefined;
}

export async function startEngine(
  c: SimCluster,
  o: {
    targets: string[];
    migrationId?: string;
    concurrency?: number;
    stopStarting?: () => boolean;
    onStep?: (what: string) => void;
    /** Verify each group before its last source copy goes, as the workflow does since 'verify-before-remove' (default true). */
    verify?: boolean;
    /**
     * Verify replicationFactor-1 groups by raising their collection's replicationFactor while they move, as the workflow
     * does by default since 'raise-rf1-to-verify' (policy.verifyReplicationFactorOne). Default false here, so the
     * engine tests written for the one-job move of such groups keep their timing.
     */
    raise?: boolean;
    /** Awaited before each step runs (a test acts on the cluster at a precise point, e.g. before a verification). */
    beforeStep?: (what: string) => Promise<void>;
    /** Every line the engine logs (message and fields), e.g. 'shard group verified'. */
    onLog?: (msg: string, meta?: Record<string, unknown>) => void;
  },
): Promise<EngineRun> {
  const acts0 = simActivities();
  const arango = arangoRef(c);
  const migrationId = o.migrationId ?? 'engine-test';
  const plan = await acts0.readShardPlan({ migrationId, arango });
  const ix = indexPlan(plan);
  const desired = assignTargets(ix, o.targets);
  const spec = MigrationSpec.parse({ ...worldSpec(), arango, policy: { maxConcurrentShardMoves: o.concurrency ?? 8 } });
  const state = initialState(migrationId, spec);
  state.plan = plan;
  state.targetServerIds = o.targets;
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
  const steps: string[] = [];

  const launch = (): EngineRun => {
    const abort = new AbortController();
    let killed = false;
    const acts = simActivities({ signal: abort.signal });
    const guard = () => {
      if (killed) throw new Killed();
    };
    const done = runJobEngine({
      state,
      acts,
      ix,
      desired,
      now: () => Date.now(),
      sleep: async (ms) => {
        await new Promise((r) => setTimeout(r, ms));
        guard();
      },
      safePoint: async () => {
        guard();
        // A parked engine (the workflow would wait for resume) just waits here until the test clears it.
        while (state.pauseRequested) {
          await new Promise((r) => setTimeout(r, 200));
          guard();
        }
      },
      step: async (what, fn) => {
        guard();
        steps.push(what);
        o.onStep?.(what);
        await o.beforeStep?.(what);
        guard();
        try {
          return await fn();
        } finally {
          guard();
        }
      },
      onProgress: () => undefined,
      stopStarting: o.stopStarting ?? (() => false),
      log: (msg, meta) => o.onLog?.(msg, meta),
      verify: o.verify ?? true,
      raise: o.raise ?? false,
    }).catch((e) => {
      if (e instanceof Killed || killed) return 'killed' as const;
      throw e;
    });
    return {
      state,
      steps,
      done,
      kill: async () => {
        killed = true;
        abort.abort();
        await done.catch(() => undefined);
      },
      resume: () => launch(),
      parked: () => (state.pauseRequested ? state.lastError : null),
      desiredOf: (shard) => {
        for (let g = 0; g < ix.count; g++) if (groupKey(ix, g).shard === shard) return desired[g];
        return undefined;
      },
    };
  };
  return launch();
}
