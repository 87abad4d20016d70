/**
 * What an operator does without Transit, on the same simulated topology (fresh cluster each):
 * - cleanOutServer one old server at a time (ArangoDB picks the destinations: some land on old servers still to
 *   be cleaned and move again — the bytes really moved are counted on the links);
 * - a moveShard job for every shard at once through /_admin/cluster/moveShard (leader: remainsFollower false;
 *   each follower to its new server), then wait for all: what a hand-written script does. Jobs for the same shard
 *   wait for its lock in ToDo, as ArangoDB's supervision does.
 */
import { waitFor } from '../../test/harness/procs';
import { assignTargets } from '../../src/workflows/scheduler';
import { groupKey, groupServers, indexPlan } from '../../src/workflows/plan';
import type { BenchCluster } from './cluster';

export interface BaselineResult {
  seconds: number;
  bytesMoved: number;
  jobs: number;
  failed: number;
  groupsLeft: number;
}

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});

export async function cleanOutOneAtATime(bc: BenchCluster, log: (s: string) => void): Promise<BaselineResult> {
  const { c } = bc;
  const bytes0 = bc.bytesReceived();
  const t0 = Date.now();
  let failed = 0;
  for (const server of bc.sources) {
    const job = (await c.coordinatorCall('POST', '/_admin/cluster/cleanOutServer', { server })) as { id: string };
    const status = await waitFor(
      `cleanOutServer ${server}`,
      async () => {
        const j = (await c.coordinatorCall('GET', `/_admin/cluster/queryAgencyJob?id=${job.id}`)) as {
          status: string;
        };
        return j.status === 'Finished' || j.status === 'Failed' ? j.status : undefined;
      },
      { timeoutMs: 3_600_000, intervalMs: 500 },
    );
    if (status === 'Failed') failed++;
    log(`  cleanOutServer ${server}: ${status} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const seconds = (Date.now() - t0) / 1000;
  return {
    seconds,
    bytesMoved: bc.bytesReceived() - bytes0,
    jobs: bc.sources.length,
    failed,
    groupsLeft: await bc.groupsLeft(),
  };
}

export async function moveShardAllAtOnce(bc: BenchCluster, log: (s: string) => void): Promise<BaselineResult> {
  const { c } = bc;
  const ix = indexPlan(bc.plan);
  const desired = assignTargets(ix, bc.targets);
  const names = new Map(bc.plan.collections.map((x) => [x.collectionId, x.name]));
  const bytes0 = bc.bytesReceived();
  const t0 = Date.now();
  const ids: string[] = [];
  for (let g = 0; g < ix.count; g++) {
    const cur = groupServers(ix, g);
    const want = desired[g]!;
    const k = groupKey(ix, g);
    for (let i = 0; i < cur.length; i++) {
      if (cur[i] === want[i]) continue;
      const body = {
        database: k.database,
        collection: names.get(k.collectionId),
        shard: k.shard,
        fromServer: cur[i],
        toServer: want[i],
        ...(i === 0 ? { remainsFollower: false } : {}),
      };
      const r = (await c.coordinatorCall('POST', '/_admin/cluster/moveShard', body)) as { id?: string };
      if (r.id) ids.push(r.id);
    }
  }
  log(`  ${ids.length} moveShard jobs submitted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const mine = new Set(ids);
  await waitFor(
    'every moveShard job ended',
    async () => {
      const t = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
      const open = ['ToDo', 'Pending'].flatMap((q) => Object.keys(d(t[q]))).filter((id) => mine.has(id));
      return open.length === 0 ? true : undefined;
    },
    { timeoutMs: 3_600_000, intervalMs: 1000 },
  );
  const seconds = (Date.now() - t0) / 1000;
  const t = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
  const failed = Object.keys(d(t.Failed)).filter((id) => mine.has(id)).length;
  return {
    seconds,
    bytesMoved: bc.bytesReceived() - bytes0,
    jobs: ids.length,
    failed,
    groupsLeft: await bc.groupsLeft(),
  };
}
