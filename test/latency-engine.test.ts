// The client-latency controller wired into Transit's shard engine (src/workflows/job-engine.ts under patch
// 'latency-cap'), run in this process against the simulator with the client-latency model on (SIMULATED) and the
// real agency and probe activities: a load spike in the middle of MoveShards makes the engine back off, it grows
// again once the spike is over, every shard ends on the target servers, no acknowledged write is lost and the
// canary is gone. Asserted: outcomes and order (never a rate or a duration); the controller's steps are printed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MigrationSpec } from '../src/spec/schema';
import { indexPlan } from '../src/workflows/plan';
import { assignTargets } from '../src/workflows/scheduler';
import { newShardRun } from '../src/workflows/shard-mover';
import { runJobEngine } from '../src/workflows/job-engine';
import { STEP, initialState } from '../src/workflows/state';
import { createLatencyProbeActivities, CANARY_COLLECTION } from '../src/activities/latency-probe';
import { fileCredentialReader } from '../src/activities/agency';
import { percentile } from '../src/workflows/latency';
import { ContinuousWriter, arangoDb, arangoRef, simActivities, startSim, type SimCluster } from './harness/sim';
import { addNewServers } from './harness/migrate';
import { worldSpec } from './harness/specs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The spike: this many writers through the second coordinator. */
const SPIKE_WRITERS = 48;
/** Calibrations (three idle windows and one with the spike, 5 s each) before the test gives up on a noisy machine. */
const CALIBRATIONS = 4;

describe('client-latency cap in the shard engine (simulated)', { timeout: 480_000 }, () => {
  let c: SimCluster;
  const saved = process.env.TRANSIT_SIM_CLIENT_LATENCY;
  before(async () => {
    process.env.TRANSIT_SIM_CLIENT_LATENCY = '1';
    c = await startSim({
      agents: 3,
      dbServers: 3,
      coordinators: 2,
      bandwidth: '4MB/s',
      targetNumberOfDBServers: null,
      databases: [
        {
          name: 'shop',
          collections: [
            {
              name: 'data',
              numberOfShards: 24,
              replicationFactor: 1,
              documentsPerShard: 200,
              bytesPerDocument: 80_000,
            },
            { name: 'orders', numberOfShards: 4, replicationFactor: 2 },
            { name: 'spike', numberOfShards: 4, replicationFactor: 2 },
          ],
        },
      ],
    });
  });
  after(async () => {
    await c?.stop();
    if (saved === undefined) delete process.env.TRANSIT_SIM_CLIENT_LATENCY;
    else process.env.TRANSIT_SIM_CLIENT_LATENCY = saved;
  });

  test('a load spike mid-MoveShards: back off, then grow again; all moved, nothing lost, canary removed', async () => {
    const agency = simActivities();
    const arango = arangoRef(c);
    const sources = c.dbServers.map((m) => m.id);
    const targets = await addNewServers(c, agency, arango);
    const plan = await agency.readShardPlan({ migrationId: 'lat', arango });
    const ix = indexPlan(plan);
    const desired = assignTargets(ix, targets);
    const probes = createLatencyProbeActivities({ readCredential: fileCredentialReader(), region: 'eu' });

    // The objective sits between what the probes see on this machine with no migration (the median p99 of three
    // windows: its own jitter included, which on a loaded 2-core CI machine reaches hundreds of ms) and what they
    // see during the spike alone (one window, before the migration): the geometric mean. While the machine's noise
    // drowns the spike (other test lanes busy: a CI run saw 158 ms idle and 151 ms with the spike), the test cannot
    // show anything about the controller: it measures again, up to CALIBRATIONS times, and fails if the spike never
    // stood out 1.5× of the noise.
    const base = MigrationSpec.parse({ ...worldSpec(), arango });
    const ref = { migrationId: 'lat', spec: base };
    const canary = await probes.ensureLatencyCanary(ref);
    const probeWindow = async () =>
      (await probes.probeClientLatency({ ...ref, keys: canary.keys.map((k) => k.key), windowMs: 5000 })).p99Ms!;
    const tried: string[] = [];
    let p99Ms = 0;
    for (let attempt = 1; attempt <= CALIBRATIONS && !p99Ms; attempt++) {
      const idle: number[] = [];
      for (let i = 0; i < 3; i++) idle.push(await probeWindow());
      const alone = new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[1]!.url), 'spike', SPIKE_WRITERS);
      const spikeAlone = await probeWindow();
      await alone.stop();
      assert.deepEqual(await alone.missing(), []);
      const idleP99 = percentile(idle, 0.5)!;
      tried.push(`idle ${idle.join(' ')} ms, spike alone ${spikeAlone} ms`);
      if (spikeAlone > 1.5 * idleP99) p99Ms = Math.round(Math.sqrt(idleP99 * spikeAlone) * 10) / 10;
    }
    console.log(`probe window p99s (simulated): ${tried.join('; ')} → objective ${p99Ms || 'none'} ms`);
    assert.ok(p99Ms > 0, `the simulated spike never stood out 1.5× of this machine's noise: ${tried.join('; ')}`);
    const spec = MigrationSpec.parse({
      ...worldSpec(),
      arango,
      policy: {
        maxConcurrentShardMoves: 8,
        latency: { p99Ms, windowSeconds: 5, parkAfterSeconds: 0, minSamples: 20 },
      },
    });
    const state = initialState('lat', spec);
    state.plan = plan;
    state.targetServerIds = targets;
    state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };

    const writer = new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[0]!.url), 'orders', 2);
    const steps: { t: number; action: string; cap: number; reason: string }[] = [];
    let spikeFrom = Infinity;
    let spikeTo = Infinity;
    let spike: ContinuousWriter | undefined;
    const done = runJobEngine({
      state,
      acts: { ...agency, ...probes },
      ix,
      desired,
      now: () => Date.now(),
      sleep: async (ms) => void (await sleep(ms)),
      safePoint: async () => undefined,
      step: (_what, fn) => fn(),
      onProgress: () => undefined,
      stopStarting: () => false,
      // This test is about the latency controller. The temporary replicationFactor raise that verifies rf-1 groups
      // (on by default) would copy the rf-1 'data' collection once more; it has its own tests
      // (test/shard-verify.test.ts, the workflow tests on the in-memory world). The collection is big enough (384 MB
      // at 4 MB/s) that shards are still moving well after the spike: the controller must see it and its end.
      raise: false,
      log: (msg, meta) => {
        if (msg.startsWith('client latency'))
          steps.push({
            t: Date.now(),
            action: String(meta?.action),
            cap: Number(meta?.cap),
            reason: String(meta?.reason),
          });
      },
    });
    // The spike: once the engine has grown twice, 48 writers through the other coordinator for 20 s.
    const driver = (async () => {
      while (steps.filter((s) => s.action === 'grow').length < 2 && state.shards!.steps.some((x) => x !== STEP.done))
        await sleep(200);
      spikeFrom = Date.now();
      spike = new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[1]!.url), 'spike', SPIKE_WRITERS);
      await sleep(20_000);
      await spike.stop();
      spikeTo = Date.now();
    })();
    const result = await done;
    await driver;
    await writer.stop();
    console.log(
      'controller steps (simulated):\n' +
        steps
          .map(
            (s) =>
              `  ${s.t < spikeFrom ? 'before' : s.t < spikeTo ? 'spike ' : 'after '} ${s.action} → ${s.cap}: ${s.reason}`,
          )
          .join('\n'),
    );
    assert.equal(result, 'done');
    assert.ok(Number.isFinite(spikeTo), 'the spike ran while shards were moving');
    const backoff = steps.findIndex((s) => s.t > spikeFrom && s.action === 'backoff');
    assert.ok(backoff >= 0, 'the engine backed off after the spike began');
    assert.ok(
      steps.some((s, i) => i > backoff && s.t > spikeTo && s.action === 'grow'),
      'and grew again after the spike was over',
    );
    // The outside world: every shard on the target servers (agency Plan), nothing acknowledged lost, no canary.
    const after = await agency.readShardPlan({ migrationId: 'lat', arango });
    const onSource = after.collections.flatMap((col) =>
      col.shards
        .filter(([, servers]) => servers.some((i) => sources.includes(after.servers[i]!.id)))
        .map(([name]) => name),
    );
    assert.deepEqual(onSource, [], 'no shard left on a source server');
    assert.deepEqual(await writer.missing(), []);
    assert.deepEqual(await spike!.missing(), []);
    const r = await c.request(c.coordinatorUrl, `/_db/_system/_api/collection/${CANARY_COLLECTION}`);
    assert.equal(r.status, 404, 'the canary is removed when the engine returns');
  });
});
