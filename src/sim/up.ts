// `transit sim up --topology FILE [--json]`: starts a simulated cluster in the foreground and prints its
// endpoints as one JSON line (stable key order) so scripts can use it; Ctrl-C / SIGTERM stops it.
import { SimCluster, type SimEndpoints } from './cluster.js';
import { loadTopology, type Topology, type TopologyInput } from './topology.js';

export interface SimUpOptions {
  /** A topology file (YAML or JSON), or the topology itself. */
  topologyFile?: string;
  topology?: TopologyInput | Topology;
  /** Root for data directories and the JWT secret file (default: a new temp directory). */
  dataDir?: string;
  /** One `node src/sim/arangod.ts` process per member instead of in-process members. */
  processes?: boolean;
  /** Where member log lines go (default: nowhere). */
  log?: (line: string) => void;
  port?: number;
  ipPrefix?: string;
}

/** Starts a simulated cluster seeded from the topology; resolves once every shard is in sync. */
export async function simUp(o: SimUpOptions): Promise<SimCluster> {
  const topology = o.topology ?? (o.topologyFile ? loadTopology(o.topologyFile) : undefined);
  if (!topology) throw new Error('simUp: pass topologyFile or topology');
  return SimCluster.start({
    topology,
    dataDir: o.dataDir,
    processes: o.processes,
    log: o.log,
    port: o.port,
    ipPrefix: o.ipPrefix,
  });
}

/** The one-line JSON `transit sim up` prints; key order is fixed. */
export function endpointsLine(e: SimEndpoints): string {
  return JSON.stringify({
    coordinators: e.coordinators,
    agents: e.agents.map((a) => ({ id: a.id, endpoint: a.endpoint })),
    dbServers: e.dbServers.map((d) => ({ id: d.id, shortName: d.shortName, endpoint: d.endpoint })),
    jwtSecretFile: e.jwtSecretFile,
    dataDir: e.dataDir,
  });
}

const USAGE = 'usage: transit sim up --topology FILE [--json] [--data-dir DIR] [--processes] [--log] [--port N]';

/**
 * CLI body: parses argv (the arguments after `sim up`), starts the cluster, prints the endpoints line (with
 * --json nothing else goes to stdout), then runs until SIGINT/SIGTERM. Returns the exit code.
 */
export async function runSimUpCli(argv: string[]): Promise<number> {
  let topologyFile: string | undefined;
  let dataDir: string | undefined;
  let json = false;
  let processes = false;
  let log = false;
  let port: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a.startsWith('--topology')) topologyFile = val();
    else if (a.startsWith('--data-dir')) dataDir = val();
    else if (a.startsWith('--port')) port = Number(val());
    else if (a === '--json') json = true;
    else if (a === '--processes') processes = true;
    else if (a === '--log') log = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      return 0;
    } else {
      process.stderr.write(`unknown argument ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  if (!topologyFile) {
    process.stderr.write(`--topology is required\n${USAGE}\n`);
    return 2;
  }
  const cluster = await simUp({
    topologyFile,
    dataDir,
    processes,
    port,
    log: log ? (l) => process.stderr.write(l + '\n') : undefined,
  });
  const line = endpointsLine(await cluster.describe());
  if (!json) {
    const e = await cluster.describe();
    process.stdout.write(
      `simulated ArangoDB cluster "${cluster.topology.name}" is up (data in ${e.dataDir})\n` +
        `  coordinators: ${e.coordinators.join(' ')}\n  agents: ${e.agents.map((a) => a.endpoint).join(' ')}\n` +
        `  DB servers: ${e.dbServers.map((d) => `${d.shortName}=${d.endpoint}`).join(' ')}\n  JWT secret file: ${e.jwtSecretFile}\n` +
        'Ctrl-C stops it.\n',
    );
  }
  process.stdout.write(line + '\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cluster.stop();
  return 0;
}

// `node --import tsx src/sim/up.ts --topology FILE [--json]` runs the same thing without the transit CLI.
if (require.main === module) {
  runSimUpCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
