/**
 * A DB server fails while one shard group moves, and the cluster is watched with our own agency reads (never
 * Transit's report): how long the shard had no serving leader, how the moving job ended, whether the move still
 * finished on the new servers, and whether any acknowledged write was lost. The mover is Transit's engine with a
 * live worker, Transit's engine whose every worker was SIGKILLed just before the failure (a new one takes over
 * once the failover is done), or ArangoDB's own moveShard (what an operator's script does: the leader's move, then
 * the follower's). Every member is its own process, so a failure is a SIGKILL.
 */
import assert from 'node:assert/strict';
import { ContinuousWriter, arangoDb, arangoRef, simActivities, startSim, waitUntil, type SimCluster } from './sim';
import { startEngine, type EngineRun } from './engine';

export type Mover = 'arangodb' | 'transit' | 'transit-dead';
/** Which server dies: the source leader or follower while the leader move copies, the new copy's server, or the new leader right after the switch. */
export type Victim = 'source-leader' | 'source-follower' | 'target-copy' | 'new-leader';
export const MOVERS: Mover[] = ['arangodb', 'transit', 'transit-dead'];
export const VICTIMS: Victim[] = ['source-leader', 'source-follower', 'target-copy', 'new-leader'];

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});

/** One big shard group that takes seconds to copy: time to make a server fail in the middle of a move. */
export const SLOW_TOPOLOGY = {
  agents: 3,
  dbServers: 3,
  coordinators: 1,
  bandwidth: '1MB/s',
  databases: [
    {
      name: 'shop',
      collections: [
        { name: 'orders', numberOfShards: 1, replicationFactor: 2, documentsPerShard: 24, bytesPerDocument: 250_000 },
      ],
    },
  ],
};

export async function agencyAt(c: SimCluster, path: string): Promise<unknown> {
  let node: unknown = await c.agencyRead([path]);
  for (const p of path.split('/').filter(Boolean)) node = d(node)[p];
  return node;
}

/** Transit's leftovers: shard locks held by a job of Transit's (or a value of its own), and its jobs still open. */
export async function transitLeftovers(c: SimCluster): Promise<{ locks: Dict; openJobs: string[] }> {
  const target = d(await agencyAt(c, '/arango/Target'));
  const ours = new Set<string>();
  const open: string[] = [];
  for (const q of ['ToDo', 'Pending', 'Finished', 'Failed']) {
    for (const [id, j] of Object.entries(d(target[q]))) {
      if (!String(d(j).creator ?? '').startsWith('transit-')) continue;
      ours.add(id);
      if (q === 'ToDo' || q === 'Pending') open.push(`${q}/${id} ${String(d(j).type)}`);
    }
  }
  const locks = Object.fromEntries(
    Object.entries(d(await agencyAt(c, '/arango/Supervision/Shards'))).filter(
      ([, v]) => ours.has(String(v)) || String(v).startsWith('transit-'),
    ),
  );
  return { locks, openJobs: open };
}

export interface FailoverResult {
  mover: Mover;
  victim: Victim;
  /** The server that was SIGKILLed. */
  victimId: string;
  /** Longest stretch without a serving leader (Plan leader not resigned, alive, and first in Current), s. */
  leaderlessSeconds: number;
  /** How the job that was moving the shard when the server died ended (its `reason`), if it did not finish. */
  jobOutcome: string;
  /** The move ended with every copy on the new servers. */
  finishedOnTargets: boolean;
  /** What Transit parked with on the way (then resumed), if anything. */
  parked: string | null;
  acked: number;
  lost: number;
  leftovers: { locks: Dict; openJobs: string[] };
}

export async function failDuringMove(mover: Mover, victim: Victim): Promise<FailoverResult> {
  const c = await startSim(SLOW_TOPOLOGY, { processes: true });
  // Stopped in `finally` too: a cell that fails must not leave a writer or an engine running (the test process
  // would never exit).
  let writer: ContinuousWriter | undefined;
  const engines: EngineRun[] = [];
  let watching = false;
  try {
    const act = simActivities();
    const ref = arangoRef(c);
    await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
    const members = await Promise.all([0, 1, 2].map(() => c.addDBServer()));
    const targets = (
      await act.waitForServerRegistered({ arango: ref, endpoints: members.map((m) => m.endpoint), timeoutSeconds: 60 })
    ).servers.map((s) => s.id);
    writer = new ContinuousWriter(arangoDb(c, 'shop'), 'orders', 2);
    const plan = await act.readShardPlan({ migrationId: 'x', arango: ref });
    const col = plan.collections[0]!;
    const [shard, idx] = col.shards[0]!;
    const sources = idx.map((i) => plan.servers[i]!.id);
    const planPath = `/arango/Plan/Collections/shop/${col.collectionId}/shards/${shard}`;
    const curPath = `/arango/Current/Collections/shop/${col.collectionId}/${shard}`;

    let engine: EngineRun | undefined;
    let script: Promise<void> | undefined;
    const jobDone = async (id: string) =>
      waitUntil(
        `job ${id}`,
        180_000,
        async () =>
          (await agencyAt(c, `/arango/Target/Finished/${id}`)) !== undefined ||
          (await agencyAt(c, `/arango/Target/Failed/${id}`)) !== undefined,
        200,
      );
    if (mover === 'arangodb') {
      script = (async () => {
        const first = d(
          await c.coordinatorCall('POST', '/_admin/cluster/moveShard', {
            database: 'shop',
            collection: 'orders',
            shard,
            fromServer: sources[0],
            toServer: targets[0],
            remainsFollower: false,
          }),
        );
        await jobDone(String(first.id));
      })();
    } else {
      engine = await startEngine(c, { targets });
      engines.push(engine);
    }

    // Pick the moment: the job copying the new leader's copy (or, for new-leader, just after the switch). With
    // ArangoDB's moveShard that is the leader move; Transit's engine (verifying before leadership leaves the
    // source) first brings the new leader in with a follower move, then swaps leadership (a swap copies nothing).
    let job: Dict = {};
    await waitUntil(
      'the copy of the new leader under way',
      60_000,
      async () => {
        const hit = Object.values(d(await agencyAt(c, '/arango/Target/Pending')))
          .map(d)
          .find((j) => j.shard === shard && !(j.isLeader === true && j.remainsFollower === true));
        if (hit) job = hit;
        return Boolean(hit);
      },
      100,
    );
    if (victim === 'new-leader') {
      await waitUntil(
        'the new leader in place',
        120_000,
        async () => {
          const cur = (d(await agencyAt(c, curPath)).servers ?? []) as string[];
          return cur[0] === job.toServer;
        },
        100,
      );
    } else {
      await new Promise((r) => setTimeout(r, 1000));
    }
    const victimId =
      victim === 'source-leader' ? sources[0]! : victim === 'source-follower' ? sources[1]! : String(job.toServer);
    if (mover === 'transit-dead') await engine!.kill();

    // Watch the shard from now on: the longest stretch without a serving leader.
    const t0 = Date.now();
    let since: number | null = null;
    let longest = 0;
    watching = true;
    const watcher = (async () => {
      while (watching) {
        const p = ((await agencyAt(c, planPath).catch(() => undefined)) ?? []) as string[];
        const cur = (d(await agencyAt(c, curPath).catch(() => undefined)).servers ?? []) as string[];
        const serving = p.length > 0 && !p[0]!.startsWith('_') && p[0] !== victimId && cur[0] === p[0];
        const now = Date.now();
        if (!serving && since === null) since = now;
        if (serving && since !== null) {
          longest = Math.max(longest, now - since);
          since = null;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await c.memberById(victimId)!.stop();
    await waitUntil(
      'a serving leader again',
      180_000,
      async () => {
        const p = (await agencyAt(c, planPath)) as string[];
        const cur = (d(await agencyAt(c, curPath)).servers ?? []) as string[];
        return p[0] !== victimId && !p[0]!.startsWith('_') && cur[0] === p[0];
      },
      100,
    ).catch(async (e: Error) => {
      // What the agency shows when the shard stays leaderless: the error names it (Plan, Current, open jobs, locks, health).
      const show = async (path: string) => JSON.stringify(await agencyAt(c, path).catch(() => 'unreadable'));
      const state = await Promise.all(
        [
          planPath,
          curPath,
          '/arango/Target/ToDo',
          '/arango/Target/Pending',
          '/arango/Supervision/Shards',
          '/arango/Supervision/DBServers',
          '/arango/Target/FailedServers',
        ].map(async (p) => `${p}: ${await show(p)}`),
      );
      const health = Object.entries(d(await agencyAt(c, '/arango/Supervision/Health')))
        .map(([id, h]) => `${id} ${String(d(h).Status)}`)
        .join(', ');
      throw new Error(`${e.message} (victim ${victimId}; health: ${health})\n${state.join('\n')}`);
    });
    if (since !== null) longest = Math.max(longest, Date.now() - since);
    void t0;

    let parked: string | null = null;
    let finishedOnTargets = false;
    if (mover === 'arangodb') {
      await script;
    } else {
      const e = mover === 'transit-dead' ? engine!.resume() : engine!;
      engines.push(e);
      // A dead destination parks the migration naming it: bring the server back, then resume. Within 240 s of
      // the failure, or the cell fails naming what Transit parked with and what each moving group waits for.
      const done = e.done;
      const parks: string[] = [];
      const until = Date.now() + 240_000;
      for (;;) {
        const r = await Promise.race([done, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 1000))]);
        if (r !== 'tick') {
          assert.equal(r, 'done');
          break;
        }
        if (Date.now() > until) {
          const waits = Object.values(e.state.shards?.moving ?? {}).map((m) => `${m.job ?? '-'} ${m.reason ?? ''}`);
          throw new Error(
            `Transit did not finish within 240 s of the failure; parked with: ${JSON.stringify(parks)}; moving groups: ${JSON.stringify(waits)}`,
          );
        }
        if (e.parked()) {
          parked = e.parked();
          parks.push(parked!);
          const m = c.memberById(victimId)!;
          if (!m.running) await c.restart(m);
          e.state.pauseRequested = false;
        }
      }
      await act.verifyConvergence({ arango: ref, mustNotHold: sources });
      finishedOnTargets = true;
    }
    watching = false;
    await watcher;
    const failed = d(await agencyAt(c, `/arango/Target/Failed/${String(job.jobId)}`));
    const finished = d(await agencyAt(c, `/arango/Target/Finished/${String(job.jobId)}`));
    const jobOutcome = Object.keys(failed).length
      ? `failed: ${String(failed.reason ?? '')}`
      : Object.keys(finished).length
        ? 'finished'
        : 'unknown';
    await writer.stop();
    const lost = (await writer.missing(arangoDb(c, 'shop'))).length;
    return {
      mover,
      victim,
      victimId,
      leaderlessSeconds: longest / 1000,
      jobOutcome,
      finishedOnTargets,
      parked,
      acked: writer.acked.size,
      lost,
      leftovers: await transitLeftovers(c),
    };
  } finally {
    watching = false;
    await writer?.stop().catch(() => undefined);
    for (const e of engines) await e.kill().catch(() => undefined);
    await c.stop();
  }
}
