// Shard moves as ArangoDB's own MoveShard jobs. Transit decides what moves where and when (the scheduler in the
// workflow); supervision carries each move out exactly as it would for `/_admin/cluster/moveShard`: it takes the
// shard lock as a Pending job, which FailedLeader/FailedFollower may abort (Job::abortable), so ArangoDB's own
// failover always wins, whether or not a Transit worker is alive. Transit never holds a lock of its own.
//
// Jobs are written into Target/ToDo with MoveShard::create's fields and `creator: "transit-<migrationId>"`, under
// the precondition that the prototype shard's Plan is still what the move was computed from; ids come from
// Sync/LatestID like ClusterInfo::uniqid. A retried submission finds its own job by creator and shard instead of
// writing a second one.
import type {
  ShardKey,
  SubmitShardMoveResult,
  SubmitShardMovesArgs,
  WaitForShardMovesArgs,
  WaitForShardMovesResult,
  ShardMoveOutcome,
} from '../agency-types';
import type { ArangoClient } from './client';
import { AgencyPreconditionFailedError, InvariantViolationError } from './errors';
import {
  asDict,
  asStrings,
  at,
  currentServersPath,
  groupMembers,
  healthStatusPath,
  lockPath,
  lockValue,
  planShardPath,
  sameList,
  strip,
  type Dict,
} from './paths';
import { progressOf } from './shards';
import type { Waits } from './waits';

const TODO = '/arango/Target/ToDo';
const PENDING = '/arango/Target/Pending';
const FINISHED = '/arango/Target/Finished';
const FAILED = '/arango/Target/Failed';
const LATEST_ID = '/arango/Sync/LatestID';

/** The `creator` of Transit's jobs: tells them apart from an operator's or supervision's own. */
export const jobCreator = (migrationId: string): string => lockValue(migrationId);

const planOf = (read: unknown, k: ShardKey): string[] =>
  asStrings(at(read, planShardPath(k.database, k.collectionId, k.shard)));

/**
 * The Plan servers (leader first, a resigned leader's `_` stripped) of each shard, in one agency read. Read-only: for
 * shard groups that wait on supervision (a copy too few or too many), so the engine sees when supervision acted.
 */
export async function readShardServers(
  client: ArangoClient,
  a: { shards: ShardKey[] },
): Promise<{ servers: string[][] }> {
  const read = await client.agencyRead(a.shards.map((k) => planShardPath(k.database, k.collectionId, k.shard)));
  return { servers: a.shards.map((k) => planOf(read, k).map(strip)) };
}

/** Reserves `n` job ids from Sync/LatestID (as ClusterInfo::uniqid does): compare-and-set, retried on a race. */
async function reserveJobIds(client: ArangoClient, n: number): Promise<string[]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = at(await client.agencyRead([LATEST_ID]), LATEST_ID);
    const base = typeof cur === 'number' ? cur : 0;
    const [ok] = await client.agencyWrite([
      [
        { [LATEST_ID]: { op: 'increment', step: n } },
        { [LATEST_ID]: typeof cur === 'number' ? { old: cur } : { oldEmpty: true } },
      ],
    ]);
    if (ok) return Array.from({ length: n }, (_, i) => String(base + 1 + i));
  }
  throw new AgencyPreconditionFailedError('could not reserve job ids: Sync/LatestID kept changing; retry');
}

/** This migration's jobs in ToDo and Pending, by prototype shard. */
function ownJobs(read: unknown, migrationId: string): Map<string, { id: string; job: Dict }> {
  const out = new Map<string, { id: string; job: Dict }>();
  for (const q of [TODO, PENDING]) {
    for (const [id, v] of Object.entries(asDict(at(read, q)))) {
      const job = asDict(v);
      if (job.creator === jobCreator(migrationId) && typeof job.shard === 'string')
        out.set(`${String(job.database)}/${job.shard}`, { id, job });
    }
  }
  return out;
}

export async function submitShardMoves(
  client: ArangoClient,
  a: SubmitShardMovesArgs,
  now: () => number,
): Promise<{ results: SubmitShardMoveResult[] }> {
  const seen = new Set<string>();
  for (const m of a.moves) {
    const id = `${m.database}/${m.shard}`;
    if (seen.has(id)) throw new InvariantViolationError(`submitShardMoves: shard ${id} appears twice in one batch`);
    seen.add(id);
    if (m.fromServer === m.toServer)
      throw new InvariantViolationError(
        `submitShardMoves ${m.shard}: fromServer and toServer are both ${m.fromServer}`,
      );
    if (m.isLeader ? m.expected[0] !== m.fromServer : !m.expected.slice(1).includes(m.fromServer)) {
      throw new InvariantViolationError(
        `submitShardMoves ${m.shard}: ${m.fromServer} is not the ${m.isLeader ? 'leader' : 'a follower'} in ${JSON.stringify(m.expected)}`,
      );
    }
  }
  const results: (SubmitShardMoveResult | undefined)[] = a.moves.map(() => undefined);
  for (let round = 0; round < 4 && results.some((r) => r === undefined); round++) {
    const open = a.moves.map((_, i) => i).filter((i) => results[i] === undefined);
    const servers = [...new Set(open.flatMap((i) => [a.moves[i]!.expected[0]!, a.moves[i]!.toServer]))];
    const read = await client.agencyRead([
      TODO,
      PENDING,
      ...open.map((i) => planShardPath(a.moves[i]!.database, a.moves[i]!.collectionId, a.moves[i]!.shard)),
      ...servers.map(healthStatusPath),
    ]);
    const mine = ownJobs(read, a.migrationId);
    const toWrite: number[] = [];
    for (const i of open) {
      const m = a.moves[i]!;
      const own = mine.get(`${m.database}/${m.shard}`);
      if (own) {
        if (own.job.fromServer === m.fromServer && own.job.toServer === m.toServer)
          results[i] = { index: i, result: 'submitted', jobId: own.id, existing: true };
        else
          results[i] = {
            index: i,
            result: 'waiting',
            health: `job ${own.id} of this migration (${String(own.job.fromServer)} → ${String(own.job.toServer)}) still runs on ${m.shard}`,
          };
        continue;
      }
      const plan = planOf(read, m);
      if (!sameList(plan, m.expected)) {
        results[i] = { index: i, result: 'planChanged', servers: plan.map(strip) };
        continue;
      }
      // Let ArangoDB's own failover act first: no new move while the leader (or the destination) is not GOOD. A
      // follower that is not GOOD does not hold a move up: FailedFollower/enforceReplication replace it, or the
      // move itself takes it out.
      const unhealthy = [m.expected[0]!, m.toServer].filter((s) => at(read, healthStatusPath(s)) !== 'GOOD');
      if (unhealthy.length) {
        const failed = unhealthy.filter((s) => at(read, healthStatusPath(s)) === 'FAILED');
        results[i] = {
          index: i,
          result: 'waiting',
          health: unhealthy.map((s) => `${s} ${String(at(read, healthStatusPath(s)) ?? 'unknown')}`).join(', '),
          ...(failed.length ? { failed } : {}),
        };
        continue;
      }
      toWrite.push(i);
    }
    if (toWrite.length === 0) break;
    const ids = await reserveJobIds(client, toWrite.length);
    const created = new Date(now()).toISOString();
    const trxs: [Dict, Dict][] = toWrite.map((i, j) => {
      const m = a.moves[i]!;
      const job: Dict = {
        type: 'moveShard',
        database: m.database,
        collection: m.collectionId,
        shard: m.shard,
        fromServer: m.fromServer,
        toServer: m.toServer,
        isLeader: m.isLeader,
        remainsFollower: m.remainsFollower,
        tryUndo: false,
        jobId: ids[j]!,
        creator: jobCreator(a.migrationId),
        timeCreated: created,
      };
      return [
        { [`${TODO}/${ids[j]}`]: job },
        {
          [`${TODO}/${ids[j]}`]: { oldEmpty: true },
          [planShardPath(m.database, m.collectionId, m.shard)]: { old: m.expected },
        },
      ];
    });
    const res = await client.agencyWrite(trxs);
    res.forEach((r, j) => {
      const i = toWrite[j]!;
      if (r > 0) results[i] = { index: i, result: 'submitted', jobId: ids[j]!, existing: false };
      // else: Plan changed between read and write; the next round reads it again.
    });
  }
  if (results.some((r) => r === undefined))
    throw new AgencyPreconditionFailedError('submitShardMoves: Plan kept changing while writing; retry');
  return { results: results as SubmitShardMoveResult[] };
}

function jobReason(job: Dict): string {
  const r = job.reason ?? job.result;
  return typeof r === 'string' ? r : '';
}

export async function waitForShardMoves(
  client: ArangoClient,
  waits: Waits,
  a: WaitForShardMovesArgs,
  pollMs: number,
): Promise<WaitForShardMovesResult> {
  const deadline = waits.now() + a.timeoutSeconds * 1000;
  const avgCache = new Map<string, number>();
  const watchSync = a.jobs.some((j) => j.toServer !== undefined);
  let progress: WaitForShardMovesResult['progress'] = [];
  let lastProgressAt = 0;
  for (;;) {
    waits.throwIfCancelled();
    const paths: string[] = [];
    for (const j of a.jobs) {
      paths.push(
        `${TODO}/${j.jobId}`,
        `${PENDING}/${j.jobId}`,
        `${FINISHED}/${j.jobId}`,
        `${FAILED}/${j.jobId}`,
        planShardPath(j.database, j.collectionId, j.shard),
        lockPath(j.shard),
      );
      if (j.toServer !== undefined)
        for (const m of groupMembers(j)) paths.push(currentServersPath(j.database, m.collectionId, m.shard));
    }
    const read = await client.agencyRead(paths);
    const readAt = waits.now();
    const ended: ShardMoveOutcome[] = [];
    const running: number[] = [];
    const queued: WaitForShardMovesResult['queued'] = [];
    a.jobs.forEach((j, i) => {
      const servers = planOf(read, j).map(strip);
      const finished = at(read, `${FINISHED}/${j.jobId}`);
      const failed = at(read, `${FAILED}/${j.jobId}`);
      if (finished !== undefined)
        ended.push({
          index: i,
          status: 'finished',
          servers,
          ...(jobReason(asDict(finished)) ? { reason: jobReason(asDict(finished)) } : {}),
        });
      else if (failed !== undefined)
        ended.push({ index: i, status: 'failed', servers, reason: jobReason(asDict(failed)) || 'failed' });
      else if (at(read, `${PENDING}/${j.jobId}`) !== undefined) running.push(i);
      else if (at(read, `${TODO}/${j.jobId}`) !== undefined) {
        const lock = at(read, lockPath(j.shard));
        queued.push({
          index: i,
          reason:
            lock !== undefined
              ? `shard ${j.shard} is locked by ${JSON.stringify(lock)}`
              : 'not started by supervision yet',
        });
      } else ended.push({ index: i, status: 'gone', servers });
    });
    // A running copy job's new copy in sync in every shard of its group (the job's leader switch or removal is next).
    const synced = running.filter((i) => {
      const j = a.jobs[i]!;
      return (
        j.toServer !== undefined &&
        groupMembers(j).every((m) =>
          asStrings(at(read, currentServersPath(j.database, m.collectionId, m.shard)))
            .map(strip)
            .includes(j.toServer!),
        )
      );
    });
    const newlySynced = synced.some((i) => !a.jobs[i]!.synced);
    const done =
      a.mode === 'any'
        ? ended.length > 0 || newlySynced || running.length + queued.length === 0
        : running.length + queued.length === 0;
    const timedOut = waits.now() >= deadline;
    if (running.length && (done || timedOut || waits.now() - lastProgressAt >= 5000)) {
      progress = await progressOf(
        client,
        { shards: running.map((i) => a.jobs[i]!) },
        running.map((_, k) => k),
        avgCache,
      )
        .then((ps) => ps.map((p) => ({ ...p, index: running[p.index]! })))
        .catch(() => progress.filter((p) => running.includes(p.index)));
      lastProgressAt = waits.now();
    }
    const result: WaitForShardMovesResult = {
      ended,
      progress: progress.filter((p) => running.includes(p.index)),
      queued,
      at: readAt,
      ...(watchSync ? { synced } : {}),
    };
    waits.heartbeat({
      ended: ended.length,
      running: running.length,
      queued: queued.length,
      bytesCopied: result.progress.reduce((s, p) => s + p.bytesCopied, 0),
    });
    if (done || timedOut) return result;
    await waits.sleep(Math.min(pollMs, Math.max(0, deadline - waits.now())));
  }
}

/**
 * Asks supervision to abort this migration's jobs that are still in ToDo or Pending (the coordinator's
 * cancelAgencyJob: a MoveShard aborts back to where it started, or flies forward once the new leader is in Plan).
 * Returns the ids that were still open; wait for them to end with waitForShardMoves.
 */
export async function cancelShardMoves(
  client: ArangoClient,
  a: { migrationId: string; jobIds: string[] },
): Promise<{ open: string[] }> {
  const read = await client.agencyRead(a.jobIds.flatMap((id) => [`${TODO}/${id}`, `${PENDING}/${id}`]));
  const open = a.jobIds.filter((id) => {
    const job = asDict(at(read, `${TODO}/${id}`) ?? at(read, `${PENDING}/${id}`));
    return job.creator === jobCreator(a.migrationId);
  });
  for (const id of open) {
    // A job that ended meanwhile answers an error: that is fine, it is no longer open.
    await client.coordinatorJson('POST', '/_admin/cluster/cancelAgencyJob', { id }).catch(() => undefined);
  }
  return { open };
}
