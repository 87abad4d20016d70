/**
 * The `transit` CLI and the typed client (src/client.ts) against the real Temporal dev server, with a worker
 * bound to the in-memory world: exit codes, one-line errors, --json output, and the controls end to end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { startDevServer, ROOT, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { waitFor } from './harness/procs';
import { InvalidSpecError, RollbackRefusedError, TransitClient } from '../src/client';
import { TASK_QUEUE } from '../src/shared/controls';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'transit-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

async function transit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(join(ROOT, 'bin', 'transit'), args, { env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

describe('transit validate / schema (no server)', () => {
  it('exits 0 on a good spec, 1 with one line per problem otherwise', async () => {
    const good = await transit(['validate', '--spec', file('good.yaml', stringify(worldSpec()))]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /valid/);
    const bad = worldSpec() as any;
    bad.dns.ttl = 'soon';
    bad.extra = true;
    const r = await transit(['validate', '--spec', file('bad.yaml', stringify(bad))]);
    assert.equal(r.code, 1);
    assert.deepEqual(
      r.stderr.trim().split('\n').sort(),
      [
        'dns.ttl: expected number, got "soon"',
        'extra: unknown key (allowed here: deployment, source, target, network, dns, arango, policy)',
      ].sort(),
    );
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['notyaml.yaml', 'a: [1'],
      ['list.yaml', '- 1'],
    ]) {
      const x = await transit(['validate', '--spec', file(name!, text!)]);
      assert.equal(x.code, 1, name);
      assert.ok(x.stderr.trim().length > 0 && x.stderr.trim().split('\n').length === 1, `${name}: ${x.stderr}`);
    }
    const missing = await transit(['validate', '--spec', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope.yaml: cannot read: ENOENT/);
  });

  it('prints the JSON Schema; --help works on every command; unknown commands fail', async () => {
    const s = await transit(['schema']);
    assert.equal(s.code, 0);
    assert.deepEqual(Object.keys(JSON.parse(s.stdout).properties), [
      'deployment',
      'source',
      'target',
      'network',
      'dns',
      'arango',
      'policy',
    ]);
    for (const cmd of [
      'start',
      'status',
      'pause',
      'resume',
      'abort',
      'rollback',
      'approve',
      'set-concurrency',
      'plan',
      'validate',
      'schema',
      'worker',
    ]) {
      const h = await transit([cmd, '--help']);
      assert.equal(h.code, 0, cmd);
      assert.match(h.stdout, /Usage: transit/);
    }
    const u = await transit(['migrate']);
    assert.equal(u.code, 1);
  });
});

describe('CLI and client on a real Temporal server', () => {
  let server: DevServer;
  let world: World;
  let stopWorker: () => Promise<void>;
  before(async () => {
    server = await startDevServer();
    world = new World({ syncMs: 300, collections: [{ name: 'x', shards: 10, replicationFactor: 2, bytes: 1000 }] });
    await world.start();
    const w = await startWorker({
      connection: await server.nativeConnection(),
      taskQueue: TASK_QUEUE,
      activities: createWorldActivities(world.url),
    });
    stopWorker = w.stop;
  });
  after(async () => {
    await stopWorker?.();
    await world?.stop();
    await server?.stop();
  });

  it('the client rejects a bad spec before anything starts', async () => {
    const client = await TransitClient.connect({ address: server.address });
    try {
      const bad = worldSpec() as any;
      bad.policy.maxConcurrentShardMoves = -1;
      await assert.rejects(
        client.startMigration(bad),
        (e: unknown) => e instanceof InvalidSpecError && /policy.maxConcurrentShardMoves/.test(e.message),
      );
      assert.equal(world.calls.length, 0);
    } finally {
      await client.close();
    }
  });

  it(
    'start, status --json, pause, resume through the CLI; rollback refused past the point of no return',
    { timeout: 180_000 },
    async () => {
      const env = { TEMPORAL_ADDRESS: server.address };
      const spec = worldSpec() as any;
      spec.policy.maxConcurrentShardMoves = 2;
      const held = world.gate((name) => name === 'waitForShardMoves');
      const started = await transit(['start', '--spec', file('run.yaml', stringify(spec)), '--json'], env);
      assert.equal(started.code, 0, started.stderr);
      const { workflowId } = JSON.parse(started.stdout);
      assert.equal(workflowId, 'transit-db-arango-to-us');
      const dup = await transit(['start', '--spec', join(dir, 'run.yaml')], env);
      assert.equal(dup.code, 1, 'a second migration of the same deployment and target is refused');
      assert.match(dup.stderr, /already (started|running)/i);

      await held.hit;
      try {
        assert.equal(JSON.parse((await transit(['status', workflowId, '--json'], env)).stdout).phase, 'MoveShards');
        const paused = await transit(['pause', workflowId, '--reason', 'cli test'], env);
        assert.equal(paused.code, 0, paused.stderr);
      } finally {
        held.release();
      }
      const parked = await waitFor(
        'parked',
        async () => {
          const p = JSON.parse((await transit(['status', workflowId, '--json'], env)).stdout);
          return p.paused ? p : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 300 },
      );
      assert.equal(parked.status, 'paused');
      const once = await transit(['status', workflowId, '--once'], env);
      assert.match(once.stdout, /MoveShards \(paused\)/);
      const conc = await transit(['set-concurrency', workflowId, '5', '--json'], env);
      assert.deepEqual(JSON.parse(conc.stdout), { previous: 2, current: 5 });
      assert.equal((await transit(['resume', workflowId], env)).code, 0);

      const client = await TransitClient.connect({ address: server.address });
      try {
        await waitFor(
          'Decommission or later',
          async () => ['Decommission', 'Complete'].includes((await client.getProgress(workflowId)).phase),
          { timeoutMs: 120_000, intervalMs: 100 },
        ).catch(() => undefined);
        const report = await client.result(workflowId);
        assert.equal(report.status, 'completed');
        await assert.rejects(client.rollback(workflowId), RollbackRefusedError);
        const r = await transit(['rollback', workflowId], env);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /rollback refused/);
      } finally {
        await client.close();
      }
    },
  );

  it('a wrong address fails with one line naming what to fix', async () => {
    const r = await transit(['status', 'x', '--json', '--address', '127.0.0.1:1']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /cannot connect to Temporal at 127.0.0.1:1/);
  });
});
