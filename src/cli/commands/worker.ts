// `transit worker`: run a worker in the foreground (graceful shutdown on SIGINT/SIGTERM).
import type { Command } from 'commander';
import { withConnection, type ConnectionFlags } from '../common';

export function register(program: Command): void {
  withConnection(
    program
      .command('worker')
      .description('run a Transit worker (workflow + activities) on the task queue')
      .option('--task-queue <name>', 'task queue to poll', 'transit')
      .option(
        '--metrics <host:port>',
        'serve Prometheus metrics here (env TRANSIT_METRICS_ADDRESS)',
        process.env.TRANSIT_METRICS_ADDRESS,
      )
      .option(
        '--workflow-bundle <file>',
        'prebuilt workflow bundle (production images)',
        process.env.TRANSIT_WORKFLOW_BUNDLE,
      )
      .option(
        '--region <name>',
        'the region this worker runs in (env TRANSIT_WORKER_REGION): labels its version checks, and it also serves ' +
          "that region's client-latency probes (task queue <task queue>-probe-<region>, policy.latency.probeFrom each-region)",
        process.env.TRANSIT_WORKER_REGION,
      )
      .option(
        '--probe-only',
        "run only the client-latency probes of --region (a region's clients measured where no main worker runs)",
      )
      .option('--kubeconfig <file>', 'kubeconfig with the source and target contexts (default: KUBECONFIG)')
      .option('--log-level <level>', 'TRACE, DEBUG, INFO, WARN or ERROR', 'INFO'),
  ).action(
    async (
      o: ConnectionFlags & {
        taskQueue: string;
        metrics?: string;
        workflowBundle?: string;
        kubeconfig?: string;
        region?: string;
        probeOnly?: boolean;
        logLevel: string;
      },
    ) => {
      const { runWorker } = require('../../worker') as typeof import('../../worker');
      await runWorker({
        ...o,
        taskQueue: o.taskQueue,
        metricsAddress: o.metrics,
        workflowBundlePath: o.workflowBundle,
        logLevel: o.logLevel.toUpperCase() as 'INFO',
        region: o.region,
        probeOnly: o.probeOnly,
        activities: o.kubeconfig ? { kubeconfigPath: o.kubeconfig } : undefined,
      });
    },
  );
}
