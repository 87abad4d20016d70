// A simulated DB server. It follows Plan like the real maintenance loop: creates shard copies planned on it,
// takes over leadership when it becomes Plan leader, resigns when Plan marks it "_<id>" (stops accepting writes,
// finishes in-flight ones, then reports "_<id>" in Current), synchronises a copy from the leader when it is a
// planned follower (initial copy at the modelled bandwidth while the leader forwards new writes, then a final
// handshake after which the leader lists it in Current), and drops copies no longer planned on it. As leader it
// replicates every write synchronously to its in-sync (and syncing) followers before acknowledging, drops a
// follower that fails (persisting Current first), and refuses writes when fewer than writeConcern copies are
// in sync. Documents live in memory per shard per server, so a lost copy is really lost.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterMember, type MemberOptions } from './member.js';
import { Link } from './bandwidth.js';
import { ClientLatency } from './client-latency.js';
import { GroupCommit } from './batch.js';
import { arangoError, fail, ok, type SimRequest, type SimResponse } from './server.js';
import { asArray, asDict } from './cluster-state.js';
import { docHash } from './hash.js';
import { checksumOf } from './checksum.js';
import { splitPath } from './store.js';

export interface DBServerOptions extends MemberOptions {
  /** Modelled bandwidth per direction (bytes/s); Infinity = unbounded. */
  bandwidth: number;
  /** Modelled bytes per document when the collection does not say (Plan attribute simBytesPerDocument). */
  defaultBytesPerDocument: number;
  /** Keep shard copies in a journal in the data directory, so a restarted server has its data (default true). */
  persist?: boolean;
  /** The client-latency model on the request path (src/sim/client-latency.ts; default: TRANSIT_SIM_CLIENT_LATENCY=1). */
  clientLatency?: boolean;
}

/**
 * The DB server's documents on disk: an append-only journal of shard creations, document versions, deletions
 * and dropped copies, written synchronously before a write is acknowledged (so killing the process loses
 * nothing acknowledged), replayed and compacted at start.
 */
class ShardJournal {
  private fd?: number;
  private buf: string[] = [];

  constructor(private file: string) {}

  /** Replays the journal into shard copies and rewrites it compactly. */
  load(): ShardCopy[] {
    const copies = new Map<string, ShardCopy>();
    if (existsSync(this.file)) {
      for (const line of readFileSync(this.file, 'utf8').split('\n')) {
        if (!line) continue;
        let e: { s: string; db?: string; c?: string; p?: Doc; k?: string; r?: string; x?: number };
        try {
          e = JSON.parse(line);
        } catch {
          continue; // a torn last line
        }
        if (e.x) {
          copies.delete(e.s);
          continue;
        }
        let copy = copies.get(e.s);
        if (!copy && e.db && e.c) {
          copy = new ShardCopy(e.db, e.c, e.s);
          copies.set(e.s, copy);
        }
        if (!copy) continue;
        if (e.p) copy.put(e.p);
        else if (e.k && e.r) copy.del(e.k, e.r);
      }
    }
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    for (const c of copies.values()) {
      const lines = [JSON.stringify({ s: c.shard, db: c.db, c: c.cid })];
      for (const d of c.docs.values()) lines.push(JSON.stringify({ s: c.shard, p: d }));
      writeSync(fd, lines.join('\n') + '\n');
    }
    closeSync(fd);
    renameSync(tmp, this.file);
    this.fd = openSync(this.file, 'a');
    return [...copies.values()];
  }

  created(c: ShardCopy): void {
    this.buf.push(JSON.stringify({ s: c.shard, db: c.db, c: c.cid }));
  }

  put(c: ShardCopy, d: Doc): void {
    this.buf.push(JSON.stringify({ s: c.shard, p: d }));
  }

  del(c: ShardCopy, key: string, rev: string): void {
    this.buf.push(JSON.stringify({ s: c.shard, k: key, r: rev }));
  }

  dropped(c: ShardCopy): void {
    this.buf.push(JSON.stringify({ s: c.shard, x: 1 }));
    this.flush();
  }

  /** Writes what is buffered; called before anything is acknowledged. */
  flush(): void {
    if (this.buf.length === 0 || this.fd === undefined) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    writeSync(this.fd, text);
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface Doc {
  _key: string;
  _rev: string;
  [k: string]: unknown;
}

interface SyncSession {
  id: string;
  follower: string;
  docs: Doc[];
  bpd: number;
  /** When the copy started and how many writes were forwarded during it (the final catch-up's hold). */
  started: number;
  writes: number;
}

type WriteOp =
  /** overwrite: what an insert of an existing key does (overwriteMode; default conflict = 409/1210). */
  | {
      t: 'insert';
      key: string;
      body: Record<string, unknown>;
      overwrite?: 'ignore' | 'replace' | 'update' | 'conflict';
      keepNull?: boolean;
      mergeObjects?: boolean;
    }
  | { t: 'remove'; key: string; rev?: string }
  /** update = PATCH (merged into the stored document), replace = PUT; `rev`: the expected `_rev` (If-Match, ignoreRevs=false). */
  | {
      t: 'update' | 'replace';
      key: string;
      body: Record<string, unknown>;
      rev?: string;
      keepNull?: boolean;
      mergeObjects?: boolean;
    };
type ReplOp = { t: 'put'; doc: Doc } | { t: 'del'; key: string; rev: string };
/** ResignShardLeadership::LeaderNotYetKnownString: the leader a resigned leader's copy follows until told. */
const LEADER_NOT_YET_KNOWN = 'LEADER_NOT_YET_KNOWN';

export class ShardCopy {
  docs = new Map<string, Doc>();
  tomb = new Map<string, string>();
  h1 = 0;
  h2 = 0;
  role: 'leader' | 'resigned' | 'follower' = 'follower';
  /** Follower: the leader whose replication it accepts (LEADER_NOT_YET_KNOWN after resigning). */
  leader?: string;
  /** Taking over leadership: asking the old leader's in-sync followers to follow (set-the-leader). */
  takingOver = false;
  inSyncWith?: string;
  syncedAt = 0;
  syncing = false;
  retryAt = 0;
  followers = new Set<string>();
  sessions = new Map<string, SyncSession>();
  inflight = 0;
  idle: (() => void)[] = [];
  wantGen = 0;
  doneGen = 0;
  writing = false;
  genWaiters: { g: number; resolve: () => void }[] = [];
  currentWritten = '';
  bytesCopied = 0;
  bytesTotal = 0;
  /** Modelled size (see docBytes): seeded documents, counted at the collection's simBytesPerDocument, and the JSON bytes of the others. */
  seededDocs = 0;
  plainBytes = 0;
  journal?: ShardJournal;
  replicator?: GroupCommit<ReplOp, void>;

  constructor(
    readonly db: string,
    readonly cid: string,
    readonly shard: string,
  ) {}

  private hashDoc(key: string, rev: string): void {
    const [a, b] = docHash(key, rev);
    this.h1 = (this.h1 ^ a) >>> 0;
    this.h2 = (this.h2 ^ b) >>> 0;
  }

  private account(d: Doc, sign: 1 | -1): void {
    if (d.seeded === true) this.seededDocs += sign;
    else this.plainBytes += sign * jsonBytes(d);
  }

  /** Modelled bytes of this copy's documents (figures.documentsSize), `bpd` = the collection's simBytesPerDocument. */
  bytes(bpd: number): number {
    return this.seededDocs * bpd + this.plainBytes;
  }

  /** Applies a document version if it is newer than what this copy has (replication may reorder). */
  put(doc: Doc): boolean {
    const cur = this.docs.get(doc._key)?._rev ?? this.tomb.get(doc._key);
    if (cur !== undefined && Number(cur) >= Number(doc._rev)) return false;
    const old = this.docs.get(doc._key);
    if (old) (this.hashDoc(old._key, old._rev), this.account(old, -1));
    this.docs.set(doc._key, doc);
    this.tomb.delete(doc._key);
    this.hashDoc(doc._key, doc._rev);
    this.account(doc, 1);
    this.journal?.put(this, doc);
    return true;
  }

  del(key: string, rev: string): boolean {
    const cur = this.docs.get(key)?._rev ?? this.tomb.get(key);
    if (cur !== undefined && Number(cur) >= Number(rev)) return false;
    const old = this.docs.get(key);
    if (old) {
      this.hashDoc(old._key, old._rev);
      this.account(old, -1);
      this.docs.delete(key);
    }
    this.tomb.set(key, rev);
    this.journal?.del(this, key, rev);
    return true;
  }

  waitIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }
}

export class DBServer extends ClusterMember {
  readonly copies = new Map<string, ShardCopy>();
  readonly sendLink: Link;
  readonly recvLink: Link;
  /** Simulated client latency: requests share a service queue with the copies on the links (latency-model.ts). */
  readonly clientLatency: ClientLatency;
  private lastRev = 0;
  private dirty: Set<string> | 'all' = 'all';
  private maintaining = false;
  private maintainAgain = false;
  private journal?: ShardJournal;
  /** Current updates of many shards share agency requests (one transaction each, own precondition). */
  private currentWrites = new GroupCommit<unknown[], number[]>(
    async (trxs) => (await this.agency.write(trxs, 15_000)).results,
  );

  constructor(private dbo: DBServerOptions) {
    super(dbo, 'PRIMARY');
    this.sendLink = new Link(dbo.bandwidth);
    this.recvLink = new Link(dbo.bandwidth);
    this.clientLatency = new ClientLatency(
      dbo.clientLatency ?? process.env.TRANSIT_SIM_CLIENT_LATENCY === '1',
      () => this.sendLink.activeFlows + this.recvLink.activeFlows,
    );
    if (dbo.dataDir && dbo.persist !== false) {
      this.journal = new ShardJournal(join(dbo.dataDir, 'shards.journal'));
      for (const c of this.journal.load()) {
        c.journal = this.journal;
        this.copies.set(c.shard, c);
        for (const d of c.docs.values()) this.seeRev(d._rev);
      }
      if (this.copies.size) this.log.info(`recovered ${this.copies.size} shard copies from the data directory`);
    }
    const s = this.server;
    s.on('POST', /^\/_api\/document\/([^/]+)$/, (r) => this.served(() => this.insertHandler(r)));
    s.on('GET', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.served(() => this.readHandler(r)));
    s.on('DELETE', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.served(() => this.removeHandler(r, [r.params[1]])));
    s.on('DELETE', /^\/_api\/document\/([^/]+)$/, (r) =>
      this.served(() =>
        this.removeHandler(
          r,
          asArray(r.body).map((k) => (typeof k === 'string' ? k : String((k as { _key?: string })?._key))),
        ),
      ),
    );
    s.on('PATCH', /^\/_api\/document\/([^/]+)$/, (r) => this.served(() => this.modifyHandler(r, 'update')));
    s.on('PATCH', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.served(() => this.modifyHandler(r, 'update')));
    s.on('PUT', /^\/_api\/document\/([^/]+)$/, (r) => this.served(() => this.modifyHandler(r, 'replace')));
    s.on('PUT', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.served(() => this.modifyHandler(r, 'replace')));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/checksum$/, (r) => this.checksumHandler(r));
    s.on('GET', /^\/_api\/replication\/sim\/documents\/([^/]+)$/, (r) => this.documentsHandler(r));
    s.on('GET', '/_api/engine', () => ok(ENGINE));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/count$/, (r) => this.countHandler(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/figures$/, (r) => this.countHandler(r));
    s.on('POST', '/_api/replication/sim/apply', (r) => this.served(() => this.applyHandler(r)));
    s.on('POST', '/_api/replication/sim/startSync', (r) => this.startSyncHandler(r));
    s.on('POST', '/_api/replication/sim/chunk', (r) => this.chunkHandler(r));
    s.on('POST', '/_api/replication/sim/finishSync', (r) => this.finishSyncHandler(r));
    s.on('PUT', '/_api/replication/set-the-leader', (r) => this.setTheLeaderHandler(r));
    // TEST-ONLY HOOK (not ArangoDB; only with TRANSIT_SIM_TEST_HOOKS=1 in the member's environment): silently
    // corrupts one document of THIS server's copy of a shard — its data changes, its _key and _rev stay — without
    // replicating or journaling it, as bit rot or a faulty copy would. test/shard-verify.test.ts shows that
    // Transit's verification parks on it.
    if (process.env.TRANSIT_SIM_TEST_HOOKS === '1')
      s.on('POST', /^\/_api\/sim\/test\/corrupt\/([^/]+)$/, (r) => this.corruptHandler(r));
  }

  /**
   * TEST-ONLY (see the route above): changes the data of one document — the given `_key`, else the `nth` (modulo
   * the count), else the first — to something new each time (a counter), so repeated calls keep changing it.
   */
  private corruptHandler(req: SimRequest): SimResponse {
    const copy = this.copyFor(req);
    const body = asDict(req.body);
    const nth = typeof body.nth === 'number' && copy.docs.size ? body.nth % copy.docs.size : 0;
    const doc = typeof body._key === 'string' ? copy.docs.get(body._key) : [...copy.docs.values()][nth];
    if (!doc) fail(404, 1202, 'document not found');
    copy.docs.set(doc._key, { ...doc, corruptedByTest: Number(doc.corruptedByTest ?? 0) + 1 });
    return ok({ server: this.id, shard: copy.shard, _key: doc._key, _rev: doc._rev, count: copy.docs.size });
  }

  /** A document request (or a replicated write) waits its simulated sojourn time first (client-latency.ts). */
  private async served(h: () => Promise<SimResponse> | SimResponse): Promise<SimResponse> {
    await this.clientLatency.serve();
    return h();
  }

  protected async onJoined(): Promise<void> {
    this.cache.onChange((paths) => this.markDirty(paths));
    this.lc.interval(5000, () => this.markDirty('all'));
    this.lc.interval(60_000, () => this.pruneTombstones());
    this.markDirty('all');
  }

  protected override onStopping(): void {
    this.sendLink.reset();
    this.recvLink.reset();
    this.journal?.close();
  }

  private nextRev(): string {
    this.lastRev = Math.max(this.lastRev + 1, Date.now() * 1000);
    return String(this.lastRev);
  }

  private seeRev(rev: string): void {
    const n = Number(rev);
    if (n > this.lastRev) this.lastRev = n;
  }

  // ------------------------------------------------------------------ maintenance

  private markDirty(paths: string[] | 'all'): void {
    if (paths === 'all') this.dirty = 'all';
    else if (this.dirty !== 'all') {
      for (const p of paths) {
        const parts = splitPath(p);
        if (parts[0] !== 'arango' || parts.length < 2) {
          this.dirty = 'all';
          break;
        }
        if ((parts[1] === 'Plan' || parts[1] === 'Current') && parts[2] === 'Collections') {
          if (parts.length >= 5) this.dirty.add(`${parts[3]}/${parts[4]}`);
          else {
            this.dirty = 'all';
            break;
          }
        } else if (parts[1] === 'Plan' && parts[2] === 'Databases') this.dirty.add('#databases');
        else if (parts.length === 2 && (parts[1] === 'Plan' || parts[1] === 'Current')) {
          this.dirty = 'all';
          break;
        }
      }
    }
    void this.maintain();
  }

  private async maintain(): Promise<void> {
    if (this.maintaining) {
      this.maintainAgain = true;
      return;
    }
    this.maintaining = true;
    try {
      do {
        this.maintainAgain = false;
        const dirty = this.dirty;
        this.dirty = new Set();
        if (dirty !== 'all' && dirty.size === 0) continue;
        await this.reportDatabases();
        this.maintainShards(dirty);
        await new Promise((r) => setImmediate(r));
      } while (this.maintainAgain && !this.lc.stopped);
    } catch (e) {
      if (!this.lc.stopped) this.log.warn(`maintenance: ${(e as Error).message}`);
    } finally {
      this.maintaining = false;
    }
  }

  private async reportDatabases(): Promise<void> {
    const dbs = Object.keys(asDict(this.cache.get('/arango/Plan/Databases')));
    const ops: Record<string, unknown> = {};
    for (const db of dbs) {
      if (this.cache.get(`/arango/Current/Databases/${db}/${this.id}`) === undefined) {
        ops[`/arango/Current/Databases/${db}/${this.id}`] = {
          name: db,
          id: String(asDict(this.cache.get(`/arango/Plan/Databases/${db}`)).id ?? db),
          error: false,
          errorNum: 0,
          errorMessage: '',
        };
      }
    }
    if (Object.keys(ops).length) {
      ops['/arango/Current/Version'] = { op: 'increment' };
      await this.agency.write([[ops]], 10_000).catch(() => undefined);
    }
  }

  private maintainShards(dirty: Set<string> | 'all'): void {
    const v = this.view();
    const me = this.id;
    const visit = (db: string, cid: string, shards: Record<string, unknown>, seen?: Set<string>): void => {
      for (const [shard, raw] of Object.entries(shards)) {
        seen?.add(shard);
        const plan = asArray(raw);
        const mine = plan.includes(me) || plan.includes(`_${me}`);
        let copy = this.copies.get(shard);
        if (!mine) {
          if (copy) this.dropCopy(copy, 'no longer in Plan');
          continue;
        }
        if (!copy) copy = this.newCopy(db, cid, shard);
        this.maintainCopy(copy, plan);
      }
    };
    if (dirty === 'all') {
      const seen = new Set<string>();
      for (const db of v.planDatabases()) {
        for (const [cid, coll] of Object.entries(v.planCollections(db))) visit(db, cid, asDict(coll.shards), seen);
      }
      for (const c of [...this.copies.values()]) if (!seen.has(c.shard)) this.dropCopy(c, 'collection dropped');
      return;
    }
    for (const key of dirty) {
      if (key === '#databases') continue;
      const [db, cid] = key.split('/');
      const coll = v.collection(db, cid);
      if (!coll) {
        for (const c of [...this.copies.values()])
          if (c.db === db && c.cid === cid) this.dropCopy(c, 'collection dropped');
        continue;
      }
      visit(db, cid, asDict(coll.shards));
    }
  }

  private maintainCopy(copy: ShardCopy, plan: string[]): void {
    const me = this.id;
    if (plan[0] === me) {
      if (copy.takingOver) return;
      if (copy.role !== 'leader') return void this.takeOver(copy);
      let changed = false;
      for (const f of [...copy.followers]) if (!plan.includes(f)) (copy.followers.delete(f), (changed = true));
      for (const f of [...copy.sessions.keys()]) if (!plan.includes(f)) copy.sessions.delete(f);
      const cur = JSON.stringify(
        asArray(asDict(this.cache.get(`/arango/Current/Collections/${copy.db}/${copy.cid}/${copy.shard}`)).servers),
      );
      if (changed || !copy.currentWritten || (!copy.writing && cur !== copy.currentWritten))
        void this.writeCurrent(copy);
      return;
    }
    if (plan[0] === `_${me}`) {
      // Maintenance::handleLocalShard: a leader resigns (activeResign), and so does a copy that is neither leading nor
      // resigned (adjustResignState) — a server restarted while it was resigning comes back following nobody, and
      // without this Current would never name it "_<me>": MoveShard would wait for ever, the shard without a leader.
      if (copy.role !== 'resigned' && !copy.takingOver) void this.resign(copy);
      return;
    }
    // A planned follower.
    if (copy.role !== 'follower') {
      copy.role = 'follower';
      copy.followers.clear();
      copy.sessions.clear();
      copy.inSyncWith = undefined;
      copy.currentWritten = '';
    }
    const leader = plan[0];
    if (leader.startsWith('_') || copy.syncing || Date.now() < copy.retryAt) return;
    const cur = asArray(
      asDict(this.cache.get(`/arango/Current/Collections/${copy.db}/${copy.cid}/${copy.shard}`)).servers,
    );
    if (cur[0] !== leader) return; // the planned leader has not taken over yet
    const dropped = copy.inSyncWith === leader && !cur.includes(me) && Date.now() - copy.syncedAt > 3000;
    if (copy.inSyncWith !== leader || dropped) void this.syncShard(copy, leader);
  }

  private newCopy(db: string, cid: string, shard: string): ShardCopy {
    const copy = new ShardCopy(db, cid, shard);
    if (this.journal) {
      copy.journal = this.journal;
      this.journal.created(copy);
      this.journal.flush();
    }
    this.copies.set(shard, copy);
    return copy;
  }

  /**
   * TakeoverShardLeadership::handleLeadership: after a planned leader change (the old leader resigned: Current
   * names it "_<old>"), every server in Current is still in sync, so the new leader asks each to follow it
   * (sendLeaderChangeRequests → PUT /_api/replication/set-the-leader) and keeps those that accept as in-sync
   * followers (FollowerInfo::takeOverLeadership's realInsyncFollowers): its first Current entry lists them and
   * nothing is copied again. After a failover (the old leader did not resign) it starts without followers, which
   * then get in sync from scratch. No write is accepted until the new follower list is in place.
   */
  private async takeOver(copy: ShardCopy): Promise<void> {
    this.log.info(`taking over leadership of ${copy.shard}`);
    copy.takingOver = true;
    const accepted: string[] = [];
    try {
      const cur = asArray(
        asDict(this.cache.get(`/arango/Current/Collections/${copy.db}/${copy.cid}/${copy.shard}`)).servers,
      ).map(String);
      if (cur[0]?.startsWith('_')) {
        const oldLeader = cur[0].slice(1);
        const v = this.view();
        await Promise.all(
          cur
            .map((s) => s.replace(/^_/, ''))
            .filter((s) => s !== this.id)
            .map(async (s) => {
              const ep = v.endpointOf(s);
              if (!ep) return;
              const r = await this.http
                .request(ep, `/_db/${encodeURIComponent(copy.db)}/_api/replication/set-the-leader`, {
                  method: 'PUT',
                  body: { leaderId: this.id, oldLeaderId: oldLeader, shard: copy.shard },
                  timeoutMs: 3000,
                })
                .catch(() => undefined); // errors are ignored, as upstream: that server then gets in sync again
              if (r?.status === 200) accepted.push(s);
            }),
        );
      }
    } finally {
      copy.takingOver = false;
    }
    if (this.lc.stopped || this.copies.get(copy.shard) !== copy) return;
    copy.role = 'leader';
    copy.leader = undefined;
    copy.inSyncWith = undefined;
    copy.followers = new Set(accepted);
    copy.sessions.clear();
    for (const d of copy.docs.values()) this.seeRev(d._rev);
    for (const r of copy.tomb.values()) this.seeRev(r);
    if (accepted.length)
      this.log.info(`${copy.shard}: ${accepted.join(', ')} follow without a resync (set-the-leader)`);
    void this.writeCurrent(copy);
    this.markDirty([`/arango/Plan/Collections/${copy.db}/${copy.cid}`]); // Plan may have moved on meanwhile
  }

  private async resign(copy: ShardCopy): Promise<void> {
    const led = copy.role === 'leader';
    this.log.info(
      `resigning leadership of ${copy.shard}${led ? '' : ' (not leading here: restarted while resigning)'}`,
    );
    copy.role = 'resigned';
    copy.leader = LEADER_NOT_YET_KNOWN;
    copy.sessions.clear();
    if (!led) {
      // Maintenance::reportInCurrent for a resigned shard: if Current still names this server leader, its entry
      // becomes "_<me>" and the rest of Current's list stays as it is (this copy has no follower list of its own
      // after a restart); with anyone else first in Current it reports nothing.
      const cur = asArray(
        asDict(this.cache.get(`/arango/Current/Collections/${copy.db}/${copy.cid}/${copy.shard}`)).servers,
      ).map(String);
      if (cur[0] !== this.id) return;
      copy.followers = new Set(cur.slice(1).filter((s) => !s.startsWith('_') && s !== this.id));
    }
    await copy.waitIdle();
    await this.writeCurrent(copy);
  }

  private dropCopy(copy: ShardCopy, why: string): void {
    this.log.info(`dropping copy of ${copy.shard} (${why}; ${copy.docs.size} documents)`);
    copy.role = 'follower';
    copy.leader = undefined;
    this.copies.delete(copy.shard);
    copy.journal = undefined;
    this.journal?.dropped(copy);
    for (const g of copy.genWaiters) g.resolve();
    copy.genWaiters = [];
  }

  private pruneTombstones(): void {
    const cutoff = (Date.now() - 300_000) * 1000;
    for (const c of this.copies.values()) for (const [k, r] of c.tomb) if (Number(r) < cutoff) c.tomb.delete(k);
  }

  /**
   * Persists this leader's view of the shard into Current (servers, failoverCandidates) and resolves once a write
   * covering the state at call time has been committed. Writes are coalesced per shard and carry the Plan entry
   * they were computed from as precondition.
   */
  private writeCurrent(copy: ShardCopy): Promise<void> {
    copy.wantGen += 1;
    const g = copy.wantGen;
    const p = new Promise<void>((resolve) => copy.genWaiters.push({ g, resolve }));
    if (!copy.writing) void this.currentWriter(copy);
    return p;
  }

  private async currentWriter(copy: ShardCopy): Promise<void> {
    copy.writing = true;
    try {
      while (copy.doneGen < copy.wantGen && !this.lc.stopped && this.copies.get(copy.shard) === copy) {
        const g = copy.wantGen;
        if (copy.role === 'follower') {
          copy.doneGen = g;
          break;
        }
        const planPath = `/arango/Plan/Collections/${copy.db}/${copy.cid}/shards/${copy.shard}`;
        const plan = asArray(this.cache.get(planPath));
        const me = copy.role === 'resigned' ? `_${this.id}` : this.id;
        if (copy.role === 'resigned' && plan[0] !== me) {
          // reportInCurrent reports a resignation only while Plan names this server "_<me>" (its precondition): once
          // Plan moved on (the switch, or an abort that reverted it) the new Plan leader writes Current.
          copy.doneGen = g;
          break;
        }
        const followers = [...copy.followers].sort(
          (a, b) => (plan.indexOf(a) + 1 || 1e9) - (plan.indexOf(b) + 1 || 1e9),
        );
        const value = {
          servers: [me, ...followers],
          failoverCandidates: [this.id, ...followers],
          indexes: [],
          error: false,
          errorNum: 0,
          errorMessage: '',
        };
        const idx = this.cache.index;
        try {
          const ok = await this.currentWrites
            .add([
              [
                {
                  [`/arango/Current/Collections/${copy.db}/${copy.cid}/${copy.shard}`]: value,
                  '/arango/Current/Version': { op: 'increment' },
                },
                { [planPath]: { old: plan } },
              ],
            ])
            .then(({ result, offset }) => result[offset] > 0);
          if (ok) {
            copy.doneGen = g;
            copy.currentWritten = JSON.stringify(value.servers);
          } else {
            await this.cache.waitIndex(idx + 1, 1000).catch(() => undefined);
          }
        } catch {
          await this.lc.sleep(200).catch(() => undefined);
        }
      }
    } finally {
      copy.writing = false;
      const done = copy.genWaiters.filter(
        (w) => w.g <= copy.doneGen || this.copies.get(copy.shard) !== copy || this.lc.stopped,
      );
      copy.genWaiters = copy.genWaiters.filter((w) => !done.includes(w));
      for (const w of done) w.resolve();
      if (copy.genWaiters.length && !this.lc.stopped && this.copies.get(copy.shard) === copy)
        void this.currentWriter(copy);
    }
  }

  // ------------------------------------------------------------------ documents (leader side)

  private copyFor(req: SimRequest): ShardCopy {
    const copy = this.copies.get(req.params[0]);
    if (!copy) fail(404, 1203, `collection or view not found: ${req.params[0]}`);
    return copy;
  }

  private assertLeader(copy: ShardCopy): void {
    if (copy.role === 'resigned')
      fail(
        503,
        1491,
        'a (former) shard leader refuses to perform an operation, because it has resigned in the meantime',
      );
    if (copy.role !== 'leader') fail(503, 1496, 'not a leader');
  }

  private writeConcern(copy: ShardCopy): number {
    const c = asDict(this.cache.get(`/arango/Plan/Collections/${copy.db}/${copy.cid}`));
    return typeof c.writeConcern === 'number' ? c.writeConcern : 1;
  }

  private bytesPerDoc(copy: ShardCopy): number {
    const c = asDict(this.cache.get(`/arango/Plan/Collections/${copy.db}/${copy.cid}`));
    return typeof c.simBytesPerDocument === 'number' ? c.simBytesPerDocument : this.dbo.defaultBytesPerDocument;
  }

  private async leaderWrite(copy: ShardCopy, ops: WriteOp[]): Promise<unknown[]> {
    await this.clientLatency.writable(copy.shard); // the final catch-up of a sync holds writes (client-latency.ts)
    this.assertLeader(copy);
    const wc = this.writeConcern(copy);
    if (1 + copy.followers.size < wc) {
      fail(
        403,
        1429,
        `write concern not fulfilled: ${1 + copy.followers.size} in-sync copies of ${copy.shard}, writeConcern ${wc}`,
      );
    }
    const results: unknown[] = [];
    const repl: ReplOp[] = [];
    for (const op of ops) {
      if (op.t === 'insert') {
        const existing = copy.docs.get(op.key);
        if (existing && op.overwrite === 'ignore') {
          results.push({ _key: op.key, _rev: existing._rev });
          continue;
        }
        if (existing && (op.overwrite === 'replace' || op.overwrite === 'update')) {
          const body =
            op.overwrite === 'update'
              ? mergePatch(stripSystem(existing), op.body, op.keepNull !== false, op.mergeObjects !== false)
              : op.body;
          const doc: Doc = { ...body, _key: op.key, _rev: this.nextRev() };
          copy.put(doc);
          repl.push({ t: 'put', doc });
          results.push({ _key: op.key, _rev: doc._rev, _oldRev: existing._rev });
          continue;
        }
        if (existing) {
          results.push({
            error: true,
            errorNum: 1210,
            code: 409,
            errorMessage: `unique constraint violated - in index primary of type primary over '_key'; conflicting key: ${op.key}`,
          });
          continue;
        }
        const doc: Doc = { ...op.body, _key: op.key, _rev: this.nextRev() };
        copy.put(doc);
        repl.push({ t: 'put', doc });
        results.push({ _key: op.key, _rev: doc._rev });
      } else if (op.t === 'update' || op.t === 'replace') {
        const old = copy.docs.get(op.key);
        if (!old) {
          results.push({ error: true, errorNum: 1202, code: 404, errorMessage: 'document not found' });
          continue;
        }
        if (op.rev !== undefined && op.rev !== old._rev) {
          results.push({
            error: true,
            errorNum: 1200,
            code: 412,
            errorMessage: 'conflict, _rev values do not match',
            _key: op.key,
            _rev: old._rev,
          });
          continue;
        }
        const body =
          op.t === 'update'
            ? mergePatch(stripSystem(old), op.body, op.keepNull !== false, op.mergeObjects !== false)
            : op.body;
        const doc: Doc = { ...body, _key: op.key, _rev: this.nextRev() };
        copy.put(doc);
        repl.push({ t: 'put', doc });
        results.push({ _key: op.key, _rev: doc._rev, _oldRev: old._rev, old, new: doc });
      } else {
        const old = copy.docs.get(op.key);
        if (!old) {
          results.push({ error: true, errorNum: 1202, code: 404, errorMessage: 'document not found' });
          continue;
        }
        if (op.rev !== undefined && op.rev !== old._rev) {
          results.push({
            error: true,
            errorNum: 1200,
            code: 412,
            errorMessage: 'conflict, _rev values do not match',
            _key: op.key,
            _rev: old._rev,
          });
          continue;
        }
        const rev = this.nextRev();
        copy.del(op.key, rev);
        repl.push({ t: 'del', key: op.key, rev });
        results.push({ _key: op.key, _rev: old._rev });
      }
    }
    this.journal?.flush();
    if (repl.length) {
      copy.inflight += 1;
      try {
        await this.replicate(copy, repl);
      } finally {
        copy.inflight -= 1;
        if (copy.inflight === 0) for (const f of copy.idle.splice(0)) f();
      }
      // Followers dropped while replicating: the write is not acknowledged with fewer copies than writeConcern.
      if (1 + copy.followers.size < wc) {
        fail(
          403,
          1429,
          `write concern not fulfilled: only ${1 + copy.followers.size} in-sync copies of ${copy.shard} hold the write, writeConcern ${wc}`,
        );
      }
    }
    return results;
  }

  /**
   * Replicates to every in-sync and syncing follower. Concurrent writes to one shard share requests (group
   * commit); each resolves once all followers acknowledged the request carrying it (or were dropped).
   */
  private async replicate(copy: ShardCopy, ops: ReplOp[]): Promise<void> {
    copy.replicator ??= new GroupCommit<ReplOp, void>((batch) => this.replicateNow(copy, batch));
    await copy.replicator.add(ops);
  }

  private async replicateNow(copy: ShardCopy, ops: ReplOp[]): Promise<void> {
    const targets = [...new Set([...copy.followers, ...copy.sessions.keys()])];
    if (targets.length === 0) return;
    for (const session of copy.sessions.values()) session.writes += ops.length;
    const v = this.view();
    await Promise.all(
      targets.map(async (f) => {
        const ep = v.endpointOf(f);
        let good = false;
        if (ep) {
          try {
            const q = new URLSearchParams({ shard: copy.shard, leader: this.id });
            const r = await this.http.request(
              ep,
              `/_db/${encodeURIComponent(copy.db)}/_api/replication/sim/apply?${q}`,
              { body: { ops }, timeoutMs: 3000 },
            );
            good = r.status === 200;
          } catch {
            good = false;
          }
        }
        if (!good) await this.dropFollower(copy, f);
      }),
    );
  }

  private async dropFollower(copy: ShardCopy, f: string): Promise<void> {
    copy.sessions.delete(f);
    if (!copy.followers.has(f)) return;
    copy.followers.delete(f);
    this.log.info(`dropping follower ${f} of ${copy.shard}: replication failed`);
    await this.writeCurrent(copy);
  }

  private async insertHandler(req: SimRequest): Promise<SimResponse> {
    const copy = this.copyFor(req);
    const many = Array.isArray(req.body);
    const docs = (many ? req.body : [req.body]) as Record<string, unknown>[];
    const mode = req.query.get('overwriteMode') ?? (req.query.get('overwrite') === 'true' ? 'replace' : undefined);
    if (mode !== undefined && !['ignore', 'replace', 'update', 'conflict'].includes(mode))
      return arangoError(400, 10, `invalid overwriteMode: ${mode}`);
    const overwrite = mode as 'ignore' | 'replace' | 'update' | 'conflict' | undefined;
    const keepNull = req.query.get('keepNull') !== 'false';
    const mergeObjects = req.query.get('mergeObjects') !== 'false';
    const ops: WriteOp[] = docs.map((d) => ({
      t: 'insert',
      key: String(d?._key ?? ''),
      body: stripSystem(d),
      overwrite,
      keepNull,
      mergeObjects,
    }));
    if (ops.some((o) => !o.key)) return arangoError(400, 1226, 'missing document key');
    const results = await this.leaderWrite(copy, ops);
    if (many) return ok(results, 202);
    const r = results[0] as { error?: boolean; code?: number; errorNum?: number; errorMessage?: string };
    return r.error ? arangoError(r.code ?? 500, r.errorNum ?? 4, r.errorMessage ?? 'error') : ok(r, 202);
  }

  private async removeHandler(req: SimRequest, keys: string[]): Promise<SimResponse> {
    const copy = this.copyFor(req);
    const results = await this.leaderWrite(
      copy,
      keys.map((key) => ({ t: 'remove', key })),
    );
    if (req.params.length > 1) {
      const r = results[0] as { error?: boolean; code?: number; errorNum?: number; errorMessage?: string };
      return r.error ? arangoError(r.code ?? 500, r.errorNum ?? 4, r.errorMessage ?? 'error') : ok(r, 202);
    }
    return ok(results, 202);
  }

  /**
   * PATCH (update) / PUT (replace) on the shard leader: `/_api/document/<shard>` with an array (the coordinator
   * always sends arrays) or `/<key>` with one object. Query: keepNull, mergeObjects, ignoreRevs (default true; false
   * makes each document's `_rev` a precondition); If-Match (single) likewise.
   */
  private async modifyHandler(req: SimRequest, kind: 'update' | 'replace'): Promise<SimResponse> {
    const copy = this.copyFor(req);
    const single = req.params.length > 1 || !Array.isArray(req.body);
    const docs = (single ? [req.body] : req.body) as Record<string, unknown>[];
    if (docs.some((d) => typeof d !== 'object' || d === null || Array.isArray(d)))
      return arangoError(400, 1227, 'invalid document type');
    const ignoreRevs = req.query.get('ignoreRevs') !== 'false';
    const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'].replace(/"/g, '') : undefined;
    const keepNull = req.query.get('keepNull') !== 'false';
    const mergeObjects = req.query.get('mergeObjects') !== 'false';
    const ops: WriteOp[] = docs.map((d, i) => ({
      t: kind,
      key: single && req.params[1] ? req.params[1] : String(d._key ?? ''),
      body: stripSystem(d),
      rev: single && i === 0 && ifMatch ? ifMatch : !ignoreRevs && d._rev !== undefined ? String(d._rev) : undefined,
      keepNull,
      mergeObjects,
    }));
    if (ops.some((o) => !o.key)) return arangoError(400, 1226, 'missing document key');
    const results = await this.leaderWrite(copy, ops);
    if (!single) return ok(results, 202);
    const r = results[0] as { error?: boolean; code?: number; errorNum?: number; errorMessage?: string };
    return r.error ? arangoError(r.code ?? 500, r.errorNum ?? 4, r.errorMessage ?? 'error', r) : ok(r, 202);
  }

  /**
   * `GET /_api/collection/<shard>/checksum[?withRevisions=true][&withData=true]` sent to this DB server: the
   * checksum of THIS server's copy of the shard, whatever its role (leader, follower, resigned), as arangod's
   * RestCollectionHandler answers it on a DB server (`Collections::checksum` over the local collection).
   */
  private checksumHandler(req: SimRequest): SimResponse {
    const copy = this.copyFor(req);
    const flag = (k: string): boolean => ['true', '1', 'yes', 'on'].includes(String(req.query.get(k)).toLowerCase());
    const c = checksumOf(copy.docs.values(), flag('withRevisions'), flag('withData'));
    return ok({
      ...c,
      id: copy.shard.replace(/^s/, ''),
      name: copy.shard,
      status: 3,
      type: 2,
      isSystem: false,
      globallyUniqueId: `${copy.shard}/${copy.db}`,
      error: false,
      code: 200,
      // simulator extras: which copy answered
      server: this.id,
      role: copy.role,
      count: copy.docs.size,
    });
  }

  /** Simulator-only (stands in for the AQL engine a coordinator sets up on DB servers): the leader's documents. */
  private documentsHandler(req: SimRequest): SimResponse {
    const copy = this.copyFor(req);
    this.assertLeader(copy);
    return ok({ docs: [...copy.docs.values()] });
  }

  private readHandler(req: SimRequest): SimResponse {
    const copy = this.copyFor(req);
    this.assertLeader(copy);
    const doc = copy.docs.get(req.params[1]);
    if (!doc) return arangoError(404, 1202, 'document not found');
    return { status: 200, body: doc, headers: { etag: `"${doc._rev}"` } };
  }

  private countHandler(req: SimRequest): SimResponse {
    const copy = this.copyFor(req);
    const count = copy.docs.size;
    return ok({
      error: false,
      code: 200,
      count,
      figures: { documentsSize: copy.bytes(this.bytesPerDoc(copy)) },
      role: copy.role,
      inSyncWith: copy.inSyncWith ?? null,
    });
  }

  // ------------------------------------------------------------------ replication (follower side)

  /**
   * RestReplicationHandler::handleCommandSetTheLeader: a new leader (after a planned change) asks this copy to
   * follow it. Accepted if Plan names it the leader and this copy followed `oldLeaderId` (a resigned leader's copy
   * answers for itself); the copy is then in sync with the new leader without copying anything.
   */
  private async setTheLeaderHandler(req: SimRequest): Promise<SimResponse> {
    const b = asDict(req.body);
    const { leaderId, oldLeaderId, shard } = b;
    if (typeof leaderId !== 'string' || typeof oldLeaderId !== 'string' || typeof shard !== 'string')
      return arangoError(400, 400, "'leaderId' and 'shard' attributes must be strings");
    const copy = this.copies.get(shard);
    if (!copy) return arangoError(500, 1203, 'did not find collection');
    let currentLeader = copy.role === 'leader' ? '' : (copy.leader ?? '');
    if (copy.role === 'resigned' || currentLeader === LEADER_NOT_YET_KNOWN) currentLeader = this.id;
    if (leaderId !== currentLeader) {
      const planPath = `/arango/Plan/Collections/${copy.db}/${copy.cid}/shards/${shard}`;
      const [read] = await this.agency.read([[planPath]]); // checkPlanLeaderDirect
      let plan: unknown = read;
      for (const k of splitPath(planPath)) plan = asDict(plan)[k];
      if (asArray(plan)[0] !== leaderId)
        return arangoError(503, 1496, `${leaderId} is not the Plan leader of ${shard}`);
      if (oldLeaderId !== currentLeader) return arangoError(403, 11, 'old leader not as expected');
      if (copy.syncing || copy.takingOver) return arangoError(503, 1496, `${shard} is busy`); // the simulator's own
      copy.role = 'follower';
      copy.leader = leaderId;
      copy.inSyncWith = leaderId;
      copy.syncedAt = Date.now();
      copy.followers.clear();
      copy.sessions.clear();
      copy.currentWritten = '';
    }
    return ok({ error: false });
  }

  private applyHandler(req: SimRequest): SimResponse {
    const shard = req.query.get('shard') ?? '';
    const leader = req.query.get('leader') ?? '';
    const copy = this.copies.get(shard);
    if (!copy || copy.role !== 'follower' || copy.leader !== leader) {
      return arangoError(
        406,
        1490,
        `a shard follower refuses to perform an operation: ${shard} does not follow ${leader}`,
      );
    }
    for (const op of asArray((req.body as { ops?: unknown })?.ops) as unknown as ReplOp[]) {
      if (op.t === 'put') {
        copy.put(op.doc);
        this.seeRev(op.doc._rev);
      } else {
        copy.del(op.key, op.rev);
        this.seeRev(op.rev);
      }
    }
    this.journal?.flush();
    return ok({ error: false });
  }

  /** A sync's chunks as [documents, modelled bytes]: about a quarter second of bandwidth each, at most 5000 documents. */
  private chunkPlan(docs: Doc[], bpd: number): [number, number][] {
    const bw = this.dbo.bandwidth;
    const budget = Number.isFinite(bw) && bw > 0 ? bw * 0.25 : Infinity;
    const out: [number, number][] = [];
    let n = 0;
    let bytes = 0;
    for (const d of docs) {
      const b = docBytes(d, bpd);
      if (n > 0 && (n >= 5000 || bytes + b > budget)) {
        out.push([n, bytes]);
        n = 0;
        bytes = 0;
      }
      n += 1;
      bytes += b;
    }
    if (n > 0) out.push([n, bytes]);
    return out;
  }

  private async syncShard(copy: ShardCopy, leader: string): Promise<void> {
    copy.syncing = true;
    copy.leader = leader;
    copy.inSyncWith = undefined;
    const flow = `${copy.shard}:${leader}>${this.id}`;
    const started = Date.now();
    try {
      const ep = this.view().endpointOf(leader);
      if (!ep) throw new Error(`no endpoint for leader ${leader}`);
      const base = `/_db/${encodeURIComponent(copy.db)}/_api/replication/sim`;
      const have = copy.docs.size > 0 ? [...copy.docs.values()].map((d) => [d._key, d._rev]) : undefined;
      const r = await this.http.request(ep, `${base}/startSync`, {
        body: { shard: copy.shard, follower: this.id, count: copy.docs.size, have },
        timeoutMs: 30_000,
      });
      if (r.status !== 200) throw new Error(`startSync: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      if ((r.body as { inSync?: boolean }).inSync) {
        copy.inSyncWith = leader;
        copy.syncedAt = Date.now();
        return;
      }
      const s = r.body as {
        syncId: string;
        total: number;
        bytes: number;
        chunks: [number, number][];
        deleteKeys: [string, string][];
      };
      copy.bytesTotal = s.bytes;
      copy.bytesCopied = 0;
      let at = 0;
      const chunks = s.chunks.map(([n, bytes]) => ({ offset: (at += n) - n, n, bytes }));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < chunks.length) {
          const { offset, n, bytes } = chunks[next++];
          const [res] = await Promise.all([
            this.http.request(ep, `${base}/chunk`, {
              body: { shard: copy.shard, syncId: s.syncId, follower: this.id, offset, limit: n },
              timeoutMs: 600_000,
            }),
            this.recvLink.transfer(flow, bytes),
          ]);
          if (res.status !== 200) throw new Error(`chunk: HTTP ${res.status}`);
          if (copy.leader !== leader || this.copies.get(copy.shard) !== copy) throw new Error('sync abandoned');
          for (const d of asArray((res.body as { docs?: unknown }).docs) as unknown as Doc[]) {
            copy.put(d);
            this.seeRev(d._rev);
          }
          this.journal?.flush();
          copy.bytesCopied += bytes;
        }
      };
      await Promise.all([worker(), worker()]);
      for (const [k, rev] of s.deleteKeys) {
        if (copy.docs.get(k)?._rev === rev) copy.del(k, String(Number(rev) + 1));
      }
      this.journal?.flush();
      const f = await this.http.request(ep, `${base}/finishSync`, {
        body: { shard: copy.shard, syncId: s.syncId, follower: this.id },
        timeoutMs: 30_000,
      });
      if (f.status !== 200) throw new Error(`finishSync: HTTP ${f.status} ${JSON.stringify(f.body)}`);
      copy.inSyncWith = leader;
      copy.syncedAt = Date.now();
      this.log.info(`${copy.shard} in sync with ${leader} (${s.total} documents copied in ${Date.now() - started} ms)`);
    } catch (e) {
      if (!this.lc.stopped) {
        this.log.debug(`sync of ${copy.shard} from ${leader} failed: ${(e as Error).message}`);
        copy.retryAt = Date.now() + 1000;
        this.lc.timeout(1100, () => this.markDirty([`/arango/Plan/Collections/${copy.db}/${copy.cid}`]));
      }
    } finally {
      copy.syncing = false;
    }
  }

  // ------------------------------------------------------------------ replication (leader side)

  private leaderCopy(req: SimRequest): ShardCopy {
    const shard = String((req.body as { shard?: string })?.shard ?? '');
    const copy = this.copies.get(shard);
    if (!copy) fail(404, 1203, `collection or view not found: ${shard}`);
    if (copy.role !== 'leader') fail(503, 1496, `not a leader for ${shard}`);
    return copy;
  }

  private async startSyncHandler(req: SimRequest): Promise<SimResponse> {
    let copy = this.leaderCopy(req);
    const b = req.body as { follower: string; have?: [string, string][] };
    const diff = (c: ShardCopy): { docs: Doc[]; deleteKeys: [string, string][] } => {
      const deleteKeys: [string, string][] = [];
      if (!b.have) return { docs: [...c.docs.values()], deleteKeys };
      const have = new Map(b.have);
      const docs: Doc[] = [];
      for (const d of c.docs.values()) if (have.get(d._key) !== d._rev) docs.push(d);
      for (const [k, r] of have) if (!c.docs.has(k)) deleteKeys.push([k, r]);
      return { docs, deleteKeys };
    };
    // Nothing to copy (the follower already has exactly our documents): it is in sync right away.
    const first = diff(copy);
    if (first.docs.length === 0 && first.deleteKeys.length === 0 && (b.have?.length ?? 0) === copy.docs.size) {
      copy.sessions.delete(b.follower);
      if (!copy.followers.has(b.follower)) {
        copy.followers.add(b.follower);
        await this.writeCurrent(copy);
      }
      if (copy.role !== 'leader' || !copy.followers.has(b.follower))
        return arangoError(412, 1404, 'follower was dropped while joining');
      return ok({ inSync: true, total: 0 });
    }
    if (copy.followers.has(b.follower)) {
      copy.followers.delete(b.follower);
      await this.writeCurrent(copy);
      copy = this.leaderCopy(req);
    }
    const { docs, deleteKeys } = diff(copy);
    const bpd = this.bytesPerDoc(copy);
    const session: SyncSession = { id: randomUUID(), follower: b.follower, docs, bpd, started: Date.now(), writes: 0 };
    copy.sessions.set(b.follower, session); // from here on every write is forwarded to the follower too
    const chunks = this.chunkPlan(docs, bpd);
    return ok({
      syncId: session.id,
      total: docs.length,
      bytes: chunks.reduce((a, [, n]) => a + n, 0),
      chunks,
      deleteKeys,
    });
  }

  private session(copy: ShardCopy, req: SimRequest): SyncSession {
    const b = req.body as { follower: string; syncId: string };
    const s = copy.sessions.get(b.follower);
    if (!s || s.id !== b.syncId) fail(410, 1404, 'sync session gone (leader change or follower dropped)');
    return s;
  }

  private async chunkHandler(req: SimRequest): Promise<SimResponse> {
    const copy = this.leaderCopy(req);
    const s = this.session(copy, req);
    const b = req.body as { offset: number; limit: number };
    const docs = s.docs.slice(b.offset, b.offset + b.limit);
    await this.sendLink.transfer(
      `${copy.shard}:${this.id}>${s.follower}`,
      docs.reduce((a, d) => a + docBytes(d, s.bpd), 0),
    );
    this.session(this.leaderCopy(req), req);
    return ok({ docs });
  }

  private async finishSyncHandler(req: SimRequest): Promise<SimResponse> {
    const copy = this.leaderCopy(req);
    const s = this.session(copy, req);
    // SynchronizeShard::catchupWithExclusiveLock: the hard lock holds writes to the shard while the rest is tailed.
    await this.clientLatency.hold(copy.shard, s.writes, (Date.now() - s.started) / 1000);
    this.session(this.leaderCopy(req), req);
    copy.sessions.delete(s.follower);
    copy.followers.add(s.follower);
    await this.writeCurrent(copy);
    if (!copy.followers.has(s.follower) || copy.role !== 'leader')
      return arangoError(412, 1404, 'follower was dropped while finishing');
    return ok({ error: false });
  }

  /** Documents of a local shard copy (for tests and verification tools). */
  shardDocuments(shard: string): Doc[] {
    return [...(this.copies.get(shard)?.docs.values() ?? [])];
  }
}

/** GET /_api/engine as arangod 3.12 answers it (RestEngineHandler). */
export const ENGINE = {
  name: 'rocksdb',
  supports: {
    aliases: { indexes: { skiplist: 'persistent', hash: 'persistent' } },
    indexes: [
      'primary',
      'edge',
      'persistent',
      'geo',
      'hash',
      'skiplist',
      'fulltext',
      'zkd',
      'mdi',
      'mdi-prefixed',
      'inverted',
    ],
  },
};

/**
 * A PATCH body merged into a stored document (RestDocumentHandler → `mergeObjectsForUpdate`): top-level
 * attributes replaced, nested objects merged recursively when `mergeObjects`, null values removing the attribute
 * when not `keepNull`.
 */
export function mergePatch(
  old: Record<string, unknown>,
  patch: Record<string, unknown>,
  keepNull: boolean,
  mergeObjects: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...old };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null && !keepNull) {
      delete out[k];
      continue;
    }
    const o = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> =>
      typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = mergeObjects && isObj(o) && isObj(v) ? mergePatch(o, v, keepNull, mergeObjects) : v;
  }
  return out;
}

function stripSystem(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d ?? {})) if (k !== '_key' && k !== '_rev' && k !== '_id') out[k] = v;
  return out;
}

function jsonBytes(d: Doc): number {
  return Buffer.byteLength(JSON.stringify(d));
}

/**
 * Modelled size of a document, what a copy of it costs on the links and what figures report. The simulator does
 * not materialise payloads: a document seeded from the topology (`seeded: true`, `SimCluster.seedDocuments`)
 * stands for `bpd` bytes (the collection's simBytesPerDocument); any other document — what clients write — is as
 * large as its JSON, as on a real server. (Charging every client write `bpd` made a 10 MB shard with a writer
 * grow by hundreds of MB a second, so a follower resyncing after a failover took minutes, or never caught up.)
 */
function docBytes(d: Doc, bpd: number): number {
  return d.seeded === true ? bpd : jsonBytes(d);
}
