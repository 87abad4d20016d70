/**
 * Failover while a shard group moves: every failing server × every mover, printed as a table (simulated ArangoDB,
 * members as processes, supervision grace period 4 s). Durations are figures; each cell is also checked for what
 * the CI tests assert (column "check"; exit code 1 if any cell fails): a serving leader came back (else the cell
 * is an error naming Plan, Current and the open jobs), no acknowledged write lost, Transit finished the move on
 * the new servers and left no lock or job of its own, and a source leader's death aborted the moving job.
 * test/shard-engine.test.ts runs the source-leader row and the new-leader cells with Transit in CI.
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
      'check',
    ],
  ];
  let failed = 0;
  for (const v of victims) {
    for (const m of movers) {
      const r = await failDuringMove(m, v).catch((e: Error) => ({ error: e.message }) as const);
      if ('error' in r) {
        failed++;
        console.error(`${v} × ${m}: ${r.error}`);
        rows.push([v, m, '-', '-', `error: ${r.error.split('\n')[0]}`, '-', '-', '-', '-', 'FAIL']);
        if (json) console.log(JSON.stringify({ victim: v, mover: m, error: r.error, arango: 'simulated' }));
        continue;
      }
      const outcome = m === 'arangodb' ? 'moveShard ended' : r.finishedOnTargets ? 'completed' : 'not finished';
      const left = Object.keys(r.leftovers.locks).length + r.leftovers.openJobs.length;
      const problems = [
        ...(r.lost > 0 ? [`${r.lost} acknowledged writes lost`] : []),
        ...(r.acked === 0 ? ['no write acknowledged'] : []),
        ...(m !== 'arangodb' && !r.finishedOnTargets ? ['move not finished on the new servers'] : []),
        ...(left > 0 ? [`${left} Transit leftovers`] : []),
        ...(v === 'source-leader' && !/abort/i.test(r.jobOutcome)
          ? ['the moving job was not aborted by failover']
          : []),
      ];
      if (problems.length) failed++;
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
        problems.length ? `FAIL: ${problems.join('; ')}` : 'ok',
      ]);
      if (json) console.log(JSON.stringify({ ...r, problems, arango: 'simulated' }));
    }
  }
  if (!json) {
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((x, i) => x.padEnd(w[i]!)).join('  '));
    console.log(
      '\nsimulated ArangoDB (src/sim), members as processes, SIGKILL; supervision: ok-threshold 2 s, grace period 4 s, frequency 0.5 s; 6 MB shard group at 1 MB/s links',
    );
  }
  if (failed) {
    console.error(`${failed} cell(s) failed their checks`);
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
