// Shard verification: before Transit lets the last source copy of a shard group go, the new copy must hold the same
// data as the old one. Each DB server computes the count and the checksum of ITS OWN copy (`GET
// /_db/<db>/_api/collection/<shard>/count` and `/checksum?withRevisions=true&withData=true` sent to that DB server
// with the cluster's superuser JWT, as a coordinator's checksumOnCoordinator does per shard) — never one server
// reading for both. The two copies are compared while both are in Plan and in Current (in sync under the same
// leader), so an acknowledged write is on both: a difference is either a write in flight (gone at the next attempt)
// or a real one (the same difference seen again and again, whatever other writes do meanwhile).
//
// Bounded: at most `attempts` comparisons per group. Outcomes per group:
//   match      — count and checksum equal on every shard of the group (prototype and clones);
//   mismatch   — the same difference (count delta, checksum XOR) seen MISMATCH_STABLE times: a real one;
//   unsettled  — no agreement within the bound (writes kept changing them, or a copy never got in sync);
//   planChanged — a server is no longer in Plan (a failover moved things): the engine re-plans the group.
// Read-only: no lock, no write, no job; clients are never refused.
import type { ArangoRef, ShardKey } from '../agency-types';
import type { ArangoClient } from './client';
import { ArangoUnavailableError } from './errors';
import { asDict, asStrings, at, currentServersPath, groupMembers, planShardPath, strip } from './paths';
import type { Waits } from './waits';

export interface VerifyShardCopiesArgs {
  migrationId: string;
  arango: ArangoRef;
  checks: (ShardKey & {
    /** The copy that goes (a source server) and the copy that stays (a target server). */
    source: string;
    target: string;
  })[];
  /** Comparisons per group before it is 'unsettled' (default 20). */
  attempts?: number;
}

export interface ShardCopyFigures {
  shard: string;
  count: number;
  checksum: string;
}

export interface VerifyShardCopiesOutcome {
  index: number;
  result: 'match' | 'mismatch' | 'unsettled' | 'planChanged';
  /** Comparisons made. */
  attempts: number;
  /** Wall time the group's check took (ms): a printed figure, its cost. */
  ms: number;
  /** Documents in the group's copies at the comparison that decided (prototype + clones). */
  documents: number;
  /** What each server reported at the deciding comparison, per shard. */
  source: ShardCopyFigures[];
  target: ShardCopyFigures[];
  /** For anything but 'match': what differed or why it stopped, naming the shards. */
  detail?: string;
  /** Both servers were in Plan (and Current) at every comparison made. */
  sourceInPlan: boolean;
  /** planChanged: the group's Plan servers now (leader first), for the engine to plan from. */
  servers?: string[];
}

export interface VerifyShardCopiesResult {
  results: VerifyShardCopiesOutcome[];
}

/** Times the same difference must be seen to be a real one (writes in flight give a new one each time). */
export const MISMATCH_STABLE = 3;
const DEFAULT_ATTEMPTS = 20;
/** Groups checked side by side (each check makes 4 requests per shard). */
const PARALLEL = 4;

const REGISTERED = '/arango/Current/ServersRegistered';

export async function verifyShardCopies(
  client: ArangoClient,
  waits: Waits,
  a: VerifyShardCopiesArgs,
): Promise<VerifyShardCopiesResult> {
  const limit = Math.max(MISMATCH_STABLE, a.attempts ?? DEFAULT_ATTEMPTS);
  const results: VerifyShardCopiesOutcome[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= a.checks.length) return;
      results[i] = await verifyOne(client, waits, a.checks[i]!, i, limit);
      waits.heartbeat({ verified: results.filter(Boolean).length, of: a.checks.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, a.checks.length) }, worker));
  return { results };
}

async function verifyOne(
  client: ArangoClient,
  waits: Waits,
  c: VerifyShardCopiesArgs['checks'][number],
  index: number,
  limit: number,
): Promise<VerifyShardCopiesOutcome> {
  const started = waits.now();
  const members = groupMembers(c);
  let last: { src: ShardCopyFigures[]; tgt: ShardCopyFigures[] } | null = null;
  const seen = new Map<string, number>();
  let notInSync = '';
  let attempts = 0;
  const out = (
    result: VerifyShardCopiesOutcome['result'],
    detail?: string,
    sourceInPlan = true,
  ): VerifyShardCopiesOutcome => ({
    index,
    result,
    attempts,
    ms: waits.now() - started,
    documents: (last?.tgt ?? []).reduce((s, f) => s + f.count, 0),
    source: last?.src ?? [],
    target: last?.tgt ?? [],
    sourceInPlan,
    ...(detail ? { detail } : {}),
  });
  while (attempts < limit) {
    waits.throwIfCancelled();
    attempts++;
    const read = await client.agencyRead([
      ...members.flatMap((m) => [
        planShardPath(c.database, m.collectionId, m.shard),
        currentServersPath(c.database, m.collectionId, m.shard),
      ]),
      `${REGISTERED}/${c.source}/endpoint`,
      `${REGISTERED}/${c.target}/endpoint`,
    ]);
    const plans = members.map((m) =>
      asStrings(at(read, planShardPath(c.database, m.collectionId, m.shard))).map(strip),
    );
    if (plans.some((p) => !p.includes(c.source) || !p.includes(c.target)))
      return {
        ...out(
          'planChanged',
          `${c.shard}: Plan is now ${JSON.stringify(plans[0])}, no longer holding both ${c.source} and ${c.target}`,
          plans.every((p) => p.includes(c.source)),
        ),
        servers: plans[0] ?? [],
      };
    const currents = members.map((m) => asStrings(at(read, currentServersPath(c.database, m.collectionId, m.shard))));
    const lagging = members.filter((_, k) => !currents[k]!.includes(c.source) || !currents[k]!.includes(c.target));
    if (lagging.length) {
      // Not both in sync yet (a copy resyncing): their contents may differ legitimately; look again shortly.
      notInSync = `${lagging.map((m) => m.shard).join(', ')} not in sync on both ${c.source} and ${c.target}`;
      await waits.sleep(backoff(attempts));
      continue;
    }
    const url = (id: string): string => {
      const ep = at(read, `${REGISTERED}/${id}/endpoint`);
      if (typeof ep !== 'string') throw new ArangoUnavailableError(`DB server ${id} has no registered endpoint`);
      return client.mapUrl(ep);
    };
    let src: ShardCopyFigures[];
    let tgt: ShardCopyFigures[];
    try {
      [src, tgt] = await Promise.all([
        figures(client, url(c.source), c.database, members),
        figures(client, url(c.target), c.database, members),
      ]);
    } catch (e) {
      if (!(e instanceof ArangoUnavailableError)) throw e;
      // A server not answering (restarting, its copy being dropped or created): not a comparison; look again.
      notInSync = e.message;
      await waits.sleep(backoff(attempts));
      continue;
    }
    const diff = differences(src, tgt);
    if (diff.length === 0) {
      last = { src, tgt };
      return out('match');
    }
    // The checksum XORs one hash per document (as Collections::checksum does), so src XOR tgt is the XOR of the
    // documents that differ. A write in flight gives a different one each time; a real difference gives the same
    // one again and again, whether other writes go on or not.
    last = { src, tgt };
    const sig = delta(src, tgt);
    const n = (seen.get(sig) ?? 0) + 1;
    seen.set(sig, n);
    if (n >= MISMATCH_STABLE)
      return out(
        'mismatch',
        `the same difference in ${n} of ${attempts} comparisons (a write in flight would not repeat): ${diff.join('; ')}`,
      );
    await waits.sleep(backoff(attempts));
  }
  const diff = last ? differences(last.src, last.tgt) : [];
  return out(
    'unsettled',
    last
      ? `did not agree within ${attempts} comparisons (${Math.round((waits.now() - started) / 100) / 10} s; they kept changing, no difference came back ${MISMATCH_STABLE} times): last ${diff.join('; ')}`
      : `could not be compared within ${attempts} attempts: ${notInSync}`,
  );
}

function backoff(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(attempt, 5));
}

/** Count and checksum of every shard of the group, computed by the DB server at `url` over its own copy. */
async function figures(
  client: ArangoClient,
  url: string,
  database: string,
  members: { shard: string }[],
): Promise<ShardCopyFigures[]> {
  return Promise.all(
    members.map(async (m) => {
      const base = `/_api/collection/${encodeURIComponent(m.shard)}`;
      const [cnt, sum] = await Promise.all([
        client.serverGet(url, database, `${base}/count`, undefined, 10_000),
        client.serverGet(url, database, `${base}/checksum`, { withRevisions: 'true', withData: 'true' }, 10_000),
      ]);
      for (const r of [cnt, sum])
        if (r.status !== 200)
          throw new ArangoUnavailableError(
            `${url}/_db/${database}${base}: HTTP ${r.status || 'unreachable'} ${JSON.stringify(r.body ?? '')}`,
          );
      return {
        shard: m.shard,
        count: Number(asDict(cnt.body).count),
        checksum: String(asDict(sum.body).checksum),
      };
    }),
  );
}

function differences(src: ShardCopyFigures[], tgt: ShardCopyFigures[]): string[] {
  const out: string[] = [];
  src.forEach((s, k) => {
    const t = tgt[k]!;
    if (s.count !== t.count || s.checksum !== t.checksum)
      out.push(
        `shard ${s.shard}: source ${s.count} documents checksum ${s.checksum}, target ${t.count} documents checksum ${t.checksum}`,
      );
  });
  return out;
}

/** Per shard: the count difference and the XOR of the two checksums (what differs, not what both hold). */
function delta(src: ShardCopyFigures[], tgt: ShardCopyFigures[]): string {
  return src
    .map((s, k) => {
      const t = tgt[k]!;
      let x = '';
      try {
        x = (BigInt(s.checksum) ^ BigInt(t.checksum)).toString(16);
      } catch {
        x = `${s.checksum}/${t.checksum}`;
      }
      return `${s.shard}:${s.count - t.count}:${x}`;
    })
    .join(',');
}
