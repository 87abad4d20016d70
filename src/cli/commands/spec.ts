// `transit validate` and `transit schema`: the spec at the edge, without a server.
import type { Command } from 'commander';
import { specJsonSchema } from '../../spec/schema';
import { printJson, readSpecFile } from '../common';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check a migration spec; exit 0 when good, 1 with one line per problem')
    .requiredOption('--spec <file>', 'YAML or JSON spec')
    .option('--json', 'print the validated spec (defaults applied) as JSON')
    .action((o: { spec: string; json?: boolean }) => {
      const spec = readSpecFile(o.spec);
      if (o.json) printJson(spec);
      else
        console.log(
          `${o.spec}: valid (${spec.deployment.namespace}/${spec.deployment.name}: ${spec.source.context} → ${spec.target.context}, ${spec.network.mode})`,
        );
    });
  program
    .command('schema')
    .description('print the JSON Schema of the migration spec')
    .action(() => console.log(JSON.stringify(specJsonSchema(), null, 2)));
}
