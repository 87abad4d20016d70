// Simulated supervision, run on the agency leader every `frequency` seconds, following ArangoDB's arangod/Agency
// (Supervision.cpp, Job.cpp and the job classes; devel's Jobs/*.cpp where they differ): health from heartbeats,
// failedServer → failedLeader / failedFollower sub-jobs, shard locks and abortable lock holders, the workJobs
// starvation rule, MoveShard with server read locks and its abort paths, cleanOutServer / resignLeadership with a
// server write lock, enforceReplication, shrinkCluster, cleanupExpiredServers, per-server maintenance and
// maintenance mode. src/sim/README.md names the upstream function behind each. The traps are deliberate: Transit
// must cope with them.
import type { Agent } from './agent.js';
import type { Logger } from './log.js';
import {
  ClusterView,
  asArray,
  asDict,
  inSyncLists,
  planPath,
  currentServersPath,
  stripResign,
  type Dict,
} from './cluster-state.js';

export interface SupervisionOptions {
  /** --agency.supervision-frequency (s) */
  frequency: number;
  /** --agency.supervision-ok-threshold (s): no heartbeat for longer → BAD */
  okThreshold: number;
  /** --agency.supervision-grace-period (s): no heartbeat for longer → FAILED */
  gracePeriod: number;
  /** Seconds a new agency leader waits before judging health (Supervision::run: 55 s upstream). */
  startupGrace: number;
  /** FailedLeader::status / FailedFollower::start: jobs older than this fail ("Timed out."); upstream 4620 s. */
  failedLeaderTimeout: number;
  /** MoveShard::pendingLeader: abort after this long since timeCreated; upstream 43200 s (12 h). */
  moveShardTimeout: number;
  /** MoveShard::pendingFollower: abort after this long since timeCreated; upstream 10000 s. */
  moveShardFollowerTimeout: number;
  /** Supervision::cleanupExpiredServers: servers without heartbeat this long and holding nothing are removed; 3600 s. */
  expiredServersGrace: number;
  log: Logger;
}

const now = (): string => new Date().toISOString();
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

type Trx = [Dict, Dict?];
type Queue = 'ToDo' | 'Pending';

/** Job::abortable: the job types another job may abort while they hold a lock. */
const ABORTABLE = new Set(['addFollower', 'moveShard', 'cleanOutServer', 'resignLeadership']);

const sortIds = (o: Record<string, unknown>): string[] => Object.keys(o).sort();

export class Supervision {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Set by workJobs when a failed* ToDo job ran (or a job was aborted) this round: other ToDo jobs wait. */
  private starved = false;
  private startedAt = Date.now();
  private idBlock: { next: number; end: number } = { next: 0, end: 0 };

  constructor(
    private agent: Agent,
    private o: SupervisionOptions,
  ) {}

  start(): void {
    this.schedule(200);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.loop(), ms);
  }

  private async loop(): Promise<void> {
    if (this.stopped || !this.agent.isLeader) return;
    try {
      await this.round();
    } catch (e) {
      if (!this.stopped && this.agent.isLeader) this.o.log.warn(`supervision round failed: ${(e as Error).message}`);
    }
    this.schedule(this.o.frequency * 1000);
  }

  private view(): ClusterView {
    return new ClusterView(this.agent.readDB);
  }

  private async write(trxs: Trx[]): Promise<number[]> {
    if (this.stopped || !this.agent.isLeader) throw new Error('supervision stopped');
    return this.agent.writeAndCommit(trxs.map((t) => (t[1] ? [t[0], t[1]] : [t[0]])));
  }

  private async round(): Promise<void> {
    const v = this.view();
    if (!v.get('/arango/InitDone')) return;
    const maint = v.get('/arango/Supervision/Maintenance');
    const mode = maint !== undefined ? 'Maintenance' : 'Normal';
    if (asDict(v.get('/arango/Supervision/State')).Mode !== mode) {
      await this.write([[{ '/arango/Supervision/State': { Mode: mode, Timestamp: now() } }]]);
      this.o.log.info(`supervision mode ${mode}`);
    }
    await this.mirrorServerMaintenance();
    if (mode === 'Maintenance') return; // no health checks, no jobs (SUP run loop)
    if ((Date.now() - this.startedAt) / 1000 >= this.o.startupGrace) await this.checkHealth();
    await this.workJobs();
    // enforceReplication's addFollower/removeFollower are ToDo jobs upstream, held back like every other
    // non-failed* ToDo job in a starved round; the simulator applies them at once, so it skips them instead.
    if (!this.starved) await this.enforceReplication();
    await this.shrinkCluster();
    await this.cleanupExpiredServers();
  }

  private async jobIds(n: number): Promise<string[]> {
    if (this.idBlock.end - this.idBlock.next < n) {
      const cur = this.view().get('/arango/Sync/LatestID');
      const base = typeof cur === 'number' ? cur : 0;
      const step = Math.max(10_000, n);
      const [r] = await this.write([
        [
          { '/arango/Sync/LatestID': { op: 'increment', step } },
          { '/arango/Sync/LatestID': typeof cur === 'number' ? { old: cur } : { oldEmpty: true } },
        ],
      ]);
      if (!r) throw new Error('could not reserve job ids');
      this.idBlock = { next: base + 1, end: base + step + 1 };
    }
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(String(this.idBlock.next++));
    return out;
  }

  // ------------------------------------------------------------------ health

  private async checkHealth(): Promise<void> {
    const v = this.view();
    const ids = [...v.dbServers(), ...v.coordinators()];
    const t = Date.now();
    const trxs: Trx[] = [];
    const failedNow: string[] = [];
    const recovered: string[] = [];
    for (const id of ids) {
      const hb = asDict(this.agent.transient.get(`/arango/Sync/ServerStates/${id}`));
      const seen = typeof hb.time === 'string' ? Date.parse(hb.time) : this.startedAt;
      const age = (t - seen) / 1000;
      const status = age <= this.o.okThreshold ? 'GOOD' : age <= this.o.gracePeriod ? 'BAD' : 'FAILED';
      const old = asDict(v.get(`/arango/Supervision/Health/${id}`));
      const reg = asDict(v.get(`/arango/Current/ServersRegistered/${id}`));
      const sync = status === 'GOOD' ? String(hb.status ?? 'SERVING') : 'UNKNOWN';
      const next = {
        ShortName: v.shortName(id) ?? '',
        Endpoint: reg.endpoint ?? '',
        AdvertisedEndpoint: reg.advertisedEndpoint ?? '',
        Host: reg.host ?? '',
        Engine: 'rocksdb',
        Version: reg.versionString ?? '',
        Status: status,
        SyncStatus: sync,
        Timestamp: now(),
        SyncTime: typeof hb.time === 'string' ? hb.time : '',
        LastAckedTime: typeof hb.time === 'string' ? hb.time : '',
      };
      const changed = ['ShortName', 'Endpoint', 'Status', 'SyncStatus', 'Host'].some(
        (k) => old[k] !== (next as Dict)[k],
      );
      if (changed) trxs.push([{ [`/arango/Supervision/Health/${id}`]: next }]);
      if (id.startsWith('PRMR-') && status === 'FAILED' && old.Status !== 'FAILED') failedNow.push(id);
      if (status === 'GOOD' && v.failedServers().includes(id)) recovered.push(id);
      if (changed && old.Status !== status) this.o.log.info(`health of ${id}: ${old.Status ?? '-'} → ${status}`);
    }
    for (const id of Object.keys(asDict(v.get('/arango/Supervision/Health')))) {
      if (!ids.includes(id)) trxs.push([{ [`/arango/Supervision/Health/${id}`]: { op: 'delete' } }]);
    }
    for (const id of recovered) trxs.push([{ [`/arango/Target/FailedServers/${id}`]: { op: 'delete' } }]);
    if (trxs.length) await this.write(trxs);
    for (const id of failedNow) await this.createFailedServer(id);
  }

  // ------------------------------------------------------------------ job machinery

  /**
   * Job::finish: moves the job from ToDo or Pending to Finished or Failed (with `reason`), releasing the shard
   * lock and the server lock named only if the job had started (was in Pending).
   */
  private finishOps(
    job: Dict,
    from: Queue,
    success: boolean,
    reason?: string,
    release: { shard?: boolean; server?: string } = {},
  ): Dict {
    const to = success ? 'Finished' : 'Failed';
    const ops: Dict = {
      [`/arango/Target/${from}/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/${to}/${job.jobId}`]: { ...job, timeFinished: now(), ...(reason ? { reason } : {}) },
    };
    if (from === 'Pending' && release.shard && job.shard)
      ops[`/arango/Supervision/Shards/${job.shard}`] = { op: 'delete' };
    if (from === 'Pending' && release.server) ops[`/arango/Supervision/DBServers/${release.server}`] = { op: 'delete' };
    return ops;
  }

  private async finish(
    job: Dict,
    from: Queue,
    success: boolean,
    reason?: string,
    release: { shard?: boolean; server?: string } = {},
    extra: Dict = {},
    pre?: Dict,
  ): Promise<boolean> {
    this.o.log.info(`job ${job.jobId} (${job.type}) ${success ? 'finished' : 'failed'}${reason ? `: ${reason}` : ''}`);
    const [r] = await this.write([[{ ...this.finishOps(job, from, success, reason, release), ...extra }, pre]]);
    return Boolean(r);
  }

  /** Supervision::workJobs: failed* jobs in ToDo first; other ToDo jobs only if none ran and none aborted. */
  private async workJobs(): Promise<void> {
    const v = this.view();
    const todo = v.jobs('ToDo');
    const ids = sortIds(todo);
    const isFailedType = (id: string): boolean => String(todo[id].type ?? '').startsWith('failed');
    let doneFailedJob = false;
    const aborts = { value: false };
    for (const id of ids.filter(isFailedType)) {
      await this.guard(id, () => this.runJob({ ...todo[id], jobId: todo[id].jobId ?? id }, 'ToDo', aborts));
      doneFailedJob = true;
    }
    this.starved = aborts.value || doneFailedJob;
    if (!this.starved) {
      for (const id of ids.filter((i) => !isFailedType(i))) {
        await this.guard(id, () => this.runJob({ ...todo[id], jobId: todo[id].jobId ?? id }, 'ToDo', { value: false }));
      }
    }
    const pending = this.view().jobs('Pending');
    for (const id of sortIds(pending)) {
      await this.guard(id, () =>
        this.runJob({ ...pending[id], jobId: pending[id].jobId ?? id }, 'Pending', { value: false }),
      );
    }
    await this.pruneFinished();
  }

  private async guard(id: string, f: () => Promise<unknown>): Promise<void> {
    try {
      await f();
    } catch (e) {
      this.o.log.warn(`job ${id}: ${(e as Error).message}`);
    }
  }

  /** JobContext::run → Job::runHelper: status() (which does the Pending work), then start() for ToDo jobs. */
  private async runJob(job: Dict, q: Queue, aborts: { value: boolean }): Promise<void> {
    // The job may have changed queue earlier in this round (aborted by another job).
    if (this.view().get(`/arango/Target/${q}/${job.jobId}`) === undefined) return;
    if (job.abort === true && ABORTABLE.has(String(job.type))) return this.abortJob(job, q, 'Killed via API'); // Job::considerCancellation
    switch (job.type) {
      case 'moveShard':
        return q === 'ToDo' ? this.startMoveShard(job) : this.pendingMoveShard(job);
      case 'cleanOutServer':
      case 'resignLeadership':
        return q === 'ToDo' ? this.startCleanOut(job) : this.pendingCleanOut(job);
      case 'failedServer':
        return q === 'ToDo' ? this.startFailedServer(job, aborts) : this.pendingFailedServer(job);
      case 'failedLeader':
        return this.runFailedLeader(job, q, aborts);
      case 'failedFollower':
        return this.startFailedFollower(job, aborts);
      default:
        await this.finish(job, q, false, `unknown job type ${job.type}`);
    }
  }

  /** Job::abortable: only a job in Target/Pending of an abortable type may be aborted by another job. */
  private abortable(lockValue: unknown): boolean {
    if (typeof lockValue !== 'string') return false;
    const j = this.view().get(`/arango/Target/Pending/${lockValue}`);
    return Boolean(j && typeof j === 'object' && ABORTABLE.has(String(asDict(j).type)));
  }

  /** JobContext::abort on a job found in `q`. */
  private async abortJob(job: Dict, q: Queue, reason: string): Promise<void> {
    if (job.type === 'moveShard') return this.abortMoveShard(job, q, reason);
    if (job.type === 'cleanOutServer' || job.type === 'resignLeadership') return this.abortCleanOut(job, q, reason);
    await this.finish(job, q, false, `job aborted: ${reason}`, { shard: true });
  }

  private async abortById(id: string, reason: string): Promise<void> {
    const job = this.view().get(`/arango/Target/Pending/${id}`);
    if (!job || typeof job !== 'object') return;
    this.o.log.info(`aborting job ${id}: ${reason}`);
    await this.abortJob({ ...(job as Dict), jobId: asDict(job).jobId ?? id }, 'Pending', reason);
  }

  private async pruneFinished(): Promise<void> {
    for (const q of ['Finished', 'Failed'] as const) {
      const jobs = this.view().jobs(q);
      const ids = Object.keys(jobs);
      if (ids.length <= 2000) continue;
      ids.sort((a, b) => String(jobs[a].timeCreated ?? '1970').localeCompare(String(jobs[b].timeCreated ?? '1970')));
      const ops: Dict = {};
      for (const id of ids.slice(0, ids.length - 1000)) ops[`/arango/Target/${q}/${id}`] = { op: 'delete' };
      await this.write([[ops]]);
    }
  }

  // ------------------------------------------------------------------ server locks (Job.cpp, Node.cpp)

  /** The ops and precondition that add `job` as a read lock holder of `server` (addReadLockServer + can-read-lock), or undefined. */
  private readLock(v: ClusterView, server: string, job: string): { op: Dict; pre: Dict } | undefined {
    const path = `/arango/Supervision/DBServers/${server}`;
    const cur = v.get(path);
    const empty =
      cur === undefined ||
      (typeof cur === 'object' && cur !== null && !Array.isArray(cur) && Object.keys(cur).length === 0);
    if (empty) return { op: { [path]: [job] }, pre: { [path]: cur === undefined ? { oldEmpty: true } : { old: cur } } };
    if (!Array.isArray(cur) || cur.some((x) => typeof x !== 'string' || x === job)) return undefined;
    return { op: { [path]: [...cur, job] }, pre: { [path]: { old: cur } } };
  }

  /** addReadUnlockServer + is-read-locked; the node disappears with its last holder. */
  private readUnlock(v: ClusterView, server: string, job: string): { op: Dict; pre: Dict } {
    const path = `/arango/Supervision/DBServers/${server}`;
    const cur = v.get(path);
    if (!Array.isArray(cur) || !cur.includes(job)) return { op: {}, pre: {} };
    const rest = cur.filter((x) => x !== job);
    return { op: { [path]: rest.length ? rest : { op: 'delete' } }, pre: { [path]: { old: cur } } };
  }

  private isSubJob(job: Dict): boolean {
    return typeof job.parentJob === 'string' && job.parentJob !== '';
  }

  /** MoveShard::moveShardFinish's unlock part: shard, toServer read lock, fromServer read lock (not for sub-jobs). */
  private moveShardUnlock(v: ClusterView, job: Dict): { op: Dict; pre: Dict } {
    const to = this.readUnlock(v, job.toServer, job.jobId);
    const from = this.isSubJob(job) ? { op: {}, pre: {} } : this.readUnlock(v, job.fromServer, job.jobId);
    return {
      op: { [`/arango/Supervision/Shards/${job.shard}`]: { op: 'delete' }, ...to.op, ...from.op },
      pre: { ...to.pre, ...from.pre },
    };
  }

  private async moveShardFinish(
    job: Dict,
    q: Queue,
    unlock: boolean,
    success: boolean,
    reason: string,
  ): Promise<boolean> {
    if (!unlock || q === 'ToDo') return this.finish(job, q, success, reason);
    const u = this.moveShardUnlock(this.view(), job);
    return this.finish(job, q, success, reason, {}, u.op, u.pre);
  }

  // ------------------------------------------------------------------ moveShard (MoveShard.cpp)

  private async startMoveShard(job: Dict): Promise<void> {
    const v = this.view();
    const from = v.resolveServer(job.fromServer) ?? job.fromServer;
    const to = v.resolveServer(job.toServer) ?? job.toServer;
    job = { ...job, fromServer: from, toServer: to };
    const isLeader = job.isLeader === true;
    const remainsFollower = typeof job.remainsFollower === 'boolean' ? job.remainsFollower : isLeader;
    if (!v.dbServers().includes(from))
      return void (await this.finish(job, 'ToDo', false, 'fromServer does not exist as DBServer in Plan'));
    if (!v.dbServers().includes(to))
      return void (await this.finish(job, 'ToDo', false, 'toServer does not exist as DBServer in Plan'));
    const coll = v.collection(job.database, job.collection);
    if (!coll) return void (await this.finish(job, 'ToDo', true, 'collection has been dropped in the meantime'));
    if (coll.distributeShardsLike)
      return void (await this.finish(job, 'ToDo', false, "collection must not have 'distributeShardsLike' attribute"));
    if (v.replicationVersion(job.database) === '2')
      return void (await this.finish(
        job,
        'ToDo',
        false,
        'moveShard is not supported for databases with replicationVersion 2',
      ));
    if (v.get(`/arango/Supervision/Shards/${job.shard}`) !== undefined) return; // shard locked: wait
    if (typeof v.get(`/arango/Supervision/DBServers/${to}`) === 'string') return; // toServer write-locked: wait
    const h = v.health(to) ?? 'UNCLEAR';
    if (h === 'BAD') return;
    if (h !== 'GOOD') return void (await this.finish(job, 'ToDo', false, 'toServer is FAILED'));
    if (v.cleaned().includes(to))
      return void (await this.finish(job, 'ToDo', false, 'toServer must not be in `Target/CleanedServers`'));
    if (v.failedServers().includes(to))
      return void (await this.finish(job, 'ToDo', false, 'toServer must not be in `Target/FailedServers`'));
    const planned = asArray(asDict(coll.shards)[job.shard]);
    let toIsFollower = false;
    for (const s of planned) {
      if (s !== to) continue;
      if (!isLeader)
        return void (await this.finish(job, 'ToDo', false, 'toServer must not be planned for a following shard'));
      toIsFollower = true;
    }
    const found = planned.indexOf(from);
    if (isLeader && found !== 0)
      return void (await this.finish(job, 'ToDo', false, 'fromServer must be the leader in plan for shard'));
    if (!isLeader && found < 1)
      return void (await this.finish(job, 'ToDo', false, 'fromServer must be a follower in plan for shard'));
    const group = v.group(job.database, job.collection, job.shard);
    if (
      !planned.includes(to) &&
      group.some((g) => asArray(v.current(job.database, g.cid, g.shard)?.failoverCandidates).includes(to))
    ) {
      return void (await this.finish(
        job,
        'ToDo',
        false,
        'toServer must not be in failoverCandidates for shard or any of its distributeShardsLike colleagues',
      ));
    }
    if (!isLeader && remainsFollower)
      return void (await this.finish(job, 'ToDo', false, 'remainsFollower is invalid without isLeader'));
    if (isLeader && toIsFollower && !remainsFollower)
      return void (await this.finish(job, 'ToDo', false, 'remainsFollower must be true if the toServer is a follower'));
    if (isLeader && toIsFollower) {
      // MoveShard::checkLeaderFollowerCurrent: a leader swap waits (in ToDo) until fromServer leads and toServer is
      // in Current on every shard of the group.
      const ready = group.every((g) => {
        const cur = asArray(v.current(job.database, g.cid, g.shard)?.servers);
        return cur.length > 0 && cur[0] === from && cur.includes(to);
      });
      if (!ready) return;
    }
    if (job.tryUndo === true && !toIsFollower) job = { ...job, tryUndo: false }; // honoured only for leader swaps

    const toLock = this.readLock(v, to, job.jobId);
    if (!toLock) return; // not read-lockable (write-locked or already ours): the precondition would fail
    let fromLock: { op: Dict; pre: Dict } | undefined;
    if (this.isSubJob(job)) {
      fromLock = { op: {}, pre: { [`/arango/Supervision/DBServers/${from}`]: { old: job.parentJob } } }; // is-write-locked by the parent
    } else {
      fromLock = this.readLock(v, from, job.jobId);
      if (!fromLock) return;
    }
    const ops: Dict = {
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/Pending/${job.jobId}`]: { ...job, timeStarted: now() },
      [`/arango/Supervision/Shards/${job.shard}`]: job.jobId,
      ...toLock.op,
      ...fromLock.op,
      '/arango/Plan/Version': { op: 'increment' },
    };
    const pre: Dict = {
      [planPath(job.database, job.collection, job.shard)]: { old: planned },
      [`/arango/Supervision/Shards/${job.shard}`]: { oldEmpty: true },
      ...toLock.pre,
      ...fromLock.pre,
      [`/arango/Supervision/Health/${to}/Status`]: { old: 'GOOD' },
      '/arango/Target/FailedServers':
        v.get('/arango/Target/FailedServers') === undefined
          ? { oldEmpty: true }
          : { old: v.get('/arango/Target/FailedServers') },
      '/arango/Target/CleanedServers':
        v.get('/arango/Target/CleanedServers') === undefined
          ? { oldEmpty: true }
          : { old: v.get('/arango/Target/CleanedServers') },
    };
    for (const g of group) {
      const cur = asArray(asDict(v.collection(job.database, g.cid)?.shards)[g.shard]);
      const next = isLeader ? [cur[0], ...(toIsFollower ? [] : [to]), ...cur.slice(1)] : [...cur, to];
      ops[planPath(job.database, g.cid, g.shard)] = next;
      const fo = v.get(`/arango/Current/Collections/${job.database}/${g.cid}/${g.shard}/failoverCandidates`);
      if (fo !== undefined)
        pre[`/arango/Current/Collections/${job.database}/${g.cid}/${g.shard}/failoverCandidates`] = { old: fo };
    }
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`moveShard ${job.jobId}: ${job.shard} ${from} → ${to} (leader: ${isLeader}) started`);
  }

  private timedOut(job: Dict, limitSeconds: number): boolean {
    if (!(limitSeconds > 0)) return false;
    const created = Date.parse(String(job.timeCreated ?? ''));
    return Number.isFinite(created) && (Date.now() - created) / 1000 > limitSeconds;
  }

  private countGoodOrBad(v: ClusterView, list: string[]): number {
    return list.filter((s) => {
      const id = stripResign(s);
      const h = v.health(id);
      return h === 'GOOD' || h === 'BAD' || (h !== undefined && v.inMaintenance(id));
    }).length;
  }

  private async pendingMoveShard(job: Dict): Promise<void> {
    const v = this.view();
    const db = job.database as string;
    if (!v.collection(db, job.collection))
      return void (await this.moveShardFinish(job, 'Pending', true, true, 'collection was dropped'));
    const from = job.fromServer as string;
    const to = job.toServer as string;
    const group = v.group(db, job.collection, job.shard);
    const plans = group.map((g) => asArray(asDict(v.collection(db, g.cid)?.shards)[g.shard]));
    const currents = group.map((g) => asArray(v.current(db, g.cid, g.shard)?.servers));
    const plan = plans[0];
    if (this.countGoodOrBad(v, plan) < plan.length) return this.abortMoveShard(job, 'Pending', 'failed server in Plan');
    const planOps = (next: (cur: string[]) => string[]): { ops: Dict; pre: Dict } => {
      const ops: Dict = { '/arango/Plan/Version': { op: 'increment' } };
      const pre: Dict = { [`/arango/Plan/Collections/${db}/${job.collection}`]: { oldEmpty: false } };
      group.forEach((g, i) => {
        ops[planPath(db, g.cid, g.shard)] = next(plans[i]);
        pre[planPath(db, g.cid, g.shard)] = { old: plans[i] };
      });
      return { ops, pre };
    };
    const finishWith = async (ops: Dict, pre: Dict): Promise<void> => {
      const u = this.moveShardUnlock(v, job);
      const [r] = await this.write([
        [
          { ...ops, ...u.op, ...this.finishOps(job, 'Pending', true) },
          { ...pre, ...u.pre },
        ],
      ]);
      if (r) this.o.log.info(`moveShard ${job.jobId} finished (${job.shard} ${from} → ${to})`);
    };
    if (!job.isLeader) {
      if (!group.every((_, i) => inSyncLists(plans[i], currents[i]))) {
        if (this.timedOut(job, this.o.moveShardFollowerTimeout))
          return this.abortMoveShard(job, 'Pending', 'MoveShard timed out in pending follower');
        return;
      }
      const { ops, pre } = planOps((cur) => cur.filter((s) => s !== from));
      return finishWith(ops, pre);
    }
    const waitOrTimeout = async (): Promise<void> => {
      if (this.timedOut(job, this.o.moveShardTimeout))
        await this.abortMoveShard(job, 'Pending', 'MoveShard timed out in pending leader');
    };
    if (plan[0] === from) {
      if (!currents.every((c) => c.includes(to))) return waitOrTimeout();
      const { ops, pre } = planOps((cur) => cur.map((s) => (s === from ? `_${from}` : s)));
      await this.write([[ops, pre]]);
      return;
    }
    if (plan[0] === `_${from}`) {
      if (!currents.every((c) => c[0] === `_${from}`)) return waitOrTimeout();
      for (let i = 0; i < group.length; i++) {
        const path = `/arango/Current/Collections/${db}/${group[i].cid}/${group[i].shard}`;
        if (!v.current(db, group[i].cid, group[i].shard))
          return this.abortMoveShard(job, 'Pending', `${path} no longer has replica`);
        if (!currents[i].includes(to))
          return this.abortMoveShard(job, 'Pending', `${to} no longer holds a replica of ${path}`);
      }
      const { ops, pre } = planOps((cur) => [
        ...cur.filter((s) => s !== to).map((s) => (s === `_${from}` ? to : s)),
        from,
      ]);
      group.forEach((g) => (pre[currentServersPath(db, g.cid, g.shard)] = { in: to })); // addPreconditionCurrentReplicaShardGroup
      await this.write([[ops, pre]]);
      return;
    }
    if (plan[0] === to) {
      const ready = group.every((_, i) => {
        const p = plans[i];
        const c = currents[i];
        if (c[0] !== to) return false;
        if (p.length < 3) return true;
        return p.slice(1, -1).filter((s) => c.includes(s)).length >= p.length - 2;
      });
      if (!ready) return waitOrTimeout();
      const { ops, pre } = job.remainsFollower
        ? { ops: {}, pre: planOps((c) => c).pre }
        : planOps((cur) => cur.filter((s) => s !== from));
      return finishWith(ops, pre);
    }
    await this.moveShardFinish(job, 'Pending', true, false, 'something seriously wrong');
  }

  /**
   * MoveShard::abort: in ToDo just fail ("job aborted (1)"). In Pending, once the toServer is the Plan leader the job
   * "flies forward": it fails ("job aborted (2)") and leaves Plan as it is; before that it reverts Plan (leader:
   * [from, …others, to], to last for removeFollower; follower: Plan minus to), releases its locks and fails ("job
   * aborted (3)"). A failed precondition leaves the job where it is for the next round.
   */
  private async abortMoveShard(job: Dict, q: Queue, reason: string): Promise<void> {
    if (q === 'ToDo') {
      const ok = await this.finish(
        job,
        'ToDo',
        false,
        `job aborted (1): ${reason}`,
        {},
        {},
        { [`/arango/Target/ToDo/${job.jobId}`]: { oldEmpty: false } },
      );
      if (ok) return;
      const p = this.view().get(`/arango/Target/Pending/${job.jobId}`);
      if (!p) return;
      job = { ...(p as Dict), jobId: job.jobId };
    }
    const v = this.view();
    const db = job.database as string;
    if (!v.collection(db, job.collection))
      return void (await this.moveShardFinish(job, 'Pending', true, false, 'collection was dropped'));
    const from = job.fromServer as string;
    const to = job.toServer as string;
    const group = v.group(db, job.collection, job.shard);
    if (job.isLeader && asArray(asDict(v.collection(db, job.collection)?.shards)[job.shard])[0] === to) {
      await this.moveShardFinish(
        job,
        'Pending',
        true,
        false,
        `job aborted (2) - new leader already in place: ${reason}`,
      );
      return;
    }
    const u = this.moveShardUnlock(v, job);
    const ops: Dict = { ...u.op, '/arango/Plan/Version': { op: 'increment' } };
    const pre: Dict = { ...u.pre, [`/arango/Plan/Collections/${db}/${job.collection}`]: { oldEmpty: false } };
    for (const g of group) {
      const plan = asArray(asDict(v.collection(db, g.cid)?.shards)[g.shard]);
      ops[planPath(db, g.cid, g.shard)] = job.isLeader
        ? [from, ...plan.filter((s) => s !== from && s !== `_${from}` && s !== to), to]
        : plan.filter((s) => s !== to);
    }
    const [r] = await this.write([
      [{ ...ops, ...this.finishOps(job, 'Pending', false, `job aborted (3): ${reason}`) }, pre],
    ]);
    if (r) this.o.log.info(`moveShard ${job.jobId} aborted: ${reason}`);
  }

  // ------------------------------------------------------------------ cleanOutServer / resignLeadership

  private async startCleanOut(job: Dict): Promise<void> {
    const v = this.view();
    const resign = job.type === 'resignLeadership';
    const server = v.resolveServer(job.server);
    if (!server || !v.dbServers().includes(server))
      return void (await this.finish(job, 'ToDo', false, `server ${job.server} not found`));
    const lock = v.get(`/arango/Supervision/DBServers/${server}`);
    if (lock !== undefined && !(Array.isArray(lock) && lock.length === 0)) return; // can-write-lock fails: wait
    const h = v.health(server);
    if (h === 'FAILED') return void (await this.finish(job, 'ToDo', false, `server ${server} is FAILED`));
    if (h !== 'GOOD') return;
    if (v.cleaned().includes(server) || v.failedServers().includes(server))
      return void (await this.finish(job, 'ToDo', false, `server ${server} already cleaned or failed`));
    const available = v.availableServers().filter((s) => s !== server);
    const shards = [...v.prototypeShards()].filter(
      (s) => s.servers.map(stripResign).includes(server) && (!resign || stripResign(s.servers[0]) === server),
    );
    if (!resign) {
      const maxRf = Math.max(
        0,
        ...[...v.prototypeShards()].map((s) =>
          typeof s.coll.replicationFactor === 'number' ? s.coll.replicationFactor : 0,
        ),
      );
      if (available.length < 1 || maxRf > available.length)
        return void (await this.finish(job, 'ToDo', false, `server ${server} cannot be cleaned out`));
    }
    const subs: Dict[] = [];
    for (const s of shards) {
      const isLeader = stripResign(s.servers[0]) === server;
      let to: string | undefined;
      if (resign) {
        const group = v.group(s.db, s.cid, s.shard);
        const cands = s.servers
          .slice(1)
          .filter(
            (c) =>
              v.health(c) === 'GOOD' &&
              !v.inMaintenance(c) &&
              typeof v.get(`/arango/Supervision/DBServers/${c}`) !== 'string' &&
              group.every((g) => asArray(v.current(s.db, g.cid, g.shard)?.servers).includes(c)),
          );
        if (cands.length === 0) continue; // skipped silently (RL)
        to = cands[0];
      } else {
        const cands = available.filter((c) => !s.servers.map(stripResign).includes(c));
        if (cands.length === 0)
          return void (await this.finish(job, 'ToDo', false, `no destination for shard ${s.shard}`));
        to = pick(cands); // random destination among servers not being cleaned (the trap)
      }
      subs.push({ db: s.db, cid: s.cid, shard: s.shard, isLeader, to });
    }
    const ops: Dict = {
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/Pending/${job.jobId}`]: { ...job, server, timeStarted: now() },
      [`/arango/Supervision/DBServers/${server}`]: job.jobId, // addWriteLockServer
      '/arango/Target/ToBeCleanedServers': { op: 'push', new: server },
    };
    subs.forEach((s, i) => {
      const id = `${job.jobId}-${i}`;
      ops[`/arango/Target/ToDo/${id}`] = {
        creator: job.jobId,
        type: 'moveShard',
        database: s.db,
        collection: s.cid,
        shard: s.shard,
        fromServer: server,
        toServer: s.to,
        isLeader: s.isLeader,
        remainsFollower: resign ? s.isLeader : false,
        jobId: id,
        timeCreated: now(),
        tryUndo: false,
        parentJob: job.jobId,
      };
    });
    const pre: Dict = {
      '/arango/Plan/Version': { old: v.get('/arango/Plan/Version') },
      [`/arango/Supervision/DBServers/${server}`]: lock === undefined ? { oldEmpty: true } : { old: lock },
      [`/arango/Supervision/Health/${server}/Status`]: { old: 'GOOD' },
    };
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`${job.type} ${job.jobId} of ${server} started with ${subs.length} moveShard job(s)`);
  }

  private async pendingCleanOut(job: Dict): Promise<void> {
    const v = this.view();
    const mine = (q: Record<string, Dict>): string[] => Object.keys(q).filter((id) => q[id].parentJob === job.jobId);
    if (mine(v.jobs('ToDo')).length + mine(v.jobs('Pending')).length > 0) return;
    const failed = mine(v.jobs('Failed'));
    const release: Dict = { '/arango/Target/ToBeCleanedServers': { op: 'erase', val: job.server } };
    if (failed.length > 0)
      return void (await this.finish(
        job,
        'Pending',
        false,
        `sub-job(s) failed: ${failed.join(', ')}`,
        { server: job.server },
        release,
      ));
    if (job.type === 'cleanOutServer') release['/arango/Target/CleanedServers'] = { op: 'push', new: job.server };
    await this.finish(job, 'Pending', true, undefined, { server: job.server }, release);
  }

  private async abortCleanOut(job: Dict, q: Queue, reason: string): Promise<void> {
    if (q === 'ToDo') return void (await this.finish(job, 'ToDo', false, `job aborted: ${reason}`));
    const v = this.view();
    for (const sq of ['ToDo', 'Pending'] as const) {
      const jobs = v.jobs(sq);
      for (const id of Object.keys(jobs).filter((i) => jobs[i].parentJob === job.jobId)) {
        await this.abortMoveShard({ ...jobs[id], jobId: id }, sq, reason);
      }
    }
    await this.finish(
      job,
      'Pending',
      false,
      `job aborted: ${reason}`,
      { server: job.server },
      { '/arango/Target/ToBeCleanedServers': { op: 'erase', val: job.server } },
    );
  }

  // ------------------------------------------------------------------ failedServer (FailedServer.cpp)

  /** Supervision::checkDBServers on BAD → FAILED: FailedServer::create (a failedServer job, Target/FailedServers/<id> = []). */
  private async createFailedServer(id: string): Promise<void> {
    const v = this.view();
    if (v.failedServers().includes(id)) return;
    if (Object.values(v.jobs('ToDo')).some((j) => j.type === 'failedServer' && j.server === id)) return;
    if (Object.values(v.jobs('Pending')).some((j) => j.type === 'failedServer' && j.server === id)) return;
    const [jobId] = await this.jobIds(1);
    await this.write([
      [
        {
          [`/arango/Target/ToDo/${jobId}`]: {
            type: 'failedServer',
            server: id,
            jobId,
            creator: 'supervision',
            timeCreated: now(),
          },
          [`/arango/Target/FailedServers/${id}`]: [],
        },
        { [`/arango/Target/FailedServers/${id}`]: { oldEmpty: true } },
      ],
    ]);
    this.o.log.info(`server ${id} FAILED: failedServer job ${jobId}`);
  }

  private async startFailedServer(job: Dict, aborts: { value: boolean }): Promise<void> {
    const v = this.view();
    const server = job.server as string;
    const h = v.health(server);
    if (h === undefined)
      return void (await this.finish(
        job,
        'ToDo',
        false,
        `Server ${server} no longer in health. Already removed. Abort.`,
      ));
    if (h !== 'FAILED')
      return void (await this.finish(
        job,
        'ToDo',
        false,
        `Server ${server} is no longer failed. Not starting FailedServer job`,
      ));
    const lock = v.get(`/arango/Supervision/DBServers/${server}`);
    if (lock !== undefined) {
      for (const holder of Array.isArray(lock) ? lock : [lock]) {
        if (!this.abortable(holder)) return; // a lock held by something that cannot be aborted: wait
        await this.abortById(String(holder), 'failed server');
        aborts.value = true;
      }
      return;
    }
    const ops: Dict = {};
    let sub = 0;
    const created: string[] = [];
    for (const db of v.planDatabases()) {
      for (const [cid, coll] of Object.entries(v.planCollections(db))) {
        const rf = coll.replicationFactor;
        const satellite = rf === 'satellite';
        if (!satellite && (typeof rf !== 'number' || rf === 1)) continue; // no point in salvaging unreplicated data
        if (coll.distributeShardsLike) continue; // clones move with their prototype
        for (const [shard, servers] of Object.entries(asDict(coll.shards))) {
          asArray(servers).forEach((s, pos) => {
            if (s !== server && s !== `_${server}`) return;
            if (pos > 0 && satellite) return;
            const id = `${job.jobId}-${sub++}`;
            const type = pos === 0 ? 'failedLeader' : 'failedFollower';
            ops[`/arango/Target/ToDo/${id}`] = {
              creator: job.jobId,
              type,
              database: db,
              collection: cid,
              shard,
              fromServer: server,
              jobId: id,
              timeCreated: now(),
            };
            created.push(`${type} ${shard}`);
          });
        }
      }
    }
    ops[`/arango/Target/Pending/${job.jobId}`] = { timeStarted: now(), ...job };
    ops[`/arango/Target/ToDo/${job.jobId}`] = { op: 'delete' };
    ops[`/arango/Supervision/DBServers/${server}`] = job.jobId; // addBlockServer
    const pre: Dict = {
      [`/arango/Supervision/DBServers/${server}`]: { oldEmpty: true },
      [`/arango/Supervision/Health/${server}/Status`]: { old: 'FAILED' },
    };
    const [r] = await this.write([[ops, pre]]);
    if (r)
      this.o.log.info(
        `failedServer ${job.jobId} of ${server} started: ${created.length} sub-job(s) ${created.join(', ')}`,
      );
  }

  private async pendingFailedServer(job: Dict): Promise<void> {
    const v = this.view();
    const prefix = `${job.jobId}-`;
    const healthy = v.health(job.server) === 'GOOD';
    const todo = Object.keys(v.jobs('ToDo')).filter((id) => id.startsWith(prefix));
    const open = Object.keys(v.jobs('Pending')).some((id) => id.startsWith(prefix)) || (!healthy && todo.length > 0);
    if (healthy && todo.length) {
      const ops: Dict = {};
      for (const id of todo) ops[`/arango/Target/ToDo/${id}`] = { op: 'delete' };
      await this.write([[ops]]);
    }
    if (!open) await this.finish(job, 'Pending', true, undefined, { server: job.server });
  }

  // ------------------------------------------------------------------ failedLeader (FailedLeader.cpp)

  /** FailedLeader::status (timeout in ToDo and Pending; Pending completes when Current follows Plan), then start. */
  private async runFailedLeader(job: Dict, q: Queue, aborts: { value: boolean }): Promise<void> {
    const v = this.view();
    if (!v.collection(job.database, job.collection))
      return void (await this.finish(job, q, true, `Collection ${job.collection} gone`, { shard: true }));
    if (this.timedOut(job, this.o.failedLeaderTimeout))
      return void (await this.finish(job, q, false, 'Timed out.', { shard: true }));
    if (q === 'ToDo') return this.startFailedLeader(job, aborts);
    const th = v.health(job.toServer) ?? 'UNCLEAR';
    if (th === 'FAILED' || th === 'UNCLEAR')
      return void (await this.finish(job, q, false, '_to server not health', { shard: true }));
    const done = v.group(job.database, job.collection, job.shard).every((g) => {
      const p = asArray(asDict(v.collection(job.database, g.cid)?.shards)[g.shard]);
      const c = v.current(job.database, g.cid, g.shard);
      return !c || asArray(c.servers)[0] === p[0];
    });
    if (done && (await this.finish(job, q, true, undefined, { shard: true })))
      this.o.log.info(`failover of ${job.shard}: ${job.fromServer} → ${job.toServer} done`);
  }

  /** Job::findNonblockedCommonHealthyInSyncFollower. */
  private commonHealthyInSyncFollower(
    v: ClusterView,
    db: string,
    cid: string,
    shard: string,
    avoid: string,
  ): string | undefined {
    const counts = new Map<string, number>();
    let n = 0;
    for (const g of v.group(db, cid, shard)) {
      const cur = v.current(db, g.cid, g.shard);
      const plan = asDict(v.collection(db, g.cid)?.shards)[g.shard];
      if (!cur || !Array.isArray(plan)) continue;
      n++;
      const list = Array.isArray(cur.failoverCandidates) ? cur.failoverCandidates : asArray(cur.servers);
      for (const s of list) {
        if (
          s === avoid ||
          v.health(s) !== 'GOOD' ||
          v.get(`/arango/Supervision/DBServers/${s}`) !== undefined ||
          v.inMaintenance(s) ||
          !plan.includes(s)
        )
          continue;
        counts.set(s, (counts.get(s) ?? 0) + 1);
      }
    }
    for (const [s, c] of counts) if (c === n) return s;
    return undefined;
  }

  /** Job::randomIdleAvailableServer: a GOOD available server outside `exclude`, not in maintenance. */
  private randomIdleAvailableServer(v: ClusterView, exclude: string[]): string | undefined {
    const good = v
      .availableServers()
      .filter((s) => !exclude.includes(s) && !v.inMaintenance(s) && v.health(s) === 'GOOD');
    return good.length ? pick(good) : undefined;
  }

  private async startFailedLeader(job: Dict, aborts: { value: boolean }): Promise<void> {
    const v = this.view();
    const coll = v.collection(job.database, job.collection)!;
    if (coll.distributeShardsLike)
      return void (await this.finish(job, 'ToDo', false, 'Collection has distributeShardsLike'));
    const from = job.fromServer as string;
    const to = this.commonHealthyInSyncFollower(v, job.database, job.collection, job.shard, from);
    if (!to) return; // no healthy in-sync follower: wait
    const planned = asArray(asDict(coll.shards)[job.shard]);
    const current = asArray(v.current(job.database, job.collection, job.shard)?.servers);
    let rest = planned.filter((s) => s !== from && s !== to);
    const extra = this.randomIdleAvailableServer(v, planned);
    if (extra) rest.push(extra);
    const next = [to];
    for (const s of current) {
      if (s === from || s === to) continue;
      next.push(s);
      rest = rest.filter((x) => x !== s);
    }
    next.push(from, ...rest);
    // Abort the job blocking the shard if it is abortable; wait on anything else (FailedLeader::start).
    const lock = v.get(`/arango/Supervision/Shards/${job.shard}`);
    if (lock !== undefined) {
      if (!this.abortable(lock)) return;
      aborts.value = true;
      await this.abortById(String(lock), 'failed leader requests abort');
      return;
    }
    const ops: Dict = {
      [`/arango/Target/Pending/${job.jobId}`]: { timeStarted: now(), toServer: to, ...job },
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      [`/arango/Supervision/Shards/${job.shard}`]: job.jobId,
      '/arango/Plan/Version': { op: 'increment' },
    };
    for (const g of v.group(job.database, job.collection, job.shard))
      ops[planPath(job.database, g.cid, g.shard)] = next;
    const pre: Dict = {
      [`/arango/Supervision/Health/${from}/Status`]: { old: 'FAILED' },
      [`/arango/Supervision/Health/${to}/Status`]: { old: 'GOOD' },
      [planPath(job.database, job.collection, job.shard)]: { old: planned },
      [`/arango/Supervision/DBServers/${to}`]: { oldEmpty: true },
      [`/arango/Supervision/Shards/${job.shard}`]: { oldEmpty: true },
    };
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`failedLeader ${job.jobId}: ${job.shard} ${from} → ${to} started`);
    else if (v.health(from) === 'GOOD') await this.finish(job, 'ToDo', false, `Server ${from} no longer failing.`);
  }

  // ------------------------------------------------------------------ failedFollower (FailedFollower.cpp)

  private async startFailedFollower(job: Dict, aborts: { value: boolean }): Promise<void> {
    const v = this.view();
    const coll = v.collection(job.database, job.collection);
    if (!coll) return void (await this.finish(job, 'ToDo', true, `Collection ${job.collection} gone`));
    if (coll.distributeShardsLike)
      return void (await this.finish(job, 'ToDo', false, 'Collection has distributeShardsLike'));
    const planned = asDict(coll.shards)[job.shard];
    if (!Array.isArray(planned))
      return void (await this.finish(job, 'ToDo', true, `Plan entry for collection ${job.collection} gone`));
    const from = job.fromServer as string;
    if (!planned.includes(from))
      return void (await this.finish(
        job,
        'ToDo',
        true,
        `Server no longer found in Plan for collection ${job.collection}, our job is done.`,
      ));
    const to = this.randomIdleAvailableServer(v, planned);
    if (!to) return void (await this.finish(job, 'ToDo', false, 'No server available.'));
    if (this.timedOut(job, this.o.failedLeaderTimeout))
      return void (await this.finish(job, 'ToDo', false, 'Job timed out'));
    const next = [...planned.map((s: string) => (s === from ? to : s)), from];
    const lock = v.get(`/arango/Supervision/Shards/${job.shard}`);
    if (lock !== undefined) {
      if (!this.abortable(lock)) return;
      aborts.value = true;
      await this.abortById(String(lock), 'failed follower requests abort');
      return;
    }
    const ops: Dict = {
      [`/arango/Target/Finished/${job.jobId}`]: { timeStarted: now(), timeFinished: now(), toServer: to, ...job },
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      '/arango/Plan/Version': { op: 'increment' },
    };
    for (const g of v.group(job.database, job.collection, job.shard))
      ops[planPath(job.database, g.cid, g.shard)] = next;
    const pre: Dict = {
      [`/arango/Supervision/Health/${from}/Status`]: { old: 'FAILED' },
      [planPath(job.database, job.collection, job.shard)]: { old: planned },
      [`/arango/Supervision/DBServers/${to}`]: { oldEmpty: true },
      [`/arango/Supervision/Shards/${job.shard}`]: { oldEmpty: true },
      [`/arango/Supervision/Health/${to}/Status`]: { old: 'GOOD' },
    };
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`failedFollower ${job.jobId}: ${job.shard} ${from} → ${to}`);
    else if (v.health(from) !== 'FAILED') await this.finish(job, 'ToDo', false, `Server ${from} no longer failing.`);
  }

  // ------------------------------------------------------------------ enforceReplication

  private async enforceReplication(): Promise<void> {
    const v = this.view();
    const busy = new Set<string>();
    for (const q of ['ToDo', 'Pending'] as const) {
      for (const j of Object.values(v.jobs(q))) if (j.shard) busy.add(`${j.database}/${j.shard}`);
    }
    const toBeCleaned = new Set([...v.toBeCleaned(), ...v.cleaned()]);
    const trxs: { trx: Trx; job: Dict }[] = [];
    for (const s of v.prototypeShards()) {
      if (trxs.length >= 50) break;
      if (v.replicationVersion(s.db) === '2') continue; // replication 2: Plan follows Target/CollectionGroups
      const rf = s.coll.replicationFactor;
      if (typeof rf !== 'number' || s.coll.isBuilding || s.coll.deleted) continue;
      if (v.get(`/arango/Supervision/Shards/${s.shard}`) !== undefined || busy.has(`${s.db}/${s.shard}`)) continue;
      if (s.servers.some((x) => x.startsWith('_'))) continue;
      const group = v.group(s.db, s.cid, s.shard);
      const plans = group.map((g) => asArray(asDict(v.collection(s.db, g.cid)?.shards)[g.shard]));
      const inSync = (x: string): boolean =>
        group.every((g) => asArray(v.current(s.db, g.cid, g.shard)?.servers).includes(x));
      const alive = s.servers.filter((x) => ['GOOD', 'BAD'].includes(v.health(x) ?? ''));
      let next: string[] | undefined;
      let job: Dict | undefined;
      if (alive.length < rf) {
        const cands = v.availableServers().filter((x) => !s.servers.includes(x) && v.health(x) === 'GOOD');
        if (cands.length === 0) continue;
        const add: string[] = [];
        while (add.length < rf - alive.length && add.length < cands.length) {
          const c = pick(cands.filter((x) => !add.includes(x)));
          add.push(c);
        }
        next = [...s.servers, ...add];
        job = { type: 'addFollower', newFollower: add };
      } else if (s.servers.length > rf) {
        const syncCount = s.servers.filter(inSync).length;
        if (syncCount < rf) continue;
        const followers = s.servers.slice(1).reverse(); // scan from the end of the list
        const classes = [
          followers.filter((x) => v.health(x) !== 'GOOD'),
          followers.filter((x) => v.health(x) === 'GOOD' && !inSync(x)),
          followers.filter((x) => v.health(x) === 'GOOD' && inSync(x) && toBeCleaned.has(x)),
          followers.filter((x) => v.health(x) === 'GOOD' && inSync(x) && !toBeCleaned.has(x)),
        ];
        const victims: string[] = [];
        let remainingSync = syncCount;
        for (const x of classes.flat()) {
          if (victims.length >= s.servers.length - rf) break;
          if (inSync(x) && remainingSync - 1 < rf) continue;
          victims.push(x);
          if (inSync(x)) remainingSync -= 1;
        }
        if (victims.length === 0) continue;
        next = s.servers.filter((x) => !victims.includes(x));
        job = { type: 'removeFollower', removed: victims };
      }
      if (!next || !job) continue;
      const ops: Dict = { '/arango/Plan/Version': { op: 'increment' } };
      const pre: Dict = { [`/arango/Supervision/Shards/${s.shard}`]: { oldEmpty: true } };
      const nextList = next;
      group.forEach((g, i) => {
        const mapped =
          job!.type === 'addFollower'
            ? [...plans[i], ...nextList.slice(plans[i].length)]
            : plans[i].filter((x) => nextList.includes(x));
        ops[planPath(s.db, g.cid, g.shard)] = mapped;
        pre[planPath(s.db, g.cid, g.shard)] = { old: plans[i] };
      });
      trxs.push({ trx: [ops, pre], job: { ...job, database: s.db, collection: s.cid, shard: s.shard } });
    }
    if (trxs.length === 0) return;
    const ids = await this.jobIds(trxs.length);
    const results = await this.write(
      trxs.map((t, i) => [
        {
          ...t.trx[0],
          [`/arango/Target/Finished/${ids[i]}`]: {
            ...t.job,
            jobId: ids[i],
            creator: 'supervision',
            timeCreated: now(),
            timeFinished: now(),
          },
        },
        t.trx[1],
      ]),
    );
    results.forEach((r, i) => {
      if (r)
        this.o.log.info(
          `${trxs[i].job.type} on ${trxs[i].job.shard}: ${JSON.stringify(trxs[i].job.newFollower ?? trxs[i].job.removed)}`,
        );
    });
  }

  // ------------------------------------------------------------------ shrinkCluster, expired servers, maintenance

  /**
   * Supervision::shrinkCluster: only with empty ToDo and Pending; available = Job::availableServers (Plan minus
   * cleaned, to-be-cleaned and failed servers, whatever their health); if Target/NumberOfDBServers is below that and
   * the largest replicationFactor of any collection is too, the last server ID in sorted order is cleaned out.
   */
  private async shrinkCluster(): Promise<void> {
    const v = this.view();
    if (Object.keys(v.jobs('ToDo')).length || Object.keys(v.jobs('Pending')).length) return;
    const target = v.get('/arango/Target/NumberOfDBServers');
    if (typeof target !== 'number') return;
    const available = v.availableServers().sort();
    const maxRf = Math.max(
      1,
      ...[...v.allShards()].map((s) => (typeof s.coll.replicationFactor === 'number' ? s.coll.replicationFactor : 1)),
    );
    if (available.length <= 1 || target >= available.length || maxRf >= available.length) return;
    const victim = available.at(-1)!;
    const [id] = await this.jobIds(1);
    await this.write([
      [
        {
          [`/arango/Target/ToDo/${id}`]: {
            type: 'cleanOutServer',
            server: victim,
            jobId: id,
            creator: 'supervision',
            timeCreated: now(),
          },
        },
      ],
    ]);
    this.o.log.info(
      `shrinkCluster: NumberOfDBServers=${target} < ${available.length} available, cleaning out ${victim}`,
    );
  }

  /**
   * Supervision::cleanupExpiredServers (deletionCandidates): DB servers and coordinators in Plan whose last heartbeat
   * is older than `expiredServersGrace` and that appear in no shard's Plan are removed from Health, Plan, Current
   * (DBServers or Coordinators, ServersKnown, ServersRegistered, every Databases entry) and Target/MapUniqueToShortID.
   * Upstream runs it at most hourly and only after the leader has led for 5 minutes; the simulation runs it every
   * round once health is judged.
   */
  private async cleanupExpiredServers(): Promise<void> {
    if ((Date.now() - this.startedAt) / 1000 < this.o.startupGrace) return;
    const v = this.view();
    const t = Date.now();
    const used = new Set<string>();
    for (const s of v.allShards()) for (const x of s.servers) used.add(stripResign(x));
    const trxs: Trx[] = [];
    const removed: string[] = [];
    for (const [kind, ids] of [
      ['DBServers', v.dbServers()],
      ['Coordinators', v.coordinators()],
    ] as const) {
      for (const id of ids) {
        if (kind === 'DBServers' && used.has(id)) continue;
        const hb = asDict(this.agent.transient.get(`/arango/Sync/ServerStates/${id}`));
        const seen = typeof hb.time === 'string' ? Date.parse(hb.time) : this.startedAt;
        if ((t - seen) / 1000 <= this.o.expiredServersGrace) continue;
        const ops: Dict = {
          [`/arango/Supervision/Health/${id}`]: { op: 'delete' },
          [`/arango/Plan/${kind}/${id}`]: { op: 'delete' },
          [`/arango/Current/${kind}/${id}`]: { op: 'delete' },
          [`/arango/Target/MapUniqueToShortID/${id}`]: { op: 'delete' },
          [`/arango/Current/ServersKnown/${id}`]: { op: 'delete' },
          [`/arango/Current/ServersRegistered/${id}`]: { op: 'delete' },
        };
        if (kind === 'DBServers')
          for (const db of Object.keys(asDict(v.get('/arango/Current/Databases'))))
            ops[`/arango/Current/Databases/${db}/${id}`] = { op: 'delete' };
        const ts = asDict(v.get(`/arango/Supervision/Health/${id}`)).Timestamp;
        trxs.push([
          ops,
          ts !== undefined ? { [`/arango/Supervision/Health/${id}/Timestamp`]: { old: ts } } : undefined,
        ]);
        removed.push(id);
      }
    }
    if (trxs.length === 0) return;
    await this.write(trxs);
    this.o.log.info(
      `cleanupExpiredServers: removed ${removed.join(', ')} (no heartbeat for ${this.o.expiredServersGrace} s, no shards)`,
    );
  }

  /** Per-server maintenance: requested in Target/MaintenanceDBServers, mirrored to Current/MaintenanceDBServers. */
  private async mirrorServerMaintenance(): Promise<void> {
    const v = this.view();
    const target = asDict(v.get('/arango/Target/MaintenanceDBServers'));
    const current = asDict(v.get('/arango/Current/MaintenanceDBServers'));
    const ops: Dict = {};
    for (const [id, m] of Object.entries(target)) {
      if (JSON.stringify(current[id]) === JSON.stringify(m)) continue;
      const until = Date.parse(String(asDict(m).Until ?? ''));
      const ttl = Number.isFinite(until) ? Math.max(1, Math.ceil((until - Date.now()) / 1000)) : undefined;
      ops[`/arango/Current/MaintenanceDBServers/${id}`] = ttl ? { op: 'set', new: m, ttl } : m;
    }
    for (const id of Object.keys(current))
      if (!(id in target)) ops[`/arango/Current/MaintenanceDBServers/${id}`] = { op: 'delete' };
    if (Object.keys(ops).length === 0) return;
    await this.write([[{ ...ops, '/arango/Current/Version': { op: 'increment' } }]]);
  }
}
