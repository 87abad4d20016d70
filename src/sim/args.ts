// arangod-style command lines for simulated members: parsing (`--opt value`, `--opt=value`, bare flags,
// repeatable options), the member configuration they mean, and building the member. The same code serves the
// process entry (arangod.ts, one process per Kubernetes pod) and the in-process cluster (cluster.ts), so both run
// members exactly as configured by their arguments.
import { isAbsolute, join } from 'node:path';
import { readdirSync } from 'node:fs';
import { Agent } from './agent.js';
import { DBServer } from './dbserver.js';
import { Coordinator } from './coordinator.js';
import { parseBandwidth } from './bandwidth.js';
import { readJwtSecretFile } from './jwt.js';
import { makeLogger, type Logger } from './log.js';
import { netOptionsFromEnv, parseEndpoint, type NetOptions } from './net.js';
import { timingWithDefaults } from './topology.js';

export type ParsedArgs = Map<string, string[]>;

export function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = new Map();
  const add = (k: string, v: string): void => {
    const key = k.replace(/^-+/, '');
    out.set(key, [...(out.get(key) ?? []), v]);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue; // stray positional arguments are ignored, like a database directory
    const eq = a.indexOf('=');
    if (eq > 0) add(a.slice(0, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) add(a, argv[++i]);
    else add(a, 'true');
  }
  return out;
}

const truthy = (v: string | undefined): boolean =>
  v !== undefined && !['false', '0', 'no', 'off'].includes(v.toLowerCase());

export type MemberKind = 'agent' | 'dbserver' | 'coordinator';

export interface MemberConfig {
  kind: MemberKind;
  listen: { host: string; port: number };
  myAddress: string;
  agencyEndpoints: string[];
  dataDir?: string;
  jwtSecret: string;
  rootPassword?: string;
  net: NetOptions;
  agent: { size: number; id?: string; supervision: boolean; compactionStep: number };
  bandwidth: number;
  bytesPerDocument: number;
  persist: boolean;
  timing: ReturnType<typeof timingWithDefaults>;
  debug: boolean;
}

/** Options the simulator reads (everything else is accepted and ignored, with one log line). */
const KNOWN = new Set([
  'server.endpoint',
  'server.jwt-secret-keyfile',
  'server.jwt-secret-folder',
  'server.jwt-secret',
  'server.authentication',
  'cluster.my-role',
  'cluster.my-address',
  'cluster.agency-endpoint',
  'cluster.my-advertised-endpoint',
  'agency.activate',
  'agency.size',
  'agency.my-address',
  'agency.endpoint',
  'agency.supervision',
  'agency.disaster-recovery-id',
  'agency.supervision-ok-threshold',
  'agency.supervision-grace-period',
  'agency.supervision-frequency',
  'agency.election-timeout-min',
  'agency.election-timeout-max',
  'agency.compaction-step-size',
  'database.directory',
  'sim.bandwidth',
  'sim.bytes-per-document',
  'sim.heartbeat-interval',
  'sim.supervision-startup-grace',
  'sim.leader-retry-seconds',
  'sim.remove-server-seconds',
  'sim.debug',
  'sim.root-password',
  'sim.persist',
  'sim.failed-leader-timeout',
  'sim.move-shard-timeout',
  'sim.move-shard-follower-timeout',
  'agency.supervision-expired-servers-grace-period',
]);

/**
 * Reads a member configuration from arangod arguments and the pod environment: TRANSIT_LISTEN_ADDRESS overrides
 * the host of --server.endpoint (the test kubelet puts a proxy on the pod IP), TRANSIT_ROOTFS prefixes absolute
 * paths (secrets and volumes are materialised there), TRANSIT_SOURCE_ADDRESS / TRANSIT_DNS_SERVER /
 * TRANSIT_DNS_SEARCH shape outbound connections.
 */
export function configFromArgs(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  warn: (m: string) => void = () => {},
): MemberConfig {
  const a = parseArgs(argv);
  const one = (k: string): string | undefined => a.get(k)?.at(-1);
  const num = (k: string): number | undefined => (one(k) === undefined ? undefined : Number(one(k)));
  const path = (p: string | undefined): string | undefined => {
    if (!p) return p;
    const root = env.TRANSIT_ROOTFS;
    return root && isAbsolute(p) && !p.startsWith(root) ? join(root, p) : p;
  };
  const unknown = [...a.keys()].filter((k) => !KNOWN.has(k));
  if (unknown.length) warn(`ignoring options the simulator does not model: ${unknown.map((k) => `--${k}`).join(' ')}`);

  const serverEndpoint = one('server.endpoint') ?? 'tcp://127.0.0.1:8529';
  const ep = parseEndpoint(serverEndpoint);
  const listenHost = env.TRANSIT_LISTEN_ADDRESS || (ep.host === '[::]' ? '::' : ep.host);
  const isAgent = truthy(one('agency.activate'));
  const role = (one('cluster.my-role') ?? '').toUpperCase();
  const kind: MemberKind = isAgent
    ? 'agent'
    : role === 'COORDINATOR'
      ? 'coordinator'
      : role === 'PRIMARY' || role === 'DBSERVER'
        ? 'dbserver'
        : (() => {
            throw new Error(
              'cannot tell the role: pass --agency.activate true or --cluster.my-role PRIMARY|COORDINATOR',
            );
          })();
  const myAddress = (isAgent ? one('agency.my-address') : one('cluster.my-address')) ?? serverEndpoint;
  parseEndpoint(myAddress);

  let jwtSecret: string | undefined;
  const keyfile = path(one('server.jwt-secret-keyfile'));
  const folder = path(one('server.jwt-secret-folder'));
  if (keyfile) jwtSecret = readJwtSecretFile(keyfile);
  else if (folder) {
    const first = readdirSync(folder)
      .filter((f) => !f.startsWith('.'))
      .sort()[0];
    if (!first) throw new Error(`--server.jwt-secret-folder ${folder} holds no secret`);
    jwtSecret = readJwtSecretFile(join(folder, first));
  } else if (one('server.jwt-secret')) jwtSecret = one('server.jwt-secret');
  if (!jwtSecret)
    throw new Error('no JWT secret: pass --server.jwt-secret-keyfile (every member of a cluster must share it)');

  const t = timingWithDefaults({
    heartbeatMs: num('sim.heartbeat-interval') !== undefined ? num('sim.heartbeat-interval')! * 1000 : undefined,
    okThreshold: num('agency.supervision-ok-threshold'),
    gracePeriod: num('agency.supervision-grace-period'),
    supervisionFrequency: num('agency.supervision-frequency'),
    startupGrace: num('sim.supervision-startup-grace'),
    electionTimeoutMin: num('agency.election-timeout-min'),
    electionTimeoutMax: num('agency.election-timeout-max'),
    leaderRetrySeconds: num('sim.leader-retry-seconds'),
    removeServerSeconds: num('sim.remove-server-seconds'),
    compactionStep: num('agency.compaction-step-size'),
    failedLeaderTimeout: num('sim.failed-leader-timeout'),
    moveShardTimeout: num('sim.move-shard-timeout'),
    moveShardFollowerTimeout: num('sim.move-shard-follower-timeout'),
    expiredServersGrace: num('agency.supervision-expired-servers-grace-period'),
  });
  const agencyEndpoints = isAgent ? (a.get('agency.endpoint') ?? []) : (a.get('cluster.agency-endpoint') ?? []);
  if (!isAgent && agencyEndpoints.length === 0) throw new Error('--cluster.agency-endpoint is required');
  return {
    kind,
    listen: { host: listenHost, port: ep.port },
    myAddress,
    agencyEndpoints,
    dataDir: path(one('database.directory')),
    jwtSecret,
    rootPassword: one('sim.root-password'),
    net: netOptionsFromEnv(env),
    agent: {
      size: num('agency.size') ?? 1,
      id: one('agency.disaster-recovery-id'),
      supervision: truthy(one('agency.supervision') ?? 'false'),
      compactionStep: t.compactionStep,
    },
    bandwidth: parseBandwidth(one('sim.bandwidth')),
    bytesPerDocument: num('sim.bytes-per-document') ?? 1024,
    persist: truthy(one('sim.persist') ?? 'true'),
    timing: t,
    debug: truthy(one('sim.debug')),
  };
}

export type SimMemberInstance = Agent | DBServer | Coordinator;

export function createMember(
  cfg: MemberConfig,
  sink?: (line: string) => void,
  onFatal?: () => void,
): SimMemberInstance {
  const label = cfg.kind === 'dbserver' ? 'dbserver' : cfg.kind;
  const log: Logger = makeLogger(sink, `${label} ${cfg.myAddress}`, cfg.debug);
  const common = {
    listen: cfg.listen,
    myAddress: cfg.myAddress,
    agencyEndpoints: cfg.agencyEndpoints,
    dataDir: cfg.dataDir,
    jwtSecret: cfg.jwtSecret,
    rootPassword: cfg.rootPassword,
    net: cfg.net,
    log,
    heartbeatMs: cfg.timing.heartbeatMs,
  };
  if (cfg.kind === 'agent') {
    return new Agent({
      listen: cfg.listen,
      myAddress: cfg.myAddress,
      endpoints: cfg.agencyEndpoints,
      size: cfg.agent.size,
      id: cfg.agent.id,
      dataDir: cfg.dataDir,
      supervision: cfg.agent.supervision,
      jwtSecret: cfg.jwtSecret,
      net: cfg.net,
      log,
      electionTimeoutMin: cfg.timing.electionTimeoutMin,
      electionTimeoutMax: cfg.timing.electionTimeoutMax,
      compactionStep: cfg.agent.compactionStep,
      supervisionOptions: {
        frequency: cfg.timing.supervisionFrequency,
        okThreshold: cfg.timing.okThreshold,
        gracePeriod: cfg.timing.gracePeriod,
        startupGrace: cfg.timing.startupGrace,
        failedLeaderTimeout: cfg.timing.failedLeaderTimeout,
        moveShardTimeout: cfg.timing.moveShardTimeout,
        moveShardFollowerTimeout: cfg.timing.moveShardFollowerTimeout,
        expiredServersGrace: cfg.timing.expiredServersGrace,
      },
      onFatal,
    });
  }
  if (cfg.kind === 'dbserver') {
    return new DBServer({
      ...common,
      bandwidth: cfg.bandwidth,
      defaultBytesPerDocument: cfg.bytesPerDocument,
      persist: cfg.persist,
    });
  }
  return new Coordinator({
    ...common,
    leaderRetrySeconds: cfg.timing.leaderRetrySeconds,
    removeServerSeconds: cfg.timing.removeServerSeconds,
    defaultBytesPerDocument: cfg.bytesPerDocument,
  });
}
