/**
 * `npm run demo`: a live migration of a (simulated) ArangoDB cluster from "eu" to "us" under client load.
 * Starts Temporal with its Web UI, two real Kubernetes API servers, the simulated cluster in eu, BIND and a
 * Transit worker; runs clients in both regions that resolve the name through DNS; migrates; prints a summary and
 * kubectl listings of both clusters at the end (scripts/kube-listings.ts).
 *
 *   npm run demo                 # human-readable
 *   npm run demo -- --json       # the summary as one JSON line
 *   npm run demo -- --keep       # leave everything running to explore the Web UI (Ctrl-C to stop)
 */
import { TransitClient } from '../src/client';
import { formatReport } from '../src/cli/commands/status';
import type { MigrationProgress, MigrationReport } from '../src/shared/types';
import { NAMESPACE, startEnvironment, type Environment } from '../test/harness/environment';
import type { LoadClient } from '../test/harness/load';
import { exposeOnHost } from '../test/harness/host-bridge';
import { kubeListings } from './kube-listings';

/** One-way WAN delays of the demo (README): the talk measured ~127 ms in-region and ~360 ms across. */
export const DEMO_WAN = { inRegionMs: 30, crossRegionMs: 90 };

interface Summary {
  status: string;
  shardsMoved: number;
  bytesMoved: number;
  phaseSeconds: Record<string, number>;
  clientOk: number;
  clientFailed: number;
  ackedWrites: number;
  lostWrites: number;
  cutoverWindowSeconds: number;
  failedOutsideCutover: number;
  latencyMs: Record<string, Record<string, number>>;
  workflowId: string;
  webUi: string | null;
}

export async function runDemo(o: { json: boolean; keep: boolean; log: (s: string) => void }): Promise<Summary> {
  const env = await startEnvironment({ ui: true, wan: DEMO_WAN, dnsTtl: 5, log: o.log, documents: 100 });
  let client: TransitClient | null = null;
  try {
    await env.startWorker();
    const clients = env.loadClients(2, { intervalMs: 100 });
    clients.forEach((c) => c.start());
    o.log('clients running in eu and us (resolving db.example.test through BIND); measuring the "before" latency…');
    await sleep(6000);
    client = await TransitClient.connect({ address: env.temporal.address });
    const startedAt = Date.now();
    const { workflowId } = await client.startMigration(env.spec);
    o.log(
      `migration started: ${workflowId} — watch it at ${env.temporal.uiUrl}/namespaces/default/workflows/${workflowId}`,
    );
    let lastLine = '';
    const report = await client.watch(
      workflowId,
      (p) => {
        const line = progressLine(p);
        if (line !== lastLine && !o.json) o.log(line);
        lastLine = line;
      },
      { intervalMs: 1000 },
    );
    const endedAt = Date.now();
    o.log('migration ended; measuring the "after" latency…');
    await sleep(8000);
    await Promise.all(clients.map((c) => c.stop()));
    const lost = (await Promise.all(clients.map((c) => c.verify()))).flat();
    const cutoverStartedAt = (await client.getProgress(workflowId)).phaseTimings.find(
      (t) => t.phase === 'CutoverDNS',
    )?.startedAt;
    const summary = summarise(report, clients, lost, startedAt, endedAt, workflowId, env, cutoverStartedAt);
    if (!o.json) {
      o.log(formatReport(report));
      o.log(latencyTable(summary.latencyMs));
      o.log(
        `clients: ${summary.clientOk} ok, ${summary.clientFailed} failed (${summary.failedOutsideCutover} outside the ${summary.cutoverWindowSeconds} s cutover window); ${summary.ackedWrites} acknowledged writes, ${summary.lostWrites} lost`,
      );
    }
    // What each cluster holds at the end, as kubectl shows it (on stderr with --json).
    o.log(`both clusters at the end:\n${await kubeListings(env.clusters.kubeconfigPath, NAMESPACE)}`);
    if (o.keep) await keepRunning(env, o.log);
    return summary;
  } finally {
    await client?.close();
    await env.stop();
  }
}

function progressLine(p: MigrationProgress): string {
  const pct = p.bytesTotal ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  return `[${p.label}${p.paused ? ', paused' : ''}] shards ${p.shardsDone}/${p.shardsTotal} bytes ${pct}% ETA ${p.etaSeconds ?? '–'}s agents ${p.agentsMoved}/${p.agentsTotal}`;
}

function summarise(
  r: MigrationReport,
  clients: LoadClient[],
  lost: string[],
  startedAt: number,
  endedAt: number,
  workflowId: string,
  env: Environment,
  cutoverStartedAt: number | undefined,
): Summary {
  // The cutover window: from the start of CutoverDNS until the last client first resolved the new address.
  const sourceIp = new URL(env.sourceUrl).hostname;
  const firstNew = clients
    .map((c) => c.stats.resolutions.find((x) => !x.values.includes(sourceIp))?.at)
    .filter((x): x is number => x !== undefined);
  const cutFrom = cutoverStartedAt ?? endedAt;
  const cutTo = firstNew.length ? Math.max(...firstNew) : endedAt;
  const failures = clients.flatMap((c) => c.stats.failures);
  const outside = failures.filter((f) => f.at < cutFrom || f.at > cutTo).length;
  const latencyMs: Record<string, Record<string, number>> = {};
  const windows: [string, (t: number) => boolean][] = [
    ['before', (t) => t < startedAt],
    ['during', (t) => t >= startedAt && t <= endedAt],
    ['after', (t) => t > endedAt],
  ];
  for (const [w, inWindow] of windows) {
    const by = new Map<string, number[]>();
    for (const c of clients)
      for (const v of c.stats.versionChecks)
        if (inWindow(v.at)) by.set(`${v.from}→${v.to}`, [...(by.get(`${v.from}→${v.to}`) ?? []), v.ms]);
    latencyMs[w] = Object.fromEntries([...by].map(([k, xs]) => [k, median(xs)]));
  }
  return {
    status: r.status,
    shardsMoved: r.shardsOnTarget,
    bytesMoved: r.bytesMoved,
    phaseSeconds: r.phaseSeconds,
    clientOk: clients.reduce((a, c) => a + c.stats.ok, 0),
    clientFailed: clients.reduce((a, c) => a + c.stats.failed, 0),
    ackedWrites: clients.reduce((a, c) => a + c.stats.acked.length, 0),
    lostWrites: lost.length,
    cutoverWindowSeconds: Math.round((cutTo - cutFrom) / 100) / 10,
    failedOutsideCutover: outside,
    latencyMs,
    workflowId,
    webUi: env.temporal.uiUrl,
  };
}

function latencyTable(l: Record<string, Record<string, number>>): string {
  const pairs = [...new Set(Object.values(l).flatMap((x) => Object.keys(x)))].sort();
  const rows = pairs.map(
    (p) =>
      `  ${p.padEnd(8)} ${['before', 'during', 'after'].map((w) => String(l[w]?.[p] ?? '–').padStart(8)).join('')}`,
  );
  return [
    'version check (ms, median)  client → serving region',
    `  ${''.padEnd(8)}${['before', 'during', 'after'].map((w) => w.padStart(8)).join('')}`,
    ...rows,
  ].join('\n');
}

async function keepRunning(env: Environment, log: (s: string) => void): Promise<void> {
  const ui = await exposeOnHost(env, 8233);
  log(`--keep: everything stays up. Web UI: ${ui} (bridged from the demo's network namespace). Ctrl-C to stop.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.floor(s.length / 2)]!) : 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  const keep = process.argv.includes('--keep');
  runDemo({ json, keep, log: (s) => (json ? process.stderr : process.stdout).write(`${s}\n`) })
    .then((s) => {
      if (json) process.stdout.write(`${JSON.stringify(s)}\n`);
      process.exit(s.status === 'completed' && s.lostWrites === 0 ? 0 : 1);
    })
    .catch((e) => {
      console.error(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : e}`);
      process.exit(1);
    });
}
