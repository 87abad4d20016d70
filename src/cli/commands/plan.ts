// `transit plan --spec FILE`: a dry run. Runs only the read-only steps (validate, preflight, read the
// deployment, the shard plan, the DNS record) in this process and prints what the migration would do.
// Nothing is changed and no workflow is started.
import type { Command } from 'commander';
import { initialState, planView } from '../../workflows/state';
import { printJson, readSpecFile } from '../common';

export function register(program: Command): void {
  program
    .command('plan')
    .description(
      'dry run: read both clusters, the agency and DNS, and print the steps the migration would take (no change)',
    )
    .requiredOption('--spec <file>', 'YAML or JSON spec')
    .option('--kubeconfig <file>', 'kubeconfig with the source and target contexts (default: KUBECONFIG)')
    .option('--json', 'print the plan as one JSON line')
    .action(async (o: { spec: string; kubeconfig?: string; json?: boolean }) => {
      const spec = readSpecFile(o.spec);
      const { createActivities } = require('../../activities') as typeof import('../../activities');
      const acts = createActivities(o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : {});
      const ref = { migrationId: `plan-${spec.deployment.namespace}-${spec.deployment.name}`, spec };
      const s = initialState(ref.migrationId, spec);
      const preflight = await acts.preflight(ref);
      const health = await acts.checkClusterHealth({ arango: spec.arango });
      s.inventory = await acts.readSourceDeployment(ref);
      s.plan = await acts.readShardPlan({ migrationId: ref.migrationId, arango: spec.arango });
      s.dns.before = await acts.readRecord({ dns: spec.dns });
      const view = planView(s)!;
      const warnings = [...preflight.warnings, ...(health.healthy ? [] : health.problems.map((p) => `cluster: ${p}`))];
      if (o.json) return printJson({ ...view, warnings });
      console.log(
        `Plan for ${spec.deployment.namespace}/${spec.deployment.name}: ${spec.source.region} (${spec.source.context}) → ${spec.target.region} (${spec.target.context})`,
      );
      console.log(
        `  ${view.shardGroups} shard groups, ${view.shards} shards, ${view.bytes} bytes in ${view.databases} databases / ${view.collections} collections`,
      );
      for (const m of view.members) console.log(`  ${m.role}: ${m.source.join(', ')} → ${m.target.join(', ')}`);
      console.log('Steps (dry run, nothing changed):');
      view.steps.forEach((st, i) => console.log(`  ${i + 1}. ${st}`));
      for (const w of warnings) console.log(`  warning: ${w}`);
    });
}
