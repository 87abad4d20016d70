// Real BIND 9 for the DNS tests: a primary and a secondary for one zone, each its own `named` process with
// its own config and working dir under a temp dir, on loopback only. Nothing of the system config is used.
//
// Both servers listen on 127.0.0.1, each on its own free port: named only binds addresses that are configured
// on an interface, and lo carries just 127.0.0.1 (adding addresses would touch the system). The zone's NS
// records name both servers (ns1 and ns2, both 127.0.0.1), so a client deriving servers from NS finds
// them at one port only: tests pass the explicit server list. The secondary transfers from the primary on
// NOTIFY (`also-notify` with port); updates are allowed on the primary only for the TSIG key generated per run
// with `tsig-keygen`.
//
// Holding the secondary back: `holdSecondary()` rewrites the primary's config to `allow-transfer { none; }` and
// runs `rndc reconfig`. The secondary still gets NOTIFY, asks for the transfer, is refused and keeps serving the
// old zone - exactly what a slow or lagging secondary looks like to a client. `releaseSecondary()` restores
// the ACL and sends a fresh NOTIFY (`rndc notify`), so the secondary transfers at once.
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import { freePort as freeTcpPort, spawnProc, waitFor, type Proc } from './procs';

const execFileP = promisify(execFile);

export type BindServer = 'primary' | 'secondary';

export interface BindOptions {
  /** Zone name (FQDN, trailing dot optional). */
  zone?: string;
  /** Relative name of the client-facing record inside the zone. */
  recordLabel?: string;
  /** Initial A values of the client-facing record. */
  recordValues?: string[];
  /** TTL of the client-facing record. */
  recordTtl?: number;
}

export interface BindZone {
  /** Zone FQDN with trailing dot. */
  zone: string;
  /** FQDN of the client-facing record (A) with trailing dot. */
  recordName: string;
  recordValues: string[];
  recordTtl: number;
  /** 'ip:port' of each server. */
  primary: string;
  secondary: string;
  servers: string[];
  primaryPort: number;
  secondaryPort: number;
  /** The TSIG key file (`tsig-keygen` output): the credential *reference* the spec carries. */
  keyFile: string;
  keyName: string;
  keyAlgorithm: string;
  dir: string;
  /** Send an update with nsupdate directly (behind Transit's back), signed with the run's key. */
  nsupdate(script: string): Promise<void>;
  stopServer(which: BindServer): Promise<void>;
  startServer(which: BindServer): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung server that accepts connections but never answers (timeouts). */
  pauseServer(which: BindServer): void;
  resumeServer(which: BindServer): void;
  /** Block zone transfers on the primary: the secondary keeps serving the old zone. */
  holdSecondary(): Promise<void>;
  /** Allow transfers again and NOTIFY the secondary. */
  releaseSecondary(): Promise<void>;
  /**
   * Re-send NOTIFY from the primary (`rndc notify`). A secondary restarted from its zone file trusts that file
   * until the SOA refresh (an hour here) and a NOTIFY sent while it was down is lost: this is the nudge an
   * operator (or the primary's next change) gives it.
   */
  notify(): Promise<void>;
  /** SOA serial that a server answers (undefined when it does not answer). */
  serial(which: BindServer): Promise<number | undefined>;
  /** The tail of a server's log, for failure messages. */
  log(which: BindServer, lines?: number): string;
  stop(): Promise<void>;
}

interface ServerState {
  name: BindServer;
  addr: string;
  port: number;
  ctlPort: number;
  dir: string;
  conf: string;
  logFile: string;
  proc?: Proc;
}

// procs.ts kills its children when this process exits; a test process killed by a signal (a runner's timeout)
// must not leave named behind either.
const running = new Set<Proc>();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    for (const p of running) p.child.kill('SIGKILL');
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig); // die of it, as without this handler
  });
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

async function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port free for TCP and UDP (named serves DNS on both). */
async function freeDnsPort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeTcpPort(host);
    if (await udpFree(host, port)) return port;
  }
  throw new Error(`no port free for both TCP and UDP on ${host} after 50 attempts: free some loopback ports`);
}

export async function startBind(opts: BindOptions = {}): Promise<BindZone> {
  for (const tool of [
    '/usr/sbin/named',
    '/usr/sbin/tsig-keygen',
    '/usr/sbin/rndc',
    '/usr/bin/nsupdate',
    '/usr/bin/dig',
  ]) {
    if (!existsSync(tool)) {
      throw new Error(`${tool} is missing: run scripts/setup (installs Debian bind9 bind9-utils bind9-dnsutils)`);
    }
  }
  const zone = fqdn(opts.zone ?? 'cutover.test');
  const recordLabel = opts.recordLabel ?? 'arangodb';
  const recordName = `${recordLabel}.${zone}`;
  const recordValues = opts.recordValues ?? ['192.0.2.10', '192.0.2.11'];
  const recordTtl = opts.recordTtl ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'transit-bind-'));
  const addr = '127.0.0.1';

  const keyName = 'transit-test-key';
  const keyAlgorithm = 'hmac-sha256';
  const keyFile = join(dir, 'tsig.key');
  const { stdout: keyText } = await execFileP('/usr/sbin/tsig-keygen', ['-a', keyAlgorithm, keyName]);
  writeFileSync(keyFile, keyText, { mode: 0o600 });
  const rndcKeyFile = join(dir, 'rndc.key');
  const { stdout: rndcText } = await execFileP('/usr/sbin/tsig-keygen', ['-a', 'hmac-sha256', 'rndc-key']);
  writeFileSync(rndcKeyFile, rndcText, { mode: 0o600 });

  const mk = async (name: BindServer): Promise<ServerState> => {
    const sdir = join(dir, name);
    mkdirSync(sdir);
    return {
      name,
      addr,
      port: await freeDnsPort(addr),
      ctlPort: await freeTcpPort(addr),
      dir: sdir,
      conf: join(sdir, 'named.conf'),
      logFile: join(sdir, 'named.log'),
    };
  };
  const primary = await mk('primary');
  const secondary = await mk('secondary');
  const state: Record<BindServer, ServerState> = { primary, secondary };

  // Refresh is long on purpose: only NOTIFY moves the secondary, so holding transfers really holds it.
  writeFileSync(
    join(primary.dir, 'zone.db'),
    [
      `$TTL 60`,
      `@ IN SOA ns1.${zone} hostmaster.${zone} 1 3600 600 86400 1`,
      `@ IN NS ns1.${zone}`,
      `@ IN NS ns2.${zone}`,
      `ns1 IN A ${addr}`,
      `ns2 IN A ${addr}`,
      ...recordValues.map((v) => `${recordLabel} ${recordTtl} IN A ${v}`),
      '',
    ].join('\n'),
  );

  const common = (s: ServerState) => `
include "${keyFile}";
include "${rndcKeyFile}";
options {
  directory "${s.dir}";
  pid-file "${join(s.dir, 'named.pid')}";
  session-keyfile "${join(s.dir, 'session.key')}";
  managed-keys-directory "${s.dir}";
  listen-on port ${s.port} { ${s.addr}; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  notify-source ${s.addr};
  transfer-source ${s.addr};
  query-source address ${s.addr};
  minimal-responses yes;
  notify-delay 0;
};
controls { inet ${s.addr} port ${s.ctlPort} allow { ${s.addr}; } keys { "rndc-key"; }; };
`;
  const writePrimaryConf = (hold: boolean) =>
    writeFileSync(
      primary.conf,
      common(primary) +
        `zone "${zone}" {
  type primary;
  file "zone.db";
  allow-update { key "${keyName}"; };
  allow-transfer { ${hold ? 'none' : addr}; };
  notify explicit;
  also-notify { ${addr} port ${secondary.port}; };
};
`,
    );
  writePrimaryConf(false);
  writeFileSync(
    secondary.conf,
    common(secondary) +
      `zone "${zone}" {
  type secondary;
  file "zone.db";
  masterfile-format text;
  notify no;
  primaries port ${primary.port} { ${addr}; };
};
`,
  );
  const rndcConf = (s: ServerState) => {
    const f = join(s.dir, 'rndc.conf');
    writeFileSync(
      f,
      `include "${rndcKeyFile}";\noptions { default-key "rndc-key"; default-server ${s.addr}; default-port ${s.ctlPort}; };\n`,
    );
    return f;
  };
  const rndcConfs = { primary: rndcConf(primary), secondary: rndcConf(secondary) };
  const rndc = async (which: BindServer, ...args: string[]) => {
    try {
      await execFileP('/usr/sbin/rndc', ['-c', rndcConfs[which], ...args], { timeout: 10_000 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(
        `rndc ${args.join(' ')} on the ${which} failed: ${err.stderr || err.message}\n${tail(state[which].logFile, 20)}`,
      );
    }
  };

  const serial = async (which: BindServer): Promise<number | undefined> => {
    try {
      const { stdout } = await execFileP(
        '/usr/bin/dig',
        ['+short', '+norec', '+time=1', '+tries=1', '-p', String(state[which].port), `@${addr}`, zone, 'SOA'],
        { timeout: 5_000 },
      );
      const n = Number(stdout.trim().split(/\s+/)[2]);
      return Number.isFinite(n) && stdout.trim() ? n : undefined;
    } catch {
      return undefined;
    }
  };

  const startServer = async (which: BindServer) => {
    const s = state[which];
    if (s.proc && !s.proc.hasExited()) return;
    // -g: foreground, log to stderr (kept in named.log); -n 1: one worker thread is plenty for a test zone.
    const proc = spawnProc(`named-${which}`, '/usr/sbin/named', ['-g', '-4', '-n', '1', '-c', s.conf], {
      logFile: s.logFile,
      graceMs: 5_000,
    });
    s.proc = proc;
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    await waitFor(`named (${which}) to serve ${zone} on ${s.addr}:${s.port}`, () => serial(which), {
      timeoutMs: 20_000,
      check: () => {
        if (proc.hasExited()) throw new Error(`named (${which}) exited at start:\n${proc.tail(30)}`);
      },
    });
  };

  const stopServer = async (which: BindServer) => {
    const p = state[which].proc;
    if (p && !p.hasExited()) p.child.kill('SIGCONT'); // a paused named would not act on SIGTERM
    await p?.stop();
  };

  const zoneObj: BindZone = {
    zone,
    recordName,
    recordValues,
    recordTtl,
    primary: `${addr}:${primary.port}`,
    secondary: `${addr}:${secondary.port}`,
    servers: [`${addr}:${primary.port}`, `${addr}:${secondary.port}`],
    primaryPort: primary.port,
    secondaryPort: secondary.port,
    keyFile,
    keyName,
    keyAlgorithm,
    dir,
    async nsupdate(script: string) {
      const child = execFile('/usr/bin/nsupdate', ['-v', '-t', '5', '-k', keyFile], { timeout: 15_000 });
      let stderr = '';
      child.stderr?.on('data', (d) => (stderr += d));
      child.stdin!.end(`server ${addr} ${primary.port}\nzone ${zone}\n${script.trim()}\nsend\n`);
      const code: number = await new Promise((r) => child.once('exit', (c) => r(c ?? 1)));
      if (code !== 0) throw new Error(`nsupdate against the primary failed (exit ${code}): ${stderr}`);
    },
    stopServer,
    startServer,
    pauseServer: (which) => state[which].proc?.child.kill('SIGSTOP'),
    resumeServer: (which) => state[which].proc?.child.kill('SIGCONT'),
    async holdSecondary() {
      writePrimaryConf(true);
      await rndc('primary', 'reconfig');
    },
    async releaseSecondary() {
      writePrimaryConf(false);
      await rndc('primary', 'reconfig');
      await rndc('primary', 'notify', zone);
    },
    async notify() {
      await rndc('primary', 'notify', zone);
    },
    serial,
    log: (which, lines = 40) => state[which].proc?.tail(lines) ?? tail(state[which].logFile, lines),
    async stop() {
      await Promise.all([stopServer('primary'), stopServer('secondary')]);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await startServer('primary');
    await startServer('secondary');
  } catch (e) {
    await zoneObj.stop().catch(() => undefined);
    throw e;
  }
  return zoneObj;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
