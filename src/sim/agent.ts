// A simulated agent: the agency HTTP API (/_api/agency/*) over a Raft-replicated log shared with the other agent
// processes (leader election with terms, log replication, commit on majority, snapshots for agents that fall
// behind), gossip to form the pool and to let a replaced agent (same ID via --agency.disaster-recovery-id, new
// address) rejoin, followers answering 307 to the leader's pool endpoint, 503 without a leader, a transient store
// for heartbeats, and supervision on the leader (supervision.ts).
import { Lifecycle, loadOrCreateId } from './lifecycle.js';
import type { Logger } from './log.js';
import { HttpClient, endpointToUrl, type NetOptions, type Endpoint } from './net.js';
import { bearerHeader } from './jwt.js';
import { SimServer, arangoError, ok, type SimRequest, type SimResponse } from './server.js';
import {
  Store,
  normalizeOps,
  touchesReserved,
  StoreError,
  type Operation,
  type JsonObject,
  type Json,
} from './store.js';
import { Supervision, type SupervisionOptions } from './supervision.js';
import { SIM_VERSION } from './version.js';
import { RaftDisk } from './agent-disk.js';

export interface AgentOptions {
  listen: Endpoint;
  /** --agency.my-address: this agent's endpoint as published in the pool. */
  myAddress: string;
  /** --agency.endpoint: peers to gossip with at first start. */
  endpoints: string[];
  /** --agency.size */
  size: number;
  /** --agency.disaster-recovery-id */
  id?: string;
  dataDir?: string;
  /** --agency.supervision */
  supervision: boolean;
  jwtSecret: string;
  net: NetOptions;
  log: Logger;
  /** --agency.election-timeout-min / -max, seconds. */
  electionTimeoutMin: number;
  electionTimeoutMax: number;
  supervisionOptions: Omit<SupervisionOptions, 'log'>;
  /** Committed entries between snapshots (log compaction). */
  compactionStep?: number;
  /** Called when the agent cannot run any more (gossip refused: an unknown ID tried to join). */
  onFatal?: () => void;
}

export interface LogEntry {
  index: number;
  term: number;
  query: Record<string, Operation>;
  clientId?: string;
  timestamp: number;
}

type Role = 'follower' | 'candidate' | 'leader';

interface Peer {
  id: string;
  nextIndex: number;
  matchIndex: number;
  lastAcked: number;
  lastAckedIndex: number;
  inflight: boolean;
  again: boolean;
}

interface Waiter {
  index: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

class NotLeaderError extends Error {}

export class Agent {
  readonly id: string;
  readonly lc = new Lifecycle();
  private server: SimServer;
  private http: HttpClient;
  private log: Logger;

  private pool = new Map<string, string>();
  private poolComplete = false;
  /** Joined a pool that already existed (fresh data dir): no vote, no candidacy until a leader contacted us. */
  private mustCatchUp: boolean;
  /** Some peer's pool lists us at our current address (else keep gossiping: we came back from a new address). */
  private poolConfirmed = false;

  // Raft state
  private role: Role = 'follower';
  term = 0;
  private votedFor: string | null = null;
  leaderId: string | null = null;
  private entries: LogEntry[] = [];
  private snapshotIndex = 0;
  private snapshotTerm = 0;
  private snapshot: { root: JsonObject; ttls: [string, number][] } = { root: {}, ttls: [] };
  commitIndex = 0;
  private lastApplied = 0;
  readonly readDB = new Store();
  private spearhead?: Store;
  readonly transient = new Store();
  private peers = new Map<string, Peer>();
  private electionTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private ttlTimer?: NodeJS.Timeout;
  private lastLeaderContact = 0;
  private leaderSince = 0;
  private commitWaiters: Waiter[] = [];
  private pollWaiters = new Set<() => void>();
  private supervision?: Supervision;
  private lastCompactionAt = 0;
  private clientIds = new Map<string, number>();
  private disk?: RaftDisk;

  constructor(private o: AgentOptions) {
    const ident = loadOrCreateId(o.dataDir, 'AGNT', o.id);
    this.id = ident.id;
    this.mustCatchUp = false;
    this.log = o.log;
    this.pool.set(this.id, o.myAddress);
    if (o.dataDir) this.recover(new RaftDisk(o.dataDir));
    this.http = new HttpClient(o.net, bearerHeader(o.jwtSecret, this.id));
    this.server = new SimServer({ listen: o.listen, jwtSecret: o.jwtSecret, log: (m) => this.log.warn(m) });
    this.routes();
  }

  /** Restores term, vote, snapshot and log from the data directory (a restart keeps the agent's history). */
  private recover(disk: RaftDisk): void {
    const st = disk.load();
    this.disk = disk;
    this.term = st.term;
    this.votedFor = st.votedFor;
    if (st.snapshot) {
      this.snapshotIndex = st.snapshot.index;
      this.snapshotTerm = st.snapshot.term;
      this.snapshot = st.snapshot.store;
      const s = Store.fromJSON(st.snapshot.store.root, st.snapshot.store.ttls);
      this.readDB.root = s.root;
      this.readDB.ttls = s.ttls;
      this.commitIndex = this.lastApplied = st.snapshot.index;
      const pool = this.readDB.get('/.agency/pool');
      if (pool && typeof pool === 'object')
        this.notePoolEntry({ index: 0, term: 0, query: { '/.agency/pool': { op: 'set', new: pool } }, timestamp: 0 });
    }
    this.entries = st.entries as LogEntry[];
    let persistedSelf: unknown = asPool(this.readDB.get('/.agency/pool'))[this.id];
    for (const e of this.entries) {
      if (e.clientId) this.clientIds.set(e.clientId, e.index);
      this.notePoolEntry(e);
      const p = e.query['/.agency/pool'];
      if (p?.op === 'set') persistedSelf = asPool(p.new)[this.id] ?? persistedSelf;
    }
    this.poolConfirmed = persistedSelf === this.o.myAddress;
    if (this.lastIndex > 0)
      this.log.info(
        `recovered agency state: term ${this.term}, log up to ${this.lastIndex} (snapshot ${this.snapshotIndex})`,
      );
  }

  private persistVote(): void {
    this.disk?.vote(this.term, this.votedFor);
  }

  get endpoint(): string {
    return this.o.myAddress;
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  async start(): Promise<void> {
    await this.server.start();
    this.log.info(
      `simulated agent ${this.id} listening on ${this.o.listen.host}:${this.server.port}, address ${this.o.myAddress}`,
    );
    this.checkPoolComplete();
    void this.gossipLoop();
  }

  async stop(): Promise<void> {
    this.lc.stop();
    this.supervision?.stop();
    for (const w of this.commitWaiters) w.reject(new NotLeaderError('stopped'));
    this.commitWaiters = [];
    for (const w of this.pollWaiters) w();
    this.http.close();
    await this.server.stop();
    this.disk?.close();
    this.log.info(`simulated agent ${this.id} stopped`);
  }

  // ---------------------------------------------------------------- gossip and pool

  private async gossipLoop(): Promise<void> {
    // Gossip until the pool is complete, and keep gossiping (slowly) while a replacement has not heard from a
    // leader yet, so the pool learns our new endpoint even if the first agents we reached could not persist it.
    while (!this.lc.stopped && (!this.poolComplete || this.mustCatchUp || !this.poolConfirmed)) {
      const targets = new Set<string>([...this.o.endpoints, ...this.pool.values()]);
      targets.delete(this.o.myAddress);
      for (const ep of targets) {
        if (this.lc.stopped || (this.poolComplete && !this.mustCatchUp && this.poolConfirmed)) break;
        try {
          let target = ep;
          for (let hop = 0; hop < 3; hop++) {
            const r = await this.http.request(target, '/_api/agency_priv/gossip', {
              body: { id: this.id, endpoint: this.o.myAddress, pool: Object.fromEntries(this.pool) },
              timeoutMs: 2000,
            });
            if (r.status === 307 && typeof r.headers.location === 'string') {
              target = new URL(r.headers.location).origin;
              continue;
            }
            if (r.status === 403) {
              this.log.warn(`FATAL: gossip refused by ${ep}: ${JSON.stringify(r.body)}`);
              void this.stop();
              this.o.onFatal?.();
              return;
            }
            if (r.status === 200)
              this.mergeGossip(
                r.body as { pool?: Record<string, string>; complete?: boolean; commitIndex?: number; term?: number },
              );
            break;
          }
        } catch {
          /* peer not up yet */
        }
      }
      await this.lc.sleep(this.poolComplete ? 2000 : 300).catch(() => undefined);
    }
  }

  private mergeGossip(b: {
    pool?: Record<string, string>;
    complete?: boolean;
    commitIndex?: number;
    term?: number;
  }): void {
    const theirs = b.pool ?? {};
    if (theirs[this.id] === this.o.myAddress) this.poolConfirmed = true;
    if (b.complete) {
      // The pool already existed without us: take it as is (our own endpoint wins). If the agency already has
      // a history we replace an agent with an empty log: do not stand for election before a leader contacted
      // us, and do not vote in the terms our predecessor may have voted in.
      for (const [id, ep] of Object.entries(theirs)) if (id !== this.id) this.pool.set(id, ep);
      if ((b.commitIndex ?? 0) > 0 && this.lastIndex === 0) {
        this.mustCatchUp = true;
        if ((b.term ?? 0) >= this.term) {
          this.term = b.term ?? 0;
          this.votedFor = '(predecessor)';
          this.persistVote();
        }
      }
    } else {
      for (const [id, ep] of Object.entries(theirs)) if (!this.pool.has(id)) this.pool.set(id, ep);
    }
    this.checkPoolComplete();
  }

  private checkPoolComplete(): void {
    if (this.poolComplete || this.pool.size < this.o.size) return;
    if (this.pool.size > this.o.size) {
      this.log.warn(`pool has ${this.pool.size} agents but --agency.size is ${this.o.size}`);
    }
    this.poolComplete = true;
    this.log.info(`agency pool complete: ${[...this.pool].map(([i, e]) => `${i}=${e}`).join(', ')}`);
    this.becomeFollower(this.term, null);
  }

  private gossipHandler(req: SimRequest): SimResponse {
    const b = (req.body ?? {}) as { id?: string; endpoint?: string; pool?: Record<string, string> };
    if (typeof b.id !== 'string' || typeof b.endpoint !== 'string') return arangoError(400, 400, 'bad gossip');
    if (!this.poolComplete) {
      if (!this.pool.has(b.id)) this.pool.set(b.id, b.endpoint);
      for (const [id, ep] of Object.entries(b.pool ?? {})) if (!this.pool.has(id)) this.pool.set(id, ep);
      this.checkPoolComplete();
      return ok({ id: this.id, endpoint: this.o.myAddress, pool: Object.fromEntries(this.pool), complete: false });
    }
    if (!this.pool.has(b.id)) {
      return arangoError(403, 403, `Gossip message from unknown agent ${b.id}: the agency pool is complete`);
    }
    if (this.pool.get(b.id) !== b.endpoint) {
      // A known ID from a new address (disaster recovery). The leader persists the new pool through Raft; a
      // follower sends the agent to the leader, or, without a leader, adopts the endpoint locally so an election
      // can include the newcomer (the next leader persists its pool with its first entry).
      if (this.role !== 'leader' && this.leaderId) return this.redirectOrUnavailable(req);
      this.log.info(`agent ${b.id} rejoins from new endpoint ${b.endpoint}; updating the pool`);
      if (this.role === 'leader')
        this.appendLocal({
          '/.agency/pool': { op: 'set', new: { ...Object.fromEntries(this.pool), [b.id]: b.endpoint } },
        });
      else this.pool.set(b.id, b.endpoint);
    }
    return ok({
      id: this.id,
      endpoint: this.o.myAddress,
      pool: Object.fromEntries(this.pool),
      complete: true,
      commitIndex: this.commitIndex,
      term: this.term,
    });
  }

  /** Applies a pool change carried by a log entry (appended on the leader, received on followers). */
  private notePoolEntry(e: LogEntry): void {
    const p = e.query['/.agency/pool'];
    if (!p || p.op !== 'set' || typeof p.new !== 'object' || p.new === null) return;
    for (const [id, ep] of Object.entries(p.new as Record<string, string>)) {
      if (id === this.id) continue;
      if (this.pool.get(id) !== ep) {
        this.pool.set(id, ep);
        const peer = this.peers.get(id);
        if (peer) {
          // A different process now answers under this ID: it knows nothing we sent its predecessor.
          peer.matchIndex = 0;
          peer.nextIndex = this.lastIndex + 1;
          peer.lastAcked = 0;
        }
      }
    }
  }

  // ---------------------------------------------------------------- Raft

  private majority(): number {
    return Math.floor(this.o.size / 2) + 1;
  }

  private termAt(index: number): number {
    if (index === 0) return 0;
    if (index === this.snapshotIndex) return this.snapshotTerm;
    const e = this.entries[index - this.snapshotIndex - 1];
    return e ? e.term : -1;
  }

  private entryAt(index: number): LogEntry | undefined {
    return this.entries[index - this.snapshotIndex - 1];
  }

  private resetElectionTimer(): void {
    this.lc.clear(this.electionTimer);
    const min = this.o.electionTimeoutMin * 1000;
    const max = this.o.electionTimeoutMax * 1000;
    this.electionTimer = this.lc.timeout(min + Math.random() * (max - min), () => void this.startElection());
  }

  private becomeFollower(term: number, leaderId: string | null): void {
    const wasLeader = this.role === 'leader';
    this.role = 'follower';
    if (term > this.term) {
      this.term = term;
      this.votedFor = null;
      this.persistVote();
    }
    this.leaderId = leaderId;
    if (wasLeader) {
      this.log.info(`agent ${this.id} no longer leads (term ${this.term})`);
      this.lc.clear(this.heartbeatTimer);
      this.lc.clear(this.ttlTimer);
      this.spearhead = undefined;
      this.supervision?.stop();
      this.supervision = undefined;
      for (const w of this.commitWaiters) w.reject(new NotLeaderError('leadership lost'));
      this.commitWaiters = [];
      for (const w of this.pollWaiters) w();
    }
    if (this.poolComplete) this.resetElectionTimer();
  }

  private async startElection(): Promise<void> {
    if (this.lc.stopped || !this.poolComplete || this.role === 'leader') return;
    if (this.mustCatchUp) {
      this.resetElectionTimer();
      return;
    }
    this.role = 'candidate';
    this.term += 1;
    this.votedFor = this.id;
    this.persistVote();
    this.leaderId = null;
    const term = this.term;
    this.resetElectionTimer();
    let votes = 1;
    const q = new URLSearchParams({
      term: String(term),
      candidateId: this.id,
      prevLogIndex: String(this.lastIndex),
      prevLogTerm: String(this.termAt(this.lastIndex)),
    });
    const asks = [...this.pool]
      .filter(([id]) => id !== this.id)
      .map(async ([, ep]) => {
        try {
          const r = await this.http.request(ep, `/_api/agency_priv/requestVote?${q}`, {
            method: 'POST',
            timeoutMs: 1000,
          });
          const b = r.body as { term?: number; voteGranted?: boolean };
          if (typeof b?.term === 'number' && b.term > this.term) {
            this.becomeFollower(b.term, null);
            return;
          }
          if (b?.voteGranted && this.role === 'candidate' && this.term === term) {
            votes += 1;
            if (votes >= this.majority()) this.becomeLeader();
          }
        } catch {
          /* unreachable peer */
        }
      });
    if (this.majority() <= 1) this.becomeLeader();
    await Promise.all(asks);
  }

  private requestVote(req: SimRequest): SimResponse {
    const term = Number(req.query.get('term'));
    const candidate = req.query.get('candidateId') ?? '';
    const lastIdx = Number(req.query.get('prevLogIndex'));
    const lastTerm = Number(req.query.get('prevLogTerm'));
    if (!this.poolComplete || !this.pool.has(candidate)) return ok({ term: this.term, voteGranted: false });
    // Leader stickiness: while we hear from a live leader (or lead with a live majority), ignore candidates.
    const now = Date.now();
    if (this.role === 'follower' && this.leaderId && now - this.lastLeaderContact < this.o.electionTimeoutMin * 1000) {
      return ok({ term: this.term, voteGranted: false });
    }
    if (this.role === 'leader' && this.majorityAcked(now)) return ok({ term: this.term, voteGranted: false });
    if (term > this.term) this.becomeFollower(term, null);
    if (term < this.term) return ok({ term: this.term, voteGranted: false });
    const myLastTerm = this.termAt(this.lastIndex);
    const upToDate = lastTerm > myLastTerm || (lastTerm === myLastTerm && lastIdx >= this.lastIndex);
    if ((this.votedFor === null || this.votedFor === candidate) && upToDate) {
      this.votedFor = candidate;
      this.persistVote();
      this.resetElectionTimer();
      return ok({ term: this.term, voteGranted: true });
    }
    return ok({ term: this.term, voteGranted: false });
  }

  private becomeLeader(): void {
    if (this.role === 'leader') return;
    this.role = 'leader';
    this.leaderId = this.id;
    this.leaderSince = Date.now();
    this.lc.clear(this.electionTimer);
    this.log.info(`agent ${this.id} leads the agency (term ${this.term})`);
    this.peers.clear();
    for (const id of this.pool.keys()) {
      if (id === this.id) continue;
      this.peers.set(id, {
        id,
        nextIndex: this.lastIndex + 1,
        matchIndex: 0,
        lastAcked: Date.now(),
        lastAckedIndex: 0,
        inflight: false,
        again: false,
      });
    }
    // Spearhead = committed state + every entry we hold beyond it (they will be committed by our no-op).
    this.spearhead = Store.fromJSON(this.readDB.root, [...this.readDB.ttls]);
    for (let i = this.lastApplied + 1; i <= this.lastIndex; i++)
      this.spearhead.applyOps(normalizeOps(this.entryAt(i)!.query));
    this.transient.root = {};
    this.appendLocal({ '/.agency/pool': { op: 'set', new: Object.fromEntries(this.pool) } });
    const hbMs = Math.max(50, (this.o.electionTimeoutMin * 1000) / 4);
    this.heartbeatTimer = this.lc.interval(hbMs, () => this.heartbeat());
    this.ttlTimer = this.lc.interval(1000, () => this.expireTtls());
    if (this.o.supervision) {
      this.supervision = new Supervision(this, { ...this.o.supervisionOptions, log: this.log });
      this.supervision.start();
    }
  }

  private heartbeat(): void {
    if (this.role !== 'leader') return;
    // Resign when a majority has not acked recently (AGENT challengeLeadership): no stale leader serves reads.
    const now = Date.now();
    if (!this.majorityAcked(now) && now - this.leaderSince > this.o.electionTimeoutMin * 1000) {
      this.log.warn(`agent ${this.id} lost contact with a majority; resigning leadership`);
      this.becomeFollower(this.term, null);
      return;
    }
    for (const p of this.peers.values()) void this.replicate(p);
  }

  /** Has a majority (us included) acked within the lease window? Without it the leader steps down. */
  private majorityAcked(now: number): boolean {
    const window = Math.min(2 * this.o.electionTimeoutMin, this.o.electionTimeoutMax) * 1000;
    let alive = 1;
    for (const p of this.peers.values()) if (now - p.lastAcked < window) alive += 1;
    return alive >= this.majority();
  }

  /** Appends an entry as leader (to the log and the spearhead); returns its index. */
  private appendLocal(query: Record<string, unknown>, clientId?: string): number {
    const ops = normalizeOps(query);
    const q: Record<string, Operation> = {};
    for (const [p, o] of ops) q[p] = o;
    const e: LogEntry = { index: this.lastIndex + 1, term: this.term, query: q, clientId, timestamp: Date.now() };
    this.entries.push(e);
    this.disk?.append([e]);
    if (clientId) this.clientIds.set(clientId, e.index);
    this.spearhead?.applyOps(ops);
    this.notePoolEntry(e);
    for (const p of this.peers.values()) void this.replicate(p);
    this.advanceCommit();
    return e.index;
  }

  private async replicate(p: Peer): Promise<void> {
    if (this.role !== 'leader' || this.lc.stopped) return;
    if (p.inflight) {
      p.again = true;
      return;
    }
    const ep = this.pool.get(p.id);
    if (!ep) return;
    p.inflight = true;
    p.again = false;
    const term = this.term;
    try {
      if (p.nextIndex <= this.snapshotIndex) {
        const r = await this.http.request(ep, `/_api/agency_priv/installSnapshot?term=${term}&leaderId=${this.id}`, {
          body: { index: this.snapshotIndex, term: this.snapshotTerm, snapshot: this.snapshot },
          timeoutMs: 10_000,
        });
        const b = r.body as { term?: number; success?: boolean };
        if (b?.term !== undefined && b.term > this.term) return this.becomeFollower(b.term, null);
        if (b?.success) {
          p.matchIndex = Math.max(p.matchIndex, this.snapshotIndex);
          p.nextIndex = this.snapshotIndex + 1;
          p.lastAcked = Date.now();
          p.again = true;
        }
        return;
      }
      const prev = p.nextIndex - 1;
      const batch = this.entries.slice(prev - this.snapshotIndex, prev - this.snapshotIndex + 500);
      const q = new URLSearchParams({
        term: String(term),
        leaderId: this.id,
        prevLogIndex: String(prev),
        prevLogTerm: String(this.termAt(prev)),
        leaderCommit: String(this.commitIndex),
      });
      const sentAt = Date.now();
      const r = await this.http.request(ep, `/_api/agency_priv/appendEntries?${q}`, { body: batch, timeoutMs: 5000 });
      if (this.role !== 'leader' || this.term !== term) return;
      const b = r.body as { term?: number; success?: boolean; lastIndex?: number };
      if (r.status === 200 && b?.term !== undefined && b.term > this.term) return this.becomeFollower(b.term, null);
      if (r.status !== 200) return;
      p.lastAcked = sentAt;
      if (b.success) {
        p.matchIndex = Math.max(p.matchIndex, prev + batch.length);
        p.lastAckedIndex = p.matchIndex;
        p.nextIndex = p.matchIndex + 1;
        this.advanceCommit();
        if (p.nextIndex <= this.lastIndex) p.again = true;
      } else {
        p.nextIndex = Math.max(1, Math.min(p.nextIndex - 1, (b.lastIndex ?? 0) + 1));
        p.again = true;
      }
    } catch {
      /* unreachable: retried on the next heartbeat */
    } finally {
      p.inflight = false;
      if (p.again && this.role === 'leader') void this.replicate(p);
    }
  }

  private advanceCommit(): void {
    if (this.role !== 'leader') return;
    const matches = [this.lastIndex, ...[...this.peers.values()].map((p) => p.matchIndex)].sort((a, b) => b - a);
    const n = matches[this.majority() - 1] ?? 0;
    if (n > this.commitIndex && this.termAt(n) === this.term) {
      this.commitIndex = n;
      this.applyCommitted();
    }
  }

  private applyCommitted(): void {
    let changed = false;
    while (this.lastApplied < this.commitIndex) {
      const e = this.entryAt(this.lastApplied + 1);
      if (!e) break;
      this.readDB.applyOps(normalizeOps(e.query));
      this.lastApplied += 1;
      changed = true;
    }
    if (!changed) return;
    if (this.commitWaiters.length) {
      const done = this.commitWaiters.filter((w) => w.index <= this.commitIndex);
      this.commitWaiters = this.commitWaiters.filter((w) => w.index > this.commitIndex);
      for (const w of done) w.resolve();
    }
    for (const w of [...this.pollWaiters]) w();
    this.maybeCompact();
  }

  private maybeCompact(): void {
    const step = this.o.compactionStep ?? 5000;
    if (this.lastApplied - this.snapshotIndex < step) return;
    const idx = this.lastApplied;
    this.snapshotTerm = this.termAt(idx);
    this.snapshot = JSON.parse(JSON.stringify(this.readDB.toJSON())) as typeof this.snapshot;
    this.entries = this.entries.slice(idx - this.snapshotIndex);
    this.snapshotIndex = idx;
    this.lastCompactionAt = idx;
    this.disk?.snapshot(
      { index: idx, term: this.snapshotTerm, store: this.snapshot },
      this.term,
      this.votedFor,
      this.entries,
    );
    if (this.clientIds.size > 10_000) this.clientIds.clear();
  }

  private appendEntries(req: SimRequest): SimResponse {
    const term = Number(req.query.get('term'));
    const leaderId = req.query.get('leaderId') ?? '';
    const prev = Number(req.query.get('prevLogIndex'));
    const prevTerm = Number(req.query.get('prevLogTerm'));
    const leaderCommit = Number(req.query.get('leaderCommit'));
    if (term < this.term) return ok({ term: this.term, success: false, lastIndex: this.lastIndex });
    if (!this.poolComplete) return ok({ term: this.term, success: false, lastIndex: this.lastIndex });
    if (this.role !== 'follower' || term > this.term || this.leaderId !== leaderId) this.becomeFollower(term, leaderId);
    this.leaderId = leaderId;
    this.lastLeaderContact = Date.now();
    this.resetElectionTimer();
    if (prev > this.lastIndex || (prev >= this.snapshotIndex && this.termAt(prev) !== prevTerm)) {
      return ok({
        term: this.term,
        success: false,
        lastIndex: Math.min(this.lastIndex, Math.max(this.snapshotIndex, prev - 1)),
      });
    }
    const batch = (Array.isArray(req.body) ? req.body : []) as LogEntry[];
    const added: LogEntry[] = [];
    for (const e of batch) {
      if (e.index <= this.snapshotIndex) continue;
      const mine = this.entryAt(e.index);
      if (mine && mine.term === e.term) continue;
      if (mine) {
        this.entries.length = e.index - this.snapshotIndex - 1; // conflict: drop ours from here on
        this.disk?.truncateFrom(e.index);
      }
      this.entries.push(e);
      added.push(e);
      if (e.clientId) this.clientIds.set(e.clientId, e.index);
      this.notePoolEntry(e);
    }
    this.disk?.append(added);
    if (this.mustCatchUp && this.lastIndex >= prev + batch.length) this.mustCatchUp = false;
    const lastNew = prev + batch.length;
    if (leaderCommit > this.commitIndex) {
      this.commitIndex = Math.min(leaderCommit, Math.max(lastNew, this.commitIndex));
      this.applyCommitted();
    }
    return ok({ term: this.term, success: true, lastIndex: this.lastIndex });
  }

  private installSnapshot(req: SimRequest): SimResponse {
    const term = Number(req.query.get('term'));
    const leaderId = req.query.get('leaderId') ?? '';
    if (term < this.term) return ok({ term: this.term, success: false });
    if (this.role !== 'follower' || term > this.term) this.becomeFollower(term, leaderId);
    this.leaderId = leaderId;
    this.lastLeaderContact = Date.now();
    this.resetElectionTimer();
    const b = req.body as { index: number; term: number; snapshot: { root: JsonObject; ttls: [string, number][] } };
    if (b.index <= this.commitIndex) return ok({ term: this.term, success: true });
    this.snapshotIndex = b.index;
    this.snapshotTerm = b.term;
    this.snapshot = b.snapshot;
    this.entries = [];
    const s = Store.fromJSON(b.snapshot.root, b.snapshot.ttls);
    this.readDB.root = s.root;
    this.readDB.ttls = s.ttls;
    this.commitIndex = b.index;
    this.lastApplied = b.index;
    this.mustCatchUp = false;
    this.disk?.snapshot({ index: b.index, term: b.term, store: b.snapshot }, this.term, this.votedFor, []);
    const pool = this.readDB.get('/.agency/pool');
    if (pool && typeof pool === 'object') {
      this.notePoolEntry({
        index: b.index,
        term: b.term,
        query: { '/.agency/pool': { op: 'set', new: pool } },
        timestamp: 0,
      });
    }
    this.log.info(`installed agency snapshot at index ${b.index}`);
    for (const w of [...this.pollWaiters]) w();
    return ok({ term: this.term, success: true });
  }

  private expireTtls(): void {
    if (this.role !== 'leader' || !this.spearhead) return;
    const keys = this.spearhead.expired(Date.now());
    if (keys.length === 0) return;
    const q: Record<string, unknown> = {};
    for (const k of keys) q[k] = { op: 'delete' };
    this.appendLocal(q);
  }

  // ---------------------------------------------------------------- client API

  private waitCommitted(index: number, timeoutMs = 30_000): Promise<void> {
    if (index <= this.commitIndex) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { index, resolve, reject };
      this.commitWaiters.push(w);
      this.lc.timeout(timeoutMs, () => {
        if (this.commitWaiters.includes(w)) {
          this.commitWaiters = this.commitWaiters.filter((x) => x !== w);
          reject(new Error('timeout waiting for commit'));
        }
      });
    });
  }

  private redirectOrUnavailable(req: SimRequest): SimResponse {
    const leaderEp = this.leaderId ? this.pool.get(this.leaderId) : undefined;
    if (this.leaderId && leaderEp && this.leaderId !== this.id) {
      const qs = req.query.toString();
      const dbPrefix = req.db !== '_system' ? `/_db/${encodeURIComponent(req.db)}` : '';
      return {
        status: 307,
        headers: { location: `${endpointToUrl(leaderEp)}${dbPrefix}${req.path}${qs ? `?${qs}` : ''}` },
        body: undefined,
      };
    }
    return { status: 503, body: { message: 'No leader' } };
  }

  /**
   * Applies write transactions as leader. Used by /_api/agency/write|transact and by supervision. Each entry:
   * [ops, preconditions?, clientId?]. Returns raft indices (0 = precondition failed) and failed keys per slot.
   */
  applyWrites(trxs: unknown[][]): { results: number[]; failedKeys: string[][] } {
    if (this.role !== 'leader' || !this.spearhead) throw new NotLeaderError('not leader');
    const results: number[] = [];
    const failedKeys: string[][] = [];
    const now = Date.now();
    for (const t of trxs) {
      const ops = normalizeOps(t[0] as Record<string, unknown>);
      const failed = this.spearhead.failedPreconditions(t[1] as Record<string, unknown> | undefined);
      if (failed.length > 0) {
        results.push(0);
        failedKeys.push(failed);
        continue;
      }
      const q: Record<string, unknown> = {};
      for (const [p, o] of ops)
        q[p] = o.op === 'set' && typeof o.ttl === 'number' && o.ttl > 0 ? { ...o, expires: now + o.ttl * 1000 } : o;
      results.push(this.appendLocal(q, typeof t[2] === 'string' ? t[2] : undefined));
      failedKeys.push([]);
    }
    return { results, failedKeys };
  }

  /** Writes as leader and waits for the commit (supervision uses this). */
  async writeAndCommit(trxs: unknown[][]): Promise<number[]> {
    const { results } = this.applyWrites(trxs);
    const max = Math.max(0, ...results);
    if (max > 0) await this.waitCommitted(max);
    return results;
  }

  private validateTrxs(body: unknown, allowReads: boolean): unknown[][] | SimResponse {
    if (!Array.isArray(body) || !body.every((t) => Array.isArray(t) && t.length >= 1 && t.length <= 3)) {
      return arangoError(400, 400, 'Expecting array of arrays as body for writes');
    }
    for (const t of body as unknown[][]) {
      if (allowReads && typeof t[0] === 'string') continue;
      if (typeof t[0] !== 'object' || t[0] === null || Array.isArray(t[0])) {
        return arangoError(400, 400, 'Expecting array of arrays as body for writes');
      }
      try {
        if (
          touchesReserved(normalizeOps(t[0] as Record<string, unknown>), t[1] as Record<string, unknown> | undefined)
        ) {
          return arangoError(403, 403, 'Agency key /.agency is reserved');
        }
      } catch (e) {
        if (e instanceof StoreError) return arangoError(400, 400, e.message);
        throw e;
      }
    }
    return body as unknown[][];
  }

  private async commitOrFail(indices: number[], req: SimRequest): Promise<SimResponse | undefined> {
    const mode = String(req.headers['x-arangodb-agency-mode'] ?? 'waitForCommitted');
    const max = Math.max(0, ...indices);
    if (max === 0 || mode === 'noWait' || mode === 'waitForSequenced') return undefined;
    try {
      await this.waitCommitted(max);
      return undefined;
    } catch (e) {
      if (e instanceof NotLeaderError) return { status: 503, body: { message: 'No leader (commit outcome unknown)' } };
      return arangoError(408, 408, 'timeout waiting for commit');
    }
  }

  private async handleWrite(req: SimRequest): Promise<SimResponse> {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const trxs = this.validateTrxs(req.body, false);
    if (!Array.isArray(trxs)) return trxs;
    let results: number[];
    try {
      ({ results } = this.applyWrites(trxs));
    } catch (e) {
      if (e instanceof StoreError) return arangoError(400, 400, e.message);
      throw e;
    }
    const err = await this.commitOrFail(results, req);
    if (err) return err;
    if (String(req.headers['x-arangodb-agency-mode'] ?? '') === 'noWait') return { status: 200 };
    return { status: results.includes(0) ? 412 : 200, body: { results } };
  }

  private readTrx(paths: unknown[]): JsonObject {
    return this.readDB.read(paths.filter((p): p is string => typeof p === 'string'));
  }

  private handleRead(req: SimRequest): SimResponse {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const body = req.body;
    if (!Array.isArray(body) || !body.every((t) => Array.isArray(t))) {
      return arangoError(400, 400, 'Expecting array of arrays as body for reads');
    }
    // Serialise now: the projection shares nodes with the live store.
    return { status: 200, body: JSON.parse(JSON.stringify((body as unknown[][]).map((t) => this.readTrx(t)))) };
  }

  private async handleTransact(req: SimRequest): Promise<SimResponse> {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const trxs = this.validateTrxs(req.body, true);
    if (!Array.isArray(trxs)) return trxs;
    const out: unknown[] = [];
    let failedAny = false;
    let max = 0;
    for (const t of trxs) {
      if (typeof t[0] === 'string') {
        // Reads in a transact see the writes before them (they are answered after the commit of those writes).
        out.push(JSON.parse(JSON.stringify(this.spearhead!.read(t.filter((p): p is string => typeof p === 'string')))));
        continue;
      }
      const { results, failedKeys } = this.applyWrites([t]);
      if (results[0] === 0) {
        failedAny = true;
        out.push(JSON.parse(JSON.stringify(this.spearhead!.read(failedKeys[0]))));
      } else {
        max = Math.max(max, results[0]);
        out.push(results[0]);
      }
    }
    const err = await this.commitOrFail([max], req);
    if (err) return err;
    return { status: failedAny ? 412 : 200, body: out };
  }

  private handleTransient(req: SimRequest): SimResponse {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const trxs = this.validateTrxs(req.body, true);
    if (!Array.isArray(trxs)) return trxs;
    const results: unknown[] = [];
    for (const t of trxs) {
      if (typeof t[0] === 'string') {
        results.push(JSON.parse(JSON.stringify(this.transient.read(t as string[]))));
        continue;
      }
      const failed = this.transient.failedPreconditions(t[1] as Record<string, unknown> | undefined);
      if (failed.length) {
        results.push(0);
        continue;
      }
      this.transient.applyOps(normalizeOps(t[0] as Record<string, unknown>));
      results.push(1);
    }
    return { status: results.includes(0) ? 412 : 200, body: { results } };
  }

  private async handlePoll(req: SimRequest): Promise<SimResponse> {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const index = Number(req.query.get('index') ?? 0);
    const timeout = Math.min(60, Number(req.query.get('timeout') ?? 10)) * 1000;
    const firstIndex = this.snapshotIndex + 1;
    if (index === 0 || index < firstIndex) {
      return ok({
        error: false,
        code: 200,
        result: {
          commitIndex: this.commitIndex,
          firstIndex: this.commitIndex,
          readDB: [JSON.parse(JSON.stringify(this.readDB.root))],
        },
      });
    }
    if (index > this.commitIndex) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          if (this.commitIndex >= index || this.role !== 'leader' || this.lc.stopped) {
            this.pollWaiters.delete(done);
            this.lc.clear(t);
            resolve();
          }
        };
        const t = this.lc.timeout(timeout, () => {
          this.pollWaiters.delete(done);
          resolve();
        });
        this.pollWaiters.add(done);
      });
      if (this.role !== 'leader') return { status: 503, body: { message: 'No leader' } };
    }
    const log: { index: number; query: Record<string, Operation> }[] = [];
    for (let i = index; i <= this.commitIndex && log.length < 2000; i++) {
      const e = this.entryAt(i);
      if (e) log.push({ index: e.index, query: e.query });
    }
    return ok({ error: false, code: 200, result: { commitIndex: this.commitIndex, firstIndex: index, log } });
  }

  configBody(): Record<string, Json> {
    const now = Date.now();
    const lastAcked: Record<string, Json> = {};
    if (this.role === 'leader') {
      for (const p of this.peers.values()) {
        lastAcked[p.id] = {
          lastAckedTime: (now - p.lastAcked) / 1000,
          lastAckedIndex: p.matchIndex,
          lastAppend: (now - p.lastAcked) / 1000,
        };
      }
      lastAcked[this.id] = { lastAckedTime: 0, lastAckedIndex: this.lastIndex, lastAppend: 0 };
    }
    return {
      term: this.term,
      leaderId: this.leaderId ?? '',
      commitIndex: this.commitIndex,
      lastCompactionAt: this.lastCompactionAt,
      nextCompactionAfter: this.snapshotIndex + (this.o.compactionStep ?? 5000),
      lastAcked,
      configuration: {
        pool: Object.fromEntries(this.pool),
        active: [...this.pool.keys()],
        id: this.id,
        'agency size': this.o.size,
        'pool size': this.o.size,
        endpoint: this.o.myAddress,
        'min ping': this.o.electionTimeoutMin,
        'max ping': this.o.electionTimeoutMax,
        timeoutMult: 1,
        supervision: this.o.supervision,
        'supervision frequency': this.o.supervisionOptions.frequency,
        'compaction step size': this.o.compactionStep ?? 5000,
        'compaction keep size': 0,
        'supervision grace period': this.o.supervisionOptions.gracePeriod,
        'supervision ok threshold': this.o.supervisionOptions.okThreshold,
        version: 1,
        startup: 'origin',
      },
      engine: 'rocksdb',
      version: SIM_VERSION,
      leading: this.role === 'leader',
      simulated: true,
    };
  }

  private inquire(req: SimRequest): SimResponse {
    if (this.role !== 'leader') return this.redirectOrUnavailable(req);
    const ids = Array.isArray(req.body) ? (req.body as unknown[]) : [];
    const results = ids.map((id) => (typeof id === 'string' ? (this.clientIds.get(id) ?? 0) : 0));
    if (results.includes(0)) return { status: 404, body: { results, inquired: true } };
    return ok({ results, inquired: true });
  }

  private routes(): void {
    const s = this.server;
    s.on('POST', '/_api/agency/write', (r) => this.handleWrite(r));
    s.on('POST', '/_api/agency/read', (r) => this.handleRead(r));
    s.on('POST', '/_api/agency/transact', (r) => this.handleTransact(r));
    s.on('POST', '/_api/agency/transient', (r) => this.handleTransient(r));
    s.on('POST', '/_api/agency/inquire', (r) => this.inquire(r));
    s.on('GET', '/_api/agency/poll', (r) => this.handlePoll(r));
    s.on('GET', '/_api/agency/config', () => ok(this.configBody()));
    s.on('*', /^\/_api\/agency\/(write|read|transact|transient|config|poll|inquire)$/, () =>
      arangoError(405, 405, 'method not allowed'),
    );
    s.on('POST', '/_api/agency_priv/gossip', (r) => this.gossipHandler(r));
    s.on('POST', '/_api/agency_priv/requestVote', (r) => this.requestVote(r));
    s.on('POST', '/_api/agency_priv/appendEntries', (r) => this.appendEntries(r));
    s.on('POST', '/_api/agency_priv/installSnapshot', (r) => this.installSnapshot(r));
    s.on('GET', '/_api/version', () =>
      ok({ server: 'arango', version: SIM_VERSION, license: 'community', simulated: true }),
    );
    s.on('GET', '/_admin/server/availability', () => ok({ mode: 'default' }), { open: true });
    s.on('GET', '/_admin/server/role', () => ok({ error: false, code: 200, errorNum: 0, role: 'AGENT' }));
    s.on('GET', '/_admin/server/id', () => ok({ error: false, code: 200, id: this.id }));
  }
}

function asPool(v: unknown): Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, string>) : {};
}
