// A whole simulated cluster on loopback addresses (every member its own 127.x.y.z:port), started from a
// topology: agents, DB servers and coordinators either in this process (cheap; still one HTTP server per member,
// talking only over HTTP) or as one `node src/sim/arangod.ts` process each. Seeds databases, collections and
// documents through a coordinator's HTTP API, and offers what tests and the demo need: add DB servers and
// coordinators, stop/start any member, replace an agent (same ID, new address, fresh data directory), read and
// write the agency.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { configFromArgs, createMember, type SimMemberInstance, type MemberKind } from './args.js';
import { HttpClient, type HttpResult } from './net.js';
import { bearerHeader, signSuperuserJwt } from './jwt.js';
import { parseTopology, timingWithDefaults, type Topology, type TopologyInput } from './topology.js';
import { shardIndexForKey } from './hash.js';
import { asArray, asDict, inSyncLists, sortShards, type Dict } from './cluster-state.js';
import { Lifecycle } from './lifecycle.js';
import { AgencyClient } from './agency-client.js';
import { silentLogger } from './log.js';
import { pool } from './coordinator.js';
import type { DBServer } from './dbserver.js';

export interface SimClusterOptions {
  topology: TopologyInput | Topology;
  /** Root for data directories and the JWT secret file (default: a new temp directory). */
  dataDir?: string;
  /** Port every member listens on (each has its own address). Default 8529. */
  port?: number;
  /** First three octets of the members' loopback addresses (default: random 127.a.b). */
  ipPrefix?: string;
  /** One `node src/sim/arangod.ts` process per member instead of in-process members. */
  processes?: boolean;
  /** Sink for the members' log lines (default: none). */
  log?: (line: string) => void;
  /** Create the topology's databases, collections and documents (default true). */
  seed?: boolean;
}

export interface SimEndpoints {
  coordinators: string[];
  agents: { id: string; endpoint: string }[];
  dbServers: { id: string; shortName: string; endpoint: string }[];
  jwtSecretFile: string;
  dataDir: string;
}

const SIM_ENTRY = join(__dirname, 'arangod.ts');

/** One member: its address, data directory and arangod arguments; start/stop it independently. */
export class SimMember {
  id = '';
  instance?: SimMemberInstance;
  proc?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly kind: MemberKind,
    readonly ip: string,
    readonly port: number,
    readonly dataDir: string,
    readonly args: string[],
    private log?: (line: string) => void,
    private processes = false,
  ) {}

  get endpoint(): string {
    return `tcp://${this.ip}:${this.port}`;
  }

  get url(): string {
    return `http://${this.ip}:${this.port}`;
  }

  get running(): boolean {
    return this.processes
      ? Boolean(this.proc && this.proc.exitCode === null && this.proc.signalCode === null)
      : Boolean(this.instance);
  }

  async start(): Promise<void> {
    if (this.running) return;
    const env = {
      ...process.env,
      TRANSIT_SOURCE_ADDRESS: this.ip,
      TRANSIT_DNS_SERVER: '',
      TRANSIT_DNS_SEARCH: '',
      TRANSIT_LISTEN_ADDRESS: '',
      TRANSIT_ROOTFS: '',
    };
    if (!this.processes) {
      const cfg = configFromArgs(this.args, env);
      const m = createMember(cfg, this.log);
      await m.start();
      this.instance = m;
      this.id = m.id;
      return;
    }
    // TRANSIT_SIM_NODE_ARGS: extra node options for every member process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p",
    // which NODE_OPTIONS does not accept), for profiling the simulator itself.
    const nodeArgs = (process.env.TRANSIT_SIM_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', SIM_ENTRY, ...this.args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = child;
    liveChildren.add(child);
    this.exited = new Promise((r) => child.once('exit', () => (liveChildren.delete(child), r())));
    let partial = '';
    const onData = (b: Buffer): void => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l) this.log?.(l);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  /** Stops the member abruptly (in-process: drop every connection and timer; process: SIGKILL). */
  async stop(): Promise<void> {
    if (this.instance) {
      const m = this.instance;
      this.instance = undefined;
      await m.stop();
    }
    if (this.proc && this.running) {
      // Profiling (TRANSIT_SIM_NODE_ARGS): SIGTERM first, so that node writes what it was asked to at exit.
      if (process.env.TRANSIT_SIM_NODE_ARGS) {
        this.proc.kill('SIGTERM');
        await Promise.race([this.exited, new Promise((r) => setTimeout(r, 10_000))]);
      }
      if (this.running) this.proc.kill('SIGKILL');
      await this.exited;
    }
    this.proc = undefined;
  }

  /** The in-process DB server (for tests that look at stored documents). */
  get dbServer(): DBServer | undefined {
    return this.kind === 'dbserver' ? (this.instance as DBServer | undefined) : undefined;
  }
}

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

export class SimCluster {
  readonly agents: SimMember[] = [];
  readonly dbServers: SimMember[] = [];
  readonly coordinators: SimMember[] = [];
  readonly topology: Topology;
  readonly root: string;
  readonly jwtSecretFile: string;
  readonly jwtSecret: string;
  readonly http: HttpClient;
  private lc = new Lifecycle();
  private agencyClient: AgencyClient;
  private nextIp = 1;
  private ipPrefix: string;
  private port: number;
  private ownsRoot: boolean;

  private constructor(private o: SimClusterOptions) {
    this.topology = parseTopology(o.topology);
    this.ownsRoot = !o.dataDir;
    this.root = o.dataDir ?? mkdtempSync(join(tmpdir(), 'transit-sim-'));
    mkdirSync(this.root, { recursive: true });
    this.jwtSecret = randomBytes(24).toString('hex');
    this.jwtSecretFile = join(this.root, 'jwt-secret');
    writeFileSync(this.jwtSecretFile, this.jwtSecret, { mode: 0o600 });
    this.ipPrefix = o.ipPrefix ?? `127.${20 + Math.floor(Math.random() * 200)}.${1 + Math.floor(Math.random() * 250)}`;
    this.port = o.port ?? 8529;
    this.http = new HttpClient({}, bearerHeader(this.jwtSecret, 'transit-sim-harness'));
    this.agencyClient = new AgencyClient(this.http, [], this.lc, silentLogger);
  }

  static async start(o: SimClusterOptions): Promise<SimCluster> {
    const c = new SimCluster(o);
    try {
      await c.boot();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** A superuser JWT for clients (arangojs `auth: { token }`). */
  jwt(): string {
    return signSuperuserJwt(this.jwtSecret, 'transit-sim-client');
  }

  get coordinatorUrl(): string {
    return this.coordinators.find((c) => c.running)?.url ?? this.coordinators[0].url;
  }

  private timing(): ReturnType<typeof timingWithDefaults> {
    return timingWithDefaults(this.topology.timing);
  }

  private timingArgs(): string[] {
    const t = this.timing();
    return [
      '--agency.supervision-ok-threshold',
      String(t.okThreshold),
      '--agency.supervision-grace-period',
      String(t.gracePeriod),
      '--agency.supervision-frequency',
      String(t.supervisionFrequency),
      '--agency.election-timeout-min',
      String(t.electionTimeoutMin),
      '--agency.election-timeout-max',
      String(t.electionTimeoutMax),
      '--sim.supervision-startup-grace',
      String(t.startupGrace),
      '--sim.heartbeat-interval',
      String(t.heartbeatMs / 1000),
      '--sim.leader-retry-seconds',
      String(t.leaderRetrySeconds),
      '--sim.remove-server-seconds',
      String(t.removeServerSeconds),
      '--agency.compaction-step-size',
      String(t.compactionStep),
      '--sim.failed-leader-timeout',
      String(t.failedLeaderTimeout),
      '--sim.move-shard-timeout',
      String(t.moveShardTimeout),
      '--sim.move-shard-follower-timeout',
      String(t.moveShardFollowerTimeout),
      '--agency.supervision-expired-servers-grace-period',
      String(t.expiredServersGrace),
      ...(process.env.TRANSIT_SIM_DEBUG ? ['--sim.debug', 'true'] : []),
    ];
  }

  private allocIp(): string {
    if (this.nextIp > 254) throw new Error('out of loopback addresses for this simulated cluster');
    return `${this.ipPrefix}.${this.nextIp++}`;
  }

  private agentArgs(ip: string, id: string, peers: string[], dataDir: string): string[] {
    const ep = `tcp://${ip}:${this.port}`;
    return [
      '--server.endpoint',
      ep,
      '--agency.activate',
      'true',
      '--agency.size',
      String(this.topology.agents),
      '--agency.my-address',
      ep,
      '--agency.supervision',
      'true',
      '--agency.disaster-recovery-id',
      id,
      ...peers.filter((p) => p !== ep).flatMap((p) => ['--agency.endpoint', p]),
      '--database.directory',
      dataDir,
      '--server.jwt-secret-keyfile',
      this.jwtSecretFile,
      ...this.timingArgs(),
    ];
  }

  private serverArgs(ip: string, role: 'PRIMARY' | 'COORDINATOR', dataDir: string): string[] {
    const ep = `tcp://${ip}:${this.port}`;
    const bw = this.topology.bandwidth;
    return [
      '--server.endpoint',
      ep,
      '--cluster.my-role',
      role,
      '--cluster.my-address',
      ep,
      ...this.agents.flatMap((a) => ['--cluster.agency-endpoint', a.endpoint]),
      '--database.directory',
      dataDir,
      '--server.jwt-secret-keyfile',
      this.jwtSecretFile,
      '--sim.bandwidth',
      String(bw),
      '--sim.bytes-per-document',
      String(this.topology.bytesPerDocument),
      ...this.timingArgs(),
    ];
  }

  private newMember(kind: MemberKind, args: (ip: string, dir: string) => string[]): SimMember {
    const ip = this.allocIp();
    const dir = join(this.root, `${kind}-${ip}`);
    return new SimMember(kind, ip, this.port, dir, args(ip, dir), this.o.log, this.o.processes);
  }

  private async boot(): Promise<void> {
    const n = this.topology.agents;
    const ips = Array.from({ length: n }, () => this.allocIp());
    const eps = ips.map((ip) => `tcp://${ip}:${this.port}`);
    for (let i = 0; i < n; i++) {
      const id = `AGNT-${randomBytes(4).toString('hex')}`;
      const dir = join(this.root, `agent-${ips[i]}`);
      const m = new SimMember(
        'agent',
        ips[i],
        this.port,
        dir,
        this.agentArgs(ips[i], id, eps, dir),
        this.o.log,
        this.o.processes,
      );
      m.id = id;
      this.agents.push(m);
    }
    this.agencyClient = new AgencyClient(this.http, eps, this.lc, silentLogger);
    await Promise.all(this.agents.map((a) => a.start()));
    await this.waitForAgencyLeader(60_000);
    for (let i = 0; i < this.topology.dbServers; i++)
      this.dbServers.push(this.newMember('dbserver', (ip, d) => this.serverArgs(ip, 'PRIMARY', d)));
    for (let i = 0; i < this.topology.coordinators; i++)
      this.coordinators.push(this.newMember('coordinator', (ip, d) => this.serverArgs(ip, 'COORDINATOR', d)));
    await Promise.all([...this.dbServers, ...this.coordinators].map((m) => m.start()));
    await Promise.all([...this.dbServers, ...this.coordinators].map((m) => this.waitJoined(m, 120_000)));
    const target = this.topology.targetNumberOfDBServers;
    await this.coordinatorCall('PUT', '/_admin/cluster/numberOfServers', {
      numberOfDBServers: target === 'auto' ? this.topology.dbServers : target,
    });
    if (this.o.seed !== false) await this.seed();
    await this.waitConverged(300_000);
  }

  /** Raw HTTP to a member or coordinator with the cluster JWT. */
  request(
    target: string,
    path: string,
    o: { method?: string; body?: unknown; timeoutMs?: number } = {},
  ): Promise<HttpResult> {
    return this.http.request(target, path, { timeoutMs: 120_000, ...o });
  }

  async coordinatorCall(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await this.request(this.coordinatorUrl, path, { method, body });
    if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Reads the agency (through any live agent, following redirects to the leader). */
  async agencyRead(paths: string[]): Promise<Dict> {
    const r = await this.agencyClient.call('/_api/agency/read', [paths], { deadlineMs: 30_000 });
    if (r.status !== 200) throw new Error(`agency read: HTTP ${r.status}`);
    return asDict((r.body as unknown[])[0]);
  }

  /**
   * The agency's committed log from `index` on (GET /_api/agency/poll, as arangod's AgencyCache polls it): every
   * write in order, so a test can see each value a path had, not only the last. Waits up to `timeoutSeconds` for
   * an entry past the commit index. `index` 0 (or one already compacted away) answers the commit index only.
   */
  async agencyPoll(
    index: number,
    timeoutSeconds = 0,
  ): Promise<{ commitIndex: number; log: { index: number; query: Dict }[] }> {
    const r = await this.agencyClient.call(`/_api/agency/poll?index=${index}&timeout=${timeoutSeconds}`, undefined, {
      deadlineMs: 30_000,
    });
    if (r.status !== 200) throw new Error(`agency poll: HTTP ${r.status}`);
    const res = asDict(asDict(r.body).result);
    return {
      commitIndex: Number(res.commitIndex),
      log: asArray(res.log).map((e) => ({ index: Number(asDict(e).index), query: asDict(asDict(e).query) })),
    };
  }

  async agencyWrite(trxs: unknown[][]): Promise<{ status: number; results: number[] }> {
    const r = await this.agencyClient.call('/_api/agency/write', trxs, { deadlineMs: 30_000 });
    return { status: r.status, results: asArray(asDict(r.body).results) as unknown as number[] };
  }

  async agencyConfig(agent: SimMember): Promise<Dict> {
    const r = await this.request(agent.endpoint, '/_api/agency/config', { timeoutMs: 2000 });
    return asDict(r.body);
  }

  async waitForAgencyLeader(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (const a of this.agents.filter((x) => x.running)) {
        const c = await this.agencyConfig(a).catch(() => ({}) as Dict);
        if (c.leaderId && c.leading === true) return String(c.leaderId);
      }
      if (Date.now() > deadline) throw new Error('no agency leader');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The current agency leader's member (undefined without a leader). */
  async agencyLeader(): Promise<SimMember | undefined> {
    for (const a of this.agents.filter((x) => x.running)) {
      const c = await this.agencyConfig(a).catch(() => ({}) as Dict);
      if (c.leading === true) return a;
    }
    return undefined;
  }

  private async waitJoined(m: SimMember, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const r = await this.request(m.url, '/_admin/server/availability', { timeoutMs: 2000 });
        if (r.status === 200) {
          if (!m.id) m.id = String(asDict((await this.request(m.url, '/_admin/server/id')).body).id);
          const a = asDict(await this.agencyRead([`/arango/Supervision/Health/${m.id}`]));
          const h = asDict(asDict(asDict(asDict(a.arango).Supervision).Health)[m.id]);
          if (h.Status === 'GOOD' && h.SyncStatus === 'SERVING') return;
        }
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`${m.kind} ${m.endpoint} did not join the cluster`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Starts one more DB server (fresh data directory, next address) and waits until it is GOOD. */
  /** `beforeStart`: sees the member (its address) before it starts. */
  async addDBServer(o: { beforeStart?: (m: SimMember) => void } = {}): Promise<SimMember> {
    const m = this.newMember('dbserver', (ip, d) => this.serverArgs(ip, 'PRIMARY', d));
    this.dbServers.push(m);
    o.beforeStart?.(m);
    await m.start();
    await this.waitJoined(m, 120_000);
    return m;
  }

  async addCoordinator(o: { beforeStart?: (m: SimMember) => void } = {}): Promise<SimMember> {
    const m = this.newMember('coordinator', (ip, d) => this.serverArgs(ip, 'COORDINATOR', d));
    this.coordinators.push(m);
    o.beforeStart?.(m);
    await m.start();
    await this.waitJoined(m, 120_000);
    return m;
  }

  /** Starts a stopped member again with its data directory (same ID), and waits until it is up. */
  async restart(m: SimMember): Promise<void> {
    await m.start();
    if (m.kind !== 'agent') await this.waitJoined(m, 120_000);
  }

  /**
   * Replaces an agent the way the real agency allows: the old one is stopped, a new one starts with the same ID
   * (--agency.disaster-recovery-id), a new address and an empty data directory, gossips in and catches up.
   */
  async replaceAgent(agentId: string, o: { beforeStart?: (m: SimMember) => void } = {}): Promise<SimMember> {
    const i = this.agents.findIndex((a) => a.id === agentId);
    if (i < 0) throw new Error(`no agent ${agentId}`);
    const old = this.agents[i];
    await old.stop();
    const ip = this.allocIp();
    const dir = join(this.root, `agent-${ip}`);
    const peers = this.agents.filter((a) => a !== old).map((a) => a.endpoint);
    const m = new SimMember(
      'agent',
      ip,
      this.port,
      dir,
      this.agentArgs(ip, agentId, [...peers, `tcp://${ip}:${this.port}`], dir),
      this.o.log,
      this.o.processes,
    );
    m.id = agentId;
    this.agents[i] = m;
    this.agencyClient = new AgencyClient(
      this.http,
      this.agents.map((a) => a.endpoint),
      this.lc,
      silentLogger,
    );
    o.beforeStart?.(m);
    await m.start();
    return m;
  }

  memberById(id: string): SimMember | undefined {
    return [...this.agents, ...this.dbServers, ...this.coordinators].find((m) => m.id === id);
  }

  endpoints(): SimEndpoints {
    return {
      coordinators: this.coordinators.filter((c) => c.running).map((c) => c.url),
      agents: this.agents.map((a) => ({ id: a.id, endpoint: a.endpoint })),
      dbServers: this.dbServers
        .filter((d) => d.running)
        .map((d) => ({ id: d.id, shortName: '', endpoint: d.endpoint })),
      jwtSecretFile: this.jwtSecretFile,
      dataDir: this.root,
    };
  }

  /** endpoints() with the DB servers' short names filled in from the agency. */
  async describe(): Promise<SimEndpoints> {
    const e = this.endpoints();
    const a = await this.agencyRead(['/arango/Target/MapUniqueToShortID']);
    const map = asDict(asDict(asDict(a.arango).Target).MapUniqueToShortID);
    for (const d of e.dbServers) d.shortName = String(asDict(map[d.id]).ShortName ?? '');
    return e;
  }

  /** Plan and Current of every shard: [db, collectionId, shard, plan, current][]. */
  async shardStates(): Promise<
    { db: string; cid: string; name: string; shard: string; plan: string[]; current: string[] }[]
  > {
    const a = asDict(await this.agencyRead(['/arango/Plan/Collections', '/arango/Current/Collections']));
    const ar = asDict(a.arango);
    const plan = asDict(asDict(ar.Plan).Collections);
    const cur = asDict(asDict(ar.Current).Collections);
    const out = [];
    for (const [db, colls] of Object.entries(plan)) {
      for (const [cid, c] of Object.entries(asDict(colls))) {
        for (const [shard, servers] of Object.entries(asDict(asDict(c).shards))) {
          out.push({
            db,
            cid,
            name: String(asDict(c).name),
            shard,
            plan: asArray(servers),
            current: asArray(asDict(asDict(asDict(cur[db])[cid])[shard]).servers),
          });
        }
      }
    }
    return out;
  }

  /** Waits until Plan equals Current for every shard (same leader, same set). */
  async waitConverged(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const states = await this.shardStates().catch(() => undefined);
      if (states && states.every((s) => inSyncLists(s.plan, s.current))) return;
      if (Date.now() > deadline) {
        const bad = (states ?? []).filter((s) => !inSyncLists(s.plan, s.current)).slice(0, 5);
        throw new Error(`shards did not converge: ${JSON.stringify(bad)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async seed(): Promise<void> {
    for (const db of this.topology.databases) {
      await this.coordinatorCall('POST', '/_db/_system/_api/database', { name: db.name });
      for (const c of db.collections) {
        await this.coordinatorCall('POST', `/_db/${db.name}/_api/collection`, {
          name: c.name,
          numberOfShards: c.numberOfShards ?? 1,
          replicationFactor: c.replicationFactor ?? 1,
          writeConcern: c.writeConcern ?? 1,
          ...(c.distributeShardsLike ? { distributeShardsLike: c.distributeShardsLike } : {}),
          simBytesPerDocument: c.bytesPerDocument ?? this.topology.bytesPerDocument,
        });
        if (c.documentsPerShard > 0) await this.seedDocuments(db.name, c.name, c.documentsPerShard);
      }
    }
  }

  /**
   * Inserts exactly `perShard` documents into every shard of a collection (keys chosen by the shard hash), or
   * `perShard[i]` into the i-th shard in shard-ID order.
   */
  async seedDocuments(db: string, name: string, perShard: number | number[]): Promise<void> {
    const info = asDict(await this.coordinatorCall('GET', `/_db/${db}/_api/collection/${name}/shards`));
    const shards = sortShards(asArray(info.shards));
    const want = (i: number) => (typeof perShard === 'number' ? perShard : (perShard[i] ?? 0));
    const buckets: Dict[][] = shards.map(() => []);
    let filled = shards.filter((_, i) => want(i) === 0).length;
    for (let i = 0; filled < shards.length; i++) {
      const key = `${name}-${i}`;
      const s = shardIndexForKey(key, shards.length);
      const b = buckets[s];
      if (b.length < want(s)) {
        b.push({ _key: key, seq: i, seeded: true });
        if (b.length === want(s)) filled += 1;
      }
    }
    await pool(buckets, 8, async (docs) => {
      for (let i = 0; i < docs.length; i += 5000) {
        const res = asArray(
          await this.coordinatorCall('POST', `/_db/${db}/_api/document/${name}`, docs.slice(i, i + 5000)),
        ) as unknown as Dict[];
        const bad = res.find((r) => r.error);
        if (bad) throw new Error(`seeding ${db}/${name}: ${JSON.stringify(bad)}`);
      }
    });
  }

  async stop(): Promise<void> {
    this.lc.stop();
    await Promise.all(this.coordinators.map((m) => m.stop().catch(() => undefined)));
    await Promise.all(this.dbServers.map((m) => m.stop().catch(() => undefined)));
    await Promise.all(this.agents.map((m) => m.stop().catch(() => undefined)));
    this.http.close();
    // A temporary data directory we created goes with the cluster.
    if (this.ownsRoot) rmSync(this.root, { recursive: true, force: true });
  }
}
