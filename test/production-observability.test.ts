/**
 * Observability of a production worker (src/worker.ts in its own process, activities bound to the in-memory
 * world): its Prometheus endpoint scraped during and after a full migration and parsed with a real
 * exposition-format parser; its JSON logs parsed line by line and searched for the credentials it used; the
 * Grafana dashboard checked against what the endpoint really exports; the log redactor on its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { startDevServer, ROOT, type DevServer } from './harness/temporal';
import { productionBundleFile, READY, spawnTransitWorker, type TransitWorkerProc } from './harness/transit-worker';
import { World } from '../src/sim/world';
import { worldSpec } from './harness/specs';
import { freePorts, waitFor } from './harness/procs';
import { histograms, samples, scrape, value, type PromMetrics } from './harness/prometheus';
import { TransitClient } from '../src/client';
import { JsonLogger, redact, registerSecret, activityLogAttributes, errorKind } from '../src/observability';
import { WORKFLOW_METRICS } from '../src/workflows/metrics';
import { PHASES, type MigrationReport } from '../src/shared/types';
import { ApplicationFailure } from '@temporalio/common';

const fig = (name: string, v: unknown) =>
  console.log(`FIGURE ${name}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);

let server: DevServer;
let bundlePath: string;
const dir = mkdtempSync(join(tmpdir(), 'transit-obs-'));
before(async () => {
  server = await startDevServer();
  bundlePath = await productionBundleFile();
});
after(async () => {
  await server?.stop();
});

/** A codec key file with one random key (the worker and client encrypt everything they store). */
export function writeCodecKeys(path: string, id = 'k1'): string {
  const key = randomBytes(32).toString('base64');
  writeFileSync(path, JSON.stringify({ current: id, keys: { [id]: key } }));
  return key;
}

let finalScrape: PromMetrics | null = null;

describe('a full migration on a production worker', () => {
  it(
    'exports the SDK and Transit metrics (scraped during and after) and logs JSON without secrets',
    { timeout: 180_000 },
    async () => {
      const jwt = `jwt-${randomBytes(24).toString('hex')}`;
      const tsig = randomBytes(32).toString('base64');
      writeFileSync(join(dir, 'jwt'), jwt);
      writeFileSync(join(dir, 'tsig'), tsig);
      const codecKey = writeCodecKeys(join(dir, 'codec.json'));

      const world = new World({
        syncMs: 300,
        collections: [
          { name: 'orders', shards: 8, replicationFactor: 2, clones: 1, bytes: 4000 },
          { name: 'users', shards: 4, replicationFactor: 3, bytes: 2000 },
        ],
      });
      await world.start();
      world.credentials = [jwt, tsig];
      // A step that fails (non-retryable) and parks the migration: counted by kind, then resumed.
      world.failing.set('bridgeNetworks', 'simulated: LoadBalancer quota exceeded');
      const taskQueue = `obs-${Date.now()}`;
      const [metricsPort] = await freePorts(1);
      let w: TransitWorkerProc | null = null;
      const client = await TransitClient.connect({ address: server.address, codecKeyFile: join(dir, 'codec.json') });
      try {
        w = await spawnTransitWorker({
          worldUrl: world.url,
          metricsPort,
          env: {
            TEMPORAL_ADDRESS: server.address,
            TRANSIT_TASK_QUEUE: taskQueue,
            TRANSIT_WORKFLOW_BUNDLE: bundlePath,
            TRANSIT_CODEC_KEY_FILE: join(dir, 'codec.json'),
            TRANSIT_LOG_LEVEL: 'DEBUG',
          },
        });
        const spec = worldSpec() as any;
        spec.arango.jwtSecret = { file: join(dir, 'jwt') };
        spec.dns.tsigKey = { file: join(dir, 'tsig') };
        spec.policy.maxConcurrentShardMoves = 3;
        // A client-latency objective far above the world's round trips: the controller runs (its gauges are exported)
        // and never holds the moves back below the ceiling for long.
        spec.policy.latency = { p99Ms: 5000, windowSeconds: 5, parkAfterSeconds: 0, minSamples: 5 };
        const { workflowId } = await client.startMigration(spec, { taskQueue });
        const id = { migration_id: workflowId };

        // 1. Parked on the failed step: the error is counted by kind; the gauges say where and that it is parked.
        await waitFor('parked on the failed step', async () => (await client.getProgress(workflowId)).paused, {
          timeoutMs: 60_000,
        });
        const parked = (await scrape(w.metricsUrl!)).metrics;
        assert.equal(value(parked, 'transit_migration_paused', id), 1);
        assert.equal(value(parked, 'transit_migration_phase', { ...id, phase: 'BridgeNetworks' }), 1);
        assert.equal(value(parked, 'transit_migration_status', { ...id, status: 'paused' }), 1);
        const errs = samples(parked, 'transit_activity_errors_total', { activityType: 'bridgeNetworks' });
        assert.equal(errs.length, 1, 'one series for the failing activity');
        assert.deepEqual(
          [errs[0]!.labels.error_type, errs[0]!.labels.non_retryable],
          ['InvariantViolationError', 'true'],
        );
        assert.ok(errs[0]!.value >= 1);

        // 2. Resumed: scrape while shards move until a moment with moves in flight and part of the shards done.
        world.failing.clear();
        // The first wait on shard moves is held until a probe window has been measured and exported (the probes run
        // beside the engine), so the client-latency gauges show while shards move.
        const held = world.gate((name) => name === 'waitForShardMoves');
        await client.resume(workflowId);
        await held.hit;
        try {
          const lat = await waitFor(
            'the client-latency gauges',
            async () => {
              const m = (await scrape(w!.metricsUrl!)).metrics;
              return samples(m, WORKFLOW_METRICS.latencyP99, id).length ? m : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 200 },
          );
          assert.equal(value(lat, WORKFLOW_METRICS.latencyObjective, id), 5);
          assert.ok(value(lat, WORKFLOW_METRICS.latencyP99, id) > 0, 'a measured p99');
          assert.equal(value(lat, WORKFLOW_METRICS.latencyBreach, id), 0);
          const cap = value(lat, WORKFLOW_METRICS.latencyCap, id);
          assert.ok(cap >= 1 && cap <= 3, `cap ${cap} within [1, the ceiling]`);
        } finally {
          held.release();
        }
        const mid = await waitFor(
          'a scrape in the middle of MoveShards',
          async () => {
            const m = (await scrape(w!.metricsUrl!)).metrics;
            const inPhase = samples(m, 'transit_migration_phase', { ...id, phase: 'MoveShards' })[0]?.value === 1;
            const moved = samples(m, 'transit_migration_shards_moved', id)[0]?.value ?? 0;
            const inFlight = samples(m, 'transit_migration_shard_moves_in_flight', id)[0]?.value ?? 0;
            return inPhase && moved > 0 && inFlight > 0 ? m : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        const midMoved = value(mid, 'transit_migration_shards_moved', id);
        const total = value(mid, 'transit_migration_shards_total', id);
        assert.ok(midMoved < total, `${midMoved} of ${total} moved mid-way`);
        assert.ok(
          value(mid, 'transit_migration_shard_moves_in_flight', id) <= 3,
          'never more in flight than the concurrency',
        );
        assert.equal(value(mid, 'transit_migration_paused', id), 0);

        const report = (await client.result(workflowId)) as MigrationReport;
        assert.equal(report.status, 'completed');
        assert.ok(world.credentialChecks > 10, 'the activities really used the credentials');

        // 3. After: everything on the target, and the SDK's own metrics next to Transit's.
        const { text, metrics: m } = await scrape(w.metricsUrl!);
        finalScrape = m;
        for (const p of PHASES)
          assert.equal(value(m, 'transit_migration_phase', { ...id, phase: p }), p === 'Complete' ? 1 : 0, p);
        assert.equal(value(m, 'transit_migration_status', { ...id, status: 'completed' }), 1);
        assert.equal(value(m, 'transit_migration_shards_moved', id), report.shardsTotal);
        assert.equal(value(m, 'transit_migration_shards_total', id), report.shardsTotal);
        assert.equal(value(m, 'transit_migration_bytes_moved', id), value(m, 'transit_migration_bytes_total', id));
        assert.equal(value(m, 'transit_migration_bytes_total', id), 8 * 4000 + 4 * 2000);
        assert.equal(value(m, 'transit_migration_bytes_copied', id), report.bytesMoved);
        assert.equal(value(m, 'transit_migration_shard_moves_in_flight', id), 0);
        assert.equal(value(m, 'transit_migration_agents_moved', id), 3);
        const lastUpdate = value(m, 'transit_migration_last_update_seconds', id);
        assert.ok(Math.abs(lastUpdate - Date.now() / 1000) < 120, 'last update is recent workflow time');
        const lat = samples(m, 'transit_version_check_latency_seconds', id);
        assert.deepEqual([...new Set(lat.map((x) => `${x.labels.from_region}→${x.labels.to_region}`))], ['eu→us']);
        assert.deepEqual([...new Set(lat.map((x) => x.labels.quantile))].sort(), ['0.5', '0.95']);
        assert.ok(new Set(lat.map((x) => x.labels.phase)).has('MoveShards'));
        assert.equal(m.transit_migration_phase!.type, 'gauge');
        assert.equal(m.transit_activity_errors_total!.type, 'counter');
        // The SDK's names as really exported (prefix temporal_, counters with _total, durations in seconds).
        for (const [name, type] of [
          ['temporal_activity_execution_latency', 'histogram'],
          ['temporal_activity_execution_failed_total', 'counter'],
          ['temporal_workflow_task_execution_latency', 'histogram'],
          ['temporal_workflow_completed_total', 'counter'],
          ['temporal_worker_task_slots_available', 'gauge'],
          ['temporal_num_pollers', 'gauge'],
          ['temporal_request_total', 'counter'],
          ['temporal_sticky_cache_size', 'gauge'],
        ] as const) {
          assert.equal(m[name]?.type, type, `${name} (${type}) is exported`);
        }
        const moveLatency = histograms(m, 'temporal_activity_execution_latency').find(
          (h) => h.labels.activity_type === 'submitShardMoves',
        );
        assert.ok(
          moveLatency && moveLatency.count > 0 && moveLatency.buckets['60'] !== undefined,
          'latency buckets in seconds',
        );
        assert.equal(
          value(m, 'temporal_workflow_completed_total', { workflow_type: 'migrationWorkflow', task_queue: taskQueue }),
          1,
        );
        // The sample for the closing note.
        const sample = text
          .split('\n')
          .filter((l) =>
            /^transit_|^temporal_activity_execution_failed_total|^temporal_workflow_completed_total/.test(l),
          );
        mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
        writeFileSync(join(ROOT, 'test-artifacts', 'metrics-sample.prom'), `${sample.join('\n')}\n`);
        fig(
          'scrape: families / transit series',
          `${Object.keys(m).length} / ${sample.filter((l) => l.startsWith('transit_')).length}`,
        );

        // 4. Logs: one JSON object per line; migrationId with phase (workflow) and shard (activities); no secret.
        await w.stop();
        // Everything the worker wrote, less the harness's own readiness line (stderr).
        const lines = w.lines.filter((l) => l.trim() !== '' && l !== READY);
        const parsed = lines.map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            assert.fail(`not a JSON log line: ${l}`);
          }
        });
        assert.ok(
          parsed.every((x) => typeof x.time === 'string' && typeof x.level === 'string' && typeof x.msg === 'string'),
        );
        const ours = parsed.filter((x) => x.migrationId === workflowId);
        assert.ok(
          ours.some((x) => x.msg === 'migration entered MoveShards' && x.phase === 'MoveShards'),
          'phase changes are logged',
        );
        assert.ok(
          ours.some((x) => x.msg === 'shard group moved' && typeof x.shard === 'string' && x.phase === 'MoveShards'),
        );
        assert.ok(
          ours.some(
            (x) => x.msg === 'Activity completed' && x.activityType === 'submitShardMoves' && (x.shard || x.shards),
          ),
          'activity lines carry the shard',
        );
        assert.ok(
          ours.some((x) => x.level === 'WARN' && /step failed/.test(String(x.msg)) && x.phase === 'BridgeNetworks'),
        );
        assert.ok(!parsed.some((x) => 'taskToken' in x), 'task tokens are not logged');
        const all = w.lines.join('\n');
        for (const [what, secret] of [
          ['JWT secret', jwt],
          ['TSIG key', tsig],
          ['codec key', codecKey],
        ] as const) {
          assert.ok(!all.includes(secret), `the ${what} is in the worker's output`);
        }
        fig('worker log lines of one migration (DEBUG)', lines.length);
      } finally {
        await w?.stop();
        await client.close();
        await world.stop();
      }
    },
  );
});

describe('the Grafana dashboard', () => {
  it('queries only metrics the worker exports, in valid PromQL', () => {
    assert.ok(finalScrape, 'needs the scrape of the migration test');
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/transit-dashboard.json'), 'utf8'));
    const exprs: string[] = [];
    const walk = (x: unknown) => {
      if (Array.isArray(x)) x.forEach(walk);
      else if (x && typeof x === 'object') {
        for (const [k, v] of Object.entries(x)) {
          if ((k === 'expr' || k === 'query') && typeof v === 'string' && v.trim()) exprs.push(v);
          else walk(v);
        }
      }
    };
    walk(dash.panels);
    walk(dash.templating);
    assert.ok(exprs.length >= 10, `${exprs.length} queries`);
    const exported = new Set(Object.keys(finalScrape!));
    const used = new Set<string>();
    for (const e of exprs) {
      // Grafana variables ($migration, $__rate_interval) are not PromQL: substitute before parsing.
      const q = e.replace(/\$__\w+/g, '5m').replace(/\$\{?(\w+)\}?/g, 'x');
      const inner = /^label_values\((.*)\)$/.exec(q.trim());
      const tree = promql.parse(inner ? inner[1]!.split(',')[0]! : q);
      let errors = 0;
      tree.iterate({ enter: (n) => void (n.type.isError && errors++) });
      assert.equal(errors, 0, `PromQL syntax: ${e}`);
      for (const name of q.match(/\b(?:transit|temporal)_[a-z0-9_]+/g) ?? []) used.add(name);
    }
    for (const name of used) {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(exported.has(name) || exported.has(family), `${name} is not exported by the worker`);
    }
    for (const name of [...Object.values(WORKFLOW_METRICS), 'transit_activity_errors_total']) {
      assert.ok(used.has(name), `the dashboard shows ${name}`);
    }
  });
});

describe('log redaction', () => {
  it('drops secret-named values, registered secret values and task tokens; keeps references', () => {
    const out: string[] = [];
    const log = new JsonLogger('INFO', (l) => out.push(l));
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    registerSecret(secret);
    log.info(`connecting with ${secret}`, {
      migrationId: 'm1',
      password: 'hunter2-hunter2',
      apiKey: 'abc',
      jwtSecret: { file: '/etc/transit/jwt' },
      tsigKey: { secret: { name: 'tsig', key: 'key' } },
      nested: { authorization: 'Bearer xyz', note: `echo ${secret}` },
      taskToken: 'AAAA',
      error: new Error(`failed: ${secret}`),
    });
    log.debug('filtered out');
    assert.equal(out.length, 1);
    const x = JSON.parse(out[0]!);
    assert.ok(!out[0]!.includes(secret) && !out[0]!.includes('hunter2') && !out[0]!.includes('xyz'));
    assert.equal(x.msg, 'connecting with [redacted]');
    assert.equal(x.password, '[redacted]');
    assert.equal(x.apiKey, '[redacted]');
    assert.deepEqual(x.jwtSecret, { file: '/etc/transit/jwt' });
    assert.deepEqual(x.tsigKey, { secret: { name: 'tsig', key: 'key' } });
    assert.equal(x.nested.authorization, '[redacted]');
    assert.equal(x.taskToken, undefined);
    assert.equal(x.error.message, 'failed: [redacted]');
    assert.deepEqual(redact({ n: 1n, f: () => 1 }), { n: '1', f: undefined });
  });

  it('activity log attributes and error kinds', () => {
    assert.deepEqual(
      activityLogAttributes({ migrationId: 'm', moves: [{ database: 'db', collectionId: '1', shard: 's1' }] }),
      { migrationId: 'm', shard: 'db/1/s1' },
    );
    const many = activityLogAttributes({
      migrationId: 'm',
      shards: Array.from({ length: 12 }, (_, i) => ({ database: 'db', collectionId: '1', shard: `s${i}` })),
    });
    assert.equal(many.shardCount, 12);
    assert.equal((many.shards as string[]).length, 10);
    assert.equal(errorKind(ApplicationFailure.nonRetryable('x', 'DnsConflictError')), 'DnsConflictError');
    assert.equal(errorKind(new TypeError('x')), 'TypeError');
  });
});
