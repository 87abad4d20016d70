/**
 * The Temporal Web UI in a real browser (Debian's Chromium through playwright-core): an operator starts a
 * migration from the Start Workflow form with a JSON spec, finds it in the workflow list by its MigrationPhase,
 * reads the current-details summary, sends `pause` from the UI and sees it stop advancing, sends `resume`, and
 * sees it complete. The worker acts on the in-memory world (the UI path is what is under test here).
 * Screenshots go to test-artifacts/.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startDevServer, ROOT, type DevServer } from './harness/temporal';
import { launchBrowser, type Browser } from './harness/browser';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { sleep, waitFor } from './harness/procs';
import { progressQuery, TASK_QUEUE, WORKFLOW_TYPE } from '../src/shared/controls';
import type { MigrationReport } from '../src/shared/types';

const ARTIFACTS = join(ROOT, 'test-artifacts');
let server: DevServer;
let browser: Browser;
let world: World;
let stopWorker: () => Promise<void>;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startDevServer({ ui: true });
  world = new World({
    syncMs: 3000,
    collections: [{ name: 'orders', shards: 16, replicationFactor: 2, clones: 1, bytes: 4096 }],
  });
  await world.start();
  const w = await startWorker({
    connection: await server.nativeConnection(),
    taskQueue: TASK_QUEUE,
    activities: createWorldActivities(world.url),
  });
  stopWorker = () => w.stop();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stopWorker?.();
  await world?.stop();
  await server?.stop();
});

/** Opens "More Actions → Send a Signal", picks the signal from the list the workflow advertises, sends `{}`. */
async function sendSignal(page: Page, name: string): Promise<void> {
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
  const dialog = page.locator('dialog[open]');
  await dialog.getByTestId('signal-select-button').click();
  // The dropdown lists the workflow's signals with their descriptions (from the metadata query).
  await page
    .getByRole('option', { name: new RegExp(`^\\s*${name}\\b`) })
    .first()
    .click();
  await dialog.locator('input[type=file]').setInputFiles({
    name: 'input.json',
    mimeType: 'application/json',
    buffer: Buffer.from('{"reason":"sent from the Web UI"}'),
  });
  await dialog.getByTestId('confirm-modal-button').click();
  await page
    .locator('dialog[open]')
    .waitFor({ state: 'detached', timeout: 10_000 })
    .catch(() => undefined);
}

/** The UI renders the markdown in a sandboxed frame: read the text of every frame. */
async function detailsText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((f) =>
      f
        .locator('body')
        .innerText({ timeout: 2000 })
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

/**
 * The workflow page's "User Metadata" tab, where the UI renders the workflow's current details (markdown). Returns the
 * page's text at the moment the details showed: the UI re-queries them whenever the history grows and shows "Press R
 * for freshness" in between, so a second read a moment later can miss them (CI once read exactly that).
 */
async function openCurrentDetails(page: Page, workflowId: string): Promise<string> {
  await page.goto(`${server.uiUrl}/namespaces/default/workflows/${workflowId}`);
  await page.getByRole('button', { name: 'More Actions' }).waitFor({ timeout: 30_000 });
  for (let i = 0; i < 5; i++) {
    await page
      .locator(':is(a, button, [role=tab]):visible', { hasText: /^\s*User Metadata\s*$/ })
      .first()
      .click();
    const found = await waitFor(
      'current details',
      async () => {
        const text = await detailsText(page);
        return text.includes('Transit migration') ? text : undefined;
      },
      { timeoutMs: 5000 },
    ).catch(() => undefined);
    if (found) return found;
    await page.keyboard.press('r'); // the UI's "press R for freshness"
  }
  await page.screenshot({ path: join(ARTIFACTS, 'ui-details-missing.png'), fullPage: true });
  throw new Error('the current details did not show (see test-artifacts/ui-details-missing.png)');
}

it(
  'start from the Web UI form, find it by MigrationPhase, read its details, pause and resume it there',
  { timeout: 240_000 },
  async () => {
    const page = await browser.newPage();
    const workflowId = `ui-migration-${Date.now()}`;
    const spec = worldSpec() as Record<string, any>;
    spec.policy.maxConcurrentShardMoves = 2;

    // 1. Start Workflow form: ID, task queue, type, and the JSON spec as the single input payload.
    await page.goto(`${server.uiUrl}/namespaces/default/workflows/start-workflow`);
    await page.locator('#workflowId').fill(workflowId);
    await page.locator('#taskQueue').fill(TASK_QUEUE);
    await page.locator('#workflowType').fill(WORKFLOW_TYPE);
    await page
      .locator('input[type=file]')
      .first()
      .setInputFiles({
        name: 'spec.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify({ spec })),
      });
    await page.getByTestId('start-workflow-button').click();
    const handle = server.client.workflow.getHandle(workflowId);
    await waitFor('the workflow started from the UI', async () => (await handle.describe()).status.name === 'RUNNING', {
      timeoutMs: 30_000,
    });

    // 2. The workflow list, filtered by the MigrationPhase search attribute.
    await waitFor('MoveShards', async () => (await handle.query(progressQuery)).phase === 'MoveShards', {
      timeoutMs: 60_000,
    });
    await page.goto(
      `${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('MigrationPhase="MoveShards"')}`,
    );
    await page.getByText(workflowId).first().waitFor({ timeout: 30_000 });

    // 3. The workflow page: the current-details summary (User Metadata tab).
    const details = await openCurrentDetails(page, workflowId);
    assert.match(details, /Phase:\s+MoveShards/);
    assert.match(details, /Shards:\s+\d+ \/ 32/);
    assert.match(details, /Agents moved:\s+\d+ \/ \d+/); // the UI keeps the space (a table ran it together)
    await page.screenshot({ path: join(ARTIFACTS, 'ui-running-workflow.png'), fullPage: true });

    // 4. Pause from the UI: it parks at the next safe point and stops advancing.
    await sendSignal(page, 'pause');
    const parked = await waitFor(
      'paused',
      async () => {
        const p = await handle.query(progressQuery);
        return p.paused ? p : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(parked.shardsDone < parked.shardsTotal, 'paused before the end');
    await sleep(2000);
    assert.equal((await handle.query(progressQuery)).shardsDone, parked.shardsDone, 'no shard moves while paused');
    await openCurrentDetails(page, workflowId);
    await waitFor(
      'the details to say paused',
      async () => (/Status:\s+paused/.test(await detailsText(page)) ? true : undefined),
      { timeoutMs: 30_000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, 'ui-paused-workflow.png'), fullPage: true });

    // 5. Resume from the UI; the migration completes.
    await sendSignal(page, 'resume');
    const report = (await handle.result()) as MigrationReport;
    assert.equal(report.status, 'completed');
    assert.equal(report.shardsOnTarget, report.shardsTotal);
    await page.reload();
    await page.getByText('COMPLETED').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-completed-workflow.png'), fullPage: true });
    assert.deepEqual(
      browser.blocked.filter((o) => !o.includes('temporal.io')),
      [],
      'the UI reached nothing but loopback (and the blocked news feed)',
    );
  },
);
