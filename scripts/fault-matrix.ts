/**
 * The fault matrix, end to end (issue 10): fault × phase. For each cell a fresh environment (Temporal dev server,
 * two API servers with the test controller, the simulated ArangoDB in pods, BIND, clients writing through DNS),
 * one real migrationWorkflow under client load (the load harness's mixed workload), and one fault injected as
 * the workflow reaches the phase (progress query; MoveShards early / late = ≥ 10 % / ≥ 70 % of shards done):
 *
 *   source-dbserver | target-dbserver | agency-leader | coordinator   SIGKILL of the member process; the test
 *                      kubelet restarts the container (back-off 1 s), as a real kubelet does; held until Ready
 *   bridge           the bridge LoadBalancer's proxies in both clusters reset every connection for 30 s
 *   bind-primary     the BIND primary's named stopped for 30 s, then started again
 *
 * A cell that parks is resumed once after the fault is cleared; a second park ends it as "parked". Per cell:
 * outcome, the longest time any shard had no serving leader (Plan/Current sampled from the agency every
 * ~200 ms, leaders probed; test/harness/faults.ts), acknowledged writes and lost writes (must be 0).
 * Durations are figures, not checks. Exit code 1 if any cell lost a write or ended other than completed /
 * rolled back / parked.
 *
 *   scripts/netns-run node --import tsx scripts/fault-matrix.ts [--only kind[,kind]] [--phases p[,p]] [--json]
 *     [--bridge-seconds 30] [--bind-seconds 30] [--dead-seconds 0]
 *   --dead-seconds N: a killed member stays dead N s (every restart in that time is killed again: a crash loop),
 *     long enough for supervision to declare it FAILED and fail over; default 0 (killed once, restarted at once)
 *   kinds:  source-dbserver target-dbserver agency-leader coordinator bridge bind-primary
 *   phases: BridgeNetworks ProvisionTarget MoveShards-early MoveShards-late MoveAgents CutoverDNS
 */
import { spawn } from 'node:child_process';
import {
  FAULT_KINDS,
  FAULT_PHASES,
  runFaultRun,
  type FaultKind,
  type FaultPhase,
  type FaultRunResult,
} from '../test/harness/faults';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const json = argv.includes('--json');
const list = <T extends string>(name: string, all: readonly T[]): T[] => {
  const v = arg(name);
  if (!v) return [...all];
  const picked = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = picked.filter((x) => !(all as readonly string[]).includes(x));
  if (bad.length) throw new Error(`${name}: unknown ${bad.join(', ')} (one of ${all.join(', ')})`);
  return picked as T[];
};
const kinds = list<FaultKind>('--only', FAULT_KINDS);
const phases = list<FaultPhase>('--phases', FAULT_PHASES);
const bridgeSeconds = Number(arg('--bridge-seconds') ?? 30);
const bindSeconds = Number(arg('--bind-seconds') ?? 30);
const deadSeconds = Number(arg('--dead-seconds') ?? 0);

interface Row {
  fault: FaultKind;
  phase: FaultPhase;
  arango: 'simulated';
  outcome: string;
  parkedMessage: string | null;
  parks: { phase: string; message: string; resumed: boolean }[];
  target: string;
  injectedIn: string;
  faultSeconds: number | null;
  note: string | null;
  maxNoLeaderSeconds: number;
  maxNoLeaderShard: string | null;
  maxNoLeaderWhy: string | null;
  agencyUnreadableSeconds: number;
  acked: number;
  lost: number;
  wrong: number;
  resurrected: number;
  anomalies: number;
  clientFailures: number;
  clientFailuresDuringFault: number;
  migrationSeconds: number;
  cellSeconds: number;
  phaseSeconds?: Record<string, number>;
  error?: string;
}

function row(fault: FaultKind, phase: FaultPhase, r: FaultRunResult): Row {
  const f = r.faults[0]!;
  return {
    fault,
    phase,
    arango: 'simulated',
    outcome: r.outcome,
    parkedMessage: r.parkedMessage,
    parks: r.parks.map((p) => ({ phase: p.phase, message: p.message, resumed: p.resumed })),
    target: f.target,
    injectedIn: f.injectedIn,
    faultSeconds: f.clearedAt ? Math.round((f.clearedAt - f.injectedAt) / 100) / 10 : null,
    note: f.note ?? null,
    maxNoLeaderSeconds: Math.round(r.maxNoLeaderSeconds * 10) / 10,
    maxNoLeaderShard: r.maxNoLeaderShard,
    maxNoLeaderWhy: f.maxNoLeaderWhy,
    agencyUnreadableSeconds: Math.round(f.agencyUnreadableSeconds * 10) / 10,
    acked: r.acked,
    lost: r.lost,
    wrong: r.wrong,
    resurrected: r.resurrected,
    anomalies: r.anomalies.length,
    clientFailures: r.clientFailures,
    clientFailuresDuringFault: f.clientFailures,
    migrationSeconds: Math.round(r.migrationSeconds),
    cellSeconds: Math.round(r.runSeconds),
    phaseSeconds: r.report?.phaseSeconds,
  };
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const COLS: [string, number, (r: Row) => string][] = [
  ['fault', 16, (r) => r.fault],
  ['phase', 17, (r) => r.phase],
  ['outcome', 11, (r) => r.outcome],
  ['parks', 6, (r) => String(r.parks.length)],
  ['fault s', 8, (r) => (r.faultSeconds === null ? '-' : r.faultSeconds.toFixed(1))],
  ['no-leader s', 12, (r) => r.maxNoLeaderSeconds.toFixed(1)],
  ['agency-gap s', 13, (r) => r.agencyUnreadableSeconds.toFixed(1)],
  ['acked', 7, (r) => String(r.acked)],
  ['lost', 5, (r) => String(r.lost)],
  ['client-fail', 12, (r) => `${r.clientFailuresDuringFault}/${r.clientFailures}`],
  ['run s', 6, (r) => String(r.cellSeconds)],
];

function errorRow(fault: FaultKind, phase: FaultPhase, error: string): Row {
  return {
    fault,
    phase,
    arango: 'simulated',
    outcome: 'error',
    parkedMessage: null,
    parks: [],
    target: '',
    injectedIn: '',
    faultSeconds: null,
    note: null,
    maxNoLeaderSeconds: 0,
    maxNoLeaderShard: null,
    maxNoLeaderWhy: null,
    agencyUnreadableSeconds: 0,
    acked: 0,
    lost: 0,
    wrong: 0,
    resurrected: 0,
    anomalies: 0,
    clientFailures: 0,
    clientFailuresDuringFault: 0,
    migrationSeconds: 0,
    cellSeconds: 0,
    error,
  };
}

/** One cell in this process (`--cell kind:phase`): prints its row as one JSON line on stdout. */
async function cell(fault: FaultKind, phase: FaultPhase): Promise<number> {
  let r: Row;
  try {
    const res = await runFaultRun({
      injections: [{ kind: fault, phase }],
      bridgeSeconds,
      bindSeconds,
      deadSeconds,
      log: (l) => console.error(`  [${fault} @ ${phase}] ${l}`),
    });
    r = row(fault, phase, res);
  } catch (e) {
    r = errorRow(fault, phase, (e as Error).stack ?? String(e));
  }
  process.stdout.write(`${JSON.stringify(r)}\n`);
  return 0;
}

/**
 * Every cell in a process of its own (same network namespace): a cell whose environment fails half-way (say the
 * Temporal dev server does not start) leaves nothing bound for the next one — its servers die with its process.
 */
function spawnCell(fault: FaultKind, phase: FaultPhase): Promise<Row> {
  const args = [
    '--import',
    'tsx',
    __filename,
    '--cell',
    `${fault}:${phase}`,
    '--bridge-seconds',
    String(bridgeSeconds),
    '--bind-seconds',
    String(bindSeconds),
    '--dead-seconds',
    String(deadSeconds),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', json ? 'ignore' : 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      resolve(
        line
          ? (JSON.parse(line) as Row)
          : errorRow(fault, phase, `cell process exited with ${signal ?? code} and no result`),
      );
    }),
  );
}

async function main(): Promise<number> {
  const only = arg('--cell');
  if (only) {
    const [fault, phase] = only.split(':') as [FaultKind, FaultPhase];
    return cell(fault, phase);
  }
  const rows: Row[] = [];
  let bad = 0;
  for (const phase of phases) {
    for (const fault of kinds) {
      const r = await spawnCell(fault, phase);
      if (r.lost > 0 || r.wrong > 0 || r.resurrected > 0 || !['completed', 'rolled back', 'parked'].includes(r.outcome))
        bad++;
      rows.push(r);
      if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else console.error(`  [${fault} @ ${phase}] ${JSON.stringify(r)}`);
    }
  }
  if (!json) {
    console.log(COLS.map(([h, n]) => pad(h, n)).join(' '));
    for (const r of rows) console.log(COLS.map(([, n, f]) => pad(f(r), n)).join(' '));
    for (const r of rows) {
      if (r.parkedMessage) console.log(`${r.fault} @ ${r.phase} parked: ${r.parkedMessage}`);
      if (r.error) console.log(`${r.fault} @ ${r.phase} error: ${r.error.split('\n')[0]}`);
    }
    console.log('arango: simulated (src/sim); durations are figures, not checks');
  }
  return bad ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
