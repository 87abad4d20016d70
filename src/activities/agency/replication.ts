// changeReplicationFactor: the temporary replicationFactor raise that lets Transit verify replicationFactor-1
// shards (job-engine.ts). Through the coordinator, as a user would: `PUT /_db/<db>/_api/collection/<name>/properties`
// with `{replicationFactor}` (upstream LogicalCollection::properties → ClusterInfo::setCollectionPropertiesCoordinator
// writes the collection's Plan entry; a distributeShardsLike clone refuses the change, so only prototypes are
// changed, and supervision's enforceReplication — which skips clones and applies the prototype's factor to every
// clone's shard — adds (AddFollower) or removes (RemoveFollower, never the leader, from the end of Plan) a copy).
// Then waits, heartbeating, until supervision has done so for every shard of the prototype and its clones.
//
// Idempotent and careful with someone else's change: the factor is set only while it is still `from` (or already
// `to`); any other value is reported 'changed' and left alone.
import type { ArangoRef } from '../agency-types';
import type { ArangoClient } from './client';
import { asDict, asStrings, at, sortShards, strip } from './paths';
import type { Waits } from './waits';
import { ArangoRequestRefusedError } from './errors';

export interface ReplicationChange {
  database: string;
  /** The prototype (never a distributeShardsLike clone: upstream refuses those). */
  collectionId: string;
  name: string;
  from: number;
  to: number;
}

export interface ChangeReplicationFactorArgs {
  migrationId: string;
  arango: ArangoRef;
  changes: ReplicationChange[];
  /** Longest wait for supervision (heartbeating); then 'waiting' is returned for the workflow to decide. */
  timeoutSeconds: number;
}

export interface ReplicationChangeOutcome {
  index: number;
  /**
   * done: the factor is `to` and every shard of the prototype and its clones has `to` copies in Plan (raise: each
   * in Current too, i.e. in sync); waiting: the factor is `to` but supervision is not there yet (detail says where);
   * changed: the factor is neither `from` nor `to` (someone else changed it): left as it is.
   */
  result: 'done' | 'waiting' | 'changed';
  replicationFactor: number | null;
  /** Plan servers (leader first) of each prototype shard, in shard order (as ShardPlan lists them). */
  servers: string[][];
  detail?: string;
}

const POLL_MS = 500;

export async function changeReplicationFactor(
  client: ArangoClient,
  waits: Waits,
  a: ChangeReplicationFactorArgs,
): Promise<{ results: ReplicationChangeOutcome[] }> {
  const results: ReplicationChangeOutcome[] = [];
  const open: { index: number; c: ReplicationChange }[] = [];
  for (const [index, c] of a.changes.entries()) {
    const path = `/_api/collection/${encodeURIComponent(c.name)}/properties`;
    const got = await client.coordinatorCall('GET', path, undefined, { db: c.database });
    if (got.status === 404) {
      results.push({
        index,
        result: 'changed',
        replicationFactor: null,
        servers: [],
        detail: `${c.database}/${c.name} no longer exists (dropped meanwhile): nothing to raise or restore`,
      });
      continue;
    }
    if (got.status >= 300)
      throw new ArangoRequestRefusedError(
        `GET ${path} on ${c.database}: HTTP ${got.status} ${JSON.stringify(got.body)} — the coordinator refused to read the collection's properties`,
      );
    const props = (got.body ?? {}) as Record<string, unknown>;
    const rf = typeof props.replicationFactor === 'number' ? props.replicationFactor : null;
    if (String(props.id ?? c.collectionId) !== c.collectionId || (rf !== c.from && rf !== c.to)) {
      results.push({
        index,
        result: 'changed',
        replicationFactor: rf,
        servers: [],
        detail: `${c.database}/${c.name} has replicationFactor ${JSON.stringify(props.replicationFactor)} (id ${String(props.id)}), expected ${c.from} or ${c.to}: left as it is`,
      });
      continue;
    }
    if (rf === c.from) {
      const r = await client.coordinatorCall('PUT', path, { replicationFactor: c.to }, { db: c.database });
      if (r.status >= 300)
        throw new ArangoRequestRefusedError(
          `PUT ${path} {replicationFactor: ${c.to}} on ${c.database}: HTTP ${r.status} ${JSON.stringify(r.body)} — ` +
            'the coordinator refused the replicationFactor change; set policy.verifyReplicationFactorOne to false to move such collections unverified',
        );
    }
    open.push({ index, c });
  }
  const deadline = waits.now() + a.timeoutSeconds * 1000;
  const pending = new Map(open.map((o) => [o.index, o]));
  const last = new Map<number, { servers: string[][]; detail?: string }>();
  while (pending.size) {
    waits.throwIfCancelled();
    const read = await client.agencyRead([
      ...new Set(
        [...pending.values()].flatMap(({ c }) => [
          `/arango/Plan/Collections/${c.database}`,
          `/arango/Current/Collections/${c.database}`,
        ]),
      ),
    ]);
    for (const [index, { c }] of pending) {
      const s = copiesOf(read, c);
      last.set(index, s);
      if (!s.detail) {
        results.push({ index, result: 'done', replicationFactor: c.to, servers: s.servers });
        pending.delete(index);
      }
    }
    waits.heartbeat({ waiting: [...pending.keys()].map((i) => a.changes[i]!.name) });
    if (!pending.size || waits.now() >= deadline) break;
    await waits.sleep(POLL_MS);
  }
  for (const [index, { c }] of pending) {
    const s = last.get(index) ?? { servers: [] };
    results.push({ index, result: 'waiting', replicationFactor: c.to, servers: s.servers, detail: s.detail });
  }
  return { results: results.sort((x, y) => x.index - y.index) };
}

/** The copies of every shard of the prototype and its clones: undefined detail when all have `to` as wanted. */
function copiesOf(read: unknown, c: ReplicationChange): { servers: string[][]; detail?: string } {
  const plan = asDict(at(read, `/arango/Plan/Collections/${c.database}`));
  const current = asDict(at(read, `/arango/Current/Collections/${c.database}`));
  const proto = asDict(plan[c.collectionId]);
  const members = [
    c.collectionId,
    ...Object.entries(plan)
      .filter(([, v]) => String(asDict(v).distributeShardsLike ?? '') === c.collectionId)
      .map(([id]) => id),
  ];
  const servers = sortShards(Object.keys(asDict(proto.shards))).map((shard) =>
    asStrings(asDict(proto.shards)[shard]).map(strip),
  );
  for (const cid of members) {
    const shards = asDict(asDict(plan[cid]).shards);
    for (const shard of sortShards(Object.keys(shards))) {
      const p = asStrings(shards[shard]).map(strip);
      if (c.to > c.from) {
        const inSync = asStrings(asDict(asDict(current[cid])[shard]).servers).map(strip);
        if (p.length < c.to)
          return { servers, detail: `shard ${shard}: ${p.length} of ${c.to} copies in Plan (${p.join(', ')})` };
        const missing = p.filter((s) => !inSync.includes(s));
        if (missing.length) return { servers, detail: `shard ${shard}: ${missing.join(', ')} not in sync yet` };
      } else if (p.length > c.to)
        return { servers, detail: `shard ${shard}: ${p.length} copies in Plan (${p.join(', ')}), ${c.to} wanted` };
    }
  }
  return { servers };
}
