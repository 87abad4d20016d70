/**
 * Failover while a shard group moves: every failing server × every mover, printed as a table (simulated ArangoDB,
 * members as processes, supervision grace period 4 s). Reports; asserts nothing (test/shard-engine.test.ts runs
 * the source-leader row in CI).
 *
 *   scripts/netns-run node --import tsx scripts/failover-matrix.ts [--json] [--victims a,b] [--movers a,b]
 */
import { failDuringMove, MOVERS, VICTIMS, type Mover, type Victim } from '../test/harness/failover';

const arg = (name: string): string[] | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]!.split(',') : undefined;
};
const json = process.argv.includes('--json');
const victims = (arg('--victims') ?? VICTIMS) as Victim[];
const movers = (arg('--movers') ?? MOVERS) as Mover[];

async function main(): Promise<void> {
  const rows: string[][] = [
    [
      'failing server',
      'mover',
      'no serving leader (s)',
      'moving job',
      'outcome',
      'parked with',
      'acked',
      'lost',
      'Transit leftovers',
    ],
  ];
  for (const v of victims) {
    for (const m of movers) {
      const r = await failDuringMove(m, v).catch((e: Error) => ({ error: e.message }) as const);
      if ('error' in r) {
        rows.push([v, m, '-', '-', `error: ${r.error}`, '-', '-', '-', '-']);
        if (json) console.log(JSON.stringify({ victim: v, mover: m, error: r.error, arango: 'simulated' }));
        continue;
      }
      const outcome = m === 'arangodb' ? 'moveShard ended' : r.finishedOnTargets ? 'completed' : 'not finished';
      const left = Object.keys(r.leftovers.locks).length + r.leftovers.openJobs.length;
      rows.push([
        v,
        m,
        r.leaderlessSeconds.toFixed(1),
        r.jobOutcome,
        outcome,
        r.parked ?? '-',
        String(r.acked),
        String(r.lost),
        String(left),
      ]);
      if (json) console.log(JSON.stringify({ ...r, arango: 'simulated' }));
    }
  }
  if (!json) {
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((x, i) => x.padEnd(w[i]!)).join('  '));
    console.log(
      '\nsimulated ArangoDB (src/sim), members as processes, SIGKILL; supervision: ok-threshold 2 s, grace period 4 s, frequency 0.5 s; 10 MB shard group at 1 MB/s links',
    );
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
