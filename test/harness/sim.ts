// Test harness for the ArangoDB simulator: start a simulated cluster from a topology (with test timing), bind the
// agency activities to it, keep writing documents through a coordinator while recording every acknowledged
// write, and check what a migration must guarantee (every acknowledged document readable, every shard with
// replicationFactor in-sync copies).
import { Database } from 'arangojs';
import { SimCluster, type SimClusterOptions } from '../../src/sim/cluster';
import type { TopologyInput } from '../../src/sim/topology';
import { createAgencyActivities, fileCredentialReader, type AgencyActivityDeps } from '../../src/activities/agency';
import type { ArangoRef, ShardKey, ShardPlan } from '../../src/activities/agency-types';
import { lostAcknowledged } from './data-check';

export { SimCluster };
export type { SimMember } from '../../src/sim/cluster';

/** Timing that keeps tests quick: failures detected in seconds, elections within ~1.5 s. */
export const TEST_TIMING = {
  heartbeatMs: 500,
  okThreshold: 2,
  gracePeriod: 4,
  supervisionFrequency: 0.5,
  startupGrace: 1,
  electionTimeoutMin: 1,
  electionTimeoutMax: 2,
  leaderRetrySeconds: 20,
  removeServerSeconds: 6,
};

export async function startSim(
  topology: TopologyInput,
  o: Omit<SimClusterOptions, 'topology'> = {},
): Promise<SimCluster> {
  const log = process.env.TRANSIT_SIM_LOG ? (l: string) => process.stderr.write(l + '\n') : undefined;
  return SimCluster.start({ log, ...o, topology: { ...topology, timing: { ...TEST_TIMING, ...topology.timing } } });
}

export function arangoRef(c: SimCluster): ArangoRef {
  return { endpoint: c.coordinatorUrl, jwtSecret: { file: c.jwtSecretFile } };
}

export function arangoDb(c: SimCluster, databaseName: string, url = c.coordinatorUrl): Database {
  return new Database({ url, databaseName, auth: { token: c.jwt() }, poolSize: 16 });
}

export function simActivities(overrides: Partial<AgencyActivityDeps> = {}): ReturnType<typeof createAgencyActivities> {
  return createAgencyActivities({
    readCredential: fileCredentialReader(),
    pollIntervalMs: 200,
    agencyRetryMs: 15_000,
    ...overrides,
  });
}

/** One group of a ShardPlan as the shard steps take it, with its Plan servers (ids). */
export interface Group extends ShardKey {
  servers: string[];
  replicationFactor: number;
  bytes: number;
}

export function groupsOf(plan: ShardPlan): Group[] {
  const out: Group[] = [];
  for (const c of plan.collections) {
    c.shards.forEach(([shard, idx, bytes], i) => {
      out.push({
        database: c.database,
        collectionId: c.collectionId,
        shard,
        clones: c.clones.map((cl) => ({ collectionId: cl.collectionId, shard: cl.shards[i] })),
        servers: idx.map((j) => plan.servers[j].id),
        replicationFactor: c.replicationFactor,
        bytes,
      });
    });
  }
  return out;
}

/**
 * Writes documents through a coordinator with `concurrency` writers until stopped; remembers every key whose
 * insert was acknowledged (2xx). A write that failed may or may not exist; an acknowledged one must.
 */
export class ContinuousWriter {
  readonly acked = new Set<string>();
  readonly errors: string[] = [];
  attempts = 0;
  private running = true;
  private done: Promise<void>;
  private seq = 0;

  constructor(
    private db: Database,
    private collection: string,
    concurrency = 4,
    private prefix = `w${Date.now().toString(36)}`,
  ) {
    this.done = Promise.all(Array.from({ length: concurrency }, () => this.loop())).then(() => undefined);
  }

  private async loop(): Promise<void> {
    const coll = this.db.collection(this.collection);
    while (this.running) {
      const key = `${this.prefix}-${this.seq++}`;
      this.attempts += 1;
      try {
        await coll.save({ _key: key, at: Date.now() });
        this.acked.add(key);
      } catch (e) {
        this.errors.push(`${key}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  /** Keys acknowledged but not readable now (through the same database handle), in acknowledgement order. */
  async missing(db = this.db): Promise<string[]> {
    return lostAcknowledged(db, this.collection, this.acked);
  }
}

/** Shards whose Current lacks replicationFactor in-sync copies (Plan servers present in Current, same leader). */
/**
 * Copies of a shard in sync: the Plan servers Current lists, when Current's leader is a Plan server. Names compare
 * without the `_` of a resigned leader (MoveShard's switch writes `_<old>` into Plan, then Current, and the old
 * leader keeps its copy); Plan and Current may each be a step ahead of the other during the switch. A Current led
 * by a server Plan does not name counts no copy as in sync.
 */
export function inSyncCopies(plan: string[], current: string[]): number {
  const id = (x: string) => x.replace(/^_/, '');
  const planned = plan.map(id);
  const held = current.map(id);
  if (held.length === 0 || !planned.includes(held[0]!)) return 0;
  return planned.filter((x) => held.includes(x)).length;
}

export async function underReplicated(c: SimCluster): Promise<string[]> {
  const rf = new Map<string, number>();
  const a = await c.agencyRead(['/arango/Plan/Collections']);
  const plan =
    (a as { arango?: { Plan?: { Collections?: Record<string, Record<string, { replicationFactor?: number }>> } } })
      .arango?.Plan?.Collections ?? {};
  for (const [db, colls] of Object.entries(plan))
    for (const [cid, col] of Object.entries(colls)) rf.set(`${db}/${cid}`, Number(col.replicationFactor ?? 1));
  const out: string[] = [];
  for (const s of await c.shardStates()) {
    const inSync = inSyncCopies(s.plan, s.current);
    if (inSync < (rf.get(`${s.db}/${s.cid}`) ?? 1))
      out.push(`${s.db}/${s.name}/${s.shard}: Plan ${JSON.stringify(s.plan)} Current ${JSON.stringify(s.current)}`);
  }
  return out;
}

export async function waitUntil(
  what: string,
  ms: number,
  pred: () => Promise<boolean> | boolean,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
