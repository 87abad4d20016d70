/**
 * Makes TCP ports of the project's network namespace reachable on the host's loopback (for `npm run demo`: the
 * Web UI in the host's browser and the Temporal frontend for the host's own `temporal` CLI, from the start of the
 * run to its end). Inside the namespace a Unix socket forwards to each port; one small process started in the
 * host's network namespace (nsenter, root) listens on 127.0.0.1 and forwards to those sockets. "The host's" is the
 * network namespace `npm run demo` was started in: that of the nearest ancestor process outside ours
 * (scripts/netns-run's shell), not PID 1's (in a container PID 1 may sit in another one, or be unreadable). Unix sockets live
 * in the file system, which both namespaces share. Only loopback on either side.
 *
 * Each port asks for a host port (e.g. 8233) and takes a free one if that is taken; exposeOnHost resolves once
 * the host side listens, with the host ports it got. The host side exits when the process that started it is
 * gone (even SIGKILLed), so no forwarder outlives the demo.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './temporal';
import { spawnProc, waitFor, type Proc } from './procs';

function pipeTo(listen: (s: Server) => void, connect: () => ReturnType<typeof createConnection>): Server {
  const server = createServer((inbound) => {
    const out = connect();
    inbound.pipe(out).pipe(inbound);
    const close = () => {
      inbound.destroy();
      out.destroy();
    };
    inbound.on('error', close);
    out.on('error', close);
  });
  listen(server);
  return server;
}

export interface HostPort {
  /** A name for the messages, e.g. "ui". */
  name: string;
  /** The port inside the namespace (on 127.0.0.1). */
  port: number;
  /** The host port to ask for; a free one if it is taken. */
  hostPort: number;
}

export interface HostBridge {
  /** name → the host port it got. */
  ports: Record<string, number>;
  proc: Proc;
  stop(): Promise<void>;
}

/** /proc/<pid>/ns/net of the nearest ancestor whose network namespace is not ours. */
export function hostNetnsPath(): string {
  const own = readlinkSync('/proc/self/ns/net');
  let pid = process.ppid;
  while (pid > 1) {
    const path = `/proc/${pid}/ns/net`;
    if (readlinkSync(path) !== own) return path;
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  throw new Error('no ancestor process outside this network namespace (is this running under scripts/netns-run?)');
}

export async function exposeOnHost(dir: string, wanted: HostPort[]): Promise<HostBridge> {
  const netns = hostNetnsPath();
  const servers = wanted.map((w) =>
    pipeTo(
      (s) => s.listen(join(dir, `host-${w.name}.sock`)),
      () => createConnection({ host: '127.0.0.1', port: w.port }),
    ),
  );
  const ports: Record<string, number> = {};
  const proc = spawnProc(
    'host-bridge',
    'nsenter',
    [
      `--net=${netns}`,
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'test/harness/host-bridge.ts'),
      String(process.pid),
      ...wanted.map((w) => `${w.name}=${w.hostPort}=${join(dir, `host-${w.name}.sock`)}`),
    ],
    {
      cwd: ROOT,
      onLine: (l) => {
        const m = /^listening (\S+) (\d+)$/.exec(l.trim());
        if (m) ports[m[1]!] = Number(m[2]);
      },
    },
  );
  await waitFor('the host side of the bridge to listen', () => wanted.every((w) => ports[w.name] !== undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
    check: () => {
      if (proc.hasExited())
        throw new Error(`the host side (nsenter --net=${netns}, needs root) exited: ${proc.tail(5)}`);
    },
  });
  return {
    ports,
    proc,
    async stop() {
      await proc.stop(2000);
      for (const s of servers) s.close();
    },
  };
}

// Host side: argv = the starter's pid, then name=hostPort=socketPath for each port.
if (require.main === module) {
  const [starter, ...specs] = process.argv.slice(2);
  for (const spec of specs) {
    const [name, port, sock] = spec.split('=');
    const listenOn = (s: Server, p: number) =>
      s.listen(p, '127.0.0.1', () => {
        const a = s.address();
        process.stdout.write(`listening ${name} ${typeof a === 'object' && a ? a.port : p}\n`);
      });
    pipeTo(
      (s) => {
        s.once('error', (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EADDRINUSE') throw e;
          listenOn(s, 0); // taken on this host: any free port
        });
        listenOn(s, Number(port));
      },
      () => createConnection(sock!),
    );
  }
  // The starter's pid lives in another pid view only if namespaces differ; here only the network differs.
  setInterval(() => {
    try {
      process.kill(Number(starter), 0);
    } catch {
      process.exit(0);
    }
  }, 1000);
}
