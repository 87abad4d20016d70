/**
 * What the workflow does with input nobody checked — `temporal workflow start --input …` or the Web UI's Start
 * Workflow form send any JSON — and with update arguments of the wrong shape, on the real Temporal dev server.
 * A bad input fails the workflow with a non-retryable InvalidSpecError naming what is wrong (it used to crash the
 * first workflow task, retried for ever); a bad update argument is refused with the shape it expects.
 *   scripts/netns-run node scripts/run-tests.mjs workflow-input
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { startDevServer, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { waitFor } from './harness/procs';
import { approveUpdate, progressQuery, rollbackSignal, setConcurrencyUpdate, TASK_QUEUE } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

let server: DevServer;
let n = 0;

before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

/** A worker bound to a fresh in-memory world, on a task queue of its own. */
async function withWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const world = new World({ syncMs: 20 });
  await world.start();
  const taskQueue = `${TASK_QUEUE}-input-${Math.random().toString(36).slice(2, 8)}`;
  const w = await startWorker({
    connection: await server.nativeConnection(),
    taskQueue,
    activities: createWorldActivities(world.url),
  });
  try {
    return await fn(taskQueue);
  } finally {
    await w.stop();
    await world.stop();
  }
}

/** Starts migrationWorkflow with exactly these arguments, as the CLI's --input or the Web UI would. */
function start(taskQueue: string, args: unknown[]): Promise<WorkflowHandle> {
  return server.client.workflow.start('migrationWorkflow', {
    taskQueue,
    workflowId: `input-${++n}-${Date.now()}`,
    args,
  });
}

const noDeployment = () => {
  const s = worldSpec() as Record<string, unknown>;
  delete s.deployment;
  return s;
};

const BAD: [string, unknown[], RegExp][] = [
  [
    'no input at all',
    [],
    /workflow input: expected \{"spec": <migration spec>\} or the migration spec itself \(keys deployment, .*\), got nothing/,
  ],
  ['{}', [{}], /workflow input: expected \{"spec": <migration spec>\} .*, got an empty mapping/],
  ['null', [null], /workflow input: expected .*, got null/],
  [
    'a string (a file name instead of the spec)',
    ['examples/migration.yaml'],
    /workflow input: expected .*, got the string "examples\/migration.yaml"/,
  ],
  ['a number', [42], /workflow input: expected .*, got number 42/],
  ['a list', [[worldSpec()]], /workflow input: expected .*, got a list/],
  ['{"spec": null}', [{ spec: null }], /spec: expected a mapping with keys deployment, .*, got null/],
  ['{"spec": …} without deployment', [{ spec: noDeployment() }], /spec\.deployment: required \(object\)/],
  ['a bare spec without deployment', [noDeployment()], /(^|: )deployment: required \(object\)/],
  [
    '{"spec": …} with a wrong field and an unknown wrapper key',
    [{ spec: { ...worldSpec(), dns: { ...(worldSpec().dns as object), ttl: 'soon' } }, sepc: 1 }],
    /workflow input: unknown key sepc .*; spec\.dns\.ttl: expected number, got "soon"/,
  ],
];

describe('workflow input', () => {
  it(
    'every bad input: the workflow fails with a non-retryable InvalidSpecError saying what is wrong',
    { timeout: 120_000 },
    async () => {
      await withWorker(async (taskQueue) => {
        for (const [what, args, message] of BAD) await failsWith(taskQueue, what, args, message);
      });
    },
  );

  it(
    'a bare spec (what one pastes into the Web UI form) is accepted and the migration completes',
    { timeout: 60_000 },
    async () => {
      await withWorker(async (taskQueue) => {
        const handle = await start(taskQueue, [worldSpec()]);
        const r = (await handle.result()) as MigrationReport;
        assert.equal(r.status, 'completed');
      });
    },
  );
});

async function failsWith(taskQueue: string, what: string, args: unknown[], message: RegExp): Promise<void> {
  const handle = await start(taskQueue, args);
  await assert.rejects(
    handle.result(),
    (e: unknown) => {
      assert.ok(e instanceof WorkflowFailedError, String(e));
      const cause = e.cause;
      assert.ok(cause instanceof ApplicationFailure, `cause: ${String(cause)}`);
      assert.equal(cause.type, 'InvalidSpecError');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, /^invalid migration spec, nothing was changed: /);
      assert.match(cause.message, message, what);
      return true;
    },
    what,
  );
  const d = await handle.describe();
  assert.equal(d.status.name, 'FAILED', what);
  // Failed by the workflow itself on its first task, not by a crashing task that the server would retry.
  const history = await handle.fetchHistory();
  const types = (history.events ?? []).map((ev) => Object.keys(ev).find((k) => k.endsWith('EventAttributes')));
  assert.ok(
    !types.includes('workflowTaskFailedEventAttributes'),
    `${what}: no failed workflow task: ${types.join(', ')}`,
  );
  assert.ok(!types.includes('activityTaskScheduledEventAttributes'), `${what}: no activity ran`);
}

describe('update arguments', () => {
  it(
    'setConcurrency and approve refuse a wrong shape, non-retryably, showing the shape they expect',
    { timeout: 60_000 },
    async () => {
      await withWorker((taskQueue) => refusesBadUpdates(taskQueue));
    },
  );
});

async function refusesBadUpdates(taskQueue: string): Promise<void> {
  const spec = worldSpec();
  (spec.policy as Record<string, unknown>).requireApproval = true;
  const handle = await start(taskQueue, [{ spec }]);
  await waitFor('AwaitApproval', async () => (await handle.query(progressQuery)).status === 'awaitingApproval');
  const refused = async (p: Promise<unknown>, re: RegExp) =>
    assert.rejects(p, (e: any) => {
      const cause = e?.cause;
      assert.ok(cause instanceof ApplicationFailure, `cause: ${String(cause)} (${String(e)})`);
      assert.equal(cause.type, 'UpdateRejectedError');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, re);
      return true;
    });
  const expected = String.raw`setConcurrency: expected \{"maxConcurrentShardMoves": <integer 1\.\.1000>\}, got `;
  // A bare number, as `temporal workflow update --input 4` or the UI sends it.
  await refused(handle.executeUpdate(setConcurrencyUpdate, { args: [4 as never] }), new RegExp(`${expected}4$`));
  await refused(
    handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: '8' } as never] }),
    new RegExp(`${expected}\\{"maxConcurrentShardMoves":"8"\\}$`),
  );
  await refused(
    handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: 1001 }] }),
    new RegExp(`${expected}\\{"maxConcurrentShardMoves":1001\\}$`),
  );
  await refused(handle.executeUpdate(setConcurrencyUpdate, { args: [] as never }), new RegExp(`${expected}nothing$`));
  await refused(
    handle.executeUpdate(approveUpdate, { args: ['yes' as never] }),
    /^approve: expected nothing or \{"by"\?: string, "reason"\?: string\}, got "yes"$/,
  );
  // Nothing was changed by the refused updates; a good one still works.
  assert.deepEqual(await handle.executeUpdate(setConcurrencyUpdate, { args: [{ maxConcurrentShardMoves: 8 }] }), {
    previous: 4,
    current: 8,
  });
  await handle.signal(rollbackSignal, { reason: 'test done' });
  assert.equal(((await handle.result()) as MigrationReport).status, 'rolledBack');
}
