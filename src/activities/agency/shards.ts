// The shard steps. They write Plan directly under preconditions (never through moveShard jobs), for a prototype
// shard and all its distributeShardsLike clones in one transaction, bump Plan/Version, and hold the shard lock
// Supervision/Shards/<shard> = "transit-<migrationId>" from addShardFollower until removeShardFollower, so that
// supervision (enforceReplication's removeFollower, moveShard, …) leaves the shard alone meanwhile. Each call
// takes a batch of groups: one agency write with one transaction per group; a 0 result is re-read and
// classified (already done → fine; changed by someone else → ShardConflictError, never overwritten).
import type {
  AddShardFollowerArgs,
  MoveShardLeadershipArgs,
  RemoveShardFollowerArgs,
  ShardKey,
  WaitForShardInSyncArgs,
  WaitForShardInSyncResult,
} from '../agency-types';
import type { ArangoClient } from './client';
import {
  AgencyPreconditionFailedError,
  InvariantViolationError,
  ServerNotHealthyError,
  ShardConflictError,
  type ShardConflict,
} from './errors';
import {
  PLAN_VERSION,
  asDict,
  at,
  currentServersPath,
  groupMembers,
  groupReadPaths,
  groupState,
  healthStatusPath,
  lockPath,
  lockValue,
  planShardPath,
  sameList,
  strip,
  type Dict,
  type GroupState,
} from './paths';
import type { Waits } from './waits';

type Trx = [Dict, Dict?];

function checkBatch(keys: ShardKey[]): void {
  const seen = new Set<string>();
  for (const k of keys) {
    const id = `${k.database}/${k.shard}`;
    if (seen.has(id)) throw new InvariantViolationError(`shard ${id} appears twice in one batch`);
    seen.add(id);
  }
}

/** The lock precondition for a write that takes or keeps our lock: empty now, or already ours. */
function lockPre(shard: string, migrationId: string, lock: unknown): Dict {
  return { [lockPath(shard)]: lock === lockValue(migrationId) ? { old: lockValue(migrationId) } : { oldEmpty: true } };
}

function lockHeldByOther(migrationId: string, lock: unknown): boolean {
  return lock !== undefined && lock !== lockValue(migrationId);
}

function conflictError(step: string, conflicts: ShardConflict[], results: unknown[]): ShardConflictError {
  const first = conflicts
    .slice(0, 5)
    .map((c) => `${c.shard}: ${c.reason}`)
    .join('; ');
  return new ShardConflictError(
    `${step}: ${conflicts.length} shard(s) changed by someone else, not overwritten (${first})`,
    conflicts,
    results.map((r) => r ?? null),
  );
}

// ------------------------------------------------------------------------------------------- addShardFollower

export async function addShardFollower(
  client: ArangoClient,
  a: AddShardFollowerArgs,
): Promise<{ results: ('added' | 'alreadyDone')[] }> {
  checkBatch(a.moves);
  for (const m of a.moves) {
    if (m.add.length === 0 || m.add.some((s) => m.expected.includes(s))) {
      throw new InvariantViolationError(
        `addShardFollower ${m.shard}: add ${JSON.stringify(m.add)} must be new servers, not in ${JSON.stringify(m.expected)}`,
      );
    }
  }
  const servers = [...new Set(a.moves.flatMap((m) => m.add))];
  const results: ('added' | 'alreadyDone' | undefined)[] = a.moves.map(() => undefined);
  const conflicts: ShardConflict[] = [];
  const unhealthy = new Map<number, string>();
  const mine = lockValue(a.migrationId);
  for (let round = 0; round < 4; round++) {
    const open = a.moves
      .map((_, i) => i)
      .filter((i) => results[i] === undefined && !unhealthy.has(i) && !conflicts.some((c) => c.index === i));
    if (open.length === 0) break;
    const read = await client.agencyRead(
      groupReadPaths(
        open.map((i) => a.moves[i]),
        servers.map(healthStatusPath),
      ),
    );
    const writes: { i: number; trx: Trx }[] = [];
    for (const i of open) {
      const m = a.moves[i];
      const st = groupState(read, m);
      const target = [...m.expected, ...m.add];
      if (st.plans.every((p) => sameList(p, target)) && st.lock === mine) {
        results[i] = 'alreadyDone';
        continue;
      }
      if (!st.plans.every((p) => sameList(p, m.expected))) {
        conflicts.push({
          index: i,
          shard: m.shard,
          reason: `Plan is ${JSON.stringify(st.plans[0])}, expected ${JSON.stringify(m.expected)}`,
        });
        continue;
      }
      if (lockHeldByOther(a.migrationId, st.lock)) {
        conflicts.push({ index: i, shard: m.shard, reason: `locked by ${JSON.stringify(st.lock)}` });
        continue;
      }
      const bad = m.add.filter((s) => at(read, healthStatusPath(s)) !== 'GOOD');
      if (bad.length) {
        unhealthy.set(i, bad.map((s) => `${s} (${String(at(read, healthStatusPath(s)) ?? 'unknown')})`).join(', '));
        continue;
      }
      const ops: Dict = { [PLAN_VERSION]: { op: 'increment' }, [lockPath(m.shard)]: mine };
      const pre: Dict = { ...lockPre(m.shard, a.migrationId, st.lock) };
      for (const g of groupMembers(m)) {
        ops[planShardPath(m.database, g.collectionId, g.shard)] = target;
        pre[planShardPath(m.database, g.collectionId, g.shard)] = { old: m.expected };
      }
      for (const s of m.add) pre[healthStatusPath(s)] = { old: 'GOOD' };
      writes.push({ i, trx: [ops, pre] });
    }
    const res = await client.agencyWrite(writes.map((w) => w.trx));
    res.forEach((r, j) => {
      if (r > 0) results[writes[j].i] = 'added';
    });
  }
  if (conflicts.length) throw conflictError('addShardFollower', conflicts, results);
  if (unhealthy.size)
    throw new ServerNotHealthyError(
      `addShardFollower: new follower(s) not GOOD yet: ${[...new Set(unhealthy.values())].join('; ')}`,
    );
  if (results.some((r) => r === undefined))
    throw new AgencyPreconditionFailedError('addShardFollower: Plan kept changing while writing; retry', { results });
  return { results: results as ('added' | 'alreadyDone')[] };
}

// ------------------------------------------------------------------------------------------- waitForShardInSync

function inSync(st: GroupState, servers: string[]): boolean {
  return st.currents.every((c) => c[0] === servers[0] && servers.every((s) => c.includes(s)));
}

/**
 * Document counts → bytes: sync progress per shard from `collectionShardDistribution` (only the per-collection
 * variant reports `progress`; the database-wide shardDistribution never does — getDistributionForDatabase), and
 * the average document size per collection from its figures.
 */
export async function progressOf(
  client: ArangoClient,
  a: { shards: ShardKey[] },
  pending: number[],
  avgCache: Map<string, number>,
): Promise<WaitForShardInSyncResult['progress']> {
  // Collection names (the API takes names) for every collection of the pending groups, in one agency read.
  const colls = new Map<string, { db: string; cid: string }>();
  for (const i of pending)
    for (const g of groupMembers(a.shards[i]!))
      colls.set(`${a.shards[i]!.database}/${g.collectionId}`, { db: a.shards[i]!.database, cid: g.collectionId });
  const names = await client.agencyRead(
    [...colls.values()].map((c) => `/arango/Plan/Collections/${c.db}/${c.cid}/name`),
  );
  const byShard = new Map<string, { db: string; coll: string; total: number; current: number }>();
  for (const { db, cid } of colls.values()) {
    const name = at(names, `/arango/Plan/Collections/${db}/${cid}/name`);
    if (typeof name !== 'string') continue;
    // Progress is best effort: a collection whose shard leader is down must not hold the wait up.
    const r = await client
      .coordinatorJson(
        'PUT',
        '/_admin/cluster/collectionShardDistribution',
        { collection: name },
        { db, timeoutMs: 10_000 },
      )
      .catch(() => ({}) as Dict);
    for (const [s, p] of Object.entries(asDict(asDict(asDict(r.results)[name]).Plan))) {
      const pr = asDict(asDict(p).progress);
      byShard.set(`${db}/${s}`, { db, coll: name, total: Number(pr.total ?? NaN), current: Number(pr.current ?? NaN) });
    }
  }
  const out: WaitForShardInSyncResult['progress'] = [];
  for (const i of pending) {
    const db = a.shards[i]!.database;
    let copied = 0;
    let total = 0;
    for (const g of groupMembers(a.shards[i]!)) {
      const e = byShard.get(`${db}/${g.shard}`);
      if (!e || Number.isNaN(e.total)) continue;
      let avg = avgCache.get(`${db}/${e.coll}`);
      if (avg === undefined) {
        const fig = await client
          .coordinatorJson('GET', `/_api/collection/${encodeURIComponent(e.coll)}/figures`, undefined, {
            db,
            timeoutMs: 5000,
          })
          .catch(() => ({}) as Dict);
        const count = Number(fig.count ?? 0);
        avg = count > 0 ? Number(asDict(fig.figures).documentsSize ?? 0) / count : 0;
        avgCache.set(`${db}/${e.coll}`, avg);
      }
      // The API reports `current` 0 once it reaches `total` (its quirk): the copy is then about to be in sync.
      total += Math.round(e.total * avg);
      copied += Math.round(Math.min(e.current, e.total) * avg);
    }
    out.push({ index: i, bytesCopied: copied, bytesTotal: total });
  }
  return out;
}

export async function waitForShardInSync(
  client: ArangoClient,
  waits: Waits,
  a: WaitForShardInSyncArgs,
  pollMs: number,
): Promise<WaitForShardInSyncResult> {
  const deadline = waits.now() + a.timeoutSeconds * 1000;
  const avgCache = new Map<string, number>();
  const servers = [...new Set(a.shards.flatMap((s) => s.servers))];
  let progress: WaitForShardInSyncResult['progress'] = [];
  let lastProgressAt = 0;
  for (;;) {
    waits.throwIfCancelled();
    const read = await client.agencyRead(groupReadPaths(a.shards, servers.map(healthStatusPath)));
    const done: number[] = [];
    const stalled: { index: number; reason: string }[] = [];
    const conflicts: ShardConflict[] = [];
    a.shards.forEach((k, i) => {
      const st = groupState(read, k);
      const missing = k.servers.filter((s) => !st.plans.every((p) => p.map(strip).includes(s)));
      if (missing.length)
        conflicts.push({
          index: i,
          shard: k.shard,
          reason: `${missing.join(', ')} no longer in Plan ${JSON.stringify(st.plans[0])}`,
        });
      else if (inSync(st, k.servers)) done.push(i);
      else {
        const failed = k.servers.filter((s) => at(read, healthStatusPath(s)) === 'FAILED');
        if (failed.length) stalled.push({ index: i, reason: `${failed.join(', ')} FAILED` });
      }
    });
    if (conflicts.length) throw conflictError('waitForShardInSync', conflicts, done);
    const pending = a.shards.map((_, i) => i).filter((i) => !done.includes(i));
    const finished = a.mode === 'any' ? done.length > 0 || pending.length === 0 : pending.length === 0;
    const timedOut = waits.now() >= deadline;
    if (pending.length && (finished || timedOut || waits.now() - lastProgressAt >= 5000)) {
      progress = await progressOf(client, a, pending, avgCache).catch(() =>
        progress.filter((p) => pending.includes(p.index)),
      );
      lastProgressAt = waits.now();
    }
    const result: WaitForShardInSyncResult = {
      inSync: done,
      progress: pending.length ? progress.filter((p) => pending.includes(p.index)) : [],
    };
    if (stalled.length) result.stalled = stalled;
    waits.heartbeat({
      inSync: done.length,
      pending: pending.length,
      bytesCopied: result.progress.reduce((s, p) => s + p.bytesCopied, 0),
    });
    if (finished || timedOut) return result;
    await waits.sleep(Math.min(pollMs, Math.max(0, deadline - waits.now())));
  }
}

// ------------------------------------------------------------------------------------------- moveShardLeadership

export async function moveShardLeadership(
  client: ArangoClient,
  waits: Waits,
  a: MoveShardLeadershipArgs,
  o: { pollMs: number; timeoutMs: number },
): Promise<{ results: ('moved' | 'alreadyDone')[] }> {
  checkBatch(a.moves);
  for (const m of a.moves)
    if (m.from === m.to)
      throw new InvariantViolationError(`moveShardLeadership ${m.shard}: from and to are both ${m.from}`);
  const wrote = a.moves.map(() => false);
  const final = a.moves.map(() => false);
  const deadline = waits.now() + o.timeoutMs;
  const health = [...new Set(a.moves.map((m) => m.to))].map(healthStatusPath);
  for (;;) {
    waits.throwIfCancelled();
    const read = await client.agencyRead(groupReadPaths(a.moves, health));
    const writes: { i: number; trx: Trx; kind: 'resign' | 'switch' | 'abort' }[] = [];
    const conflicts: ShardConflict[] = [];
    const violations: string[] = [];
    a.moves.forEach((m, i) => {
      if (final[i]) return;
      const st = groupState(read, m);
      const p0 = st.plans[0][0];
      const members = groupMembers(m);
      const planTrx = (next: (p: string[]) => string[], extraPre: Dict = {}): Trx => {
        const ops: Dict = { [PLAN_VERSION]: { op: 'increment' } };
        const pre: Dict = { ...extraPre };
        members.forEach((g, j) => {
          ops[planShardPath(m.database, g.collectionId, g.shard)] = next(st.plans[j]);
          pre[planShardPath(m.database, g.collectionId, g.shard)] = { old: st.plans[j] };
        });
        return [ops, pre];
      };
      const toInCurrent: Dict = {};
      members.forEach((g) => (toInCurrent[currentServersPath(m.database, g.collectionId, g.shard)] = { in: m.to }));
      if (lockHeldByOther(a.migrationId, st.lock)) {
        conflicts.push({ index: i, shard: m.shard, reason: `locked by ${JSON.stringify(st.lock)}` });
        return;
      }
      if (st.plans.every((p) => p[0] === m.to)) {
        // Switched: done once `to` leads in Current everywhere and the other planned followers followed it.
        const settled = st.currents.every(
          (c, j) =>
            c[0] === m.to &&
            st.plans[j]
              .slice(1)
              .filter((s) => s !== m.from)
              .every((s) => c.includes(s)),
        );
        if (settled) final[i] = true;
        return;
      }
      if (!st.plans.every((p) => p[0] === p0) || (p0 !== m.from && p0 !== `_${m.from}`)) {
        conflicts.push({ index: i, shard: m.shard, reason: `Plan leader is ${p0}, expected ${m.from}` });
        return;
      }
      if (!st.plans.every((p) => p.includes(m.to))) {
        violations.push(`${m.shard}: ${m.to} is not a planned follower (${JSON.stringify(st.plans[0])})`);
        return;
      }
      const lockNow = { ...lockPre(m.shard, a.migrationId, st.lock) };
      const lockSet: Dict = st.lock === undefined ? { [lockPath(m.shard)]: lockValue(a.migrationId) } : {};
      if (p0 === m.from) {
        if (!st.currents.every((c) => c[0] === m.from && c.includes(m.to))) {
          violations.push(`${m.shard}: ${m.to} is not in sync in Current (${JSON.stringify(st.currents)})`);
          return;
        }
        const [ops, pre] = planTrx((p) => p.map((s) => (s === m.from ? `_${m.from}` : s)), {
          ...toInCurrent,
          ...lockNow,
        });
        writes.push({ i, trx: [{ ...ops, ...lockSet }, pre], kind: 'resign' });
        return;
      }
      // Plan leader is "_from": wait until the old leader has resigned everywhere, then switch or back out.
      if (!st.currents.every((c) => c[0] === `_${m.from}`)) return;
      const toGood = at(read, healthStatusPath(m.to)) === 'GOOD';
      if (st.currents.every((c) => c.includes(m.to)) && toGood) {
        const [ops, pre] = planTrx((p) => [m.to, ...p.filter((s) => s !== m.to && s !== `_${m.from}`), m.from], {
          ...toInCurrent,
          ...lockNow,
          [healthStatusPath(m.to)]: { old: 'GOOD' },
        });
        writes.push({ i, trx: [ops, pre], kind: 'switch' });
      } else {
        const [ops, pre] = planTrx((p) => p.map((s) => (s === `_${m.from}` ? m.from : s)), lockNow);
        writes.push({ i, trx: [ops, pre], kind: 'abort' });
      }
    });
    if (conflicts.length) throw conflictError('moveShardLeadership', conflicts, final);
    const res = await client.agencyWrite(writes.map((w) => w.trx));
    res.forEach((r, j) => {
      if (r > 0) wrote[writes[j].i] = true;
      if (r > 0 && writes[j].kind === 'abort') {
        violations.push(
          `${a.moves[writes[j].i].shard}: ${a.moves[writes[j].i].to} fell out of sync (or is not GOOD) while ${a.moves[writes[j].i].from} had resigned; leadership returned to ${a.moves[writes[j].i].from}`,
        );
      }
    });
    if (violations.length) {
      throw new InvariantViolationError(
        `moveShardLeadership: leadership may only move to an in-sync follower: ${violations.slice(0, 5).join('; ')}`,
        violations,
      );
    }
    if (final.every(Boolean)) return { results: final.map((_, i) => (wrote[i] ? 'moved' : 'alreadyDone')) };
    waits.heartbeat({ moved: final.filter(Boolean).length, of: final.length });
    if (waits.now() > deadline) {
      throw new AgencyPreconditionFailedError(
        `moveShardLeadership: ${final.filter((f) => !f).length} shard(s) did not finish the leader switch in time; call again to continue`,
      );
    }
    await waits.sleep(writes.length && res.every((r) => r > 0) ? 20 : o.pollMs);
  }
}

// ------------------------------------------------------------------------------------------- removeShardFollower

export async function removeShardFollower(
  client: ArangoClient,
  waits: Waits,
  a: RemoveShardFollowerArgs,
  o: { pollMs: number; graceMs: number },
): Promise<{ results: ('removed' | 'alreadyDone')[] }> {
  checkBatch(a.moves);
  const results: ('removed' | 'alreadyDone' | undefined)[] = a.moves.map(() => undefined);
  const mine = lockValue(a.migrationId);
  const deadline = waits.now() + o.graceMs;
  for (let round = 0; ; round++) {
    waits.throwIfCancelled();
    const open = a.moves.map((_, i) => i).filter((i) => results[i] === undefined);
    if (open.length === 0) break;
    const read = await client.agencyRead(groupReadPaths(open.map((i) => a.moves[i])));
    const writes: { i: number; trx: Trx; done: 'removed' | 'alreadyDone' }[] = [];
    const conflicts: ShardConflict[] = [];
    const short: string[] = [];
    for (const i of open) {
      const m = a.moves[i];
      const st = groupState(read, m);
      const members = groupMembers(m);
      if (lockHeldByOther(a.migrationId, st.lock)) {
        conflicts.push({ index: i, shard: m.shard, reason: `locked by ${JSON.stringify(st.lock)}` });
        continue;
      }
      if (!st.plans.some((p) => p.some((s) => m.remove.includes(strip(s))))) {
        // Already removed: only our lock may be left to release.
        if (st.lock === mine)
          writes.push({
            i,
            trx: [{ [lockPath(m.shard)]: { op: 'delete' } }, { [lockPath(m.shard)]: { old: mine } }],
            done: 'alreadyDone',
          });
        else results[i] = 'alreadyDone';
        continue;
      }
      const leader = st.plans[0][0];
      if (m.remove.includes(strip(leader)) || !st.plans.every((p) => p[0] === leader) || leader.startsWith('_')) {
        throw new InvariantViolationError(
          `removeShardFollower ${m.shard}: refusing to remove the leader or during a leader change (Plan ${JSON.stringify(st.plans[0])})`,
        );
      }
      const remaining = st.plans.map((p) => p.filter((s) => !m.remove.includes(s)));
      const inSyncRemaining = remaining.map((r, j) =>
        r.filter((s) => st.currents[j].includes(s) && st.currents[j][0] === leader),
      );
      const count = Math.min(...inSyncRemaining.map((x) => x.length));
      if (count < m.replicationFactor) {
        short.push(
          `${m.shard}: would keep ${count} in-sync copies (${JSON.stringify(inSyncRemaining[0])}), replicationFactor ${m.replicationFactor}`,
        );
        continue;
      }
      const ops: Dict = { [PLAN_VERSION]: { op: 'increment' }, [lockPath(m.shard)]: { op: 'delete' } };
      const pre: Dict = { ...lockPre(m.shard, a.migrationId, st.lock) };
      members.forEach((g, j) => {
        ops[planShardPath(m.database, g.collectionId, g.shard)] = remaining[j];
        pre[planShardPath(m.database, g.collectionId, g.shard)] = { old: st.plans[j] };
        // The copies we count on must still be in sync when the write applies: Current must be as read.
        pre[currentServersPath(m.database, g.collectionId, g.shard)] = { old: st.currents[j] };
      });
      writes.push({ i, trx: [ops, pre], done: 'removed' });
    }
    if (conflicts.length) throw conflictError('removeShardFollower', conflicts, results);
    const res = await client.agencyWrite(writes.map((w) => w.trx));
    res.forEach((r, j) => {
      if (r > 0) results[writes[j].i] = writes[j].done;
    });
    if (short.length) {
      if (waits.now() > deadline) {
        throw new InvariantViolationError(
          `removeShardFollower: refusing to leave fewer in-sync copies than replicationFactor: ${short.slice(0, 5).join('; ')}`,
          short,
        );
      }
      await waits.sleep(o.pollMs);
      continue;
    }
    if (round > 5)
      throw new AgencyPreconditionFailedError('removeShardFollower: Plan or Current kept changing; retry', { results });
  }
  return { results: results as ('removed' | 'alreadyDone')[] };
}
