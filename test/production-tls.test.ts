/**
 * Connecting securely, against a TLS endpoint: Debian's nginx terminating TLS in front of the Temporal dev
 * server (which has no TLS options), with certificates made for this run (test/harness/nginx.ts).
 *   - mTLS with a good client certificate: a worker runs a migration, the typed client starts and reads it, the
 *     CLI shows it (flags, and the same settings from the environment);
 *   - an API key over TLS (a wrong key refused);
 *   - wrong CA, a client certificate from another CA, an expired one, none, a wrong server name, TLS against a
 *     plain port and the reverse: worker, client library and CLI each fail with one line naming what to fix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDevServer, ROOT, type DevServer } from './harness/temporal';
import { makePki, startTlsProxy, SERVER_NAME, type Pki, type TlsProxy } from './harness/nginx';
import { World } from '../src/sim/world';
import { createWorldActivities } from '../src/sim/world-activities';
import { worldSpec } from './harness/specs';
import { TransitClient } from '../src/client';
import { createWorker, installRuntime } from '../src/worker';
import type { SettingsInput } from '../src/connection';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'transit-tls-'));
const API_KEY = `tk-${randomBytes(16).toString('hex')}`;
writeFileSync(join(dir, 'api-key'), `${API_KEY}\n`);
writeFileSync(join(dir, 'wrong-key'), `tk-${randomBytes(16).toString('hex')}\n`);

let server: DevServer;
let pki: Pki;
let proxy: TlsProxy;

before(async () => {
  // Worker logs (JSON) at WARN only; installed before any connection, as in production.
  installRuntime({ logLevel: 'WARN' });
  server = await startDevServer();
  pki = await makePki(join(dir, 'pki'));
  proxy = await startTlsProxy({ upstream: server.address, pki, apiKey: API_KEY });
});
after(async () => {
  await proxy?.stop();
  await server?.stop();
});

const mtls = (): SettingsInput => ({
  address: proxy.mtlsAddress,
  tlsCa: pki.ca,
  tlsServerName: SERVER_NAME,
  tlsCert: pki.client.cert,
  tlsKey: pki.client.key,
});

/** The CLI's connection flags for settings. */
function flags(s: SettingsInput): string[] {
  const out: string[] = [];
  const add = (f: string, v?: string) => v && out.push(f, v);
  add('--address', s.address);
  add('--tls-cert', s.tlsCert);
  add('--tls-key', s.tlsKey);
  add('--tls-ca', s.tlsCa);
  add('--tls-server-name', s.tlsServerName);
  add('--api-key-file', s.apiKeyFile);
  return out;
}

async function transit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  // A clean environment for the connection settings: only what the test passes.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  try {
    const r = await exec(join(ROOT, 'bin', 'transit'), args, { env: { ...base, ...env }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

async function workerError(s: SettingsInput): Promise<string> {
  try {
    const { worker, connection } = await createWorker({
      ...s,
      taskQueue: 'tls-fail',
      activityImplementations: createWorldActivities('http://127.0.0.1:9'),
    });
    const polling = worker.run();
    worker.shutdown();
    await polling;
    await connection.close();
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('the worker connected');
}

async function clientError(s: SettingsInput): Promise<string> {
  try {
    const c = await TransitClient.connect(s);
    await c.close();
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail('the client connected');
}

function oneLine(m: string, expect: RegExp, what: string): void {
  assert.ok(!m.includes('\n'), `${what}: one line, got:\n${m}`);
  assert.match(m, expect, what);
  assert.ok(!m.includes(API_KEY), `${what}: the API key is in the message`);
}

let workflowId = '';
let migrationQueue = '';

describe('mTLS with a good client certificate', () => {
  it('works for a worker, the client library and the CLI (flags and environment)', { timeout: 120_000 }, async () => {
    const world = new World({ syncMs: 20 });
    await world.start();
    const taskQueue = (migrationQueue = `tls-${Date.now()}`);
    const { worker, connection } = await createWorker({
      ...mtls(),
      taskQueue,
      activityImplementations: createWorldActivities(world.url),
    });
    const running = worker.run();
    const client = await TransitClient.connect(mtls());
    try {
      ({ workflowId } = await client.startMigration(worldSpec(), { taskQueue, workflowId: `tls-${Date.now()}` }));
      const report = await client.result(workflowId);
      assert.equal(report.status, 'completed');

      const byFlags = await transit(['status', workflowId, '--json', ...flags(mtls())]);
      assert.equal(byFlags.code, 0, byFlags.stderr);
      assert.equal(JSON.parse(byFlags.stdout).status, 'completed');
      const byEnv = await transit(['status', workflowId, '--json'], {
        TEMPORAL_ADDRESS: proxy.mtlsAddress,
        TEMPORAL_TLS_CERT: pki.client.cert,
        TEMPORAL_TLS_KEY: pki.client.key,
        TEMPORAL_TLS_CA: pki.ca,
        TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
      });
      assert.equal(byEnv.code, 0, byEnv.stderr);
      assert.equal(JSON.parse(byEnv.stdout).status, 'completed');
      // The proxy really verified a client certificate for these calls.
      assert.match(readFileSync(join(pki.dir, 'nginx', 'access.log'), 'utf8'), /GetSystemInfo/);
    } finally {
      await client.close();
      worker.shutdown();
      await running;
      await connection.close();
      await world.stop();
    }
  });
});

describe('an API key over TLS', () => {
  it(
    'works for the client, the worker and the CLI; a wrong key is refused in one line',
    { timeout: 120_000 },
    async () => {
      const good: SettingsInput = {
        address: proxy.apiKeyAddress,
        tlsCa: pki.ca,
        tlsServerName: SERVER_NAME,
        apiKeyFile: join(dir, 'api-key'),
      };
      const client = await TransitClient.connect(good);
      try {
        assert.equal((await client.handle(workflowId).describe()).status.name, 'COMPLETED');
      } finally {
        await client.close();
      }
      // A worker polling through the API-key endpoint answers the CLI's query of the finished migration.
      const { worker, connection } = await createWorker({
        ...good,
        taskQueue: migrationQueue,
        activityImplementations: createWorldActivities('http://127.0.0.1:9'),
      });
      const polling = worker.run();
      try {
        const cli = await transit(['status', workflowId, '--json'], {
          TEMPORAL_ADDRESS: proxy.apiKeyAddress,
          TEMPORAL_TLS_CA: pki.ca,
          TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
          TEMPORAL_API_KEY_FILE: join(dir, 'api-key'),
        });
        assert.equal(cli.code, 0, cli.stderr);
        assert.equal(JSON.parse(cli.stdout).status, 'completed');
      } finally {
        worker.shutdown();
        await polling;
        await connection.close();
      }

      const wrong = { ...good, apiKeyFile: join(dir, 'wrong-key') };
      const expect =
        /^cannot connect to Temporal at .*: the server refused the API key \(--api-key-file \/ TEMPORAL_API_KEY_FILE: .*wrong-key\): invalid or missing API key — use a valid/;
      oneLine(await clientError(wrong), expect, 'client, wrong API key');
      oneLine(await workerError(wrong), expect, 'worker, wrong API key');
      const r = await transit(['status', workflowId, ...flags(wrong)]);
      assert.equal(r.code, 1);
      oneLine(r.stderr.trim(), /^transit: cannot connect to Temporal .* refused the API key/, 'CLI, wrong API key');
    },
  );
});

describe('a wrong or missing certificate', () => {
  const cases: { name: string; settings: () => SettingsInput; expect: RegExp; client?: boolean; cli?: boolean }[] = [
    {
      name: 'server certificate from another CA than --tls-ca',
      settings: () => ({ ...mtls(), tlsCa: pki.otherCa }),
      expect:
        /the server's certificate is not signed by the CA in .*other-ca\.crt — give the CA that issued the server's certificate \(--tls-ca \/ TEMPORAL_TLS_CA\)$/,
      cli: true,
    },
    {
      name: 'client certificate from a CA the server does not trust',
      settings: () => ({ ...mtls(), tlsCert: pki.foreignClient.cert, tlsKey: pki.foreignClient.key }),
      expect:
        /the server rejected the client certificate .*foreign-client\.crt .* — use a certificate issued by a CA the server trusts .*\(--tls-cert \/ TEMPORAL_TLS_CERT, --tls-key \/ TEMPORAL_TLS_KEY\)$/,
      client: true,
    },
    {
      name: 'expired client certificate',
      settings: () => ({ ...mtls(), tlsCert: pki.expiredClient.cert, tlsKey: pki.expiredClient.key }),
      expect:
        /the TLS client certificate .*expired-client\.crt \(CN=transit-worker\) expired on 2020-01-02T00:00:00\.000Z: renew it \(--tls-cert \/ TEMPORAL_TLS_CERT\)$/,
      client: true,
      cli: true,
    },
    {
      name: 'no client certificate',
      settings: () => ({ address: proxy.mtlsAddress, tlsCa: pki.ca, tlsServerName: SERVER_NAME }),
      expect:
        /the server requires a client certificate \(mTLS\) and none was given — set --tls-cert \/ TEMPORAL_TLS_CERT and --tls-key \/ TEMPORAL_TLS_KEY$/,
      client: true,
      cli: true,
    },
    {
      name: 'a key that is not the certificate’s',
      settings: () => ({ ...mtls(), tlsKey: pki.foreignClient.key }),
      expect: /the TLS client key .*foreign-client\.key does not belong to the certificate .*client\.crt/,
      client: true,
    },
    {
      name: 'server name not in the server certificate',
      settings: () => ({ ...mtls(), tlsServerName: 'other.test' }),
      expect:
        /the server's certificate is not valid for the name other\.test \(it has DNS:temporal\.test\) — set --tls-server-name \/ TEMPORAL_TLS_SERVER_NAME/,
    },
    {
      name: 'TLS settings against a plain port',
      settings: () => ({ ...mtls(), address: proxy.plainAddress }),
      expect:
        /the server does not speak TLS at this address — drop the TLS options, or check --address \/ TEMPORAL_ADDRESS$/,
    },
    {
      name: 'no TLS settings against the TLS port',
      settings: () => ({ address: proxy.mtlsAddress }),
      expect: /the server speaks TLS and the client does not — set --tls-ca \/ TEMPORAL_TLS_CA/,
    },
  ];

  for (const c of cases) {
    it(
      `${c.name}: one line naming what to fix (worker${c.client ? ', client' : ''}${c.cli ? ', CLI' : ''})`,
      { timeout: 60_000 },
      async () => {
        const s = c.settings();
        oneLine(await workerError(s), c.expect, `worker: ${c.name}`);
        // (The client library waits out its 10 s connect deadline on handshake failures; those cases run once, via the CLI.)
        if (c.client) oneLine(await clientError(s), c.expect, `client: ${c.name}`);
        if (c.cli) {
          const r = await transit(['status', 'any', ...flags(s)]);
          assert.equal(r.code, 1);
          oneLine(
            r.stderr.trim(),
            new RegExp(`^transit: (cannot connect to Temporal at \\S+: )?${c.expect.source}`),
            `CLI: ${c.name}`,
          );
        }
      },
    );
  }
});
