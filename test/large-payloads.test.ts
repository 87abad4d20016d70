// 100,000 shards on Temporal's default payload limit (2 MB per payload; the dev server runs with no blob-size
// override). The in-memory world's plan of 1,000 collections × 100 shards (replicationFactor 2) is 2.1 MB as JSON:
//   - with the production data converter (src/codec.ts: payloads of 64 KiB and more gzipped) the readShardPlan
//     result is stored compressed, decodes to every shard the world has, and the run carries the plan across
//     continue-as-new (the next run's input is compressed too);
//   - twin: a worker without compression cannot complete readShardPlan — the server refuses the result — and the
//     migration never leaves the Plan phase.
// What the server stored is read raw (no data converter) from the history.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { temporal } from '@temporalio/proto';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { worldSpec } from './harness/specs';
import { waitFor } from './harness/procs';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { randomBytes } from 'node:crypto';
import { AesGcmCodec, COMPRESS_FROM_BYTES, GZIP_ENCODING, GzipCodec, CodecChain } from '../src/codec';
import type { ShardPlan } from '../src/activities/agency-types';

const LIMIT = 2 * 1024 * 1024;
let server: DevServer;
let world: World;
before(async () => {
  server = await startDevServer();
  world = new World({
    syncMs: 0,
    collections: Array.from({ length: 1000 }, (_, i) => ({
      name: `c${i}`,
      shards: 100,
      replicationFactor: 2,
      clones: 0,
      bytes: 0,
    })),
  });
  await world.start();
});
after(async () => {
  await world?.stop();
  await server?.stop();
});

/** The history as the server stores it: payloads not decoded. */
async function rawHistory(workflowId: string, runId?: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const r = await server.connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId, runId },
      nextPageToken,
    });
    events.push(...(r.history?.events ?? []));
    nextPageToken = r.nextPageToken?.length ? r.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

function scheduledName(events: temporal.api.history.v1.IHistoryEvent[], id: unknown): string | undefined {
  const e = events.find((x) => String(x.eventId) === String(id));
  return e?.activityTaskScheduledEventAttributes?.activityType?.name ?? undefined;
}

const encoding = (p: temporal.api.common.v1.IPayload) => Buffer.from(p.metadata?.encoding ?? []).toString();

describe('the compression codec', () => {
  const json = (v: unknown) => ({
    metadata: { encoding: Buffer.from('json/plain') },
    data: Buffer.from(JSON.stringify(v)),
  });
  it('compresses from the threshold on, restores payloads exactly, passes older ones through, names damage', async () => {
    const codec = new GzipCodec();
    const small = json({ phase: 'MoveShards' });
    const big = json(
      Array.from({ length: COMPRESS_FROM_BYTES / 10 }, (_, i) => [`s${100000 + i}`, [i % 3, (i + 1) % 3], 0]),
    );
    const [s1, b1] = await codec.encode([small, big]);
    assert.equal(s1, small);
    assert.equal(encoding(b1!), GZIP_ENCODING);
    assert.ok(b1!.data!.length < big.data.length / 4, `${big.data.length} B → ${b1!.data!.length} B`);
    const [b2] = await codec.decode([b1!]);
    assert.equal(encoding(b2!), 'json/plain');
    assert.deepEqual(Buffer.from(b2!.data!), big.data);
    // A payload written before the codec existed (plain JSON in an old history) decodes as itself.
    assert.equal((await codec.decode([small]))[0], small);
    await assert.rejects(
      codec.decode([{ metadata: { encoding: Buffer.from(GZIP_ENCODING) }, data: Buffer.from('not gzip') }]),
      /does not decompress.*damaged/,
    );
  });

  it('chained before encryption, as the worker runs with a key file: compressed inside, ciphertext outside', async () => {
    const aes = new AesGcmCodec({ current: 'k', keys: { k: randomBytes(32) } });
    const chain = new CodecChain([new GzipCodec(), aes]);
    const big = json('x'.repeat(COMPRESS_FROM_BYTES * 4));
    const [enc] = await chain.encode([big]);
    assert.equal(encoding(enc!), 'binary/encrypted');
    assert.ok(enc!.data!.length < big.data.length / 10, 'compressed before it was encrypted');
    assert.equal(encoding((await aes.decode([enc!]))[0]!), GZIP_ENCODING);
    assert.deepEqual(Buffer.from((await chain.decode([enc!]))[0]!.data!), big.data);
  });
});

describe('a 100,000-shard plan on the default payload limit', () => {
  it(
    'production codec: the plan is stored compressed under 2 MB, holds every shard, and crosses continue-as-new',
    { timeout: 240_000 },
    async () => {
      const plainBytes = JSON.stringify(
        await createWorldActivities(world.url).readShardPlan(undefined as never),
      ).length;
      assert.ok(plainBytes > LIMIT, `the world's plan must exceed 2 MB as JSON to prove anything (${plainBytes} B)`);
      const taskQueue = 'large-codec';
      const w = await startWorker({
        connection: await server.nativeConnection(),
        taskQueue,
        activities: createWorldActivities(world.url),
      });
      const workflowId = `large-codec-${Date.now()}`;
      const h = await server.client.workflow.start('migrationWorkflow', {
        taskQueue,
        workflowId,
        args: [{ spec: worldSpec({ policy: { maxConcurrentShardMoves: 500 } }), continueAsNewAfterEvents: 200 }],
      });
      try {
        const result = await waitFor(
          'readShardPlan completed in the history',
          async () => {
            const events = await rawHistory(workflowId, h.firstExecutionRunId);
            const done = events.find(
              (e) =>
                e.activityTaskCompletedEventAttributes &&
                scheduledName(events, e.activityTaskCompletedEventAttributes.scheduledEventId) === 'readShardPlan',
            );
            return done?.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
          },
          { timeoutMs: 120_000, intervalMs: 500 },
        );
        assert.equal(encoding(result), GZIP_ENCODING);
        assert.ok(result.data!.length < LIMIT, `stored ${result.data!.length} B`);
        const [decoded] = await new GzipCodec().decode([result as never]);
        const plan = JSON.parse(Buffer.from(decoded!.data!).toString()) as ShardPlan;
        const shards = plan.collections.reduce((n, c) => n + c.shards.length, 0);
        assert.equal(shards, world.groups.length);
        assert.equal(shards, 100_000);
        // The next run starts from the state carried over: its input is compressed and under the limit too.
        const input = await waitFor(
          'a run continued as new',
          async () => {
            const events = await rawHistory(workflowId);
            const first = events[0]?.workflowExecutionStartedEventAttributes;
            return first?.continuedExecutionRunId ? first.input?.payloads?.[0] : undefined;
          },
          { timeoutMs: 180_000, intervalMs: 1000 },
        );
        assert.equal(encoding(input), GZIP_ENCODING);
        assert.ok(input.data!.length < LIMIT, `continue-as-new input ${input.data!.length} B`);
        console.log(
          `plan ${plainBytes} B as JSON → ${result.data!.length} B stored; continue-as-new input ${input.data!.length} B stored`,
        );
      } finally {
        await h.terminate('test done').catch(() => undefined);
        await w.stop();
      }
    },
  );

  it('twin: without compression the server refuses the plan and the migration stays in the Plan phase', async () => {
    const taskQueue = 'large-plain';
    const w = await startWorker({
      connection: await server.nativeConnection(),
      taskQueue,
      activities: createWorldActivities(world.url),
      dataConverter: {},
    });
    const workflowId = `large-plain-${Date.now()}`;
    const h = await server.client.workflow.start('migrationWorkflow', {
      taskQueue,
      workflowId,
      args: [{ spec: worldSpec() }],
    });
    try {
      const failure = await waitFor(
        'readShardPlan to fail',
        async () => {
          const d = await h.describe();
          const p = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'readShardPlan');
          return p?.lastFailure?.message ? p.lastFailure.message : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      console.log(`readShardPlan without compression: ${failure}`);
      assert.match(failure, /size|limit/i);
      const events = await rawHistory(workflowId);
      const completed = events.filter(
        (e) =>
          e.activityTaskCompletedEventAttributes &&
          scheduledName(events, e.activityTaskCompletedEventAttributes.scheduledEventId) === 'readShardPlan',
      );
      assert.equal(completed.length, 0);
    } finally {
      await h.terminate('test done').catch(() => undefined);
      await w.stop();
    }
  });
});
