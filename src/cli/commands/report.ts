// `transit report <workflowId>`: one self-contained HTML file (charts as inline SVG, no network needed to open it)
// from the workflow's Temporal history and, while its worker answers, the progress query; or, with --history,
// from exported history files (`temporal workflow show --output json`, one per run of a continue-as-new chain).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { connectClient, withConnection, type ConnectionFlags } from '../common';

type Flags = ConnectionFlags & { out?: string; history?: string[]; runId?: string };

export function register(program: Command): void {
  withConnection(
    program
      .command('report [workflowId]')
      .description('write an HTML report of a migration (phases, steps, shard movement, throughput, latency)')
      .option('--out <file>', 'where to write the HTML (default: transit-report-<workflowId>.html)')
      .option(
        '--history <file...>',
        'build it from exported history JSON files instead of the server (every run of a continue-as-new chain)',
      )
      .option('--run-id <id>', 'report up to this run of the workflow (default: the latest)'),
  ).action(async (workflowId: string | undefined, o: Flags) => {
    const { reportFromFiles } = require('../../report') as typeof import('../../report');
    let built: Awaited<ReturnType<typeof reportFromFiles>>;
    if (o.history?.length) {
      built = await reportFromFiles(o.history, { codecKeyFile: o.codecKeyFile });
    } else {
      if (!workflowId) throw new Error('report: give a workflow ID, or --history FILE');
      const client = await connectClient(o);
      try {
        built = await client.report(workflowId, { runId: o.runId });
      } finally {
        await client.close();
      }
    }
    const id = workflowId ?? (built.data.workflowId || 'history');
    const out = o.out ?? `transit-report-${id.replace(/[^A-Za-z0-9._-]/g, '_')}.html`;
    writeFileSync(out, built.html);
    const d = built.data;
    console.log(
      `${out}: ${d.workflowId || id} ${d.status}, ${d.phases.length} phases, ${d.steps.length} steps, ${d.runs} run${d.runs > 1 ? 's' : ''}`,
    );
    for (const n of d.notes) console.error(`transit report: ${n}`);
  });
}
