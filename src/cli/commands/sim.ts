// `transit sim up --topology FILE`: a simulated ArangoDB cluster in the foreground (tests, demo, rehearsal).
import type { Command } from 'commander';

export function register(program: Command): void {
  const sim = program.command('sim').description('the ArangoDB cluster simulator (simulated members over HTTP)');
  sim
    .command('up')
    .description('start a simulated cluster from a topology file; prints its endpoints as one JSON line')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]', 'see `transit sim up --help`')
    .action(async (args: string[]) => {
      const { runSimUpCli } = require('../../sim/up') as typeof import('../../sim/up');
      await runSimUpCli(args);
    });
}
