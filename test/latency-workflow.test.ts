// The client-latency cap through Temporal: the migration workflow on the dev server against the in-memory world,
// with policy.latency and probe activities that report a p99 far above the objective. Read from the world (not from
// Transit's report): copies not yet in sync never exceed the controller's start cap (2) although the ceiling is 4,
// while copy jobs in their tails (in sync, 0.6 s of supervision rounds left) do not count — and the twin, the same
// world without policy.latency, has more than 2 copying at once. The run records the 'latency-cap'
// patch, creates and removes the canary once, and progress shows the cap, the p99 and the reason. (The Prometheus
// gauges are read from a production worker process in test/production-observability.test.ts: an in-process Runtime
// with telemetry here once raised an uncaught "Channel has been shut down" after every test had passed.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDevServer, type DevServer } from './harness/temporal';
import { createWorkers } from '../src/worker';
import type { TransitActivities } from '../src/activities/contract';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { progressQuery, TASK_QUEUE } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

interface Run {
  report: MigrationReport;
  maxOpenJobs: number;
  maxOpenCopyJobs: number;
  /** Copy jobs whose new copy was not in sync yet (what loads links; the cap since latency-copies-synced). */
  maxCopyingJobs: number;
  calls: Record<string, number>;
  patches: string[];
  clientLatency: unknown;
  /** Every clientLatency progress showed, in order. */
  seen: unknown[];
}

/** A probe window that lasts `windowMs` and reports 100 samples with this p50 and p99 (the probes' summary). */
async function fakeWindow(from: string, windowMs: number, p50Ms: number, p99Ms: number) {
  const startMs = Date.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const counts = { samples: 100, errors: 0, reads: 50, writes: 50 };
  return { from, startMs, endMs: Date.now(), ...counts, p50Ms, p99Ms, maxMs: p99Ms, byRegion: [] };
}

/**
 * `regions`: policy.latency.probeFrom "each-region" with a probe worker per region on its own task queue, each
 * reporting this p99 (ms); a region given as null has no probe worker at all.
 */
async function migrate(name: string, latency: boolean, regions?: Record<string, number | null>): Promise<Run> {
  const world = new World({
    syncMs: 1200,
    // Each MoveShard job ends 0.6 s after its new copy is in sync (the supervision rounds of its leader switch).
    moveTailMs: 600,
    collections: [{ name: 'orders', shards: 8, replicationFactor: 2, bytes: 1_000_000 }],
  });
  await world.start();
  const calls: Record<string, number> = { ensureLatencyCanary: 0, probeClientLatency: 0, removeLatencyCanary: 0 };
  const probes = {
    ensureLatencyCanary: async () => {
      calls.ensureLatencyCanary! += 1;
      return {
        database: '_system',
        collection: 'canary',
        keys: [{ key: 'k0', shard: 's1', servers: [] }],
        servers: [],
        missing: [],
      };
    },
    probeClientLatency: async (a: { windowMs: number }) => {
      calls.probeClientLatency! += 1;
      return fakeWindow('eu', a.windowMs, 40, 1000);
    },
    removeLatencyCanary: async () => {
      calls.removeLatencyCanary! += 1;
      return { removed: true };
    },
  };
  const taskQueue = `${TASK_QUEUE}-latency-${name}`;
  const w = await startWorker({
    connection: await server.nativeConnection(),
    taskQueue,
    activities: { ...createWorldActivities(world.url), ...probes },
  });
  // Each region's probe worker as `transit worker --probe-only --region R` makes it (src/worker.ts createWorkers),
  // with a fake probe reporting that region's p99.
  const regionWorkers = await Promise.all(
    Object.entries(regions ?? {})
      .filter(([, p99]) => p99 !== null)
      .map(async ([region, p99]) => {
        const probeClientLatency = async (a: { windowMs: number }) => {
          calls[`probe ${region}`] = (calls[`probe ${region}`] ?? 0) + 1;
          return fakeWindow(region, a.windowMs, p99! / 2, p99!);
        };
        const { workers, connection } = await createWorkers({
          address: server.address,
          taskQueue,
          region,
          probeOnly: true,
          activityImplementations: { probeClientLatency } as unknown as TransitActivities,
        });
        assert.equal(workers.length, 1, 'a probe-only worker runs one worker');
        const running = Promise.all(workers.map((x) => x.run()));
        return {
          stop: async () => {
            for (const x of workers) x.shutdown();
            await running;
            await connection.close();
          },
        };
      }),
  );
  // Since the patch latency-cap-copies the cap bounds copy jobs (a leader swap to a follower copies nothing).
  let maxOpenJobs = 0;
  let maxOpenCopyJobs = 0;
  let maxCopyingJobs = 0;
  const sampler = setInterval(() => {
    const snap = world.snapshot();
    maxOpenJobs = Math.max(maxOpenJobs, snap.openJobs);
    maxOpenCopyJobs = Math.max(maxOpenCopyJobs, snap.openCopyJobs);
    maxCopyingJobs = Math.max(maxCopyingJobs, snap.copyingJobs);
  }, 20);
  try {
    const spec = worldSpec({
      policy: {
        maxConcurrentShardMoves: 4,
        timeouts: { drainSeconds: 0, activitySeconds: 30 },
        ...(latency
          ? {
              latency: {
                p99Ms: 50,
                windowSeconds: 5,
                parkAfterSeconds: 0,
                ...(regions ? { probeFrom: 'each-region' } : {}),
              },
            }
          : {}),
      },
    });
    const handle = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId: `latency-${name}-${Date.now()}`,
      args: [{ spec }],
    });
    let clientLatency: unknown;
    const seen: unknown[] = [];
    // At most one poll in flight, awaited before the run returns: no query may still be open when the server stops
    // (CI once reported "Channel has been shut down" as an uncaught error after every test had passed).
    let polling: Promise<void> = Promise.resolve();
    let busy = false;
    const poll = setInterval(() => {
      if (busy) return;
      busy = true;
      polling = handle
        .query(progressQuery)
        .then((p) => {
          if (!p.clientLatency) return;
          clientLatency = p.clientLatency;
          seen.push(p.clientLatency);
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, 500);
    let report: MigrationReport;
    try {
      report = (await handle.result()) as MigrationReport;
    } finally {
      clearInterval(poll);
      await polling;
    }
    const history = await handle.fetchHistory();
    const patches: string[] = [];
    for (const e of history.events ?? []) {
      const m = e.markerRecordedEventAttributes;
      if (m?.markerName !== 'core_patch') continue;
      for (const p of Object.values(m.details ?? {}))
        for (const x of p.payloads ?? []) patches.push(Buffer.from(x.data ?? []).toString());
    }
    return { report, maxOpenJobs, maxOpenCopyJobs, maxCopyingJobs, calls, patches, clientLatency, seen };
  } finally {
    clearInterval(sampler);
    for (const rw of regionWorkers) await rw.stop();
    await w.stop();
    await world.stop();
  }
}

describe('client-latency cap through Temporal (in-memory world)', () => {
  it('breaching probes hold copy jobs at the start cap; the twin without an objective opens more', async () => {
    const capped = await migrate('capped', true);
    const free = await migrate('free', false);
    console.log(
      `max MoveShard jobs open at once (world): with policy.latency ${capped.maxOpenJobs} (copies ` +
        `${capped.maxOpenCopyJobs}, not yet in sync ${capped.maxCopyingJobs}), without ${free.maxOpenJobs} (copies ` +
        `${free.maxOpenCopyJobs}, not yet in sync ${free.maxCopyingJobs}); ` +
        `probe windows ${capped.calls.probeClientLatency}; progress ${JSON.stringify(capped.clientLatency)}`,
    );
    assert.equal(capped.report.status, 'completed');
    assert.equal(free.report.status, 'completed');
    // Since latency-copies-synced the cap bounds the copies not yet in sync; a job in its tail no longer counts.
    assert.ok(
      capped.maxCopyingJobs >= 1 && capped.maxCopyingJobs <= 2,
      `capped: ${capped.maxCopyingJobs} copies not yet in sync at once`,
    );
    assert.ok(
      capped.maxOpenCopyJobs > capped.maxCopyingJobs,
      `capped: copy jobs in their tails (${capped.maxOpenCopyJobs} open) did not count against the cap`,
    );
    assert.ok(free.maxCopyingJobs > 2, `twin: ${free.maxCopyingJobs} copies not yet in sync at once without the cap`);
    assert.equal(capped.calls.ensureLatencyCanary, 1);
    assert.equal(capped.calls.removeLatencyCanary, 1);
    assert.ok(capped.calls.probeClientLatency! >= 1);
    assert.deepEqual(free.calls, { ensureLatencyCanary: 0, probeClientLatency: 0, removeLatencyCanary: 0 });
    assert.ok(
      capped.patches.some((p) => p.includes('latency-cap')),
      JSON.stringify(capped.patches),
    );
    assert.ok(
      capped.patches.some((p) => p.includes('latency-copies-synced')),
      JSON.stringify(capped.patches),
    );
    assert.ok(!free.patches.some((p) => p.includes('latency-cap')), 'no patch marker without policy.latency');
    assert.ok(!free.patches.some((p) => p.includes('latency-copies-synced')), 'nor this one');
    const cl = capped.clientLatency as { cap: number; p99Ms: number; reason: string } | undefined;
    assert.ok(cl, 'progress showed the controller');
    assert.equal(cl.p99Ms, 1000);
    assert.equal(cl.cap, 1);
    assert.match(cl.reason, /p99 1000 ms > 50 ms/);
  });
});

describe('client-latency probes from each region (policy.latency.probeFrom "each-region")', () => {
  it('the worst region decides the cap; a region without a probe worker is no measurement, named in progress', async () => {
    // Both runs at once (independent worlds and task queues): eu within the objective, us far above it; the twin
    // has no probe worker in us at all.
    const [both, euOnly] = await Promise.all([
      migrate('regions', true, { eu: 10, us: 1000 }),
      migrate('regions-eu-only', true, { eu: 10, us: null }),
    ]);
    console.log(`probe calls: both ${JSON.stringify(both.calls)}; eu only ${JSON.stringify(euOnly.calls)}`);
    for (const r of [both, euOnly]) {
      assert.equal(r.report.status, 'completed');
      assert.equal(r.calls.probeClientLatency, 0, 'nothing probed from the main task queue');
      assert.ok(r.maxCopyingJobs >= 1 && r.maxCopyingJobs <= 2, `${r.maxCopyingJobs} copies not yet in sync at once`);
    }
    assert.ok(both.calls['probe eu']! >= 1 && both.calls['probe us']! >= 1, JSON.stringify(both.calls));
    type Cl = {
      cap: number;
      p99Ms: number;
      reason: string;
      regions?: { region: string; p99Ms: number; problem?: string }[];
    };
    const b = both.seen as Cl[];
    const worst = b.find((x) => x.regions?.length === 2);
    assert.ok(worst, `progress showed both regions: ${JSON.stringify(b)}`);
    assert.equal(worst.p99Ms, 1000, 'the worst region decides');
    assert.deepEqual(
      worst.regions!.map((r) => [r.region, r.p99Ms]),
      [
        ['eu', 10],
        ['us', 1000],
      ],
    );
    assert.match(worst.reason, /p99 1000 ms > 50 ms/);
    assert.equal((both.clientLatency as Cl).cap, 1);

    assert.ok(euOnly.calls['probe eu']! >= 1);
    const e = euOnly.seen as Cl[];
    const missing = e.find((x) => x.regions?.some((r) => r.problem));
    assert.ok(missing, `progress named the missing region: ${JSON.stringify(e)}`);
    assert.match(missing.reason, /no measurement/);
    const us = missing.regions!.find((r) => r.region === 'us')!;
    assert.match(us.problem!, /no probe worker answered on task queue \S+-probe-us/);
  });
});
