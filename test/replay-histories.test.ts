/**
 * Migrations already in flight must keep replaying: every history committed under test/histories/ (real runs
 * recorded by scripts/record-histories.ts, encrypted with the committed TEST codec key) is replayed with
 * Worker.runReplayHistories against the current workflow code, the way a production worker runs it — the
 * prebuilt bundle (writeWorkflowBundle: with Transit's failure converter) and src/codec.ts's data converter.
 * A change that would break one of them fails here. How to change workflow code safely: docs/workflow-changes.md.
 *
 * The twin shows the check bites: the same histories against a copy of the workflow code with two activity
 * calls swapped report a DeterminismViolationError; and without the key nothing replays (they are encrypted).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { dataConverter } from '../src/codec';
import { quietRuntime, ROOT } from './harness/temporal';
import { productionBundleFile } from './harness/transit-worker';
import { historyFromJson } from './histories/history-json';

const DIR = join(ROOT, 'test/histories');
const KEY_FILE = join(DIR, 'codec-test-key.json');
const NOT_HISTORIES = new Set(['manifest.json', 'codec-test-key.json']);

interface Entry {
  file: string;
  covers: string;
  workflowId: string;
  runId: string;
  status: string;
  events: number;
  patches: string[];
  commit: string;
  recordedAt: string;
}
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { histories: Entry[] };
const onDisk = readdirSync(DIR)
  .filter((f) => f.endsWith('.json') && !NOT_HISTORIES.has(f))
  .sort();

function load(e: Entry) {
  return { workflowId: e.workflowId, history: historyFromJson(JSON.parse(readFileSync(join(DIR, e.file), 'utf8'))) };
}

async function replay(opts: ReplayWorkerOptions, entries: Entry[]): Promise<Map<string, Error | undefined>> {
  quietRuntime();
  const out = new Map<string, Error | undefined>();
  // One replay worker for all; results come back in input order, one per history.
  let i = 0;
  for await (const r of Worker.runReplayHistories(opts, entries.map(load))) out.set(entries[i++]!.file, r.error);
  assert.equal(out.size, entries.length, 'a result for every history');
  return out;
}

async function production(): Promise<ReplayWorkerOptions> {
  return {
    workflowBundle: { codePath: await productionBundleFile() },
    dataConverter: await dataConverter({ keyFile: KEY_FILE }),
    replayName: 'committed-histories',
  };
}

describe('recorded histories', () => {
  it('the files in test/histories are exactly those manifest.json lists, each with what it covers and where it was recorded', () => {
    assert.deepEqual(manifest.histories.map((h) => h.file).sort(), onDisk);
    for (const h of manifest.histories) {
      assert.match(h.commit, /^[0-9a-f]{40}\b/, `${h.file}: the commit it was recorded at`);
      assert.ok(!Number.isNaN(Date.parse(h.recordedAt)), `${h.file}: the date`);
      assert.ok(h.covers.length > 10, `${h.file}: what it covers`);
      const events = (JSON.parse(readFileSync(join(DIR, h.file), 'utf8')) as { events: unknown[] }).events;
      assert.equal(events.length, h.events, `${h.file}: event count`);
    }
    assert.ok(onDisk.length >= 15, `${onDisk.length} histories`);
  });

  it(
    'every committed history replays against the current workflow code (production bundle, codec, failure converter)',
    { timeout: 120_000 },
    async () => {
      const results = await replay(await production(), manifest.histories);
      const failed = [...results].filter(([, e]) => e).map(([f, e]) => `${f}: ${e!.name}: ${e!.message}`);
      assert.deepEqual(
        failed,
        [],
        'a committed history no longer replays: a migration in flight would break (docs/workflow-changes.md)',
      );
    },
  );
});

describe('the twin: the replay fails when it must', () => {
  it(
    'a copy of the workflow with two activity calls swapped is a non-determinism failure; without the key nothing replays',
    { timeout: 120_000 },
    async () => {
      // The change: in Validate, the cluster health check before preflight (a command-order change).
      const tmp = mkdtempSync(join(tmpdir(), 'transit-changed-workflow-'));
      cpSync(join(ROOT, 'src'), join(tmp, 'src'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'), 'dir');
      const path = join(tmp, 'src/workflows/phases-prepare.ts');
      const code = readFileSync(path, 'utf8');
      const preflight = "  await m.call('preflight', () => m.ref());\n";
      const health = '  await requireHealthy(m);\n';
      assert.ok(
        code.includes(preflight + health),
        'phases-prepare.ts: Validate runs preflight, then the health check (the twin swaps them)',
      );
      writeFileSync(path, code.replace(preflight + health, health + preflight));
      const noop = () => undefined;
      const { code: bundle } = await bundleWorkflowCode({
        workflowsPath: join(tmp, 'src/workflows'),
        failureConverterPath: join(tmp, 'src/failure-converter.ts'),
        logger: { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m) },
      });

      const pick = (...files: string[]) => files.map((f) => manifest.histories.find((h) => h.file === f)!);
      const changed = await replay(
        { ...(await production()), workflowBundle: { code: bundle }, replayName: 'changed-workflow' },
        pick('completed.json', 'parked-Plan.json', 'invalid-input.json'),
      );
      for (const f of ['completed.json', 'parked-Plan.json']) {
        const e = changed.get(f);
        assert.ok(
          e instanceof DeterminismViolationError,
          `${f}: expected a DeterminismViolationError, got ${e ? `${e.name}: ${e.message}` : 'success'}`,
        );
        assert.match(e.message, /preflight|checkClusterHealth/, `${f}: the mismatch names the activities`);
      }
      // A history that never reached the changed code still replays: why the corpus covers every path.
      assert.equal(changed.get('invalid-input.json'), undefined);

      // Encrypted for real: without the codec the workflow input cannot be decoded.
      // (The bundle's failure converter encodes the task failure's message too: Core shows the start of its base64.)
      const plain = await replay(
        { workflowBundle: { code: bundle }, replayName: 'no-codec' },
        pick('invalid-input.json'),
      );
      const e = plain.get('invalid-input.json');
      assert.ok(
        e && !(e instanceof DeterminismViolationError),
        `expected a workflow task failure, got ${e ? e.message : 'success'}`,
      );
      const shown = /encoded_attributes: Some\(\[([A-Za-z0-9+/]+=*)/.exec(e.message)?.[1];
      assert.match(shown ? Buffer.from(shown, 'base64').toString() : e.message, /Unknown encoding: bi/);
    },
  );
});
