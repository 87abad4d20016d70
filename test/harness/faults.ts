/**
 * Faults injected into a live end-to-end migration (scripts/fault-matrix.ts, test/fault-matrix.test.ts), and what
 * they cost, measured from the cluster itself:
 *
 * - member kills: SIGKILL of the member process of a pod (a source or target DB server, the agency leader, a
 *   coordinator). The test kubelet sees the container exit and restarts it (restartPolicy Always, back-off 1 s,
 *   2 s, 4 s …), as a real kubelet does with a crashed container; the data directory (PVC) survives. The fault
 *   lasts until the kubelet reports the pod Ready again.
 * - `bridge`: the load balancer proxies of Transit's bridge LoadBalancer Service (both clusters) go down for
 *   `bridgeSeconds` (default 30): open connections are reset and new ones are reset at once (a refusing LB, not
 *   a black hole: there is no packet filter in the network namespace).
 * - `bind-primary`: the BIND primary's `named` is stopped (SIGTERM) for `bindSeconds` and started again; the
 *   secondary keeps serving.
 *
 * The shard sampler (`AgencySampler`) reads Plan and Current from the agency leader every ~200 ms with its own
 * HTTP client (not Transit's activities) and probes every DB server pod (`GET /_api/version` on its pod IP,
 * 500 ms timeout). A shard has a serving leader when Plan's leader is Current's leader and that server answers;
 * the longest stretch any shard spent without one is the figure. While no agent answers a read, the last Plan
 * and Current are kept (the time the agency was unreadable is reported on its own).
 */
import { request } from 'node:http';
import { CoreV1Api } from '@kubernetes/client-node';
import { mintSuperuserJwt } from '../../src/activities/agency';
import { TransitClient } from '../../src/client';
import { PHASES, type MigrationProgress, type MigrationReport } from '../../src/shared/types';
import { DEPLOYMENT, NAMESPACE, SEED, startEnvironment, type Environment } from './environment';
import { loadSummary, mixedClients, type LoadClient } from './load';
import type { Region } from './network';
import { sleep } from './procs';

export const FAULT_KINDS = [
  'source-dbserver',
  'target-dbserver',
  'agency-leader',
  'coordinator',
  'bridge',
  'bind-primary',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const FAULT_PHASES = [
  'BridgeNetworks',
  'ProvisionTarget',
  'MoveShards-early',
  'MoveShards-late',
  'MoveAgents',
  'CutoverDNS',
] as const;
export type FaultPhase = (typeof FAULT_PHASES)[number];

/** Fraction of shards done (progress query) that counts as "early" / "late" in MoveShards. */
export const EARLY = 0.1;
export const LATE = 0.7;

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});

function call(
  ip: string,
  path: string,
  token: string,
  o: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = request(
      {
        host: ip,
        port: 8529,
        path,
        method: o.method ?? 'GET',
        timeout: o.timeoutMs ?? 1000,
        agent: false,
        headers: {
          authorization: `bearer ${token}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

export interface PodRef {
  cluster: Region;
  name: string;
  role: string;
  podIP: string;
  /** Member ID the pod answered (`/_admin/server/id`), '' until it did. */
  id: string;
}

/** Running member pods of the namespace in both clusters (API server lists), with their roles. */
export async function listMemberPods(env: Environment): Promise<PodRef[]> {
  const out: PodRef[] = [];
  for (const c of env.clusters.all) {
    const list = await c.kubeConfig('admin').makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NAMESPACE });
    for (const p of list.items) {
      if (!p.status?.podIP || p.metadata?.deletionTimestamp || p.status.phase !== 'Running') continue;
      const role = p.metadata?.labels?.role;
      if (!role) continue;
      out.push({ cluster: c.region, name: p.metadata!.name!, role, podIP: p.status.podIP, id: '' });
    }
  }
  return out;
}

interface ShardState {
  /** Since when the shard has had no serving leader (undefined: it has one). */
  downSince?: number;
  /** Why at the start of the stretch, and why at the last sample (a stretch can change cause). */
  why?: string;
  whyNow?: string;
}

/** The cause of a stretch: the first one, and the last one when it changed. */
const cause = (s: ShardState): string =>
  s.whyNow && s.whyNow !== s.why ? `${s.why ?? ''}, later ${s.whyNow}` : (s.why ?? '');

export interface NoLeaderStretch {
  shard: string;
  ms: number;
  from: number;
  why: string;
}

/**
 * Samples Plan/Current every `intervalMs` from whichever agent answers (followers answer 307, skipped) and probes
 * every DB server pod; keeps, per shard, the stretches without a serving leader.
 */
export class AgencySampler {
  private pods: PodRef[] = [];
  private idByPod = new Map<string, string>();
  private alive = new Map<string, boolean>();
  private shards = new Map<string, ShardState>();
  readonly stretches: NoLeaderStretch[] = [];
  private plan: Record<string, string[]> = {};
  private current: Record<string, string[]> = {};
  /** The agent pod that answered the last read (the agency leader). */
  leaderPod: PodRef | undefined;
  private unreadableSince: number | undefined;
  readonly unreadable: { from: number; ms: number }[] = [];
  samples = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private lastPodRefresh = 0;
  private readonly token: string;

  constructor(
    private readonly env: Environment,
    private readonly intervalMs = 200,
  ) {
    this.token = mintSuperuserJwt(env.jwt);
  }

  /** Member ID → pod (DB servers, agents, coordinators that answered). */
  podOf(id: string): PodRef | undefined {
    return this.pods.find((p) => this.idByPod.get(`${p.cluster}/${p.name}`) === id.replace(/^_/, ''));
  }

  members(): PodRef[] {
    return this.pods.map((p) => ({ ...p, id: this.idByPod.get(`${p.cluster}/${p.name}`) ?? '' }));
  }

  /** Shards each DB server leads in the last Plan read. */
  leaderCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const servers of Object.values(this.plan)) if (servers[0]) m.set(servers[0], (m.get(servers[0]) ?? 0) + 1);
    return m;
  }

  async start(): Promise<void> {
    await this.refreshPods(true);
    await this.tick();
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now();
        await this.tick().catch(() => undefined);
        await sleep(Math.max(0, this.intervalMs - (Date.now() - t0)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    const now = Date.now();
    for (const [shard, s] of this.shards) {
      if (s.downSince !== undefined)
        this.stretches.push({ shard, ms: now - s.downSince, from: s.downSince, why: cause(s) });
      s.downSince = undefined;
    }
    if (this.unreadableSince !== undefined)
      this.unreadable.push({ from: this.unreadableSince, ms: now - this.unreadableSince });
    this.unreadableSince = undefined;
  }

  /** Longest stretch without a serving leader that overlaps [from, to]. */
  longest(from = 0, to = Infinity): NoLeaderStretch | undefined {
    const now = Date.now();
    const open = [...this.shards]
      .filter(([, s]) => s.downSince !== undefined)
      .map(([shard, s]) => ({ shard, ms: now - s.downSince!, from: s.downSince!, why: cause(s) }));
    return [...this.stretches, ...open]
      .filter((s) => s.from <= to && s.from + s.ms >= from)
      .sort((a, b) => b.ms - a.ms)[0];
  }

  /** Shards without a serving leader at the last sample, with why (for a failure message). */
  withoutLeaderNow(): string[] {
    return [...this.shards]
      .filter(([, st]) => st.downSince !== undefined)
      .map(([shard, st]) => `${shard}: ${st.whyNow ?? st.why ?? ''}`);
  }

  /** Every stretch without a serving leader of at least `minMs` (closed and open), oldest first. */
  stretchesOver(minMs: number): NoLeaderStretch[] {
    const now = Date.now();
    const open = [...this.shards]
      .filter(([, s]) => s.downSince !== undefined)
      .map(([shard, s]) => ({ shard, ms: now - s.downSince!, from: s.downSince!, why: cause(s) }));
    return [...this.stretches, ...open].filter((s) => s.ms >= minMs).sort((a, b) => a.from - b.from);
  }

  /** Reads agency paths from the agent that answered last (for a failure message); undefined if none answers. */
  async readPaths(paths: string[]): Promise<unknown[] | undefined> {
    const agents = this.pods.filter((p) => p.role === 'agent');
    for (const a of this.leaderPod ? [this.leaderPod, ...agents] : agents) {
      const r = await call(a.podIP, '/_api/agency/read', this.token, {
        method: 'POST',
        body: [paths],
        timeoutMs: 2000,
      }).catch(() => undefined);
      if (r?.status === 200 && Array.isArray(r.body)) return r.body;
    }
    return undefined;
  }

  longestUnreadableMs(from = 0, to = Infinity): number {
    return Math.max(0, ...this.unreadable.filter((u) => u.from <= to && u.from + u.ms >= from).map((u) => u.ms));
  }

  private async refreshPods(force = false): Promise<void> {
    if (!force && Date.now() - this.lastPodRefresh < 2000) return;
    this.lastPodRefresh = Date.now();
    this.pods = await listMemberPods(this.env).catch(() => this.pods);
    await Promise.all(
      this.pods.map(async (p) => {
        const k = `${p.cluster}/${p.name}`;
        if (this.idByPod.has(k)) return;
        const r = await call(p.podIP, '/_admin/server/id', this.token, { timeoutMs: 800 }).catch(() => undefined);
        const id = r?.status === 200 ? String(d(r.body).id ?? '') : '';
        if (id) this.idByPod.set(k, id);
      }),
    );
  }

  private async readAgency(): Promise<Dict | undefined> {
    const agents = this.pods.filter((p) => p.role === 'agent');
    const order = this.leaderPod
      ? [
          this.leaderPod,
          ...agents.filter((a) => a.name !== this.leaderPod!.name || a.cluster !== this.leaderPod!.cluster),
        ]
      : agents;
    for (const a of order) {
      const r = await call(a.podIP, '/_api/agency/read', this.token, {
        method: 'POST',
        body: [['/arango/Plan/Collections', '/arango/Current/Collections']],
        timeoutMs: 800,
      }).catch(() => undefined);
      if (r?.status === 200 && Array.isArray(r.body)) {
        this.leaderPod = a;
        return d(d(r.body[0]).arango);
      }
    }
    return undefined;
  }

  private async tick(): Promise<void> {
    void this.refreshPods().catch(() => undefined);
    const dbPods = this.pods.filter((p) => p.role === 'dbserver');
    const [read] = await Promise.all([
      this.readAgency(),
      ...dbPods.map(async (p) => {
        const r = await call(p.podIP, '/_api/version', this.token, { timeoutMs: 500 }).catch(() => undefined);
        this.alive.set(`${p.cluster}/${p.name}`, r?.status === 200);
      }),
    ]);
    const now = Date.now();
    if (read) {
      if (this.unreadableSince !== undefined)
        this.unreadable.push({ from: this.unreadableSince, ms: now - this.unreadableSince });
      this.unreadableSince = undefined;
      const plan: Record<string, string[]> = {};
      const current: Record<string, string[]> = {};
      const dbs = SEED.map((x) => x.database) as string[];
      for (const [db, colls] of Object.entries(d(d(read.Plan).Collections))) {
        if (!dbs.includes(db)) continue;
        for (const [cid, coll] of Object.entries(d(colls))) {
          for (const [shard, servers] of Object.entries(d(d(coll).shards))) {
            const name = `${db}/${String(d(coll).name)}/${shard}`;
            plan[name] = (servers as unknown[]).map(String);
            const cur = d(d(d(d(read.Current).Collections)[db])[cid])[shard];
            const cs = d(cur).servers;
            current[name] = Array.isArray(cs) ? cs.map(String) : [];
          }
        }
      }
      this.plan = plan;
      this.current = current;
    } else if (this.unreadableSince === undefined) this.unreadableSince = now;
    this.samples++;
    for (const [shard, servers] of Object.entries(this.plan)) {
      const leader = servers[0] ?? '';
      const cur = this.current[shard] ?? [];
      const pod = this.podOf(leader);
      let why = '';
      if (!leader || leader.startsWith('_')) why = `Plan leader ${leader || 'none'}`;
      else if (cur[0] !== leader) why = `Current leader ${cur[0] ?? 'none'} ≠ Plan leader ${leader}`;
      else if (!pod) why = `no pod answers for leader ${leader}`;
      else if (!this.alive.get(`${pod.cluster}/${pod.name}`)) why = `leader ${leader} (${pod.name}) does not answer`;
      const s = this.shards.get(shard) ?? {};
      this.shards.set(shard, s);
      if (why && s.downSince === undefined) Object.assign(s, { downSince: now, why, whyNow: why });
      else if (why) s.whyNow = why;
      else if (s.downSince !== undefined) {
        this.stretches.push({ shard, ms: now - s.downSince, from: s.downSince, why: cause(s) });
        s.downSince = undefined;
        s.why = undefined;
        s.whyNow = undefined;
      }
    }
  }
}

// ------------------------------------------------------------------ faults

export interface Injection {
  kind: FaultKind;
  phase: FaultPhase;
}

export interface InjectedFault extends Injection {
  /** What was hit: pod and member ID, LB addresses, the BIND server. */
  target: string;
  /** Strings a park message naming this fault would contain (IDs, pod names, addresses). */
  names: string[];
  injectedAt: number;
  /** Where the migration was when the fault was injected. */
  injectedIn: string;
  clearedAt?: number;
  note?: string;
}

const killKinds: Record<string, { role: string; cluster: Region | 'agency' }> = {
  'source-dbserver': { role: 'dbserver', cluster: 'eu' },
  'target-dbserver': { role: 'dbserver', cluster: 'us' },
  coordinator: { role: 'coordinator', cluster: 'eu' },
  'agency-leader': { role: 'agent', cluster: 'agency' },
};

export interface FaultOptions {
  bridgeSeconds?: number;
  bindSeconds?: number;
  /**
   * Member kills: keep the member dead this long (a crash loop: every container the kubelet restarts meanwhile is
   * killed again at once, before it serves), then let the kubelet's next restart stand. Default 0: killed once.
   */
  deadSeconds?: number;
}

/**
 * Injects one fault and resolves once it is cleared (member back Ready, LB up again, named restarted). Returns
 * the record at once through `onInjected` so the caller can attribute parks to it.
 */
export async function injectFault(
  env: Environment,
  sampler: AgencySampler,
  inj: Injection,
  where: string,
  o: FaultOptions,
  onInjected: (f: InjectedFault) => void,
  whereNow: () => string = () => where,
): Promise<InjectedFault> {
  const k = killKinds[inj.kind];
  if (k) {
    let pod: PodRef | undefined;
    // A target DB server may still be starting (ProvisionTarget): wait for one that answers with its ID.
    for (let i = 0; i < 600 && !pod; i++) {
      const members = sampler.members().filter((p) => p.role === k.role && p.id);
      if (k.cluster === 'agency')
        pod =
          sampler.leaderPod &&
          members.find((p) => p.name === sampler.leaderPod!.name && p.cluster === sampler.leaderPod!.cluster);
      else {
        const counts = sampler.leaderCounts();
        // The member that leads most shards (DB servers), else the first by name.
        pod = members
          .filter((p) => p.cluster === k.cluster)
          .sort((a, b) => (counts.get(b.id) ?? 0) - (counts.get(a.id) ?? 0) || a.name.localeCompare(b.name))[0];
      }
      if (!pod) await sleep(200);
    }
    if (!pod) throw new Error(`${inj.kind}: no ${k.role} pod to kill in ${where}`);
    const ctl = env.clusters.get(pod.cluster).controller!;
    const m = ctl.members().find((x) => x.namespace === NAMESPACE && x.name === pod!.name);
    if (!m?.pid) throw new Error(`${inj.kind}: the kubelet runs no member for ${pod.cluster}/${pod.name}`);
    const restarts = m.restarts;
    const at = whereNow();
    const f: InjectedFault = {
      ...inj,
      target: `${pod.cluster}/${pod.name} ${pod.id} pid ${m.pid}`,
      names: [pod.id, pod.name, pod.podIP],
      injectedAt: Date.now(),
      injectedIn: at,
    };
    // A target DB server exists only from ProvisionTarget on: the first one is killed as soon as it answers.
    if (at.split(' ')[0] !== where.split(' ')[0])
      f.note = `no ${k.role} in ${k.cluster} when the phase was reached (${where}): killed the first that answered, in ${at}`;
    process.kill(m.pid, 'SIGKILL');
    onInjected(f);
    let kills = 1;
    const deadUntil = f.injectedAt + (o.deadSeconds ?? 0) * 1000;
    for (let last = m.pid; Date.now() < deadUntil; await sleep(20)) {
      const now = ctl.members().find((x) => x.namespace === NAMESPACE && x.name === pod.name);
      if (now?.pid && now.pid !== last) {
        last = now.pid;
        process.kill(now.pid, 'SIGKILL');
        kills++;
      }
    }
    if (kills > 1 || o.deadSeconds)
      f.note = [f.note, `kept dead ${o.deadSeconds} s (${kills} kills: a crash loop)`].filter(Boolean).join('; ');
    // The kubelet restarts the container; the fault lasts until the pod is Ready again.
    for (let i = 0; i < 1200; i++) {
      const now = ctl.members().find((x) => x.namespace === NAMESPACE && x.name === pod.name);
      if (!now) {
        f.note = 'pod gone (deleted)';
        break;
      }
      if (now.restarts > restarts && now.ready) break;
      await sleep(100);
    }
    f.clearedAt = Date.now();
    f.note = [f.note, `kubelet restarted the member after ${((f.clearedAt - f.injectedAt) / 1000).toFixed(1)} s`]
      .filter(Boolean)
      .join('; ');
    return f;
  }
  if (inj.kind === 'bridge') {
    const seconds = o.bridgeSeconds ?? 30;
    const svc = `${DEPLOYMENT}-transit-bridge`;
    const ips = env.clusters.all
      .map((c) => c.controller!.loadBalancerIp(NAMESPACE, svc))
      .filter((x): x is string => !!x);
    const f: InjectedFault = {
      ...inj,
      target: `LoadBalancer ${NAMESPACE}/${svc} in eu and us (${ips.join(', ') || 'not yet created'})`,
      names: [svc, 'bridge', ...ips],
      injectedAt: Date.now(),
      injectedIn: where,
    };
    const dropped = env.clusters.all.reduce((a, c) => a + c.controller!.setLoadBalancerDown(NAMESPACE, svc, true), 0);
    onInjected(f);
    await sleep(seconds * 1000);
    for (const c of env.clusters.all) c.controller!.setLoadBalancerDown(NAMESPACE, svc, false);
    f.clearedAt = Date.now();
    f.note = `down ${seconds} s; ${dropped} open connections dropped`;
    return f;
  }
  const seconds = o.bindSeconds ?? 30;
  const f: InjectedFault = {
    ...inj,
    target: `BIND primary ${env.bind.primary}`,
    names: [env.bind.primary, String(env.bind.primaryPort), 'primary', 'DNS', 'dns', 'nsupdate'],
    injectedAt: Date.now(),
    injectedIn: where,
  };
  await env.bind.stopServer('primary');
  onInjected(f);
  await sleep(seconds * 1000);
  await env.bind.startServer('primary');
  f.clearedAt = Date.now();
  f.note = `named stopped ${seconds} s, then started again (the secondary served throughout)`;
  return f;
}

/** Where the migration is, as the fault phases name it; null when in none of them. */
export function faultPhaseOf(p: MigrationProgress): FaultPhase | null {
  if (p.direction !== 'forward') return null;
  if (p.phase === 'MoveShards') {
    const frac = p.shardsTotal ? p.shardsDone / p.shardsTotal : 0;
    return frac >= LATE ? 'MoveShards-late' : frac >= EARLY ? 'MoveShards-early' : null;
  }
  return (FAULT_PHASES as readonly string[]).includes(p.phase) ? (p.phase as FaultPhase) : null;
}

const order = (x: FaultPhase) => FAULT_PHASES.indexOf(x);
/** Position of the migration on the fault phases' scale (before BridgeNetworks: -1; past CutoverDNS or backward: 99). */
function phaseIndex(p: MigrationProgress): number {
  if (p.direction !== 'forward') return 99;
  const fp = faultPhaseOf(p);
  if (fp) return order(fp);
  if (p.phase === 'MoveShards') return order('MoveShards-early') - 0.5; // under 10 % done
  return PHASES.indexOf(p.phase) < PHASES.indexOf('BridgeNetworks') ? -1 : 99;
}

// ------------------------------------------------------------------ one run

export type Outcome = 'completed' | 'parked' | 'rolled back' | 'aborted' | 'failed' | 'stuck';

export interface Park {
  at: number;
  phase: string;
  message: string;
  /** The fault injected last before the park (undefined: none yet). */
  fault?: FaultKind;
  resumed: boolean;
}

export interface FaultRunResult {
  outcome: Outcome;
  /** The message of the park that ended the run (outcome parked). */
  parkedMessage: string | null;
  parks: Park[];
  faults: (InjectedFault & {
    maxNoLeaderSeconds: number;
    maxNoLeaderShard: string | null;
    maxNoLeaderWhy: string | null;
    agencyUnreadableSeconds: number;
    clientFailures: number;
    skipped?: string;
  })[];
  maxNoLeaderSeconds: number;
  maxNoLeaderShard: string | null;
  acked: number;
  lost: number;
  wrong: number;
  resurrected: number;
  anomalies: string[];
  clientFailures: number;
  samples: number;
  migrationSeconds: number;
  runSeconds: number;
  report: Pick<
    MigrationReport,
    'status' | 'shardsOnSource' | 'shardsOnTarget' | 'shardsTotal' | 'dnsValues' | 'phaseSeconds'
  > | null;
}

export interface FaultRunOptions extends FaultOptions {
  /** Faults in the order of their phases; each is injected once the previous one is cleared. */
  injections: Injection[];
  /** Give up on a migration after this long (outcome 'stuck'). */
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Clients per region (mixed workload of the load harness) and their total rate. */
  clientsPerRegion?: number;
  opsPerSecond?: number;
}

/**
 * A fresh environment, one migration under client load, the faults injected as the migration reaches their
 * phases. A park is resumed once the fault active at the time is cleared (one resume per fault); a second park
 * after that resume ends the run as 'parked'. Everything is stopped before it returns.
 */
export async function runFaultRun(o: FaultRunOptions): Promise<FaultRunResult> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const env = await startEnvironment({ wan: { inRegionMs: 2, crossRegionMs: 20 }, dnsTtl: 2 });
  let clients: LoadClient[] = [];
  const sampler = new AgencySampler(env);
  let client: TransitClient | undefined;
  try {
    log(`environment up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await env.spawnWorker('transit', 'worker-0');
    await sampler.start();
    clients = mixedClients({
      perRegion: o.clientsPerRegion ?? 2,
      dnsServers: env.bind.servers,
      hostname: 'db.example.test',
      database: 'load',
      collection: 'acks',
      authorization: `bearer ${mintSuperuserJwt(env.jwt)}`,
      opsPerSecond: o.opsPerSecond ?? 80,
      firstIndex: 10,
    });
    clients.forEach((c) => c.start());
    client = await TransitClient.connect({ address: env.temporal.address });
    const { workflowId } = await client.startMigration(env.spec);
    const m0 = Date.now();
    const todo = [...o.injections];
    const done: InjectedFault[] = [];
    let active: { fault?: InjectedFault; promise: Promise<InjectedFault> } | null = null;
    const resumedFor = new Set<string>();
    const parks: Park[] = [];
    let outcome: Outcome | null = null;
    let parkedMessage: string | null = null;
    let report: MigrationReport | null = null;
    let last: MigrationProgress | null = null;
    const whereNow = () =>
      last
        ? `${last.phase}${last.phase === 'MoveShards' ? ` ${last.shardsDone}/${last.shardsTotal} shards` : ''}`
        : '?';
    const lastFault = (): InjectedFault | undefined => active?.fault ?? done[done.length - 1];
    while (!outcome) {
      const p = await client.getProgress(workflowId).catch(() => null);
      if (p && p.phase !== last?.phase)
        log(
          `phase ${p.phase} at +${((Date.now() - m0) / 1000).toFixed(1)} s (${p.status}${p.paused ? ', paused' : ''})`,
        );
      if (p) last = p;
      if (p && ['completed', 'rolledBack', 'aborted', 'failed'].includes(p.status)) {
        report = await client.result(workflowId).catch(() => null);
        outcome = (
          { completed: 'completed', rolledBack: 'rolled back', aborted: 'aborted', failed: 'failed' } as const
        )[p.status as 'completed'];
        break;
      }
      if (active?.fault?.clearedAt) {
        done.push(active.fault);
        active = null;
      }
      // The next fault, once its phase is reached (or passed: injected at once, noted) and the previous one cleared.
      if (p && !active && todo.length && !p.paused) {
        const next = todo[0]!;
        const here = phaseIndex(p);
        if (here >= order(next.phase)) {
          todo.shift();
          const where = `${p.phase}${p.phase === 'MoveShards' ? ` ${p.shardsDone}/${p.shardsTotal} shards` : ''}`;
          const late =
            faultPhaseOf(p) !== next.phase ? `injected late: the migration was already in ${where}` : undefined;
          log(`injecting ${next.kind} (${next.phase}) in ${where}`);
          const slot: { fault?: InjectedFault; promise: Promise<InjectedFault> } = {
            promise: Promise.resolve(null as never),
          };
          slot.promise = injectFault(
            env,
            sampler,
            next,
            where,
            o,
            (f) => {
              if (late) f.note = [f.note, late].filter(Boolean).join('; ');
              slot.fault = f;
              log(`  injected: ${f.target}`);
            },
            whereNow,
          ).then(
            (f) => {
              log(
                `  cleared: ${f.kind} after ${(((f.clearedAt ?? Date.now()) - f.injectedAt) / 1000).toFixed(1)} s (${f.note ?? ''})`,
              );
              return f;
            },
            (e) => {
              const f: InjectedFault = slot.fault ?? {
                ...next,
                target: 'none',
                names: [],
                injectedAt: Date.now(),
                injectedIn: where,
              };
              f.clearedAt = Date.now();
              f.note = `not injected: ${(e as Error).message}`;
              slot.fault = f;
              log(`  ${f.note}`);
              return f;
            },
          );
          active = slot;
        }
      }
      if (p?.paused && p.status === 'paused') {
        const msg = p.lastError ?? '(paused without a message)';
        const f = lastFault();
        const prev = parks[parks.length - 1];
        if (!prev || prev.resumed) {
          parks.push({ at: Date.now(), phase: p.phase, message: msg, fault: f?.kind, resumed: false });
          log(`parked in ${p.phase}: ${msg}`);
        }
        const park = parks[parks.length - 1]!;
        // Resume once per fault, after it is cleared (and the cluster had a few seconds); a second park ends the run.
        const key = f ? `${f.kind}@${f.phase}` : 'none';
        const cleared = !active || !!active.fault?.clearedAt;
        if (cleared && Date.now() - (f?.clearedAt ?? 0) > 3000) {
          if (resumedFor.has(key)) {
            outcome = 'parked';
            parkedMessage = msg;
            break;
          }
          resumedFor.add(key);
          park.resumed = true;
          log(`  resuming (after ${key} cleared)`);
          await client.resume(workflowId, { reason: `fault matrix: ${key} cleared` }).catch(() => undefined);
        }
      }
      if (Date.now() - m0 > (o.timeoutMs ?? 600_000)) {
        outcome = 'stuck';
        parkedMessage = `still ${last?.status} in ${last?.phase} after ${Math.round((o.timeoutMs ?? 600_000) / 1000)} s: ${last?.lastError ?? ''}`;
        break;
      }
      await sleep(200);
    }
    const migrationSeconds = (Date.now() - m0) / 1000;
    if (active) done.push(await active.promise);
    // Faults whose phase never came (the run ended first).
    for (const x of todo)
      done.push({
        ...x,
        target: 'none',
        names: [],
        injectedAt: Date.now(),
        injectedIn: 'never',
        clearedAt: Date.now(),
        note: 'not injected: the run ended before its phase',
      });
    log(
      `outcome: ${outcome} after ${migrationSeconds.toFixed(1)} s in ${whereNow()}${parkedMessage ? `: ${parkedMessage}` : ''}`,
    );
    await sleep(3000);
    await Promise.all(clients.map((c) => c.stop()));
    const leaderless = sampler.withoutLeaderNow();
    if (outcome === 'stuck' || leaderless.length) {
      // What supervision was doing: the jobs and locks (a stuck job or a leaked lock shows here).
      const r = await sampler
        .readPaths([
          '/arango/Target/ToDo',
          '/arango/Target/Pending',
          '/arango/Supervision/Shards',
          '/arango/Supervision/DBServers',
          '/arango/Supervision/Health',
          '/arango/Target/FailedServers',
        ])
        .catch(() => undefined);
      log(`agency at the end: ${r ? JSON.stringify(d(r[0]).arango) : 'unreadable'}`);
    }
    await sampler.stop();
    // Every stretch of 3 s or more (shards that lost their leader together on one line): a run that passes but was
    // slow shows here what a failing one shows at the end.
    const groups = new Map<string, NoLeaderStretch[]>();
    for (const s of sampler.stretchesOver(3000)) {
      const k = `${(s.ms / 1000).toFixed(1)} s from +${((s.from - m0) / 1000).toFixed(1)} s`;
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    for (const [k, ss] of groups)
      log(
        `no serving leader ${k}: ${ss.length} shard(s): ${ss
          .slice(0, 3)
          .map((s) => `${s.shard} (${s.why})`)
          .join('; ')}${ss.length > 3 ? '; …' : ''}`,
      );
    log(`load: ${JSON.stringify(loadSummary(clients))}`);
    if (leaderless.length) log(`shards without a serving leader at the end: ${leaderless.join('; ')}`);
    const checks = await Promise.all(clients.map((c) => c.verifyState())).catch((e: Error) => {
      // Say how the run ended: a read-back failure alone hides a stuck migration or a leaderless shard.
      throw new Error(
        `${e.message} (the migration ended ${outcome} in ${whereNow()}${parkedMessage ? `: ${parkedMessage}` : ''}; ` +
          `shards without a serving leader at the end: ${leaderless.length ? leaderless.join('; ') : 'none'})`,
      );
    });
    const failures = clients.flatMap((c) => c.stats.failures);
    const longest = sampler.longest();
    const faults = done.map((f, i) => {
      const from = f.injectedAt;
      const to = done[i + 1]?.injectedAt ?? Date.now();
      const l = sampler.longest(from, to);
      return {
        ...f,
        maxNoLeaderSeconds: l ? l.ms / 1000 : 0,
        maxNoLeaderShard: l?.shard ?? null,
        maxNoLeaderWhy: l?.why ?? null,
        agencyUnreadableSeconds: sampler.longestUnreadableMs(from, to) / 1000,
        clientFailures: failures.filter((x) => x.at >= from && x.at <= to).length,
      };
    });
    return {
      outcome,
      parkedMessage,
      parks,
      faults,
      maxNoLeaderSeconds: longest ? longest.ms / 1000 : 0,
      maxNoLeaderShard: longest?.shard ?? null,
      acked: clients.reduce(
        (a, c) =>
          a +
          Object.entries(c.stats.ops ?? {})
            .filter(([k]) => k !== 'read')
            .reduce((x, [, v]) => x + v, 0),
        0,
      ),
      lost: checks.reduce((a, c) => a + c.lost.length, 0),
      wrong: checks.reduce((a, c) => a + c.wrong.length, 0),
      resurrected: checks.reduce((a, c) => a + c.resurrected.length, 0),
      anomalies: clients.flatMap((c) => c.stats.anomalies ?? []),
      clientFailures: failures.length,
      samples: sampler.samples,
      migrationSeconds,
      runSeconds: (Date.now() - t0) / 1000,
      report: report && {
        status: report.status,
        shardsOnSource: report.shardsOnSource,
        shardsOnTarget: report.shardsOnTarget,
        shardsTotal: report.shardsTotal,
        dnsValues: report.dnsValues,
        phaseSeconds: report.phaseSeconds,
      },
    };
  } finally {
    await sampler.stop().catch(() => undefined);
    for (const c of clients) {
      await c.stop().catch(() => undefined);
      c.close();
    }
    await client?.close().catch(() => undefined);
    await env.stop();
  }
}

/** Does a park message name this fault (the member's ID, pod or address; the bridge; the DNS primary)? */
export function namesFault(message: string, f: Pick<InjectedFault, 'names'>): boolean {
  return f.names.some((n) => n && message.includes(n));
}
