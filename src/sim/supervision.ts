// Simulated supervision, run on the agency leader every `frequency` seconds (arangod/Agency/Supervision.cpp and
// the job classes as described in shared/docs/arangodb-cluster.md §3.3 and §4): health from heartbeats
// (GOOD/BAD/FAILED), failover of a FAILED leader, moveShard (with remainsFollower), cleanOutServer (random
// destinations), resignLeadership, enforceReplication (addFollower/removeFollower with the documented victim
// order), the auto-shrink of Target/NumberOfDBServers and maintenance mode. The traps are deliberate: Transit
// must cope with them.
/* eslint-disable @typescript-eslint/no-explicit-any */
import type { Agent } from './agent.js';
import type { Logger } from './log.js';
import { ClusterView, asArray, asDict, inSyncLists, planPath, currentServersPath, stripResign, type Dict } from './cluster-state.js';

export interface SupervisionOptions {
  /** --agency.supervision-frequency (s) */
  frequency: number;
  /** --agency.supervision-ok-threshold (s): no heartbeat for longer → BAD */
  okThreshold: number;
  /** --agency.supervision-grace-period (s): no heartbeat for longer → FAILED */
  gracePeriod: number;
  /** Seconds a new agency leader waits before judging health (the real one waits ~55 s). */
  startupGrace: number;
  log: Logger;
}

const now = (): string => new Date().toISOString();
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

type Trx = [Dict, Dict?];

export class Supervision {
  private timer?: NodeJS.Timeout;
  private stopped = false;
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
    if (mode === 'Maintenance') return; // no health checks, no jobs (SUP run loop)
    if ((Date.now() - this.startedAt) / 1000 >= this.o.startupGrace) await this.checkHealth();
    await this.workJobs();
    await this.enforceReplication();
    await this.shrinkCluster();
  }

  private async jobIds(n: number): Promise<string[]> {
    if (this.idBlock.end - this.idBlock.next < n) {
      const cur = this.view().get('/arango/Sync/LatestID');
      const base = typeof cur === 'number' ? cur : 0;
      const step = Math.max(10_000, n);
      const [r] = await this.write([
        [{ '/arango/Sync/LatestID': { op: 'increment', step } }, { '/arango/Sync/LatestID': typeof cur === 'number' ? { old: cur } : { oldEmpty: true } }],
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
      const changed = ['ShortName', 'Endpoint', 'Status', 'SyncStatus', 'Host'].some((k) => old[k] !== (next as Dict)[k]);
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
    for (const id of failedNow) await this.failedServer(id);
  }

  /** failedServer: record it and create failedLeader jobs for every shard it leads. */
  private async failedServer(id: string): Promise<void> {
    const v = this.view();
    const led = [...v.prototypeShards()].filter((s) => s.servers[0] === id);
    const ids = await this.jobIds(led.length);
    const ops: Dict = { [`/arango/Target/FailedServers/${id}`]: led.map((s) => s.shard) };
    led.forEach((s, i) => {
      ops[`/arango/Target/ToDo/${ids[i]}`] = {
        type: 'failedLeader', database: s.db, collection: s.cid, shard: s.shard, fromServer: id,
        jobId: ids[i], creator: 'supervision', timeCreated: now(),
      };
    });
    await this.write([[ops]]);
    this.o.log.info(`server ${id} FAILED: ${led.length} failedLeader job(s)`);
  }

  // ------------------------------------------------------------------ job machinery

  private finishOps(job: Dict, from: 'ToDo' | 'Pending', to: 'Finished' | 'Failed', reason?: string): Dict {
    return {
      [`/arango/Target/${from}/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/${to}/${job.jobId}`]: { ...job, timeFinished: now(), ...(reason ? { reason } : {}) },
    };
  }

  private async failJob(job: Dict, from: 'ToDo' | 'Pending', reason: string, extra: Dict = {}): Promise<void> {
    this.o.log.info(`job ${job.jobId} (${job.type}) failed: ${reason}`);
    await this.write([[{ ...this.finishOps(job, from, 'Failed', reason), ...extra }]]);
  }

  private async workJobs(): Promise<void> {
    const v = this.view();
    const sortIds = (o: Record<string, Dict>): string[] => Object.keys(o).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const todo = v.jobs('ToDo');
    for (const id of sortIds(todo)) {
      const job = { ...todo[id], jobId: todo[id].jobId ?? id };
      try {
        await this.startJob(job);
      } catch (e) {
        this.o.log.warn(`job ${id} start: ${(e as Error).message}`);
      }
    }
    const pending = this.view().jobs('Pending');
    for (const id of sortIds(pending)) {
      const job = { ...pending[id], jobId: pending[id].jobId ?? id };
      try {
        await this.runPending(job);
      } catch (e) {
        this.o.log.warn(`job ${id} pending: ${(e as Error).message}`);
      }
    }
    await this.pruneFinished();
  }

  private async startJob(job: Dict): Promise<void> {
    if (job.abort) return this.failJob(job, 'ToDo', 'job aborted');
    switch (job.type) {
      case 'moveShard':
        return this.startMoveShard(job);
      case 'cleanOutServer':
      case 'resignLeadership':
        return this.startCleanOut(job);
      case 'failedLeader':
        return this.startFailedLeader(job);
      default:
        return this.failJob(job, 'ToDo', `unknown job type ${job.type}`);
    }
  }

  private async runPending(job: Dict): Promise<void> {
    switch (job.type) {
      case 'moveShard':
        return this.pendingMoveShard(job);
      case 'cleanOutServer':
      case 'resignLeadership':
        return this.pendingCleanOut(job);
      default:
        return this.failJob(job, 'Pending', `unknown job type ${job.type}`);
    }
  }

  private async pruneFinished(): Promise<void> {
    for (const q of ['Finished', 'Failed'] as const) {
      const jobs = this.view().jobs(q);
      const ids = Object.keys(jobs);
      if (ids.length <= 2000) continue;
      ids.sort((a, b) => String(jobs[a].timeFinished ?? '').localeCompare(String(jobs[b].timeFinished ?? '')));
      const ops: Dict = {};
      for (const id of ids.slice(0, ids.length - 1000)) ops[`/arango/Target/${q}/${id}`] = { op: 'delete' };
      await this.write([[ops]]);
    }
  }

  // ------------------------------------------------------------------ moveShard

  private async startMoveShard(job: Dict): Promise<void> {
    const v = this.view();
    const coll = v.collection(job.database, job.collection);
    if (!coll) return this.failJob(job, 'ToDo', 'collection not found');
    if (coll.distributeShardsLike) return this.failJob(job, 'ToDo', "collection must not have 'distributeShardsLike' attribute");
    const plan = asArray(asDict(coll.shards)[job.shard]);
    if (plan.length === 0) return this.failJob(job, 'ToDo', 'shard not found');
    const from = v.resolveServer(job.fromServer);
    const to = v.resolveServer(job.toServer);
    if (!from || !to || !v.dbServers().includes(from) || !v.dbServers().includes(to)) return this.failJob(job, 'ToDo', 'fromServer or toServer not a DB server');
    if (from === to) return this.failJob(job, 'ToDo', 'Source and destination of moveShard must be different');
    if (v.get(`/arango/Supervision/Shards/${job.shard}`) !== undefined) return; // shard locked: wait
    if (v.get(`/arango/Supervision/DBServers/${to}`) !== undefined) return; // toServer locked: wait
    const h = v.health(to);
    if (h === 'FAILED') return this.failJob(job, 'ToDo', `toServer ${to} is FAILED`);
    if (h !== 'GOOD') return;
    if (v.cleaned().includes(to) || v.failedServers().includes(to)) return this.failJob(job, 'ToDo', `toServer ${to} is cleaned out or failed`);
    const isLeader = Boolean(job.isLeader);
    let remainsFollower = isLeader ? job.remainsFollower !== false : false;
    if (isLeader && plan[0] !== from) return this.failJob(job, 'ToDo', 'fromServer is not the leader');
    if (!isLeader && (!plan.slice(1).includes(from) || plan.includes(to))) return this.failJob(job, 'ToDo', 'fromServer not a follower or toServer already planned');
    const group = v.group(job.database, job.collection, job.shard);
    if (!plan.includes(to)) {
      for (const g of group) {
        if (asArray(v.current(job.database, g.cid, g.shard)?.failoverCandidates).includes(to)) {
          return this.failJob(job, 'ToDo', `toServer ${to} is a failover candidate of ${g.shard}`);
        }
      }
    }
    if (isLeader && plan.includes(to)) remainsFollower = true; // a pure leader swap keeps the old leader
    const ops: Dict = {
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/Pending/${job.jobId}`]: { ...job, fromServer: from, toServer: to, remainsFollower, timeStarted: now() },
      [`/arango/Supervision/Shards/${job.shard}`]: job.jobId,
      '/arango/Plan/Version': { op: 'increment' },
    };
    const pre: Dict = {
      [`/arango/Target/ToDo/${job.jobId}`]: { oldEmpty: false },
      [`/arango/Supervision/Shards/${job.shard}`]: { oldEmpty: true },
      [`/arango/Supervision/Health/${to}/Status`]: { old: 'GOOD' },
    };
    for (const g of group) {
      const cur = asArray(asDict(v.collection(job.database, g.cid)?.shards)[g.shard]);
      let next: string[];
      if (isLeader) next = cur.includes(to) ? cur : [cur[0], to, ...cur.slice(1)];
      else next = [...cur, to];
      ops[planPath(job.database, g.cid, g.shard)] = next;
      pre[planPath(job.database, g.cid, g.shard)] = { old: cur };
    }
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`moveShard ${job.jobId}: ${job.shard} ${from} → ${to} (leader: ${isLeader}) started`);
  }

  private async pendingMoveShard(job: Dict): Promise<void> {
    const v = this.view();
    const db = job.database as string;
    const from = job.fromServer as string;
    const to = job.toServer as string;
    const group = v.group(db, job.collection, job.shard);
    if (group.length === 0) return this.failJob(job, 'Pending', 'collection gone', this.unlock(job));
    const plans = group.map((g) => asArray(asDict(v.collection(db, g.cid)?.shards)[g.shard]));
    const currents = group.map((g) => asArray(v.current(db, g.cid, g.shard)?.servers));
    const p0 = plans[0][0];
    const anyFailed = plans[0].some((s) => v.health(stripResign(s)) === 'FAILED');
    const beforeSwitch = !job.isLeader || p0 === from || p0 === `_${from}`;
    if ((job.abort || anyFailed) && beforeSwitch) return this.abortMoveShard(job, group, plans, job.abort ? 'job aborted' : 'failed server in Plan');
    const planOps = (next: (cur: string[]) => string[]): { ops: Dict; pre: Dict } => {
      const ops: Dict = { '/arango/Plan/Version': { op: 'increment' } };
      const pre: Dict = {};
      group.forEach((g, i) => {
        ops[planPath(db, g.cid, g.shard)] = next(plans[i]);
        pre[planPath(db, g.cid, g.shard)] = { old: plans[i] };
      });
      return { ops, pre };
    };
    if (!job.isLeader) {
      if (group.every((_, i) => inSyncLists(plans[i], currents[i]))) {
        const { ops, pre } = planOps((cur) => cur.filter((s) => s !== from));
        await this.write([[{ ...ops, ...this.finishOps(job, 'Pending', 'Finished'), ...this.unlock(job) }, pre]]);
        this.o.log.info(`moveShard ${job.jobId} finished (follower ${from} → ${to})`);
      }
      return;
    }
    if (p0 === from) {
      if (!currents.every((c) => c.includes(to))) return; // wait for `to` in sync everywhere
      const { ops, pre } = planOps((cur) => cur.map((s) => (s === from ? `_${from}` : s)));
      await this.write([[ops, pre]]);
      return;
    }
    if (p0 === `_${from}`) {
      if (!currents.every((c) => c[0] === `_${from}`)) return; // wait until the old leader resigned
      if (!currents.every((c) => c.includes(to))) return this.abortMoveShard(job, group, plans, `${to} fell out of sync`);
      const { ops, pre } = planOps((cur) => [to, ...cur.filter((s) => s !== to && s !== `_${from}`), from]);
      group.forEach((g) => (pre[currentServersPath(db, g.cid, g.shard)] = { in: to }));
      await this.write([[ops, pre]]);
      return;
    }
    if (p0 === to) {
      const ready = group.every((_, i) => currents[i][0] === to && plans[i].slice(1).filter((s) => s !== from).every((s) => currents[i].includes(s)));
      if (!ready) return;
      const { ops, pre } = job.remainsFollower ? { ops: {}, pre: {} } : planOps((cur) => cur.filter((s) => s !== from));
      await this.write([[{ ...ops, ...this.finishOps(job, 'Pending', 'Finished'), ...this.unlock(job) }, pre]]);
      this.o.log.info(`moveShard ${job.jobId} finished (leader ${from} → ${to})`);
      return;
    }
    return this.failJob(job, 'Pending', `unexpected Plan leader ${p0}`, this.unlock(job));
  }

  private unlock(job: Dict): Dict {
    return { [`/arango/Supervision/Shards/${job.shard}`]: { op: 'delete' } };
  }

  private async abortMoveShard(job: Dict, group: { cid: string; shard: string }[], plans: string[][], reason: string): Promise<void> {
    const from = job.fromServer as string;
    const to = job.toServer as string;
    const ops: Dict = { ...this.unlock(job), '/arango/Plan/Version': { op: 'increment' } };
    const pre: Dict = {};
    group.forEach((g, i) => {
      let next = plans[i].map((s) => (s === `_${from}` ? from : s));
      if (!job.remainsFollower || !job.isLeader) next = next.filter((s) => s !== to);
      ops[planPath(job.database, g.cid, g.shard)] = next;
      pre[planPath(job.database, g.cid, g.shard)] = { old: plans[i] };
    });
    this.o.log.info(`moveShard ${job.jobId} aborted: ${reason}`);
    await this.write([[{ ...ops, ...this.finishOps(job, 'Pending', 'Failed', reason) }, pre]]);
  }

  // ------------------------------------------------------------------ cleanOutServer / resignLeadership

  private async startCleanOut(job: Dict): Promise<void> {
    const v = this.view();
    const resign = job.type === 'resignLeadership';
    const server = v.resolveServer(job.server);
    if (!server || !v.dbServers().includes(server)) return this.failJob(job, 'ToDo', `server ${job.server} not found`);
    if (v.get(`/arango/Supervision/DBServers/${server}`) !== undefined) return;
    const h = v.health(server);
    if (h === 'FAILED') return this.failJob(job, 'ToDo', `server ${server} is FAILED`);
    if (h !== 'GOOD') return;
    if (v.cleaned().includes(server) || v.failedServers().includes(server)) return this.failJob(job, 'ToDo', `server ${server} already cleaned or failed`);
    const available = v.availableServers().filter((s) => s !== server);
    const shards = [...v.prototypeShards()].filter((s) => s.servers.map(stripResign).includes(server) && (!resign || stripResign(s.servers[0]) === server));
    if (!resign) {
      const maxRf = Math.max(0, ...[...v.prototypeShards()].map((s) => (typeof s.coll.replicationFactor === 'number' ? s.coll.replicationFactor : 0)));
      if (available.length < 1 || maxRf > available.length) return this.failJob(job, 'ToDo', `server ${server} cannot be cleaned out`);
    }
    const subs: Dict[] = [];
    for (const s of shards) {
      const isLeader = stripResign(s.servers[0]) === server;
      let to: string | undefined;
      if (resign) {
        const group = v.group(s.db, s.cid, s.shard);
        const cands = s.servers.slice(1).filter(
          (c) => v.health(c) === 'GOOD' && !v.inMaintenance(c) && v.get(`/arango/Supervision/DBServers/${c}`) === undefined &&
            group.every((g) => asArray(v.current(s.db, g.cid, g.shard)?.servers).includes(c)),
        );
        if (cands.length === 0) continue; // skipped silently (RL)
        to = cands[0];
      } else {
        const cands = available.filter((c) => !s.servers.map(stripResign).includes(c));
        if (cands.length === 0) return this.failJob(job, 'ToDo', `no destination for shard ${s.shard}`);
        to = pick(cands); // random destination among servers not being cleaned (the trap)
      }
      subs.push({ db: s.db, cid: s.cid, shard: s.shard, isLeader, to });
    }
    const ops: Dict = {
      [`/arango/Target/ToDo/${job.jobId}`]: { op: 'delete' },
      [`/arango/Target/Pending/${job.jobId}`]: { ...job, server, timeStarted: now() },
      [`/arango/Supervision/DBServers/${server}`]: job.jobId,
      '/arango/Target/ToBeCleanedServers': { op: 'push', new: server },
    };
    subs.forEach((s, i) => {
      const id = `${job.jobId}-${i}`;
      ops[`/arango/Target/ToDo/${id}`] = {
        type: 'moveShard', database: s.db, collection: s.cid, shard: s.shard, fromServer: server, toServer: s.to,
        isLeader: s.isLeader, remainsFollower: resign, jobId: id, parentJob: job.jobId, creator: job.jobId, timeCreated: now(),
      };
    });
    const pre: Dict = {
      '/arango/Plan/Version': { old: v.get('/arango/Plan/Version') },
      [`/arango/Supervision/DBServers/${server}`]: { oldEmpty: true },
      [`/arango/Supervision/Health/${server}/Status`]: { old: 'GOOD' },
    };
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`${job.type} ${job.jobId} of ${server} started with ${subs.length} moveShard job(s)`);
  }

  private async pendingCleanOut(job: Dict): Promise<void> {
    const v = this.view();
    const mine = (q: Record<string, Dict>): string[] => Object.keys(q).filter((id) => q[id].parentJob === job.jobId);
    const open = [...mine(v.jobs('ToDo')), ...mine(v.jobs('Pending'))];
    if (open.length > 0) {
      if (job.abort) {
        const ops: Dict = {};
        for (const id of mine(v.jobs('ToDo'))) ops[`/arango/Target/ToDo/${id}/abort`] = true;
        for (const id of mine(v.jobs('Pending'))) ops[`/arango/Target/Pending/${id}/abort`] = true;
        await this.write([[ops]]);
      }
      return;
    }
    const failed = mine(v.jobs('Failed'));
    const release: Dict = {
      [`/arango/Supervision/DBServers/${job.server}`]: { op: 'delete' },
      '/arango/Target/ToBeCleanedServers': { op: 'erase', val: job.server },
    };
    if (failed.length > 0 || job.abort) {
      return this.failJob(job, 'Pending', job.abort ? 'job aborted' : `sub-job(s) failed: ${failed.join(', ')}`, release);
    }
    if (job.type === 'cleanOutServer') release['/arango/Target/CleanedServers'] = { op: 'push', new: job.server };
    await this.write([[{ ...release, ...this.finishOps(job, 'Pending', 'Finished') }]]);
    this.o.log.info(`${job.type} ${job.jobId} of ${job.server} finished`);
  }

  // ------------------------------------------------------------------ failover

  private async startFailedLeader(job: Dict): Promise<void> {
    const v = this.view();
    const coll = v.collection(job.database, job.collection);
    const plan = asArray(asDict(coll?.shards)[job.shard]);
    const failed = job.fromServer as string;
    if (!coll || plan[0] !== failed) return this.write([[this.finishOps(job, 'ToDo', 'Finished')]]).then(() => undefined);
    if (v.get(`/arango/Supervision/Shards/${job.shard}`) !== undefined) return; // locked: wait
    const group = v.group(job.database, job.collection, job.shard);
    const cur = v.current(job.database, job.collection, job.shard);
    const pool = asArray(cur?.failoverCandidates).length ? asArray(cur?.failoverCandidates) : asArray(cur?.servers);
    const cands = plan.filter(
      (s) => s !== failed && pool.includes(s) && v.health(s) === 'GOOD' && !v.inMaintenance(s) &&
        group.every((g) => asArray(v.current(job.database, g.cid, g.shard)?.servers).includes(s)),
    );
    if (cands.length === 0) return; // no in-sync follower: wait
    const leader = cands[0];
    const ops: Dict = { ...this.finishOps(job, 'ToDo', 'Finished'), '/arango/Plan/Version': { op: 'increment' } };
    const pre: Dict = { [`/arango/Supervision/Health/${leader}/Status`]: { old: 'GOOD' } };
    for (const g of group) {
      const p = asArray(asDict(v.collection(job.database, g.cid)?.shards)[g.shard]);
      ops[planPath(job.database, g.cid, g.shard)] = [leader, ...p.filter((s) => s !== leader && s !== failed), failed];
      pre[planPath(job.database, g.cid, g.shard)] = { old: p };
    }
    const [r] = await this.write([[ops, pre]]);
    if (r) this.o.log.info(`failover of ${job.shard}: ${failed} → ${leader}`);
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
      const rf = s.coll.replicationFactor;
      if (typeof rf !== 'number' || s.coll.isBuilding || s.coll.deleted) continue;
      if (v.get(`/arango/Supervision/Shards/${s.shard}`) !== undefined || busy.has(`${s.db}/${s.shard}`)) continue;
      if (s.servers.some((x) => x.startsWith('_'))) continue;
      const group = v.group(s.db, s.cid, s.shard);
      const plans = group.map((g) => asArray(asDict(v.collection(s.db, g.cid)?.shards)[g.shard]));
      const inSync = (x: string): boolean => group.every((g) => asArray(v.current(s.db, g.cid, g.shard)?.servers).includes(x));
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
        const mapped = job!.type === 'addFollower' ? [...plans[i], ...nextList.slice(plans[i].length)] : plans[i].filter((x) => nextList.includes(x));
        ops[planPath(s.db, g.cid, g.shard)] = mapped;
        pre[planPath(s.db, g.cid, g.shard)] = { old: plans[i] };
      });
      trxs.push({ trx: [ops, pre], job: { ...job, database: s.db, collection: s.cid, shard: s.shard } });
    }
    if (trxs.length === 0) return;
    const ids = await this.jobIds(trxs.length);
    const results = await this.write(
      trxs.map((t, i) => [{ ...t.trx[0], [`/arango/Target/Finished/${ids[i]}`]: { ...t.job, jobId: ids[i], creator: 'supervision', timeCreated: now(), timeFinished: now() } }, t.trx[1]]),
    );
    results.forEach((r, i) => {
      if (r) this.o.log.info(`${trxs[i].job.type} on ${trxs[i].job.shard}: ${JSON.stringify(trxs[i].job.newFollower ?? trxs[i].job.removed)}`);
    });
  }

  // ------------------------------------------------------------------ shrinkCluster

  private async shrinkCluster(): Promise<void> {
    const v = this.view();
    if (Object.keys(v.jobs('ToDo')).length || Object.keys(v.jobs('Pending')).length) return;
    const target = v.get('/arango/Target/NumberOfDBServers');
    if (typeof target !== 'number') return;
    const available = v.availableServers().filter((s) => v.health(s) === 'GOOD');
    const maxRf = Math.max(1, ...[...v.prototypeShards()].map((s) => (typeof s.coll.replicationFactor === 'number' ? s.coll.replicationFactor : 1)));
    if (available.length <= target || available.length - 1 < maxRf) return;
    const victim = [...available].sort().at(-1)!;
    const [id] = await this.jobIds(1);
    await this.write([[{ [`/arango/Target/ToDo/${id}`]: { type: 'cleanOutServer', server: victim, jobId: id, creator: 'supervision', timeCreated: now() } }]]);
    this.o.log.info(`shrinkCluster: NumberOfDBServers=${target} < ${available.length} available, cleaning out ${victim}`);
  }
}

