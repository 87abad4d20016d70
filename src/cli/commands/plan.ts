// `transit plan --spec FILE`: a dry run (src/cli/dry-run.ts). Runs only the read-only steps in this process and
// prints what the migration would do, decided by the workflow's own functions. Nothing is changed and no
// workflow is started.
import type { Command } from 'commander';
import { dryRun, formatDryRun } from '../dry-run';
import { printJson, readSpecFile } from '../common';

export function register(program: Command): void {
  program
    .command('plan')
    .description(
      'dry run: read both clusters, the agency and DNS, and print what the migration would do — phases, members to create, where every shard group goes, bytes to copy (no change)',
    )
    .requiredOption('--spec <file>', 'YAML or JSON spec')
    .option('--kubeconfig <file>', 'kubeconfig with the source and target contexts (default: KUBECONFIG)')
    .option(
      '--bandwidth <bytes/s>',
      "each DB server's link rate, for the estimate's link bound (default: policy.bandwidthBytesPerSecond; none: jobs only)",
    )
    .option('--json', 'print the plan as one JSON line')
    .action(async (o: { spec: string; kubeconfig?: string; json?: boolean; bandwidth?: string }) => {
      const bandwidth = o.bandwidth === undefined ? undefined : Number(o.bandwidth);
      if (bandwidth !== undefined && !(Number.isFinite(bandwidth) && bandwidth > 0))
        throw new Error(
          `--bandwidth: expected bytes per second (a positive number, e.g. 100000000), got ${o.bandwidth}`,
        );
      const spec = readSpecFile(o.spec);
      const { createActivities } = require('../../activities') as typeof import('../../activities');
      const acts = createActivities(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {});
      const plan = await dryRun(acts, spec, `plan-${spec.deployment.namespace}-${spec.deployment.name}`, {
        bandwidthBytesPerSecond: bandwidth,
      });
      if (o.json) return printJson(plan);
      for (const line of formatDryRun(plan)) console.log(line);
    });
}
