/**
 * `npm run demo`: a live migration of a (simulated) ArangoDB cluster from "eu" to "us" under client load.
 * Starts Temporal with its Web UI, two real Kubernetes API servers, the simulated cluster in eu, BIND and a
 * Transit worker (in eu's network: its version checks read in-region to eu and cross-region to us); runs clients
 * in both regions that resolve the name through DNS; migrates with a live progress display (bars on a terminal,
 * lines elsewhere); prints a summary and kubectl listings of both clusters at the end (scripts/kube-listings.ts).
 * The Web UI and the Temporal frontend are bridged to the host's loopback from the start (test/harness/host-bridge.ts).
 *
 *   npm run demo                 # human-readable
 *   npm run demo -- --json       # the summary as one JSON line
 *   npm run demo -- --keep       # leave everything running, print how to reach it with your own tools (Ctrl-C to stop)
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { KubeConfig } from '@kubernetes/client-node';
import { TransitClient } from '../src/client';
import { formatReport } from '../src/cli/commands/status';
import { createProgressDisplay, formatBytes, type ProgressDisplay } from '../src/cli/progress-display';
import { credentialReader } from '../src/activities';
import { mintSuperuserJwt } from '../src/activities/agency';
import { createProbeActivities } from '../src/activities/probes';
import type { MigrationReport } from '../src/shared/types';
import { NAMESPACE, startEnvironment, type Environment } from '../test/harness/environment';
import type { LoadClient } from '../test/harness/load';
import { exposeOnHost, type HostBridge } from '../test/harness/host-bridge';
import { workerAddress } from '../test/harness/network';
import { startWorker } from '../test/harness/worker';
import { quietRuntime, TEMPORAL_CLI } from '../test/harness/temporal';
import { kubeListings } from './kube-listings';

/** The region whose network the demo's worker sits in. */
export const DEMO_WORKER_REGION = 'eu';

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
  webUi: string;
}

/**
 * The worker's and the SDK's warnings: each one line on the demo's output (above the progress display while it
 * runs: a multi-line dump would tear it), in full in a log file. A warning here is real (an activity retried, a
 * slow workflow task on a busy machine), so it is shown, not dropped.
 */
function demoRuntimeLog(print: () => (s: string) => void): { file: string; count: () => number } {
  const file = join(mkdtempSync(join(tmpdir(), 'transit-demo-')), 'worker.log');
  let n = 0;
  const write = (e: LogEntry) => {
    const meta = e.meta ?? {};
    appendFileSync(file, `${new Date().toISOString()} ${e.level} ${e.message} ${inspect(meta, { depth: 4 })}\n`);
    n++;
    const err = meta.error as { name?: string; message?: string } | undefined;
    const what = meta.activityType ? ` (${String(meta.activityType)}, attempt ${String(meta.attempt)})` : '';
    const why = err ? `: ${err.name ?? 'Error'}: ${(err.message ?? '').split('\n')[0]}` : '';
    const line = `${e.message}${what}${why}`.replace(/\s+/g, ' ');
    print()(`worker ${e.level.toLowerCase()}: ${line.length > 240 ? `${line.slice(0, 239)}…` : line}`);
  };
  const level = (process.env.TRANSIT_TEST_LOG as 'INFO') ?? 'WARN';
  // The SDK core's own warnings too (by default it writes them straight to stderr, past this logger).
  quietRuntime({
    logger: new DefaultLogger(level, write),
    telemetryOptions: { logging: { forward: {}, filter: { core: level, other: 'ERROR' } } },
  });
  return { file, count: () => n };
}

export async function runDemo(o: { json: boolean; keep: boolean; log: (s: string) => void }): Promise<Summary> {
  let display: ProgressDisplay | null = null;
  const runtimeLog = demoRuntimeLog(() => (display ? (s) => display!.log(s) : o.log));
  // Say where the environment's addresses live: inside the demo's network namespace, not on the host.
  const inNetns = !!process.env.TRANSIT_NETNS;
  const envLog = (s: string) =>
    o.log(inNetns && s.startsWith('Temporal ') ? `${s} (inside the demo's network namespace)` : s);
  const env = await startEnvironment({ ui: true, wan: DEMO_WAN, dnsTtl: 5, log: envLog, documents: 100 });
  let client: TransitClient | null = null;
  let bridge: HostBridge | null = null;
  let worker: { stop(): Promise<void> } | null = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      display?.stop();
      await client?.close().catch(() => undefined);
      await worker?.stop().catch(() => undefined);
      await env.stop();
      await bridge?.stop().catch(() => undefined);
    })());
  // Ctrl-C (or SIGTERM): with --keep once the migration ended, stop keeping; before, stop everything and exit.
  let keeping: (() => void) | null = null;
  const interrupt = () => {
    if (keeping) return keeping();
    o.log('interrupted: stopping everything…');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  try {
    const host = await hostAddresses(env, inNetns, o.log);
    bridge = host.bridge;
    o.log(`Web UI (open it in your browser): ${host.ui}  ·  Temporal frontend: ${host.temporal}`);
    worker = await startDemoWorker(env);
    const clients = env.loadClients(2, { intervalMs: 100 });
    clients.forEach((c) => c.start());
    o.log(
      `worker in ${DEMO_WORKER_REGION}'s network; clients running in eu and us (resolving db.example.test through BIND); measuring the "before" latency…`,
    );
    await sleep(6000);
    client = await TransitClient.connect({ address: env.temporal.address });
    const startedAt = Date.now();
    const { workflowId } = await client.startMigration(env.spec);
    o.log(`migration started: ${workflowId} — watch it at ${host.ui}/namespaces/default/workflows/${workflowId}`);
    if (!o.json) display = createProgressDisplay();
    const report = await client.watch(workflowId, (p) => display?.update(p), { intervalMs: 1000 });
    display?.stop();
    display = null;
    const endedAt = Date.now();
    o.log('migration ended; measuring the "after" latency…');
    await sleep(8000);
    await Promise.all(clients.map((c) => c.stop()));
    const lost = (await Promise.all(clients.map((c) => c.verify()))).flat();
    const cutoverStartedAt = (await client.getProgress(workflowId)).phaseTimings.find(
      (t) => t.phase === 'CutoverDNS',
    )?.startedAt;
    const summary = summarise(report, clients, lost, startedAt, endedAt, workflowId, env, cutoverStartedAt, host.ui);
    if (!o.json) {
      o.log(formatReport(report));
      o.log(latencyTable(summary.latencyMs));
      o.log(
        `clients: ${summary.clientOk} ok, ${summary.clientFailed} failed (${summary.failedOutsideCutover} outside the ${summary.cutoverWindowSeconds} s cutover window); ${summary.ackedWrites} acknowledged writes, ${summary.lostWrites} lost; ${formatBytes(summary.bytesMoved)} moved`,
      );
    }
    if (runtimeLog.count()) o.log(`worker warnings: ${runtimeLog.count()}, in full in ${runtimeLog.file}`);
    // What each cluster holds at the end, as kubectl shows it (on stderr with --json).
    o.log(`both clusters at the end:\n${await kubeListings(env.clusters.kubeconfigPath, NAMESPACE)}`);
    if (o.keep)
      await keepRunning(
        env,
        host,
        report,
        workflowId,
        runtimeLog.count() ? runtimeLog.file : null,
        o.log,
        new Promise<void>((resolve) => (keeping = resolve)),
      );
    return summary;
  } finally {
    await cleanup();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/**
 * The demo's worker: the environment's real activities, with the version checks made from eu's network (bound to
 * the worker's eu address, so the WAN model delays them as eu traffic) and labelled with the worker's region.
 */
async function startDemoWorker(env: Environment): Promise<{ stop(): Promise<void> }> {
  const probes = createProbeActivities({
    readCredential: credentialReader({ kubeconfigPath: env.clusters.kubeconfigPath }),
    region: DEMO_WORKER_REGION,
    sourceAddress: workerAddress(DEMO_WORKER_REGION),
  });
  return startWorker({
    connection: await env.temporal.nativeConnection(),
    taskQueue: 'transit',
    activities: { ...env.activities(), ...probes },
  });
}

interface HostAddresses {
  ui: string;
  temporal: string;
  bridge: HostBridge | null;
}

/** The Web UI and the Temporal frontend as the host reaches them: bridged out of the network namespace. */
async function hostAddresses(env: Environment, inNetns: boolean, log: (s: string) => void): Promise<HostAddresses> {
  const inside = { ui: env.temporal.uiUrl!, temporal: env.temporal.address, bridge: null };
  if (!inNetns) return inside; // not in a namespace of our own: the host reaches them as they are
  try {
    const bridge = await exposeOnHost(env.dir, [
      { name: 'ui', port: env.temporal.ports.ui, hostPort: 8233 },
      { name: 'temporal', port: env.temporal.ports.grpc, hostPort: 7233 },
    ]);
    return { ui: `http://127.0.0.1:${bridge.ports.ui}`, temporal: `127.0.0.1:${bridge.ports.temporal}`, bridge };
  } catch (e) {
    log(
      `could not bridge the Web UI to the host (${(e as Error).message.split('\n')[0]}): it is reachable only inside the demo's network namespace`,
    );
    return inside;
  }
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
  webUi: string,
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
    webUi,
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

/**
 * --keep: everything stays up; what a person needs to poke at it with their own tools. Secrets go to files (a
 * superuser JWT, rewritten every 30 min since it expires after an hour; the TSIG key BIND uses), never to the
 * output.
 */
async function keepRunning(
  env: Environment,
  host: HostAddresses,
  report: MigrationReport,
  workflowId: string,
  workerLog: string | null,
  log: (s: string) => void,
  stopped: Promise<void>,
): Promise<void> {
  const jwtFile = join(env.dir, 'superuser.jwt');
  const writeJwt = () => writeFileSync(jwtFile, `${mintSuperuserJwt(env.jwt)}\n`, { mode: 0o600 });
  writeJwt();
  const refresh = setInterval(writeJwt, 30 * 60_000);
  const kc = new KubeConfig();
  kc.loadFromFile(env.clusters.kubeconfigPath);
  const contexts = kc.getContexts().map((c) => c.name);
  const coordinator = report.dnsValues[0] ? `http://${report.dnsValues[0]}:8529` : env.sourceUrl;
  const [primary, secondary] = env.bind.servers.map((s) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i), port: s.slice(i + 1) };
  });
  const ns = process.env.TRANSIT_NETNS;
  // Root needs no sudo; a user who ran the demo through sudo (scripts/netns-run does) does.
  const sudo = process.getuid?.() !== 0 || process.env.SUDO_USER ? 'sudo ' : '';
  const enter = ns ? `${sudo}ip netns exec ${ns}` : '';
  const inNs = (cmd: string) => (enter ? `${enter} ${cmd}` : cmd);
  log(
    [
      '--keep: everything stays up until Ctrl-C. To poke at it with your own tools:',
      `  Web UI          ${host.ui}/namespaces/default/workflows/${workflowId}`,
      `  Temporal        ${host.temporal} (from the host), namespace default, task queue transit`,
      `                  ${TEMPORAL_CLI} workflow describe --address ${host.temporal} -w ${workflowId}`,
      `                  bin/transit status ${workflowId} --once --address ${host.temporal}`,
      ns
        ? `  The rest lives in the demo's network namespace ${ns}; run a command there with \`${enter} <command>\` (a shell: \`${enter} bash\`):`
        : '  The rest:',
      `  kubeconfig      ${env.clusters.kubeconfigPath}, contexts ${contexts.join(', ')} (*-admin: cluster admin; eu, us: Transit's worker)`,
      `                  ${inNs(`kubectl --kubeconfig ${env.clusters.kubeconfigPath} --context us-admin -n ${NAMESPACE} get pods,svc`)}`,
      `  coordinators    ${coordinator} (what db.example.test points at now; before the migration ${env.sourceUrl})`,
      `  superuser JWT   ${jwtFile} (the file only; valid 1 h, rewritten every 30 min)`,
      `                  ${inNs(`sh -c 'curl -s -H "authorization: bearer $(cat ${jwtFile})" ${coordinator}/_api/version'`)}`,
      `  BIND            primary ${env.bind.servers[0]}, secondary ${env.bind.servers[1]}; zone example.test., record db.example.test.`,
      `                  ${inNs(`dig @${primary!.host} -p ${primary!.port} db.example.test A +short`)}   (secondary: -p ${secondary!.port})`,
      `  TSIG key file   ${env.bind.keyFile} (for nsupdate -k)`,
      `  spec            ${join(env.dir, 'spec.json')}`,
      `  logs            Temporal ${join(env.dir, 'temporal.log')}${workerLog ? `, worker warnings ${workerLog}` : ''}`,
    ].join('\n'),
  );
  await stopped;
  clearInterval(refresh);
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
