/**
 * Makes a TCP port of the project's network namespace reachable on the host's loopback (for `npm run demo --
 * --keep`: the Web UI in a browser). Inside the namespace a Unix socket forwards to the port; a small process
 * started in the host's network namespace (nsenter, root) listens on 127.0.0.1 and forwards to that socket.
 * Unix sockets live in the file system, which both namespaces share. Only loopback on either side.
 */
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './temporal';
import { spawnProc } from './procs';

function pipeTo(
  listen: (s: ReturnType<typeof createServer>) => void,
  connect: () => ReturnType<typeof createConnection>,
): ReturnType<typeof createServer> {
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

export async function exposeOnHost(
  env: { dir: string; temporal: { ports: { ui: number } } },
  hostPort: number,
): Promise<string> {
  const sock = join(env.dir, 'ui.sock');
  pipeTo(
    (s) => s.listen(sock),
    () => createConnection({ host: '127.0.0.1', port: env.temporal.ports.ui }),
  );
  spawnProc(
    'host-bridge',
    'nsenter',
    [
      '--net=/proc/1/ns/net',
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'test/harness/host-bridge.ts'),
      String(hostPort),
      sock,
    ],
    { cwd: ROOT },
  );
  return `http://127.0.0.1:${hostPort}`;
}

// Host side: argv = port, socket path.
if (require.main === module) {
  const [port, sock] = process.argv.slice(2);
  pipeTo(
    (s) => s.listen(Number(port), '127.0.0.1'),
    () => createConnection(sock!),
  );
}
