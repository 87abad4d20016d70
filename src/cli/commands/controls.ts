// `transit start | pause | resume | abort | rollback | approve | set-concurrency`: steering a migration.
import type { Command } from 'commander';
import { connectClient, printJson, readSpecValue, withConnection, type ConnectionFlags } from '../common';
import { watchProgress } from './status';

type Flags = ConnectionFlags & { json?: boolean; reason?: string; by?: string };

export function register(program: Command): void {
  withConnection(
    program
      .command('start')
      .description('validate a spec and start its migration')
      .requiredOption('--spec <file>', 'YAML or JSON spec')
      .option('--workflow-id <id>', 'default: transit-<namespace>-<deployment>-to-<target context>')
      .option('--task-queue <name>', 'worker task queue', 'transit')
      .option('--watch', 'then show live progress until it ends')
      .option('--json', 'one JSON line'),
  ).action(async (o: Flags & { spec: string; workflowId?: string; taskQueue: string; watch?: boolean }) => {
    const client = await connectClient(o);
    try {
      const started = await client.startMigration(readSpecValue(o.spec), {
        workflowId: o.workflowId,
        taskQueue: o.taskQueue,
      });
      if (o.json && !o.watch) printJson(started);
      else if (!o.json) console.log(`started ${started.workflowId} (run ${started.runId})`);
      if (o.watch) await watchProgress(client, started.workflowId, !!o.json);
    } finally {
      await client.close();
    }
  });

  const simple: [
    string,
    string,
    (c: Awaited<ReturnType<typeof connectClient>>, id: string, o: Flags) => Promise<unknown>,
  ][] = [
    ['pause', 'stop at the next safe point (between shard steps)', (c, id, o) => c.pause(id, note(o))],
    ['resume', 'continue after pause, or retry a failed step', (c, id, o) => c.resume(id, note(o))],
    [
      'abort',
      'stop safely and end: in-flight moves finish, the cluster is left consistent',
      (c, id, o) => c.abort(id, note(o)),
    ],
    ['rollback', 'undo back to the source (refused at or past Decommission)', (c, id, o) => c.rollback(id, note(o))],
    ['approve', 'let a migration that requires approval continue', (c, id, o) => c.approve(id, note(o))],
  ];
  for (const [name, description, fn] of simple) {
    withConnection(
      program
        .command(`${name} <workflowId>`)
        .description(description)
        .option('--reason <text>', 'recorded in the workflow log')
        .option('--by <who>', 'who asks')
        .option('--json', 'one JSON line'),
    ).action(async (id: string, o: Flags) => {
      const client = await connectClient(o);
      try {
        const r = await fn(client, id, o);
        if (o.json) printJson({ workflowId: id, control: name, ok: true, result: r ?? null });
        else console.log(`${name}: sent to ${id}${r ? ` → ${JSON.stringify(r)}` : ''}`);
      } finally {
        await client.close();
      }
    });
  }

  withConnection(
    program
      .command('set-concurrency <workflowId> <n>')
      .description('change how many shard groups move at once (1..1000)')
      .option('--json', 'one JSON line'),
  ).action(async (id: string, n: string, o: Flags) => {
    const value = Number(n);
    if (!Number.isInteger(value) || value < 1 || value > 1000)
      throw new Error(`<n>: expected an integer from 1 to 1000, got "${n}"`);
    const client = await connectClient(o);
    try {
      const r = await client.setConcurrency(id, value);
      if (o.json) printJson(r);
      else console.log(`concurrency ${r.previous} → ${r.current}`);
    } finally {
      await client.close();
    }
  });
}

function note(o: Flags) {
  return { reason: o.reason, by: o.by ?? process.env.USER };
}
