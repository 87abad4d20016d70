/**
 * The `transit` command. Each subcommand lives in src/cli/commands/; errors print as one line and exit 1.
 */
import { Command, CommanderError } from 'commander';
import { InvalidSpecError } from '../spec/validate';
import { register as registerSpec } from './commands/spec';
import { register as registerControls } from './commands/controls';
import { register as registerStatus } from './commands/status';
import { register as registerPlan } from './commands/plan';
import { register as registerWorker } from './commands/worker';
import { register as registerSim } from './commands/sim';
import { register as registerCodecServer } from './commands/codec-server';
import { register as registerReport } from './commands/report';
import { register as registerRehearse } from './commands/rehearse';

export function buildProgram(): Command {
  const program = new Command('transit')
    .description('Live migration of an ArangoDB cluster between Kubernetes clusters, on Temporal')
    .showSuggestionAfterError()
    .exitOverride();
  registerSpec(program);
  registerControls(program);
  registerStatus(program);
  registerPlan(program);
  registerWorker(program);
  registerSim(program);
  registerCodecServer(program);
  registerReport(program);
  registerRehearse(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    if (e instanceof InvalidSpecError) {
      for (const p of e.problems) console.error(p);
      return 1;
    }
    const err = e as Error & { cause?: { message?: string } };
    const detail = err.cause?.message && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    console.error(`transit: ${err.message.split('\n')[0]}${detail}`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }); // main() turns every error into an exit code; it does not reject
}
