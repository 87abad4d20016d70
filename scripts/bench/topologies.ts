/**
 * The benchmark's topologies (simulated ArangoDB: every figure they give is a simulated figure). Sizes are chosen
 * so that each assignment-independent bound is 25–45 s at 8 MiB/s per link: long enough that per-job latencies
 * show as the gap to the bound they are, short enough that all of them and the baselines fit in one run.
 */
import type { TopologyInput } from '../../src/sim/topology';

export const MiB = 1024 * 1024;
/** Per DB server and direction (modelled), unless a topology changes it. */
export const BANDWIDTH = 8 * MiB;

export interface LinkChange {
  /** Seconds after MoveShards started. */
  atSeconds: number;
  /** Which new server (index into the sorted target IDs) and link. */
  target: number;
  dir: 'send' | 'recv';
  /** New rate as a fraction of BANDWIDTH. */
  factor: number;
}

export interface BenchTopology {
  name: string;
  what: string;
  sim: TopologyInput;
  /** New DB servers the shards move to. */
  targets: number;
  /** Receive rate of the new servers as a fraction of BANDWIDTH (asymmetric links). */
  targetRecvFactor?: number;
  /** A link that changes mid-run. */
  change?: LinkChange;
}

type Collection = NonNullable<NonNullable<TopologyInput['databases']>[number]['collections']>[number];

function topo(dbServers: number, collections: Collection[]): TopologyInput {
  return {
    agents: 3,
    dbServers,
    coordinators: 1,
    bandwidth: BANDWIDTH,
    targetNumberOfDBServers: null,
    // ArangoDB's own supervision and heartbeat periods (1 s); only the start-up grace is shortened.
    timing: { startupGrace: 1, electionTimeoutMax: 2 },
    databases: [{ name: 'bench', collections }],
  };
}

/** `shards` shards of about 1 MiB (8 documents of 64–192 KiB, by collection), replicationFactor 2. */
function uniformCollections(shards: number): Collection[] {
  const per = 100;
  return Array.from({ length: Math.ceil(shards / per) }, (_, i) => ({
    name: `c${i}`,
    numberOfShards: Math.min(per, shards - i * per),
    replicationFactor: 2,
    documentsPerShard: 8,
    bytesPerDocument: 128 * 1024 * (0.5 + (i % 3) * 0.5),
  }));
}

export const TOPOLOGIES: BenchTopology[] = [
  {
    name: 'uniform',
    what: '1,000 shards of ~1 MiB (rf 2), 6 → 6 DB servers',
    sim: topo(6, uniformCollections(1000)),
    targets: 6,
  },
  {
    name: 'skewed',
    what: '1,000 shards, Zipf-like sizes: 5 shards 100× the median, 10 at 20×, 20 at 5×, the rest 0.5–1.5× (rf 2), 6 → 6',
    sim: topo(6, [
      { name: 'huge', numberOfShards: 5, replicationFactor: 2, documentsPerShard: 100, bytesPerDocument: 512 * 1024 },
      { name: 'big', numberOfShards: 10, replicationFactor: 2, documentsPerShard: 20, bytesPerDocument: 512 * 1024 },
      { name: 'mid', numberOfShards: 20, replicationFactor: 2, documentsPerShard: 5, bytesPerDocument: 512 * 1024 },
      ...Array.from({ length: 10 }, (_, i) => ({
        name: `small${i}`,
        numberOfShards: i < 9 ? 97 : 92,
        replicationFactor: 2,
        documentsPerShard: 8,
        bytesPerDocument: 64 * 1024 * (0.5 + (i % 3) * 0.5),
      })),
    ]),
    targets: 6,
  },
  {
    name: 'scale-out',
    what: '600 shards of ~1 MiB (rf 2), 3 → 5 DB servers',
    sim: topo(3, uniformCollections(600)),
    targets: 5,
  },
  {
    name: 'rf3-chains',
    what: '200 shard groups, replicationFactor 3, distributeShardsLike chains (a ← a1 ← a2, b ← b1), 6 → 6',
    sim: topo(6, [
      { name: 'a', numberOfShards: 100, replicationFactor: 3, documentsPerShard: 8, bytesPerDocument: 128 * 1024 },
      { name: 'a1', distributeShardsLike: 'a', documentsPerShard: 8, bytesPerDocument: 64 * 1024 },
      { name: 'a2', distributeShardsLike: 'a', documentsPerShard: 8, bytesPerDocument: 64 * 1024 },
      { name: 'b', numberOfShards: 100, replicationFactor: 3, documentsPerShard: 8, bytesPerDocument: 128 * 1024 },
      { name: 'b1', distributeShardsLike: 'b', documentsPerShard: 8, bytesPerDocument: 64 * 1024 },
    ]),
    targets: 6,
  },
  {
    name: 'asymmetric',
    what: '400 shards of ~1 MiB (rf 2), 6 → 6, the new servers receive at half the rate the old ones send',
    sim: topo(6, uniformCollections(400)),
    targets: 6,
    targetRecvFactor: 0.5,
  },
  {
    name: 'halving',
    what: '600 shards of ~1 MiB (rf 2), 6 → 6, one new server’s receive link halves 10 s into MoveShards',
    sim: topo(6, uniformCollections(600)),
    targets: 6,
    change: { atSeconds: 10, target: 0, dir: 'recv', factor: 0.5 },
  },
];

/**
 * The crash-recovery run (`npm run bench -- --only 3`): enough ~1 MiB groups that MoveShards is still busy when the
 * worker is killed and again when the new one takes over; the run is ended once that is measured.
 */
export const KILL_TOPOLOGY: BenchTopology = {
  name: 'worker-kill',
  what: '300 shards of ~1 MiB (rf 2), 3 → 3 DB servers; the worker SIGKILLed mid-MoveShards',
  sim: topo(3, uniformCollections(300)),
  targets: 3,
};
