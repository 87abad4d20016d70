// Small shared helpers for the test harness: spawn and stop child processes (SIGTERM, then SIGKILL),
// free ports, and polling. Every child spawned here is also killed when this Node process exits, so a
// crashed test run leaves no servers behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface ProcExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<ProcExit>;
  /** True once the process has exited. */
  readonly hasExited: () => boolean;
  /** The last lines the process wrote to stdout/stderr (for failure messages). */
  readonly tail: (lines?: number) => string;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<ProcExit>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr to this file (they are always kept in a small in-memory tail too). */
  logFile?: string;
  /** Forward every output line here as well. */
  onLine?: (line: string) => void;
  /** Graceful-stop timeout used by stop() and by stopAll(); default 10 s. */
  graceMs?: number;
}

const live = new Set<Proc>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the test process dies without calling stop(): 'exit' handlers must be synchronous.
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

export function spawnProc(name: string, command: string, args: string[], opts: SpawnOptions = {}): Proc {
  installExitHook();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    throw new Error(`${name}: could not spawn ${command} (is it installed and executable?)`);
  }
  const pid = child.pid;
  const tailLines: string[] = [];
  let log: WriteStream | undefined;
  if (opts.logFile) log = createWriteStream(opts.logFile, { flags: 'a' });
  let partial = '';
  const onData = (buf: Buffer): void => {
    log?.write(buf);
    const text = partial + buf.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tailLines.push(line);
      if (tailLines.length > 200) tailLines.shift();
      opts.onLine?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);

  let done = false;
  const exited = new Promise<ProcExit>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      live.delete(proc);
      resolve({ code, signal });
      // Flush after the streams drain ('close' follows 'exit').
      child.once('close', () => log?.end());
    });
    child.on('error', () => {
      /* reported through 'exit' or through the missing pid above */
    });
  });
  const graceDefault = opts.graceMs ?? 10_000;
  const proc: Proc = {
    name,
    pid,
    child,
    exited,
    hasExited: () => done,
    tail: (n = 30) =>
      [...tailLines, partial]
        .filter((l) => l !== '')
        .slice(-n)
        .join('\n'),
    async stop(graceMs = graceDefault) {
      if (done) return exited;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return exited;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
  live.add(proc);
  return proc;
}

/** Every process spawned through spawnProc that is still running. */
export function liveProcs(): Proc[] {
  return [...live];
}

/** A TCP port that was free a moment ago on host (the kernel picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error(`freePort: no port on ${host}`))));
    });
  });
}

/** Distinct free ports (asked for together so the kernel does not hand out one twice). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const seen = new Set<number>();
  while (seen.size < n) seen.add(await freePort(host));
  return [...seen];
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Called between attempts; throw from it to stop waiting early (e.g. the process died). */
  check?: () => void;
}

/**
 * Polls fn until it returns a value other than undefined/false, or throws with `what` and the last error.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const interval = opts.intervalMs ?? 100;
  let lastErr: unknown;
  for (;;) {
    opts.check?.();
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? `: ${lastErr.message}` : lastErr ? `: ${JSON.stringify(lastErr)}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${what}${why}`);
    }
    await sleep(interval);
  }
}
