/**
 * An in-memory model of the outside world (two Kubernetes clusters, an ArangoDB agency, a DNS record) for the
 * workflow tests and for the Kubernetes and DNS side of `transit rehearse` (src/rehearse/), served over HTTP so that workers in other processes (the SIGKILL tests) act on the same world.
 * It keeps the semantics that matter to the workflow — compare-and-set, add before remove, in-sync copies,
 * create-or-get — and records every side effect it applies, so a test can assert that none happened twice.
 * It is not a substitute for the real systems (their own tests run against the simulator, the API servers and
 * BIND); it lets the workflow's control paths be tested fast and exhaustively.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MemberInfo } from '../activities/contract';
import type { ShardPlan } from '../activities/agency-types';

export interface WorldOptions {
  dbServers?: number;
  coordinators?: number;
  /** Collections: groups per collection, replicationFactor, clones, bytes per group. */
  collections?: { name: string; shards: number; replicationFactor: number; clones?: number; bytes?: number }[];
  /** How long a new follower takes to get in sync, ms (0: at once). */
  syncMs?: number;
  /**
   * How long a MoveShard job takes after its new copy is in sync, ms (0: it finishes at once): the supervision rounds
   * of MoveShard::pendingLeader (resign, the new leader in Current, the old copy's removal) in which no byte moves.
   */
  moveTailMs?: number;
  /** How long provisioning the target members takes (their pods start side by side), ms. */
  provisionMs?: number;
  /** How long DNS takes to propagate after a switch, ms. */
  propagationMs?: number;
  /** The DNS record before the migration (default 10.12.0.1, TTL 30 s). */
  dns?: { values: string[]; ttl: number };
  /**
   * The rehearsal's hooks into a simulated cluster (src/rehearse/): the world plays Kubernetes for it.
   * `sourceMembers`: the source's members as the world lists them (IDs and endpoints of the simulated members);
   * `provision`: start a target DB server or coordinator, return the ID and endpoint it registered with;
   * `moveAgent`: restart an agent with the same ID on the other side, return its new endpoint;
   * `stop`: a member's pod is deleted (Decommission, a rollback's removal);
   * `clientUrl`: the coordinators' URL each side's client endpoint answers with.
   */
  members?: {
    sourceMembers: MemberInfo[];
    provision(m: MemberInfo): Promise<{ id: string; endpoint: string }>;
    moveAgent(agent: MemberInfo, to: 'source' | 'target'): Promise<string>;
    stop(m: MemberInfo): Promise<void>;
    clientUrl(side: 'source' | 'target'): string;
  };
}

interface Group {
  key: string;
  database: string;
  collectionId: string;
  shard: string;
  clones: { collectionId: string; shard: string }[];
  rf: number;
  bytes: number;
  plan: string[];
  inSync: Set<string>;
  syncStarted: Map<string, number>;
  lock: string | null;
}

/** A MoveShard job as the world's "supervision" runs it: add `to`, wait until in sync, switch or drop `from`. */
interface WorldJob {
  id: string;
  group: Group;
  creator: string;
  from: string;
  to: string;
  isLeader: boolean;
  remainsFollower: boolean;
  /** The job adds a server that holds no copy yet (a copy), or moves leadership to a follower (none). */
  copy: boolean;
  /** When its new copy was first seen in sync (moveTailMs counts from here). */
  syncedAt?: number;
  status: 'Pending' | 'Finished' | 'Failed';
  reason?: string;
}

export interface Effect {
  key: string;
  at: number;
}

export class World {
  readonly effects: Effect[] = [];
  readonly calls: { name: string; at: number }[] = [];
  /** readShardServers answers no servers (a test's twin: the engine then cannot see supervision's changes). */
  blindPlanReads = false;
  groups: Group[] = [];
  jobs = new Map<string, WorldJob>();
  /** Test hook: groups (keys) whose target copy differs from the source copy when verified. */
  corrupt = new Set<string>();
  /** Every verification the world answered: which copies, and the group's Plan at that moment. */
  readonly verifications: { group: string; source: string; target: string; plan: string[] }[] = [];
  private nextJobId = 1;
  sourceMembers: MemberInfo[] = [];
  targetMembers: MemberInfo[] = [];
  agentsSide = new Map<string, 'source' | 'target'>();
  /** Where each moved agent answers now (the rehearsal's simulated agents). */
  agentEndpoints = new Map<string, string>();
  dns = { values: ['10.12.0.1'], ttl: 30, switchedAt: 0 };
  bridge = new Set<string>();
  autoShrink: number | null = 3;
  registered = new Map<string, { id: string; role: 'dbserver' | 'coordinator' }>();
  /** Credential values the world accepts (when set, every call that carries a reference must present them). */
  credentials: string[] | null = null;
  credentialChecks = 0;
  /** Names of activities that fail (non-retryable) until cleared: failure injection for tests. */
  failing = new Map<string, string>();
  /** The next this-many verifyConvergence calls find a copy still re-syncing (Plan ≠ Current): a transient state. */
  resyncing = 0;
  /** Names of activities that fail retryably until the given time (ms): an outage, e.g. a DNS server stopped. */
  outages = new Map<string, number>();
  readonly sourceIps: { client: string };
  readonly targetIps = { client: '10.22.0.1' };
  private server: Server | null = null;
  url = '';

  constructor(readonly opts: WorldOptions = {}) {
    this.sourceIps = { client: opts.dns?.values[0] ?? '10.12.0.1' };
    const nDb = opts.dbServers ?? 3;
    const nCo = opts.coordinators ?? 2;
    const member = (role: MemberInfo['role'], i: number): MemberInfo => {
      const prefix = role === 'agent' ? 'AGNT' : role === 'dbserver' ? 'PRMR' : 'CRDN';
      const podName = `arango-${role === 'dbserver' ? 'prmr' : role === 'agent' ? 'agnt' : 'crdn'}-s${i}`;
      return {
        id: `${prefix}-s${i}`,
        role,
        side: 'source',
        podName,
        podIP: `10.10.0.${i + 10}`,
        endpoint: `tcp://${podName}:8529`,
        image: 'arangodb/arangodb:3.12.4',
        args: [`--cluster.my-role=${role}`],
        storage: { size: '10Gi' },
      };
    };
    if (opts.dns) this.dns = { values: [...opts.dns.values], ttl: opts.dns.ttl, switchedAt: 0 };
    if (opts.members) this.sourceMembers.push(...opts.members.sourceMembers);
    else {
      for (let i = 0; i < 3; i++) this.sourceMembers.push(member('agent', i));
      for (let i = 0; i < nDb; i++) this.sourceMembers.push(member('dbserver', i));
      for (let i = 0; i < nCo; i++) this.sourceMembers.push(member('coordinator', i));
    }
    for (const a of this.sourceMembers.filter((m) => m.role === 'agent')) this.agentsSide.set(a.id, 'source');
    const dbIds = this.sourceMembers.filter((m) => m.role === 'dbserver').map((m) => m.id);
    let cid = 1000;
    let sid = 100000;
    for (const c of opts.collections ?? [{ name: 'orders', shards: 6, replicationFactor: 2, clones: 1, bytes: 1000 }]) {
      const id = String(cid++);
      const cloneIds = Array.from({ length: c.clones ?? 0 }, () => String(cid++));
      for (let s = 0; s < c.shards; s++) {
        const plan = Array.from({ length: c.replicationFactor }, (_, r) => dbIds[(s + r) % dbIds.length]!);
        this.groups.push({
          key: `db/${id}/s${sid}`,
          database: 'db',
          collectionId: id,
          shard: `s${sid++}`,
          clones: cloneIds.map((x) => ({ collectionId: x, shard: `s${sid++}` })),
          rf: c.replicationFactor,
          bytes: c.bytes ?? 0,
          plan,
          inSync: new Set(plan),
          syncStarted: new Map(),
          lock: null,
        });
      }
    }
  }

  effect(key: string): void {
    this.effects.push({ key, at: Date.now() });
  }

  /** Effects applied more than once: must be empty when every activity is idempotent. */
  duplicateEffects(): string[] {
    const n = new Map<string, number>();
    for (const e of this.effects) n.set(e.key, (n.get(e.key) ?? 0) + 1);
    return [...n].filter(([, c]) => c > 1).map(([k, c]) => `${k} ×${c}`);
  }

  /** Where things are: the end-state checks of the tests read this. */
  snapshot() {
    const target = new Set([...this.registered.values()].filter((r) => r.role === 'dbserver').map((r) => r.id));
    const side = (g: Group) =>
      g.plan.every((s) => target.has(s)) ? 'target' : g.plan.every((s) => !target.has(s)) ? 'source' : 'mixed';
    const sides = this.groups.map(side);
    return {
      groupsOnSource: sides.filter((x) => x === 'source').length,
      groupsOnTarget: sides.filter((x) => x === 'target').length,
      groupsMixed: sides.filter((x) => x === 'mixed').length,
      underReplicated: this.groups.filter((g) => g.plan.filter((s) => g.inSync.has(s)).length < g.rf).map((g) => g.key),
      overReplicated: this.groups.filter((g) => g.plan.length > g.rf).map((g) => g.key),
      locked: this.groups.filter((g) => g.lock).length,
      openJobs: [...this.jobs.values()].filter((j) => j.status === 'Pending').length,
      openCopyJobs: [...this.jobs.values()].filter((j) => j.status === 'Pending' && j.copy).length,
      /** Copy jobs whose new copy is not in sync yet: the copies that load links. */
      copyingJobs: [...this.jobs.values()].filter((j) => j.status === 'Pending' && j.copy && !j.group.inSync.has(j.to))
        .length,
      dns: [...this.dns.values],
      dnsSide: this.dns.values.includes(this.targetIps.client) ? 'target' : 'source',
      bridgeObjects: this.bridge.size,
      targetMembers: this.targetMembers.map((m) => m.podName),
      sourceMembers: this.sourceMembers.map((m) => m.podName),
      agentsOnTarget: [...this.agentsSide.values()].filter((s) => s === 'target').length,
      autoShrink: this.autoShrink,
    };
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        // The latency probes' target (world-activities): answered at once, recorded nowhere.
        if (req.url === '/ping') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('pong');
        void (async () => {
          const name = (req.url ?? '').replace(/^\/act\//, '');
          try {
            const presented = req.headers['x-credentials'];
            if (this.credentials && presented) {
              const values = JSON.parse(Buffer.from(String(presented), 'base64').toString()) as string[];
              if (!values.every((v) => this.credentials!.includes(v)))
                throw new WorldError('bad credentials', 'AuthenticationError', true);
              this.credentialChecks++;
            }
            const out = await this.call(name, body ? JSON.parse(body) : {});
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify({ ok: true, out: out ?? null }));
          } catch (e) {
            const err = e as WorldError;
            res.writeHead(200, { 'content-type': 'application/json' }).end(
              JSON.stringify({
                ok: false,
                type: err.type ?? 'Error',
                message: err.message,
                nonRetryable: !!err.nonRetryable,
              }),
            );
          }
        })();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }

  // ------------------------------------------------------------------ the activities' model

  private gates: { match: (name: string, a: any) => boolean; onHit: () => void; released: Promise<void> }[] = [];

  /**
   * Hold the first call that matches until release(): lets a test send a control while the workflow is at a
   * known step. `hit` resolves when the call arrives.
   */
  gate(match: (name: string, a: any) => boolean): { hit: Promise<void>; release(): void } {
    let onHit!: () => void;
    let release!: () => void;
    const hit = new Promise<void>((r) => (onHit = r));
    const released = new Promise<void>((r) => (release = r));
    this.gates.push({ match, onHit, released });
    return { hit, release };
  }

  async call(name: string, a: any): Promise<unknown> {
    const gate = this.gates.find((g) => g.match(name, a));
    if (gate) {
      this.gates.splice(this.gates.indexOf(gate), 1);
      gate.onHit();
      await gate.released;
    }
    this.calls.push({ name, at: Date.now() });
    const f = this.failing.get(name);
    if (f) throw new WorldError(f, 'InvariantViolationError', true);
    const outage = this.outages.get(name);
    if (outage !== undefined && Date.now() < outage)
      throw new WorldError(`${name}: unavailable (a modelled outage)`, 'UnavailableError', false);
    switch (name) {
      case 'preflight':
        return {
          sourcePodCIDRs: ['10.10.0.0/16'],
          targetPodCIDRs: ['10.20.0.0/16'],
          storageClass: 'standard',
          warnings: [],
        };
      case 'readSourceDeployment':
        return { name: 'arango', namespace: 'db', image: 'arangodb/arangodb:3.12.4', members: this.sourceMembers };
      case 'bridgeNetworks': {
        for (const m of a.members as MemberInfo[]) {
          if (!this.bridge.has(m.podName)) {
            this.bridge.add(m.podName);
            this.effect(`bridge:create:${m.podName}`);
          }
        }
        return {
          services: [...this.bridge].map((n) => ({ cluster: 'target', name: n, endpoints: [] })),
          loadBalancers: [],
        };
      }
      case 'provisionTargetMembers': {
        // Kubernetes starts the new pods side by side: one pod start for the lot.
        const fresh = (a.members as MemberInfo[]).filter(
          (m) => !this.targetMembers.some((x) => x.podName === `${m.podName}-t`),
        );
        if (fresh.length) await sleep(this.opts.provisionMs ?? 0);
        const started = await Promise.all(
          fresh.map(
            async (m) => [m.podName, m.role !== 'agent' ? await this.opts.members?.provision(m) : undefined] as const,
          ),
        );
        const startedBy = new Map(started);
        const out: MemberInfo[] = [];
        for (const m of a.members as MemberInfo[]) {
          const name = `${m.podName}-t`;
          let t = this.targetMembers.find((x) => x.podName === name);
          if (!t) {
            const st = startedBy.get(m.podName);
            t = {
              ...m,
              side: 'target',
              podName: name,
              podIP: `10.20.0.${this.targetMembers.length + 10}`,
              endpoint: st?.endpoint ?? `tcp://${name}:8529`,
              id: st?.id ?? `${m.id}-t`,
            };
            this.targetMembers.push(t);
            this.effect(`provision:${name}`);
            if (st) this.registered.set(t.endpoint, { id: st.id, role: m.role as 'dbserver' | 'coordinator' });
          }
          if (m.role !== 'agent' && !this.registered.has(t.endpoint)) {
            const id = m.role === 'dbserver' ? `PRMR-t${this.registered.size}` : `CRDN-t${this.registered.size}`;
            this.registered.set(t.endpoint, { id, role: m.role as 'dbserver' | 'coordinator' });
          }
          out.push(t);
        }
        return { members: out };
      }
      case 'readClientEndpoint':
        return a.side === 'target'
          ? { values: [this.targetIps.client], url: this.opts.members?.clientUrl('target') ?? 'http://10.22.0.1:8529' }
          : { values: [this.sourceIps.client], url: this.opts.members?.clientUrl('source') ?? 'http://10.12.0.1:8529' };
      case 'moveAgent': {
        const agent = a.agent as MemberInfo;
        if (this.agentsSide.get(agent.id) !== a.to) {
          const endpoint = await this.opts.members?.moveAgent(agent, a.to);
          if (endpoint) this.agentEndpoints.set(agent.id, endpoint);
          this.agentsSide.set(agent.id, a.to);
          this.effect(`agent:${agent.id}:${a.to}`);
        }
        return {
          ...agent,
          side: a.to,
          endpoint: this.agentEndpoints.get(agent.id) ?? `tcp://${agent.podName}:8529`,
        };
      }
      case 'removeTargetMembers': {
        const removed: string[] = [];
        for (const n of a.names as string[]) {
          const i = this.targetMembers.findIndex((m) => m.podName === n);
          if (i >= 0) {
            await this.opts.members?.stop(this.targetMembers[i]!);
            this.targetMembers.splice(i, 1);
            this.effect(`removeTarget:${n}`);
            removed.push(n);
          }
        }
        return { removed };
      }
      case 'decommissionSourceMembers': {
        const removed: string[] = [];
        for (const n of a.names as string[]) {
          const i = this.sourceMembers.findIndex((m) => m.podName === n);
          if (i >= 0) {
            const m = this.sourceMembers[i]!;
            if (m.role === 'dbserver' && this.groups.some((g) => g.plan.includes(m.id))) {
              throw new WorldError(`invariant: ${m.id} still holds shards`, 'InvariantViolationError', true);
            }
            await this.opts.members?.stop(m);
            this.sourceMembers.splice(i, 1);
            this.effect(`decommission:${n}`);
            removed.push(n);
          }
        }
        return { removed };
      }
      case 'removeBridge': {
        const n = this.bridge.size;
        if (n) this.effect(`bridge:remove:${this.effects.filter((e) => e.key.startsWith('bridge:remove')).length}`);
        this.bridge.clear();
        return { removed: n };
      }
      case 'checkClusterHealth':
        return {
          healthy: true,
          problems: [],
          dbServers: this.sourceMembers
            .filter((m) => m.role === 'dbserver')
            .map((m) => ({ id: m.id, shortName: m.podName, endpoint: m.endpoint, status: 'GOOD' })),
          coordinators: [],
          agents: [...this.agentsSide.keys()].map((id, i) => ({ id, endpoint: `tcp://${id}:8529`, leader: i === 0 })),
          maintenance: false,
        };
      case 'readShardPlan':
        return this.shardPlan();
      case 'waitForServerRegistered': {
        const servers = (a.endpoints as string[]).map((endpoint) => {
          const r = this.registered.get(endpoint);
          if (!r) throw new WorldError(`not registered yet: ${endpoint}`, 'NotYet', false);
          return { endpoint, id: r.id, shortName: r.id, role: r.role };
        });
        return { servers };
      }
      case 'neutraliseAutoShrink': {
        const previous = { numberOfDBServers: this.autoShrink, numberOfCoordinators: null };
        if (this.autoShrink !== null) {
          this.autoShrink = null;
          this.effect('autoShrink:off');
        }
        return { previous };
      }
      case 'restoreAutoShrink':
        if (this.autoShrink !== a.previous.numberOfDBServers) {
          this.autoShrink = a.previous.numberOfDBServers;
          this.effect(`autoShrink:restore:${this.effects.length}`);
        }
        return null;
      case 'readClock':
        return { at: Date.now() };
      case 'readShardServers':
        // blindPlanReads: answers nothing (the twin of the engine's re-read of waiting groups).
        if (this.blindPlanReads) return { servers: (a.shards as unknown[]).map(() => []) };
        return {
          servers: (a.shards as { shard: string }[]).map((k) => [
            ...(this.groups.find((g) => g.shard === k.shard)?.plan ?? []),
          ]),
        };
      case 'submitShardMoves':
        return { results: (a.moves as any[]).map((m, i) => this.submitMove(m, i, a.migrationId)) };
      case 'waitForShardMoves':
        return this.waitMoves(a);
      case 'changeReplicationFactor':
        // As supervision's enforceReplication does at once: AddFollower appends a server holding no copy (in sync
        // here), RemoveFollower drops copies from the end of Plan, never the leader.
        return {
          results: (a.changes as any[]).map((c, index) => {
            const gs = this.groups.filter((g) => g.database === c.database && g.collectionId === c.collectionId);
            const rf = gs[0]?.rf ?? null;
            if (rf !== c.from && rf !== c.to) return { index, result: 'changed', replicationFactor: rf, servers: [] };
            const free = this.sourceMembers.filter((m) => m.role === 'dbserver').map((m) => m.id);
            for (const g of gs) {
              g.rf = c.to;
              while (g.plan.length < c.to) {
                const add = free.find((id) => !g.plan.includes(id))!;
                g.plan = [...g.plan, add];
                g.inSync.add(add);
                this.effect(`addFollower:${g.key}:${add}`);
              }
              while (g.plan.length > c.to) {
                const gone = g.plan[g.plan.length - 1]!;
                g.plan = g.plan.slice(0, -1);
                g.inSync.delete(gone);
                this.effect(`removeFollower:${g.key}:${gone}`);
              }
            }
            return { index, result: 'done', replicationFactor: c.to, servers: gs.map((g) => [...g.plan]) };
          }),
        };
      case 'verifyShardCopies':
        // Each copy "computes its own checksum": a group in `corrupt` differs on its target copy (test hook).
        return {
          results: (a.checks as any[]).map((c, index) => {
            const g = this.find(c);
            const base = { index, attempts: 1, ms: 0, documents: 0, source: [], target: [] };
            if (!g.plan.includes(c.source) || !g.plan.includes(c.target))
              return { ...base, result: 'planChanged', sourceInPlan: g.plan.includes(c.source), servers: [...g.plan] };
            this.verifications.push({ group: g.key, source: c.source, target: c.target, plan: [...g.plan] });
            return this.corrupt.has(g.key)
              ? { ...base, result: 'mismatch', sourceInPlan: true, detail: `shard ${g.shard}: checksums differ` }
              : { ...base, result: 'match', sourceInPlan: true };
          }),
        };
      case 'cancelShardMoves': {
        const open: string[] = [];
        for (const id of a.jobIds as string[]) {
          const j = this.jobs.get(id);
          if (!j || j.status !== 'Pending') continue;
          open.push(id);
          this.advance(j);
          if (j.status !== 'Pending') continue;
          // Before the switch: back to where it started (MoveShard::abort).
          j.group.plan = j.group.plan.filter((s) => s !== j.to);
          j.group.inSync.delete(j.to);
          j.group.syncStarted.delete(j.to);
          j.status = 'Failed';
          j.reason = 'job aborted';
        }
        return { open };
      }
      case 'addShardFollower':
        return { results: (a.moves as any[]).map((m) => this.addFollower(m, a.migrationId)) };
      case 'waitForShardInSync':
        return this.waitInSync(a);
      case 'moveShardLeadership':
        return { results: (a.moves as any[]).map((m) => this.moveLeader(m)) };
      case 'removeShardFollower':
        return { results: (a.moves as any[]).map((m) => this.removeFollower(m)) };
      case 'checkAgentReplaceable':
        return null;
      case 'waitForAgentCaughtUp':
        return { commitIndex: 42 };
      case 'removeServer': {
        if (this.groups.some((g) => g.plan.includes(a.serverId))) {
          throw new WorldError(`invariant: ${a.serverId} still holds shards`, 'InvariantViolationError', true);
        }
        const key = `removeServer:${a.serverId}`;
        if (this.effects.some((e) => e.key === key)) return 'alreadyGone';
        this.effect(key);
        return 'removed';
      }
      case 'verifyConvergence': {
        if (this.resyncing > 0) {
          this.resyncing--;
          throw new WorldError(
            'not converged: a copy is still re-syncing after its server restarted (Plan ≠ Current)',
            'InvariantViolationError',
            true,
          );
        }
        const busy = new Set([...this.jobs.values()].filter((j) => j.status === 'Pending').map((j) => j.group));
        const bad = this.groups.filter(
          (g) =>
            g.lock ||
            busy.has(g) ||
            g.plan.length !== g.rf ||
            g.plan.some((s) => !g.inSync.has(s)) ||
            g.plan.some((s) => (a.mustNotHold ?? []).includes(s)),
        );
        if (bad.length)
          throw new WorldError(
            `not converged: ${bad.length} groups, e.g. ${bad[0]!.key} on ${bad[0]!.plan.join(',')}`,
            'InvariantViolationError',
            true,
          );
        return { shards: this.groups.length, ok: true };
      }
      case 'readRecord':
        return { name: a.dns.name, type: 'A', values: [...this.dns.values], ttl: this.dns.ttl };
      case 'switchRecord':
      case 'restoreRecord': {
        const same = (x: string[], y: string[]) => x.length === y.length && x.every((v) => y.includes(v));
        const ttl = a.ttl ?? this.dns.ttl;
        if (same(this.dns.values, a.to) && ttl === this.dns.ttl) return { changed: false };
        if (!same(this.dns.values, a.from)) {
          throw new WorldError(
            `DNS conflict: ${a.dns.name} holds ${this.dns.values} not ${a.from}`,
            'DnsConflictError',
            true,
          );
        }
        this.dns = { values: [...a.to], ttl, switchedAt: Date.now() };
        this.effect(`dns:${name}:${a.to.join(',')}:${ttl}`);
        return { changed: true };
      }
      case 'waitForPropagation': {
        const wait = this.dns.switchedAt + (this.opts.propagationMs ?? 0) - Date.now();
        if (wait > 0) await sleep(Math.min(wait, 1000));
        if (Date.now() < this.dns.switchedAt + (this.opts.propagationMs ?? 0))
          throw new WorldError('not yet', 'NotYet', false);
        return { propagatedSeconds: (this.opts.propagationMs ?? 0) / 1000, ttlWaitSeconds: 0 };
      }
      case 'probeVersionChecks':
        return [
          {
            phase: a.phase,
            from: 'eu',
            to: 'us',
            path: 'in-memory world (no network)',
            samples: 1,
            p50Ms: 0,
            p95Ms: 0,
          },
        ];
      default:
        throw new WorldError(`unknown activity ${name}`, 'Error', true);
    }
  }

  private find(m: { database: string; collectionId: string; shard: string }): Group {
    const g = this.groups.find(
      (x) => x.database === m.database && x.collectionId === m.collectionId && x.shard === m.shard,
    );
    if (!g)
      throw new WorldError(`no such shard ${m.database}/${m.collectionId}/${m.shard}`, 'InvariantViolationError', true);
    return g;
  }

  private submitMove(m: any, index: number, migrationId: string) {
    const g = this.find(m);
    const creator = `transit-${migrationId}`;
    const own = [...this.jobs.values()].find((j) => j.group === g && j.creator === creator && j.status === 'Pending');
    if (own) return { index, result: 'submitted', jobId: own.id, existing: true };
    if (g.plan.join() !== (m.expected as string[]).join())
      return { index, result: 'planChanged', servers: [...g.plan] };
    const id = String(this.nextJobId++);
    const j: WorldJob = {
      id,
      group: g,
      creator,
      from: m.fromServer,
      to: m.toServer,
      isLeader: m.isLeader,
      remainsFollower: m.remainsFollower,
      copy: !g.plan.includes(m.toServer),
      status: 'Pending',
    };
    this.jobs.set(id, j);
    if (!g.plan.includes(j.to)) {
      g.plan = j.isLeader ? [g.plan[0]!, j.to, ...g.plan.slice(1)] : [...g.plan, j.to];
      g.syncStarted.set(j.to, Date.now());
    }
    this.effect(`job:${g.key}:${j.from}->${j.to}`);
    return { index, result: 'submitted', jobId: id, existing: false };
  }

  /** The world's supervision: a job finishes once `to` is in sync. */
  private advance(j: WorldJob): void {
    if (j.status !== 'Pending') return;
    const g = j.group;
    this.settle(g);
    if (!g.inSync.has(j.to)) return;
    j.syncedAt ??= Date.now();
    if (Date.now() - j.syncedAt < (this.opts.moveTailMs ?? 0)) return;
    if (j.isLeader) {
      g.plan = [j.to, ...g.plan.filter((s) => s !== j.to && s !== j.from), ...(j.remainsFollower ? [j.from] : [])];
    } else g.plan = g.plan.filter((s) => s !== j.from);
    if (!g.plan.includes(j.from)) g.inSync.delete(j.from);
    j.status = 'Finished';
  }

  private async waitMoves(a: {
    jobs: { jobId: string; toServer?: string; synced?: boolean }[];
    mode: string;
    timeoutSeconds: number;
  }) {
    const deadline = Date.now() + Math.min(a.timeoutSeconds * 1000, 1000);
    const watch = a.jobs.some((x) => x.toServer !== undefined);
    for (;;) {
      const ended: { index: number; status: string; reason?: string; servers: string[] }[] = [];
      const progress: { index: number; bytesCopied: number; bytesTotal: number }[] = [];
      const synced: number[] = [];
      a.jobs.forEach((x, i) => {
        const j = this.jobs.get(x.jobId);
        if (!j) return ended.push({ index: i, status: 'gone', servers: [] });
        this.advance(j);
        if (j.status === 'Pending') {
          const started = j.group.syncStarted.get(j.to) ?? Date.now();
          const frac = this.opts.syncMs ? Math.min(1, (Date.now() - started) / this.opts.syncMs) : 1;
          progress.push({ index: i, bytesCopied: Math.floor(j.group.bytes * frac), bytesTotal: j.group.bytes });
          if (x.toServer !== undefined && j.group.inSync.has(x.toServer)) synced.push(i);
        } else
          ended.push({
            index: i,
            status: j.status === 'Finished' ? 'finished' : 'failed',
            ...(j.reason ? { reason: j.reason } : {}),
            servers: [...j.group.plan],
          });
      });
      const newlySynced = synced.some((i) => !a.jobs[i]!.synced);
      const enough = a.mode === 'any' ? ended.length > 0 || newlySynced : ended.length === a.jobs.length;
      if (enough || Date.now() >= deadline)
        return { ended, progress, queued: [], at: Date.now(), ...(watch ? { synced } : {}) };
      await sleep(20);
    }
  }

  private addFollower(
    m: { database: string; collectionId: string; shard: string; expected: string[]; add: string[] },
    migrationId: string,
  ): string {
    const g = this.find(m);
    if (m.add.every((s) => g.plan.includes(s))) return 'alreadyDone';
    if (g.plan.join() !== m.expected.join()) {
      throw new WorldError(
        `shard ${g.key} changed behind Transit's back: Plan ${g.plan} expected ${m.expected}`,
        'ShardConflictError',
        true,
      );
    }
    g.lock = `transit-${migrationId}`;
    for (const s of m.add) {
      g.plan.push(s);
      g.syncStarted.set(s, Date.now());
      this.effect(`add:${g.key}:${s}`);
    }
    return 'added';
  }

  private settle(g: Group): void {
    for (const [s, t] of g.syncStarted) {
      if (Date.now() - t >= (this.opts.syncMs ?? 0)) {
        g.inSync.add(s);
        g.syncStarted.delete(s);
      }
    }
  }

  private async waitInSync(a: {
    shards: { database: string; collectionId: string; shard: string; servers: string[] }[];
    mode: string;
    timeoutSeconds: number;
  }) {
    const deadline = Date.now() + Math.min(a.timeoutSeconds * 1000, 1000);
    for (;;) {
      const inSync: number[] = [];
      const progress: { index: number; bytesCopied: number; bytesTotal: number }[] = [];
      a.shards.forEach((m, i) => {
        const g = this.find(m);
        this.settle(g);
        if (m.servers.every((s) => g.inSync.has(s))) inSync.push(i);
        else {
          const started = Math.min(...[...g.syncStarted.values()]);
          const frac = this.opts.syncMs ? Math.min(1, (Date.now() - started) / this.opts.syncMs) : 1;
          progress.push({ index: i, bytesCopied: Math.floor(g.bytes * frac), bytesTotal: g.bytes });
        }
      });
      const enough = a.mode === 'any' ? inSync.length > 0 : inSync.length === a.shards.length;
      if (enough || Date.now() >= deadline) return { inSync, progress };
      await sleep(20);
    }
  }

  private moveLeader(m: { database: string; collectionId: string; shard: string; from: string; to: string }): string {
    const g = this.find(m);
    if (g.plan[0] === m.to) return 'alreadyDone';
    this.settle(g);
    if (!g.inSync.has(m.to))
      throw new WorldError(`invariant: ${m.to} is not in sync for ${g.key}`, 'InvariantViolationError', true);
    g.plan = [m.to, ...g.plan.filter((s) => s !== m.to && s !== m.from), m.from];
    this.effect(`leader:${g.key}:${m.to}`);
    return 'moved';
  }

  private removeFollower(m: {
    database: string;
    collectionId: string;
    shard: string;
    remove: string[];
    replicationFactor: number;
  }): string {
    const g = this.find(m);
    const remaining = g.plan.filter((s) => !m.remove.includes(s));
    if (remaining.length === g.plan.length) {
      g.lock = null;
      return 'alreadyDone';
    }
    if (m.remove.includes(g.plan[0]!))
      throw new WorldError(`invariant: cannot remove leader ${g.plan[0]} of ${g.key}`, 'InvariantViolationError', true);
    this.settle(g);
    if (remaining.filter((s) => g.inSync.has(s)).length < m.replicationFactor) {
      throw new WorldError(
        `invariant: removing ${m.remove} would leave ${g.key} with fewer than ${m.replicationFactor} in-sync copies`,
        'InvariantViolationError',
        true,
      );
    }
    for (const s of m.remove) {
      g.inSync.delete(s);
      this.effect(`remove:${g.key}:${s}`);
    }
    g.plan = remaining;
    g.lock = null;
    return 'removed';
  }

  shardPlan(): ShardPlan {
    const ids = new Set<string>();
    for (const g of this.groups) for (const s of g.plan) ids.add(s);
    const servers = [...ids].sort();
    const byCol = new Map<string, ShardPlan['collections'][number]>();
    for (const g of this.groups) {
      let c = byCol.get(g.collectionId);
      if (!c) {
        c = {
          database: g.database,
          collectionId: g.collectionId,
          name: `c${g.collectionId}`,
          replicationFactor: g.rf,
          writeConcern: 1,
          clones: g.clones.map((cl) => ({ collectionId: cl.collectionId, name: `c${cl.collectionId}`, shards: [] })),
          shards: [],
        };
        byCol.set(g.collectionId, c);
      }
      g.clones.forEach((cl, i) => c!.clones[i]!.shards.push(cl.shard));
      c.shards.push([g.shard, g.plan.map((s) => servers.indexOf(s)), g.bytes]);
    }
    return {
      planVersion: this.effects.length,
      servers: servers.map((id) => ({ id, shortName: id, endpoint: `tcp://${id}:8529`, status: 'GOOD' as const })),
      collections: [...byCol.values()],
    };
  }
}

export class WorldError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly nonRetryable: boolean,
  ) {
    super(message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
