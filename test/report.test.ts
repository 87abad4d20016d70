/**
 * `transit report`: the HTML report built from recorded workflow histories (test/histories/, real runs) and from
 * a live Temporal dev server (that one also opened in headless Chromium: test-artifacts/report-live.png). What
 * the report shows is checked against the history itself, read here independently (raw JSON, payloads decrypted
 * with the codec directly): the phases in order, one row per activity the workflow scheduled, failed and retried
 * steps, paused and parked time, shards and bytes at the end against the workflow's own result, the charts as
 * inline SVG with their series, and no external resource.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { AesGcmCodec, loadCodecKeys } from '../src/codec';
import { reportFromFiles } from '../src/report';
import { TransitClient } from '../src/client';
import { SA_MIGRATION_PHASE, TASK_QUEUE } from '../src/shared/controls';
import { ROOT, startDevServer, TEMPORAL_CLI, type DevServer } from './harness/temporal';
import { startWorker } from './harness/worker';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { waitFor } from './harness/procs';
import { launchBrowser } from './harness/browser';

const DIR = join(ROOT, 'test/histories');
const KEY = join(DIR, 'codec-test-key.json');
const codec = new AesGcmCodec(loadCodecKeys(KEY));
const out = mkdtempSync(join(tmpdir(), 'transit-report-'));
const run = promisify(execFile);
const ARTIFACTS = join(ROOT, 'test-artifacts');

// ------------------------------------------------------------------ the history, read independently

type Json = Record<string, any>;

const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');

async function payload(p: Json | undefined): Promise<any> {
  if (!p) return undefined;
  const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v as string)]));
  const [d] = await codec.decode([{ metadata, data: b64(p.data) }]);
  return JSON.parse(Buffer.from(d!.data ?? []).toString());
}

interface Raw {
  events: Json[];
  phases: string[];
  activities: string[];
  failed: { activity: string; message: string }[];
  signals: string[];
  result: Json | undefined;
}

async function raw(file: string): Promise<Raw> {
  const events = (JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { events: Json[] }).events;
  const phases: string[] = [];
  const activities: string[] = [];
  const failed: Raw['failed'] = [];
  const signals: string[] = [];
  const byId = new Map<string, string>();
  let result: Json | undefined;
  for (const e of events) {
    const sa =
      e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[SA_MIGRATION_PHASE.name] ??
      e.workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields?.[SA_MIGRATION_PHASE.name];
    if (sa) {
      const v = JSON.parse(b64(sa.data).toString());
      if (phases.at(-1) !== v) phases.push(v);
    }
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      activities.push(s.activityType.name);
      byId.set(e.eventId, s.activityType.name);
    }
    const f = e.activityTaskFailedEventAttributes;
    if (f)
      failed.push({
        activity: byId.get(f.scheduledEventId)!,
        message: (await payload(f.failure.encodedAttributes)).message,
      });
    if (e.workflowExecutionSignaledEventAttributes) signals.push(e.workflowExecutionSignaledEventAttributes.signalName);
    if (e.workflowExecutionCompletedEventAttributes)
      result = await payload(e.workflowExecutionCompletedEventAttributes.result.payloads[0]);
  }
  return { events, phases, activities, failed, signals, result };
}

// ------------------------------------------------------------------ what the HTML shows

const decodeEntities = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
const cells = (row: string) => [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => decodeEntities(m[1]!));
const tbody = (html: string, id: string) => {
  const m = new RegExp(`<table id="${id}">[\\s\\S]*?<tbody>([\\s\\S]*?)</tbody>`).exec(html);
  return m ? [...m[1]!.matchAll(/<tr[^>]*>[\s\S]*?<\/tr>/g)].map((x) => x[0]) : [];
};
const figure = (html: string, id: string) => {
  const m = new RegExp(`<figure id="${id}">([\\s\\S]*?)</figure>`).exec(html);
  assert.ok(m, `figure ${id}`);
  return m[1]!;
};
const svgOf = (html: string, id: string) => {
  const f = figure(html, id);
  const m = /<svg[\s\S]*<\/svg>/.exec(f);
  assert.ok(m, `${id}: an inline SVG chart`);
  return m[0];
};
/** aria-labels Vega gives every mark item: "field: value; field: value". */
const items = (svg: string) =>
  [...svg.matchAll(/aria-label="([^"]*)"/g)]
    .map((m) => decodeEntities(m[1]!))
    .map((l) =>
      Object.fromEntries(l.split('; ').map((kv) => [kv.slice(0, kv.indexOf(': ')), kv.slice(kv.indexOf(': ') + 2)])),
    );

/** Everything that would make the browser fetch something: the file must open without a network. */
function externalReferences(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<(script|link|img|iframe|object|embed|source|video|audio)\b[^>]*>/gi))
    found.push(m[0]);
  for (const m of html.matchAll(/\b(src|href|xlink:href|srcset|action)\s*=\s*["']?\s*(https?:)?\/\/[^"'\s>]*/gi))
    found.push(m[0]);
  for (const m of html.matchAll(/url\(\s*["']?\s*(https?:)?\/\//gi)) found.push(m[0]);
  for (const m of html.matchAll(/@import/gi)) found.push(m[0]);
  return found;
}

async function report(...files: string[]) {
  return reportFromFiles(
    files.map((f) => join(DIR, f)),
    { codecKeyFile: KEY },
  );
}

describe('transit report from recorded histories', () => {
  it('a completed migration: every phase in order, one row per step, the charts with their series, nothing external', async () => {
    const h = await raw('completed.json');
    const { html } = await report('completed.json');

    const phaseRows = tbody(html, 'phases').map((r) => cells(r)[0]);
    assert.deepEqual(phaseRows, h.phases);
    assert.deepEqual(h.phases, [
      'Validate',
      'Plan',
      'BridgeNetworks',
      'ProvisionTarget',
      'MoveShards',
      'MoveAgents',
      'CutoverDNS',
      'Drain',
      'Decommission',
      'Complete',
    ]);

    const steps = tbody(html, 'steps').map(cells);
    assert.equal(steps.length, h.activities.length, 'one row per activity the workflow scheduled');
    assert.deepEqual(
      steps.map((c) => c[2]),
      h.activities,
    );
    assert.deepEqual(
      steps.map((c) => Number(c[0])),
      h.activities.map((_, i) => i + 1),
    );
    for (const c of steps) {
      assert.equal(c[7], 'completed');
      assert.equal(c[6], '1', 'attempts');
      assert.match(c[5]!, /^\d+(\.\d)? m?s$/, 'duration');
    }
    // Each step row sits in the phase the history was in when it was scheduled.
    assert.equal(steps.find((c) => c[2] === 'preflight')![1], 'Validate');
    assert.ok(steps.filter((c) => c[2] === 'submitShardMoves').every((c) => c[1] === 'MoveShards'));
    assert.ok(steps.filter((c) => c[2] === 'moveAgent').every((c) => c[1] === 'MoveAgents'));

    // Gantt: a bar per phase, in order.
    const gantt = items(svgOf(html, 'chart-phases')).filter((x) => x.kind === 'phase');
    assert.deepEqual(
      gantt.map((x) => x.row),
      h.phases,
    );
    // Shards and bytes: the last points agree with the workflow's own result.
    const movement = items(svgOf(html, 'chart-movement'));
    const shards = movement.filter((x) => 'shards' in x).map((x) => Number(x.shards));
    const bytes = movement.filter((x) => 'bytes' in x).map((x) => Number(x.bytes));
    assert.equal(shards[0], 0);
    assert.equal(shards.at(-1), h.result!.shardsTotal);
    assert.equal(shards.at(-1), h.result!.shardsOnTarget);
    assert.equal(bytes.at(-1), h.result!.bytesMoved);
    assert.deepEqual(
      [...bytes].sort((a, b) => a - b),
      bytes,
      'bytes copied never go down',
    );
    // Throughput: a series per DB server and direction; sources send, targets receive.
    const rates = items(svgOf(html, 'chart-throughput')).filter((x) => x.series);
    const series = new Set(rates.map((x) => x.series));
    for (const s of ['PRMR-s0', 'PRMR-s1', 'PRMR-s2']) assert.ok(series.has(`${s} send`), `${s} send`);
    for (const s of ['PRMR-t0', 'PRMR-t1', 'PRMR-t2']) assert.ok(series.has(`${s} receive`), `${s} receive`);
    assert.ok(![...series].some((s) => /PRMR-s\d receive/.test(s)), 'no source server receives in a forward run');
    // Latency: a bar per probe result (phase × region pair).
    const lat = items(svgOf(html, 'chart-latency')).filter((x) => x.pair && x.path); // the bars (p95 ticks too)
    assert.deepEqual(
      lat.map((x) => `${x.phase} ${x.pair}`),
      h.result!.latency.map((l: Json) => `${l.phase} ${l.from} → ${l.to}`),
    );

    assert.deepEqual(externalReferences(html), []);
    assert.equal(tbody(html, 'holds').length, 0, 'never paused or parked');
  });

  it('a failed step then resumed: the failure with its message, parked until the resume, the step run again', async () => {
    const h = await raw('failed-step-resumed.json');
    assert.equal(h.failed.length, 1);
    const { html } = await report('failed-step-resumed.json');
    const steps = tbody(html, 'steps').map(cells);
    assert.equal(steps.length, h.activities.length);
    const failed = steps.filter((c) => c[7] === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]![2], h.failed[0]!.activity);
    assert.ok(failed[0]![8]!.includes(h.failed[0]!.message), failed[0]![8]);
    const retry = steps[Number(failed[0]![0])]!; // the next row
    assert.equal(retry[2], h.failed[0]!.activity);
    assert.equal(retry[7], `completed (retry of ${failed[0]![0]})`);

    const holds = tbody(html, 'holds').map(cells);
    assert.equal(holds.length, 1);
    assert.equal(holds[0]![0], 'parked');
    assert.equal(holds[0]![1], failed[0]![1], 'parked in the phase of the failed step');
    assert.ok(holds[0]![4]!.includes(h.failed[0]!.message));
    const gantt = items(svgOf(html, 'chart-phases'));
    assert.equal(gantt.filter((x) => x.kind === 'parked').length, 1, 'the parked time on the timeline');
    const marked = gantt.filter((x) => x.kind === 'retried step');
    assert.equal(marked.length, 1, 'the retried step on the timeline');
    assert.match(marked[0]!.what!, new RegExp(`retry of step ${failed[0]![0]}`));
    assert.deepEqual(
      tbody(html, 'controls').map((r) => cells(r)[2]),
      h.signals,
    );
  });

  it('parked mid-MoveShards by a pause (history still open): paused until the last event, phases so far', async () => {
    const h = await raw('parked-mid-MoveShards.json');
    const { html, data } = await report('parked-mid-MoveShards.json');
    assert.equal(data.status, 'running');
    assert.deepEqual(
      tbody(html, 'phases').map((r) => cells(r)[0]),
      h.phases,
    );
    assert.equal(h.phases.at(-1), 'MoveShards');
    const holds = tbody(html, 'holds').map(cells);
    assert.equal(holds.length, 1);
    assert.deepEqual(holds[0]!.slice(0, 2), ['paused', 'MoveShards']);
    assert.match(holds[0]![3]!, /\(still\)$/);
    assert.match(holds[0]![4]!, /reason: recorded history: pause mid-MoveShards/);
    assert.equal(tbody(html, 'steps').length, h.activities.length);
    const shards = items(svgOf(html, 'chart-movement'))
      .filter((x) => 'shards' in x)
      .map((x) => Number(x.shards));
    assert.ok(shards.at(-1)! < 12, 'not every shard moved yet');
  });

  it('a rollback: RollingBack then RolledBack, and every shard back on the source at the end', async () => {
    const h = await raw('rolled-back.json');
    const { html } = await report('rolled-back.json');
    const phases = tbody(html, 'phases').map((r) => cells(r)[0]);
    assert.deepEqual(phases, h.phases);
    assert.deepEqual(phases.slice(-2), ['RollingBack', 'RolledBack']);
    const shards = items(svgOf(html, 'chart-movement'))
      .filter((x) => 'shards' in x)
      .map((x) => Number(x.shards));
    const bytes = items(svgOf(html, 'chart-movement'))
      .filter((x) => 'bytes' in x)
      .map((x) => Number(x.bytes));
    assert.ok(Math.max(...bytes) > 0, 'copies reached the target before the rollback');
    assert.equal(shards.at(-1), h.result!.shardsOnTarget);
    assert.equal(shards.at(-1), 0);
    const rates = new Set(items(svgOf(html, 'chart-throughput')).map((x) => x.series));
    assert.ok(
      [...rates].some((s) => /PRMR-s\d receive/.test(s ?? '')),
      'source servers receive in the rollback',
    );
  });

  it('approval required: the AwaitApproval phase, and the updates (setConcurrency, approve) in the order the history has them', async () => {
    const h = await raw('approved.json');
    const { html } = await report('approved.json');
    const phases = tbody(html, 'phases').map((r) => cells(r)[0]);
    assert.deepEqual(phases, h.phases);
    assert.equal(phases[2], 'AwaitApproval');
    const updates = h.events
      .filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)
      .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest.input.name);
    assert.deepEqual(updates, ['setConcurrency', 'approve']);
    assert.deepEqual(
      tbody(html, 'controls').map((r) => cells(r).slice(1, 3)),
      updates.map((u) => ['update', u]),
    );
  });

  it('a continue-as-new chain of four runs: one report, phases in order across the runs, every step of every run', async () => {
    const files = [1, 2, 3, 4].map((n) => `continued-as-new-run${n}.json`);
    const hs = await Promise.all(files.map(raw));
    // Files in any order: the report puts the runs in order.
    const { html, data } = await report(...[...files].reverse());
    assert.equal(data.runs, 4);
    assert.equal(data.status, 'completed');
    const phases = hs.flatMap((h) => h.phases).filter((p, i, a) => p !== a[i - 1]);
    assert.deepEqual(
      tbody(html, 'phases').map((r) => cells(r)[0]),
      phases,
    );
    assert.equal(phases.at(-1), 'Complete');
    const steps = tbody(html, 'steps').map(cells);
    assert.deepEqual(
      steps.map((c) => c[2]),
      hs.flatMap((h) => h.activities),
    );
    const shards = items(svgOf(html, 'chart-movement'))
      .filter((x) => 'shards' in x)
      .map((x) => Number(x.shards));
    assert.equal(shards.at(-1), hs[3]!.result!.shardsOnTarget);
  });

  it('the lock-holding engine of earlier releases (pre-patches history): shards and bytes from its steps', async () => {
    const h = await raw('pre-patches-completed.json');
    const { html } = await report('pre-patches-completed.json');
    assert.equal(tbody(html, 'steps').length, h.activities.length);
    const movement = items(svgOf(html, 'chart-movement'));
    assert.equal(Number(movement.filter((x) => 'shards' in x).at(-1)!.shards), h.result!.shardsTotal);
    assert.equal(Number(movement.filter((x) => 'bytes' in x).at(-1)!.bytes), h.result!.bytesMoved);
  });

  it('without the codec key: phases, steps and times still show, and the report says what is missing', async () => {
    const h = await raw('completed.json');
    const prev = process.env.TRANSIT_CODEC_KEY_FILE;
    delete process.env.TRANSIT_CODEC_KEY_FILE;
    try {
      const { html, data } = await reportFromFiles([join(DIR, 'completed.json')]);
      assert.deepEqual(
        tbody(html, 'phases').map((r) => cells(r)[0]),
        h.phases,
      );
      assert.deepEqual(
        tbody(html, 'steps').map((r) => cells(r)[2]),
        h.activities,
      );
      assert.ok(data.undecodable > 0);
      assert.match(html, /could not be decoded \(encrypted: pass --codec-key-file/);
      assert.match(figure(html, 'chart-movement'), /no data for this chart/);
      assert.deepEqual(externalReferences(html), []);
    } finally {
      if (prev !== undefined) process.env.TRANSIT_CODEC_KEY_FILE = prev;
    }
  });

  it('the twin: the external-resource check finds a script, a stylesheet, an image or a CSS url() from the network', async () => {
    const { html } = await report('completed.json');
    for (const bad of [
      '<script src="https://cdn.example.test/vega.js"></script>',
      '<link rel="stylesheet" href="http://example.test/a.css">',
      '<img src="//example.test/x.png">',
      '<style>body{background:url(https://example.test/bg.png)}</style>',
    ]) {
      const broken = html.replace('</body>', `${bad}</body>`);
      assert.ok(externalReferences(broken).length > 0, bad);
    }
    // The SVG namespace attribute is a name, not a fetch.
    assert.match(html, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  });

  it('the CLI writes the file from an exported history (--history), and fails in one line on a file that is not one', async () => {
    const file = join(out, 'completed.html');
    const bin = join(ROOT, 'bin', 'transit');
    const r = await run(
      bin,
      ['report', '--history', join(DIR, 'completed.json'), '--out', file, '--codec-key-file', KEY],
      { timeout: 120_000 },
    );
    assert.match(r.stdout, /completed\.html: recorded-completed completed, 10 phases, 50 steps, 1 run/);
    const html = readFileSync(file, 'utf8');
    assert.equal(tbody(html, 'steps').length, (await raw('completed.json')).activities.length);
    const bad = await run(bin, ['report', '--history', KEY, '--out', join(out, 'x.html')]).catch((e) => e);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /codec-test-key\.json: not a workflow history/);
  });
});

describe('transit report against a live Temporal server', () => {
  let server: DevServer;
  let world: World;
  let stopWorker: () => Promise<void>;
  before(async () => {
    server = await startDevServer();
    world = new World({ syncMs: 300, collections: [{ name: 'x', shards: 6, replicationFactor: 2, bytes: 1000 }] });
    await world.start();
    const w = await startWorker({
      connection: await server.nativeConnection(),
      taskQueue: TASK_QUEUE,
      activities: createWorldActivities(world.url),
    });
    stopWorker = () => w.stop();
  });
  after(async () => {
    await stopWorker?.();
    await world?.stop();
    await server?.stop();
  });

  it(
    'mid-migration with the progress query, then completed: phases and steps as the server history has them',
    { timeout: 240_000 },
    async () => {
      const env = { ...process.env, TEMPORAL_ADDRESS: server.address };
      const bin = join(ROOT, 'bin', 'transit');
      const client = await TransitClient.connect({ address: server.address });
      try {
        const held = world.gate((name) => name === 'waitForShardMoves');
        const { workflowId } = await client.startMigration(worldSpec());
        await held.hit;
        const midFile = join(out, 'mid.html');
        try {
          const mid = await run(bin, ['report', workflowId, '--out', midFile], { env, timeout: 120_000 });
          assert.match(mid.stdout, /running/);
        } finally {
          held.release();
        }
        const midHtml = readFileSync(midFile, 'utf8');
        assert.match(midHtml, /Now \(progress query\)<\/dt><dd>MoveShards/);
        assert.equal(
          tbody(midHtml, 'phases')
            .map((r) => cells(r)[0])
            .at(-1),
          'MoveShards',
        );

        const result = await client.result(workflowId);
        assert.equal(result.status, 'completed');
        const endFile = join(out, 'end.html');
        await waitFor(
          'report',
          async () => (await run(bin, ['report', workflowId, '--out', endFile], { env, timeout: 120_000 })).stdout,
          { timeoutMs: 60_000, intervalMs: 500 },
        );
        const html = readFileSync(endFile, 'utf8');
        // The server's history, read here with the SDK.
        const events = (await server.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
        const phases: string[] = [];
        for (const e of events) {
          const p = (e.upsertWorkflowSearchAttributesEventAttributes ?? e.workflowExecutionStartedEventAttributes)
            ?.searchAttributes?.indexedFields?.[SA_MIGRATION_PHASE.name];
          if (!p?.data) continue;
          const v = JSON.parse(Buffer.from(p.data).toString());
          if (phases.at(-1) !== v) phases.push(v);
        }
        assert.deepEqual(
          tbody(html, 'phases').map((r) => cells(r)[0]),
          phases,
        );
        assert.equal(phases.at(-1), 'Complete');

        // The timeline in the result: its end (the moment every shard was moved) lies inside MoveShards as the
        // server's own event times bound it; the ETA chart draws the time that actually remained from each sample.
        const upserts = events
          .filter(
            (e) =>
              e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[
                SA_MIGRATION_PHASE.name
              ],
          )
          .map((e) => ({
            t: Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6),
            phase: JSON.parse(
              Buffer.from(
                e.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes!.indexedFields![
                  SA_MIGRATION_PHASE.name
                ]!.data!,
              ).toString(),
            ) as string,
          }));
        const ms = upserts.findIndex((u) => u.phase === 'MoveShards');
        const msEnd = upserts.slice(ms + 1).find((u) => u.phase !== 'MoveShards')!;
        const samples = result.timeline!.samples;
        const end = samples.find((x) => x[1] === x[2] && x[3] === x[4])!;
        assert.ok(end, `a finishing sample: ${JSON.stringify(samples)}`);
        assert.ok(
          end[0]! >= upserts[ms]!.t && end[0]! <= msEnd.t + 1,
          `timeline end ${end[0]} within MoveShards [${upserts[ms]!.t}, ${msEnd.t}]`,
        );
        assert.deepEqual(end.slice(3, 5), [result.shardsTotal, result.shardsTotal]);
        const actual = items(svgOf(html, 'chart-eta')).filter((x) => x.series === 'actual remaining' && 't' in x);
        // (a line's own label repeats its first point: points counted by time)
        assert.equal(new Set(actual.map((x) => x.t)).size, samples.length, 'one actual-remaining point per sample');
        assert.equal(Number(actual[0]!.s), Math.round((end[0]! - samples[0]![0]!) / 100) / 10, 'from the first sample');
        assert.deepEqual(
          tbody(html, 'steps').map((r) => cells(r)[2]),
          events
            .filter((e) => e.activityTaskScheduledEventAttributes)
            .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name),
        );
        assert.doesNotMatch(html, /Now \(progress query\)/, 'a closed migration: the history alone');
        assert.deepEqual(externalReferences(html), []);

        // Opened in headless Chromium: it asks for nothing but the file itself, and shows the five charts.
        const browser = await launchBrowser();
        try {
          const page = await browser.newPage();
          const requested: string[] = [];
          page.on('request', (r) => requested.push(r.url()));
          await page.goto(pathToFileURL(endFile).href);
          assert.deepEqual(requested, [pathToFileURL(endFile).href]);
          for (const id of ['chart-phases', 'chart-movement', 'chart-throughput', 'chart-latency', 'chart-eta'])
            assert.equal(await page.locator(`#${id} svg`).count(), 1, id);
          assert.equal(await page.locator('#steps tbody tr').count(), tbody(html, 'steps').length);
          mkdirSync(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: join(ARTIFACTS, 'report-live.png'), fullPage: true });
        } finally {
          await browser.close();
        }

        // The same history exported by Temporal's own CLI, then --history: the same phases and steps.
        const exported = join(out, 'exported.json');
        const shown = await run(
          TEMPORAL_CLI,
          ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', server.address],
          { timeout: 60_000, maxBuffer: 64 << 20 },
        );
        writeFileSync(exported, shown.stdout);
        const fromFile = join(out, 'from-file.html');
        await run(bin, ['report', '--history', exported, '--out', fromFile], { env, timeout: 120_000 });
        const fileHtml = readFileSync(fromFile, 'utf8');
        for (const id of ['phases', 'steps'])
          assert.deepEqual(
            tbody(fileHtml, id).map((r) => cells(r).slice(0, 4)),
            tbody(html, id).map((r) => cells(r).slice(0, 4)),
            id,
          );
      } finally {
        await client.close();
      }
    },
  );
});
