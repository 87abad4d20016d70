/**
 * Encrypted payloads end to end, on the real Temporal dev server with its Web UI:
 *   - a migration run by a production worker and the typed client, both with the codec: the exported history
 *     (`temporal workflow show --output json`) holds ciphertext only (search attributes aside, by design);
 *   - `transit codec-server` configured as the UI's --ui-codec-endpoint: headless Chromium shows the decoded
 *     spec, summary and progress; with another key, or for a client without the key, nothing decodes;
 *   - the codec server's access rules: UI origin (CORS), bearer tokens, namespaces, content type, rotation;
 *     and the Temporal CLI as a token-holding caller (--codec-endpoint/--codec-auth).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { startDevServer, ROOT, TEMPORAL_CLI, type DevServer } from './harness/temporal';
import { productionBundleFile, spawnTransitWorker, type TransitWorkerProc } from './harness/transit-worker';
import { workflowBundleFile } from './harness/worker';
import { World } from '../src/sim/world';
import { worldSpec } from './harness/specs';
import { freePorts, spawnProc, waitFor } from './harness/procs';
import { historyJson } from './harness/replay';
import { launchBrowser, type Browser } from './harness/browser';
import { TransitClient } from '../src/client';
import { AesGcmCodec, ENCODING, loadCodecKeys } from '../src/codec';
import { createCodecServer, startCodecServer, type RunningCodecServer } from '../src/codec-server';
import { progressQuery } from '../src/shared/controls';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'transit-codec-'));
const artifacts = join(ROOT, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

function writeKeys(name: string, keys: Record<string, string>, current: string): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify({ current, keys }));
  return p;
}
const KEY = randomBytes(32).toString('base64');
const keyFile = writeKeys('keys.json', { k1: KEY }, 'k1');
const otherKeyFile = writeKeys('other.json', { k1: randomBytes(32).toString('base64') }, 'k1');
const TOKEN = randomBytes(24).toString('hex');
const tokenFile = join(dir, 'tokens');
writeFileSync(tokenFile, `# callers of the codec server\n${TOKEN}\n`);

/** Strings from the spec, the summary, progress and an activity failure: none may be stored in plain text. */
const MARKERS = [
  'db.example.test',
  'loadbalancer',
  'Migrate db/arango',
  'Transit migration',
  'quota-exceeded-marker',
  'PRMR-t0',
  'arango-prmr-s0',
];
const FAILURE = 'simulated: quota-exceeded-marker in us';

let server: DevServer;
let codecPort: number;
let codecServer: RunningCodecServer | null = null;
let world: World;
let worker: TransitWorkerProc;
let client: TransitClient;
let workflowId = '';
let runId = '';
let taskQueue = '';
let browser: Browser;

const codecEvents: Record<string, unknown>[] = [];
async function startCodec(file: string): Promise<void> {
  await codecServer?.close();
  codecServer = await startCodecServer({
    listen: `127.0.0.1:${codecPort}`,
    keyFile: file,
    uiOrigins: [server.uiUrl!],
    tokenFile,
    log: (e) => codecEvents.push(e),
  });
}

before(async () => {
  [codecPort] = await freePorts(1);
  server = await startDevServer({ ui: true, uiCodecEndpoint: `http://127.0.0.1:${codecPort}` });
  const bundlePath = await productionBundleFile();
  world = new World({ syncMs: 300 });
  await world.start();
  world.failing.set('bridgeNetworks', FAILURE);
  taskQueue = `codec-${Date.now()}`;
  worker = await spawnTransitWorker({
    worldUrl: world.url,
    env: {
      TEMPORAL_ADDRESS: server.address,
      TRANSIT_TASK_QUEUE: taskQueue,
      TRANSIT_WORKFLOW_BUNDLE: bundlePath,
      TRANSIT_CODEC_KEY_FILE: keyFile,
      TRANSIT_LOG_LEVEL: 'WARN',
    },
  });
  client = await TransitClient.connect({ address: server.address, codecKeyFile: keyFile });
  ({ workflowId, runId } = await client.startMigration(worldSpec(), { taskQueue, workflowId: `codec-${Date.now()}` }));
  // Park on the failure (its message is stored, encrypted), resume, then pause in the middle of MoveShards.
  await waitFor('parked on the failed step', async () => (await client.getProgress(workflowId)).paused, {
    timeoutMs: 60_000,
  });
  world.failing.clear();
  await client.resume(workflowId);
  await waitFor('shards moving', async () => (await client.getProgress(workflowId)).shardsDone >= 2, {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  await client.pause(workflowId);
  await waitFor('paused in MoveShards', async () => (await client.getProgress(workflowId)).paused, {
    timeoutMs: 60_000,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await client?.close();
  await worker?.stop();
  await codecServer?.close();
  await world?.stop();
  await server?.stop();
});

/** Text of the page and its frames (the UI renders markdown in frames). */
async function pageText(page: Page): Promise<string> {
  const parts: string[] = [];
  for (const f of page.frames())
    parts.push(
      await f
        .locator('body')
        .innerText()
        .catch(() => ''),
    );
  return parts.join('\n');
}

async function openWorkflow(
  tab: 'history' | 'user-metadata',
  expect: RegExp | null,
  screenshot: string,
): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.goto(`${server.uiUrl}/namespaces/default/workflows/${workflowId}/${runId}/${tab}`, {
      waitUntil: 'domcontentloaded',
    });
    let text = '';
    if (expect) {
      await waitFor(`the Web UI to show ${expect}`, async () => expect.test((text = await pageText(page))), {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
    } else {
      // Wait until the page has rendered the workflow (and asked the codec server), then read it.
      await waitFor(
        'the workflow page',
        async () => (text = await pageText(page)).includes(workflowId) && /Task Queue/.test(text),
        { timeoutMs: 30_000 },
      );
      await page.waitForTimeout(3000);
      text = await pageText(page);
    }
    await page.screenshot({ path: join(artifacts, screenshot), fullPage: true });
    return text;
  } finally {
    await page.close();
  }
}

describe('the Web UI with the codec server', () => {
  it('shows the decoded spec, summary and progress', { timeout: 120_000 }, async () => {
    await startCodec(keyFile);
    const meta = await openWorkflow('user-metadata', /Shards:\s+\d+ \/ 12/, 'ui-codec-decoded.png');
    assert.match(meta, /Migrate db\/arango: eu → us/, 'the summary is decoded');
    assert.match(meta, /Transit migration/);
    assert.match(meta, /Phase:\s+MoveShards/);
    assert.match(meta, /Status:\s+paused/);
    const history = await openWorkflow('history', /"db\.example\.test\."/, 'ui-codec-history.png');
    assert.match(history, /"deployment"/);
    const decodes = codecEvents.filter((e) => e.path === '/decode' && e.status === 200);
    assert.ok(
      decodes.length > 0 &&
        decodes.every((e) => e.by === 'origin' && e.origin === server.uiUrl && e.namespace === 'default'),
    );
    assert.ok(
      codecEvents.some((e) => e.method === 'OPTIONS' && e.status === 204),
      'the browser sent CORS preflights',
    );
    assert.deepEqual(
      browser.blocked.filter((o) => !/^https?:\/\/[^/]*temporal\.io$/.test(o)),
      [],
      'no other request left loopback',
    );
    // The codec server logs requests, never what it decoded.
    const logged = JSON.stringify(codecEvents);
    for (const m of MARKERS) assert.ok(!logged.includes(m));
  });

  it(
    'without the key nothing decodes: another key in the codec server, or a client without the key',
    { timeout: 120_000 },
    async () => {
      await startCodec(otherKeyFile);
      codecEvents.length = 0;
      try {
        await withoutKey();
      } finally {
        await startCodec(keyFile);
      }
    },
  );
});

async function withoutKey(): Promise<void> {
  {
    const meta = await openWorkflow('user-metadata', null, 'ui-codec-wrong-key.png');
    const history = await openWorkflow('history', null, 'ui-codec-wrong-key-history.png');
    for (const m of MARKERS) {
      assert.ok(!meta.includes(m) && !history.includes(m), `"${m}" is shown although the codec server has another key`);
    }
    assert.match(history, /[A-Za-z0-9+/]{200,}/, 'the UI shows the input as ciphertext (base64)');
    assert.ok(
      codecEvents.some((e) => e.path === '/decode' && (e.undecodable as number) > 0),
      'the codec server could not decrypt',
    );

    const noKey = await TransitClient.connect({ address: server.address });
    try {
      await assert.rejects(noKey.getProgress(workflowId), /encoding|binary\/encrypted/i);
    } finally {
      await noKey.close();
    }
  }
}

describe('the codec server', () => {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${codecPort}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const codec = () => new AesGcmCodec(loadCodecKeys(keyFile));
  const asJson = (p: { metadata?: Record<string, Uint8Array | null> | null; data?: Uint8Array | null }) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });

  it('decodes for the UI origin and for token holders, and refuses everyone else', async () => {
    const plain = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"secret":"plans"}') };
    const [enc] = await codec().encode([plain]);
    const body = { payloads: [asJson(enc!)] };
    const ui = server.uiUrl!;

    const byOrigin = await post('/decode', body, { origin: ui, 'x-namespace': 'default' });
    assert.equal(byOrigin.status, 200);
    assert.equal(byOrigin.headers.get('access-control-allow-origin'), ui);
    assert.equal(byOrigin.headers.get('cache-control'), 'no-store');
    const decoded = (await byOrigin.json()) as { payloads: { data: string }[] };
    assert.equal(Buffer.from(decoded.payloads[0]!.data, 'base64').toString(), '{"secret":"plans"}');

    const byToken = await post('/decode', body, { authorization: `Bearer ${TOKEN}` });
    assert.equal(byToken.status, 200);

    const nobody = await post('/decode', body);
    assert.equal(nobody.status, 401);
    assert.match(nobody.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.equal((await post('/decode', body, { authorization: 'Bearer wrong' })).status, 401);

    const evil = await post('/decode', body, { origin: 'http://127.0.0.1:1', authorization: `Bearer ${TOKEN}` });
    assert.equal(evil.status, 403, 'another origin is refused even with a token (a page the operator visits)');
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const preflightEvil = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflightEvil.status, 403);
    const preflight = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: ui,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-namespace/);

    const textPlain = await fetch(`http://127.0.0.1:${codecPort}/decode`, {
      method: 'POST',
      headers: { origin: ui, 'content-type': 'text/plain' },
      body: JSON.stringify(body),
    });
    assert.equal(textPlain.status, 415, 'no CORS-simple requests');
    assert.equal((await post('/decode', { nope: 1 }, { origin: ui })).status, 400);
    assert.equal((await fetch(`http://127.0.0.1:${codecPort}/decode`, { headers: { origin: ui } })).status, 405);
    assert.equal((await fetch(`http://127.0.0.1:${codecPort}/healthz`)).status, 200);

    // /encode and /decode round trip through the server.
    const e = (await (
      await post('/encode', { payloads: [asJson(plain)] }, { authorization: `Bearer ${TOKEN}` })
    ).json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(e.payloads[0]!.metadata.encoding!, 'base64').toString(), ENCODING);
    assert.ok(!Buffer.from(e.payloads[0]!.data, 'base64').toString().includes('plans'));
    const d = (await (await post('/decode', e, { authorization: `Bearer ${TOKEN}` })).json()) as {
      payloads: { data: string }[];
    };
    assert.equal(Buffer.from(d.payloads[0]!.data, 'base64').toString(), '{"secret":"plans"}');
  });

  it('trusts the UI origin alone only on loopback (or when told to), limits namespaces, follows key rotation', async () => {
    const events: Record<string, unknown>[] = [];
    const rotKeys = writeKeys('rot.json', { a: KEY }, 'a');
    const mk = (host: string, extra: Partial<Parameters<typeof createCodecServer>[0]> = {}) =>
      createCodecServer(
        { keyFile: rotKeys, uiOrigins: ['https://ui.example'], tokenFile, log: (x) => events.push(x), ...extra },
        host,
      );
    const listen = async (s: ReturnType<typeof mk>) => {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
    };
    const body = async () => ({
      payloads: [
        asJson((await new AesGcmCodec(loadCodecKeys(rotKeys)).encode([{ metadata: {}, data: Buffer.from('x') }]))[0]!),
      ],
    });
    const call = (url: string, b: unknown, h: Record<string, string>) =>
      fetch(`${url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...h },
        body: JSON.stringify(b),
      });

    // Configured for a non-loopback address (only the trust decision uses it here; it listens on loopback).
    const remote = mk('192.0.2.10');
    const remoteTrusting = mk('192.0.2.10', { trustUiOrigin: true });
    const ns = mk('127.0.0.1', { namespaces: ['prod'] });
    try {
      const u1 = await listen(remote);
      assert.equal(
        (await call(u1, await body(), { origin: 'https://ui.example' })).status,
        401,
        'origin alone is not enough off loopback',
      );
      assert.equal(
        (await call(u1, await body(), { origin: 'https://ui.example', authorization: `Bearer ${TOKEN}` })).status,
        200,
      );
      const u2 = await listen(remoteTrusting);
      assert.equal((await call(u2, await body(), { origin: 'https://ui.example' })).status, 200, '--trust-ui-origin');
      const u3 = await listen(ns);
      assert.equal(
        (await call(u3, await body(), { origin: 'https://ui.example', 'x-namespace': 'default' })).status,
        403,
      );
      assert.equal((await call(u3, await body(), { origin: 'https://ui.example', 'x-namespace': 'prod' })).status, 200);

      // Rotation: a new current key; payloads under the old id still decode, new ones use the new id.
      const old = await body();
      await new Promise((r) => setTimeout(r, 1100));
      writeKeys('rot.json', { a: KEY, b: randomBytes(32).toString('base64') }, 'b');
      const enc = (await (
        await fetch(`${u3}/encode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: 'https://ui.example', 'x-namespace': 'prod' },
          body: JSON.stringify({ payloads: [{ metadata: {}, data: Buffer.from('y').toString('base64') }] }),
        })
      ).json()) as { payloads: { metadata: Record<string, string> }[] };
      assert.equal(Buffer.from(enc.payloads[0]!.metadata['encryption-key-id']!, 'base64').toString(), 'b');
      const dec = (await (await call(u3, old, { origin: 'https://ui.example', 'x-namespace': 'prod' })).json()) as {
        payloads: { data: string }[];
      };
      assert.equal(Buffer.from(dec.payloads[0]!.data, 'base64').toString(), 'x');
      assert.ok(!JSON.stringify(events).includes(TOKEN), 'tokens are not logged');
    } finally {
      for (const s of [remote, remoteTrusting, ns]) s.close();
    }
  });

  it(
    '`transit codec-server` runs from the CLI; the Temporal CLI decodes history through it with a token',
    { timeout: 60_000 },
    async () => {
      const [port] = await freePorts(1);
      let ready = false;
      const p = spawnProc(
        'codec-cli',
        join(ROOT, 'bin', 'transit'),
        [
          'codec-server',
          '--listen',
          `127.0.0.1:${port}`,
          '--codec-key-file',
          keyFile,
          '--token-file',
          tokenFile,
          '--ui-origin',
          server.uiUrl!,
        ],
        {
          cwd: ROOT,
          onLine: (l) => {
            if (l.includes('listening on')) ready = true;
          },
        },
      );
      try {
        await waitFor('transit codec-server', () => ready, {
          timeoutMs: 30_000,
          check: () => {
            if (p.hasExited()) throw new Error(p.tail());
          },
        });
        const args = [
          'workflow',
          'show',
          '--address',
          server.address,
          '--workflow-id',
          workflowId,
          '--output',
          'json',
          '--codec-endpoint',
          `http://127.0.0.1:${port}`,
        ];
        const decoded = (await run(TEMPORAL_CLI, [...args, '--codec-auth', `Bearer ${TOKEN}`], { maxBuffer: 64 << 20 }))
          .stdout;
        assert.ok(decodedText(decoded).includes('db.example.test'), 'the Temporal CLI shows decoded payloads');
        // (Without the token the server answers 401, tested above; the CLI then retries until its deadline.)
      } finally {
        const exit = await p.stop();
        assert.equal(exit.code, 0, `clean exit on SIGTERM:\n${p.tail()}`);
      }
      const bad = spawnProc(
        'codec-cli-bad',
        join(ROOT, 'bin', 'transit'),
        ['codec-server', '--listen', '127.0.0.1:0', '--ui-origin', server.uiUrl!],
        { cwd: ROOT },
      );
      const e = await bad.exited;
      assert.equal(e.code, 1);
      assert.match(
        bad.tail(),
        /^transit: codec-server needs the key file: --codec-key-file or TRANSIT_CODEC_KEY_FILE$/m,
      );
    },
  );
});

describe('what Temporal stores', () => {
  it(
    'an exported history holds ciphertext only (search attributes aside); the key decrypts it',
    { timeout: 120_000 },
    async () => {
      await client.resume(workflowId);
      const report = await client.result(workflowId);
      assert.equal(report.status, 'completed');
      const json = await historyJson(server.address, workflowId, runId);
      const history = JSON.parse(json) as { events: unknown[] };
      // Search attributes are plain by design (phase, clusters, deployment name: nothing sensitive), and so are
      // patch markers (patched()): the SDK core writes them itself, holding the patch ID only.
      const patchMarkers: string[] = [];
      const withoutSa = JSON.stringify(history, (k, v: { markerName?: string } | undefined) => {
        if (k === 'searchAttributes') return undefined;
        if (k === 'markerRecordedEventAttributes' && v?.markerName === 'core_patch') {
          patchMarkers.push(JSON.stringify(v));
          return undefined;
        }
        return v;
      });
      for (const m of MARKERS) assert.ok(!patchMarkers.some((x) => x.includes(m)), `"${m}" in a patch marker`);
      const payloads = collectPayloads(JSON.parse(withoutSa));
      assert.ok(payloads.length > 100, `${payloads.length} payloads`);
      const encodings = new Set(payloads.map((p) => Buffer.from(p.metadata?.encoding ?? '', 'base64').toString()));
      assert.deepEqual([...encodings], [ENCODING], 'every payload is encrypted');
      const visible =
        withoutSa + payloads.map((p) => Buffer.from(p.data ?? '', 'base64').toString('latin1')).join('\n');
      for (const m of MARKERS) assert.ok(!visible.includes(m), `"${m}" is readable in the exported history`);
      assert.ok(json.includes('Encoded failure'), 'failure messages are encoded too');
      // Control: the same payloads decrypted with the key hold those strings.
      const c = new AesGcmCodec(loadCodecKeys(keyFile));
      const plain = (
        await c.decode(
          payloads.map((p) => ({
            metadata: Object.fromEntries(
              Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
            ),
            data: Buffer.from(p.data ?? '', 'base64'),
          })),
        )
      ).map((p) => Buffer.from(p.data ?? []).toString());
      for (const m of MARKERS.filter((x) => x !== 'Transit migration'))
        assert.ok(
          plain.some((x) => x.includes(m)),
          `"${m}" in the decrypted payloads`,
        );
      const q = await client.handle(workflowId).query(progressQuery);
      assert.equal(q.status, 'completed');
    },
  );
});

describe('failures raised by workflow code', () => {
  it(
    'are encrypted too (the production bundle carries the failure converter); a bundle without it is flagged',
    { timeout: 120_000 },
    async () => {
      const bad = worldSpec() as any;
      bad.dns.ttl = 'soon-marker';
      const id = `codec-invalid-${Date.now()}`;
      // Past the client's own validation: the workflow's first step rejects it and the workflow fails.
      const h = await client.client.workflow.start('migrationWorkflow', {
        taskQueue,
        workflowId: id,
        args: [{ spec: bad }],
      });
      await assert.rejects(h.result(), (e: Error & { cause?: Error }) =>
        /invalid migration spec/.test(e.cause?.message ?? ''),
      );
      const history = JSON.parse(await historyJson(server.address, id)) as { events: Record<string, any>[] };
      const failed = history.events.find(
        (e) => e.workflowExecutionFailedEventAttributes,
      )?.workflowExecutionFailedEventAttributes;
      assert.equal(failed?.failure?.message, 'Encoded failure');
      const visible =
        JSON.stringify(history) +
        collectPayloads(history)
          .map((p) => Buffer.from(p.data ?? '', 'base64').toString('latin1'))
          .join('\n');
      for (const m of ['invalid migration spec', 'soon-marker'])
        assert.ok(!visible.includes(m), `"${m}" is readable in the history`);
      const enc = failed.failure.encodedAttributes as JsonPayload;
      const [plain] = await new AesGcmCodec(loadCodecKeys(keyFile)).decode([
        {
          metadata: Object.fromEntries(
            Object.entries(enc.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
          ),
          data: Buffer.from(enc.data ?? '', 'base64'),
        },
      ]);
      assert.match(
        Buffer.from(plain!.data ?? []).toString(),
        /invalid migration spec, nothing was changed: .*soon-marker/,
      );

      // A worker given a bundle built without the failure converter says so at start.
      const plainBundle = await workflowBundleFile();
      const w = await spawnTransitWorker({
        worldUrl: world.url,
        name: 'plain-bundle',
        env: {
          TEMPORAL_ADDRESS: server.address,
          TRANSIT_TASK_QUEUE: `plain-${Date.now()}`,
          TRANSIT_WORKFLOW_BUNDLE: plainBundle,
          TRANSIT_CODEC_KEY_FILE: keyFile,
          TRANSIT_LOG_LEVEL: 'WARN',
        },
      });
      await w.stop();
      const warning = w.lines
        .map((l) => (l.startsWith('{') ? JSON.parse(l) : {}))
        .find((x) => x.level === 'WARN' && /built without Transit's failure converter/.test(x.msg));
      assert.ok(warning, w.lines.join('\n'));
    },
  );
});

type JsonPayload = { metadata?: Record<string, string>; data?: string };
function collectPayloads(x: unknown, out: JsonPayload[] = []): JsonPayload[] {
  if (Array.isArray(x)) x.forEach((y) => collectPayloads(y, out));
  else if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'encoding' in (o.metadata as object))
      out.push(o as JsonPayload);
    else for (const v of Object.values(o)) collectPayloads(v, out);
  }
  return out;
}

/** The CLI's JSON with every base64 `data` field decoded (decoded payloads come back as JSON there). */
function decodedText(json: string): string {
  const out = [json];
  for (const m of json.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g))
    out.push(Buffer.from(m[1]!, 'base64').toString('latin1'));
  return out.join('\n');
}
