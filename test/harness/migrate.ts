// Shared by the agency-migration test files: the simulated shop topology, Transit's own engine run to the end
// (repeated on a fresh Plan as MoveShards does), new DB servers, writers, mixed-workload clients pinned to the
// coordinators of both regions, and the checks on what they wrote.
import assert from 'node:assert/strict';
import { ContinuousWriter, arangoDb, groupsOf, simActivities, type SimCluster, type SimMember } from './sim';
import { mixedClients, type LoadClient, type MixedOp } from './load';
import type { ArangoRef } from '../../src/activities/agency-types';
import { startEngine, type EngineRun } from './engine';

export type Dict = Record<string, unknown>;
export const d = (v: unknown): Dict => (typeof v === 'object' && v !== null ? (v as Dict) : {});
export type Acts = ReturnType<typeof simActivities>;

export const TOPOLOGY = {
  agents: 3,
  dbServers: 3,
  coordinators: 2,
  bandwidth: '40MB/s',
  databases: [
    {
      name: 'shop',
      collections: [
        { name: 'orders', numberOfShards: 6, replicationFactor: 2, documentsPerShard: 40, bytesPerDocument: 20_000 },
        { name: 'lines', distributeShardsLike: 'orders', documentsPerShard: 20 },
        { name: 'single', numberOfShards: 2, replicationFactor: 1, documentsPerShard: 40, bytesPerDocument: 20_000 },
        { name: 'strict', numberOfShards: 2, replicationFactor: 2, writeConcern: 2, documentsPerShard: 10 },
      ],
    },
  ],
};

/**
 * Transit's own shard engine (src/workflows/job-engine.ts, the code the workflow runs in MoveShards) moves every
 * group to the new servers, repeated on a fresh Plan until nothing is left on an old server — as the workflow's
 * MoveShards phase does (collections may appear, failover may move things meanwhile).
 */
export async function migrate(
  c: SimCluster,
  act: Acts,
  ref: ArangoRef,
  olds: string[],
  news: string[],
  o: {
    migrationId?: string;
    concurrency?: number;
    onStep?: (what: string) => void;
    engine?: (e: EngineRun) => void;
    /** The engine parked (the workflow would wait for the operator): fix the cause and return to resume; throw to fail. */
    onParked?: (message: string) => Promise<void>;
  } = {},
): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const e = await startEngine(c, {
      targets: news,
      migrationId: o.migrationId ?? 'mig',
      concurrency: o.concurrency ?? 4,
      onStep: o.onStep,
    });
    o.engine?.(e);
    const started = Date.now();
    let reported = false;
    for (;;) {
      if (!reported && Date.now() - started > 120_000) {
        // A diagnostic for a run that does not end: what each moving group waits for.
        reported = true;
        console.error(
          `engine still running after 120 s: ${JSON.stringify(e.state.shards?.moving)}; last steps ${JSON.stringify(e.steps.slice(-4))}`,
        );
      }
      const r = await Promise.race([e.done, new Promise<'tick'>((res) => setTimeout(() => res('tick'), 500))]);
      if (r !== 'tick') {
        assert.equal(r, 'done');
        break;
      }
      const parked = e.parked();
      if (!parked) continue;
      if (!o.onParked) {
        await e.kill();
        throw new Error(`the engine parked: ${parked}`);
      }
      await o.onParked(parked);
      e.state.pauseRequested = false;
    }
    const left = groupsOf(await act.readShardPlan({ migrationId: 'check', arango: ref })).filter((g) =>
      g.servers.some((s) => olds.includes(s)),
    );
    if (left.length === 0) return;
  }
  throw new Error('groups still on the old servers after 5 passes of the engine');
}

export async function addNewServers(c: SimCluster, act: Acts, ref: ArangoRef, n = 3): Promise<string[]> {
  const members = await Promise.all(Array.from({ length: n }, () => c.addDBServer()));
  const r = await act.waitForServerRegistered({
    arango: ref,
    endpoints: members.map((m) => m.endpoint),
    timeoutSeconds: 60,
  });
  return r.servers.map((s) => s.id);
}

export function writers(c: SimCluster): ContinuousWriter[] {
  return [
    new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[0].url), 'orders', 2),
    new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[c.coordinators.length - 1].url), 'single', 2),
  ];
}

/**
 * Mixed-workload clients in both regions, each pinned to a coordinator: the 'eu' clients to the source region's
 * coordinators, the 'us' clients to the target region's (round robin); client i of a region writes to
 * `collectionOf(region, i)`. Not started.
 */
export function regionClients(
  c: SimCluster,
  o: {
    source: SimMember[];
    target: SimMember[];
    perRegion: number;
    opsPerSecond: number;
    database: string;
    collectionOf: (region: 'eu' | 'us', i: number) => string;
    mix?: Partial<Record<MixedOp, number>>;
  },
): LoadClient[] {
  return mixedClients({
    perRegion: o.perRegion,
    addressOf: (region, i) => {
      const cs = region === 'eu' ? o.source : o.target;
      return cs[i % cs.length]!.ip;
    },
    localAddress: () => undefined,
    port: o.source[0]!.port,
    database: o.database,
    collection: o.collectionOf('eu', 0),
    collectionOf: o.collectionOf,
    authorization: `bearer ${c.jwt()}`,
    opsPerSecond: o.opsPerSecond,
    mix: o.mix,
  });
}

export async function stopAndCheck(
  c: SimCluster,
  ws: ContinuousWriter[],
): Promise<{ acked: number; missing: string[] }> {
  await Promise.all(ws.map((w) => w.stop()));
  const db = arangoDb(c, 'shop');
  const missing = (await Promise.all(ws.map((w) => w.missing(db)))).flat();
  return { acked: ws.reduce((a, w) => a + w.acked.size, 0), missing };
}

export async function supervisionCleanOuts(c: SimCluster): Promise<Dict[]> {
  const t = d(d(d(await c.agencyRead(['/arango/Target'])).arango).Target);
  return ['ToDo', 'Pending', 'Finished', 'Failed']
    .flatMap((q) => Object.values(d(t[q])).map(d))
    .filter((j) => j.type === 'cleanOutServer');
}
