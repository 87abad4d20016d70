/**
 * Transit's activities bound to the in-memory world (src/sim/world.ts) over HTTP: what a worker registers
 * in the workflow tests. Spec validation is the real one. Waits poll the world and heartbeat, like the real
 * activities, so that a killed worker is noticed by its heartbeat timeout.
 */
import { readFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TransitActivities } from '../activities/contract';
import { validateSpec } from '../spec/validate';
import { percentile } from '../workflows/latency';

const WAITS = new Set([
  'waitForShardInSync',
  'waitForShardMoves',
  'waitForServerRegistered',
  'waitForPropagation',
  'provisionTargetMembers',
  'moveShardLeadership',
]);

function inActivity(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}

/**
 * Like the real activities, these resolve credential references themselves (file references here) and present
 * the values to the world, which checks them: so a test can prove the values never reach workflow history.
 */
function credentialsOf(args: any): string[] {
  const refs = [args?.arango?.jwtSecret, args?.spec?.arango?.jwtSecret, args?.dns?.tsigKey, args?.spec?.dns?.tsigKey];
  return refs.filter((r) => r && typeof r.file === 'string').map((r) => readFileSync(r.file, 'utf8').trim());
}

export function createWorldActivities(url: string): TransitActivities {
  const post = async (name: string, args: unknown) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const creds = credentialsOf(args);
    if (creds.length) headers['x-credentials'] = Buffer.from(JSON.stringify(creds)).toString('base64');
    const res = await fetch(`${url}/act/${name}`, { method: 'POST', body: JSON.stringify(args), headers });
    return (await res.json()) as {
      ok: boolean;
      out?: unknown;
      type?: string;
      message?: string;
      nonRetryable?: boolean;
    };
  };
  const call = async (name: string, args: unknown): Promise<unknown> => {
    for (;;) {
      inActivity()?.heartbeat({ waiting: name });
      const r = await post(name, args);
      if (r.ok) return r.out;
      if (r.type === 'NotYet' && WAITS.has(name)) {
        await (inActivity()?.sleep(100) ?? new Promise((res) => setTimeout(res, 100)));
        continue;
      }
      throw ApplicationFailure.create({
        message: r.message ?? 'world error',
        type: r.type ?? 'Error',
        nonRetryable: !!r.nonRetryable,
      });
    }
  };
  const acts: Record<string, (args: any) => Promise<unknown>> = {};
  for (const name of ACTIVITY_NAMES) acts[name] = (args: unknown) => call(name, args);
  // policy.latency on the world: the probes time real round trips to the world's HTTP server (GET /ping, at a fixed
  // rate for the window), the world's stand-in for a coordinator; the "canary" is one key and touches nothing.
  acts.ensureLatencyCanary = async () => ({
    database: '_system',
    collection: 'world-canary',
    keys: [{ key: 'k0', shard: 's0', servers: [] }],
    servers: [],
    missing: [],
  });
  acts.removeLatencyCanary = async () => ({ removed: true });
  acts.probeClientLatency = async (a: { windowMs: number; ratePerSecond?: number; spec?: any }) => {
    const startMs = Date.now();
    const rate = a.ratePerSecond ?? 20;
    const n = Math.floor((a.windowMs / 1000) * rate);
    const xs: number[] = [];
    let errors = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const due = t0 + (i * 1000) / rate;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        try {
          await (await fetch(`${url}/ping`)).text();
          xs.push(performance.now() - due);
        } catch {
          errors++;
        }
        if (i % 20 === 0) inActivity()?.heartbeat({ samples: xs.length });
      }),
    );
    const q = (f: number) => {
      const v = percentile(xs, f);
      return v === null ? null : Math.round(v * 10) / 10;
    };
    return {
      from: a.spec?.source?.region ?? 'world',
      startMs,
      endMs: Date.now(),
      samples: xs.length,
      errors,
      reads: xs.length,
      writes: 0,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: xs.length ? Math.round(Math.max(...xs) * 10) / 10 : null,
      byRegion: [],
    };
  };
  acts.validateSpec = async ({ spec }: { spec: unknown }) => {
    const r = validateSpec(spec);
    if (!r.ok) throw ApplicationFailure.nonRetryable(r.problems.join('; '), 'InvalidSpecError');
    return r.spec;
  };
  return acts as unknown as TransitActivities;
}

/** Every activity name of the contract (the worker needs the full list to register them). */
export const ACTIVITY_NAMES = [
  'validateSpec',
  'preflight',
  'readSourceDeployment',
  'bridgeNetworks',
  'provisionTargetMembers',
  'readClientEndpoint',
  'moveAgent',
  'removeTargetMembers',
  'decommissionSourceMembers',
  'removeBridge',
  'checkClusterHealth',
  'readShardPlan',
  'waitForServerRegistered',
  'neutraliseAutoShrink',
  'restoreAutoShrink',
  'submitShardMoves',
  'waitForShardMoves',
  'cancelShardMoves',
  'readShardServers',
  'readClock',
  'verifyShardCopies',
  'changeReplicationFactor',
  'addShardFollower',
  'waitForShardInSync',
  'moveShardLeadership',
  'removeShardFollower',
  'checkAgentReplaceable',
  'waitForAgentCaughtUp',
  'removeServer',
  'verifyConvergence',
  'readRecord',
  'switchRecord',
  'waitForPropagation',
  'restoreRecord',
  'probeVersionChecks',
];
