/**
 * The simulated copy of a live source (ArangoDB side): a simulated cluster (src/sim) of the same shape — agents,
 * DB servers and coordinators as many as the source's, every database and collection with its shard count,
 * replicationFactor, writeConcern and distributeShardsLike — with each shard group's size modelled (every seeded
 * document stands for `bytesPerDocument` bytes, so a group of gigabytes is a few dozen documents), the source's
 * supervision settings (from its members' arguments in the ArangoDeployment, else ArangoDB's defaults), and the
 * target's new DB servers started when ProvisionTarget asks for them (after the workflow has held supervision's
 * auto-shrink, which the copy arms as kube-arangodb does).
 *
 * What is NOT copied: where each shard sits (the simulator places the copy's shards as ArangoDB's coordinator
 * does, round robin), document contents, and link rates — those come from the operator (`--bandwidth`), never
 * from the simulator's own configuration.
 */
import type { SimCluster, SimMember } from '../sim/cluster';
import type { MemberInfo } from '../activities/contract';
import type { TopologyInput } from '../sim/topology';
import type { SourceSurvey } from '../cli/dry-run';

/** Documents seeded for the largest shard group of a collection; smaller groups get proportionally fewer. */
const DOCS_FOR_LARGEST_GROUP = 64;

export interface CopyShape {
  topology: TopologyInput;
  /** Per database/collection name: documents to seed into each prototype shard, in shard-ID order. */
  documents: { database: string; collection: string; perShard: number[] }[];
  /** New DB servers to start (one per source DB server, as ProvisionTarget mirrors them). */
  targets: number;
  /** The source's supervision settings the copy runs with, and where each came from. */
  settings: string[];
}

const shardNum = (s: string) => Number(/(\d+)$/.exec(s)?.[1] ?? 0);

/** `--name=value` or `--name value` in a member's arguments. */
function argValue(args: string[], name: string): number | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}` && args[i + 1] !== undefined) return Number(args[i + 1]);
    if (a.startsWith(`--${name}=`)) return Number(a.slice(name.length + 3));
  }
  return undefined;
}

/**
 * The copy's supervision and heartbeat timing from the source members' arguments (the first member of a role that
 * sets one); the simulator's defaults (ArangoDB's) otherwise.
 */
function timingOf(members: MemberInfo[]): { timing: NonNullable<TopologyInput['timing']>; settings: string[] } {
  const timing: Record<string, number> = {};
  const settings: string[] = [];
  const take = (role: MemberInfo['role'], arg: string, key: string, scale = 1) => {
    for (const m of members.filter((x) => x.role === role)) {
      const v = argValue(m.args, arg);
      if (v !== undefined && Number.isFinite(v)) {
        timing[key] = v * scale;
        settings.push(`${arg}=${v} (from ${m.podName})`);
        return;
      }
    }
  };
  take('agent', 'agency.election-timeout-min', 'electionTimeoutMin');
  take('agent', 'agency.election-timeout-max', 'electionTimeoutMax');
  take('agent', 'agency.supervision-frequency', 'supervisionFrequency');
  take('agent', 'agency.supervision-ok-threshold', 'okThreshold');
  take('agent', 'agency.supervision-grace-period', 'gracePeriod');
  take('agent', 'agency.supervision-expired-servers-grace-period', 'expiredServersGrace');
  // The simulator's own stand-ins for timings a real arangod does not expose as options (a real source has none).
  take('agent', 'sim.supervision-startup-grace', 'startupGrace');
  take('dbserver', 'sim.heartbeat-interval', 'heartbeatMs', 1000);
  take('coordinator', 'sim.leader-retry-seconds', 'leaderRetrySeconds');
  take('coordinator', 'sim.remove-server-seconds', 'removeServerSeconds');
  return { timing, settings };
}

/** The copy's shape from the survey; `bandwidth` is each DB server's rate per direction (bytes/s, Infinity: none). */
export function copyShape(survey: Pick<SourceSurvey, 'inventory' | 'plan'>, bandwidth: number): CopyShape {
  const { inventory, plan } = survey;
  const count = (role: MemberInfo['role']) => inventory.members.filter((m) => m.role === role).length;
  const byDb = new Map<string, NonNullable<NonNullable<TopologyInput['databases']>[number]['collections']>>();
  const documents: CopyShape['documents'] = [];
  for (const c of plan.collections) {
    const list = byDb.get(c.database) ?? [];
    byDb.set(c.database, list);
    const shards = [...c.shards].sort((a, b) => shardNum(a[0]) - shardNum(b[0]));
    const largest = Math.max(0, ...shards.map((s) => s[2]));
    const bytesPerDocument = Math.max(1, Math.ceil(largest / DOCS_FOR_LARGEST_GROUP));
    list.push({
      name: c.name,
      numberOfShards: shards.length,
      replicationFactor: c.replicationFactor,
      writeConcern: c.writeConcern,
      bytesPerDocument,
      documentsPerShard: 0,
    });
    for (const clone of c.clones)
      list.push({ name: clone.name, distributeShardsLike: c.name, bytesPerDocument, documentsPerShard: 0 });
    // A group's bytes (prototype + clones) ride on the prototype's shard: the group moves as one.
    documents.push({
      database: c.database,
      collection: c.name,
      perShard: shards.map((s) => Math.round(s[2] / bytesPerDocument)),
    });
  }
  const { timing, settings } = timingOf(inventory.members);
  return {
    topology: {
      name: `rehearsal-${inventory.namespace}-${inventory.name}`,
      agents: count('agent'),
      dbServers: plan.servers.length,
      coordinators: Math.max(1, count('coordinator')),
      bandwidth: Number.isFinite(bandwidth) ? bandwidth : 'unbounded',
      timing,
      databases: [...byDb].map(([name, collections]) => ({ name, collections })),
    },
    documents,
    targets: count('dbserver'),
    settings,
  };
}

export interface RehearsalCopy {
  cluster: SimCluster;
  /** The source's DB servers' IDs in the copy, sorted. */
  sources: string[];
  /** The new DB servers started so far (IDs, sorted). */
  readonly targets: string[];
  /**
   * The source's members as Kubernetes lists them (pod names, images, arguments), each standing for the copy's
   * member of the same role and rank: its ID and endpoint are the copy's.
   */
  mirror(members: MemberInfo[]): MemberInfo[];
  /** Starts a new DB server or coordinator (ProvisionTarget, through the world); its ID and endpoint. */
  addMember(role: 'dbserver' | 'coordinator'): Promise<{ id: string; endpoint: string }>;
  /** An agent's pod moves: the old one stops, a new one starts after `podStartMs` with the same ID; its endpoint. */
  moveAgent(id: string, podStartMs: number, to: 'source' | 'target'): Promise<string>;
  /** A member's pod is deleted. */
  stopMember(id: string): Promise<void>;
  /** A running coordinator's URL on a side (target: one started by ProvisionTarget, once there is one). */
  coordinatorUrl(side: 'source' | 'target'): string;
  /** Modelled bytes the copy's new DB servers have received so far: what crosses from one region to the other. */
  bytesReceived(): number;
  /** Before a fault stops a member: keep what its links have counted (a restarted member counts from zero). */
  noteRestart(m: SimMember): void;
  stop(): Promise<void>;
}

/** Starts the copy: the simulator is loaded here, lazily (it stays out of workflows and activities). */
export async function startCopy(
  shape: CopyShape,
  o: {
    log?: (line: string) => void;
    /**
     * The round trip (ms) between a member of the source's region and one of the target's. Within a region no
     * delay: with the end-to-end environment's 4 ms applied to every in-process request as well, the copy's
     * MoveShards came out about 25 % slower than the real run's (measured; cause not found).
     */
    crossRegionRttMs?: number;
  } = {},
): Promise<RehearsalCopy> {
  const { SimCluster: Cluster } = require('../sim/cluster') as typeof import('../sim/cluster');
  const { setWanModel } = require('../sim/net') as typeof import('../sim/net');
  const c = await Cluster.start({ topology: shape.topology });
  // Which region each member's address is in: the copy's own members the source's, the ones started later the target's.
  const region = new Map<string, 'source' | 'target'>();
  const place = (m: SimMember, side: 'source' | 'target') => region.set(m.ip, side);
  for (const m of [...c.agents, ...c.dbServers, ...c.coordinators]) place(m, 'source');
  const rtt = o.crossRegionRttMs ?? 0;
  if (rtt > 0)
    setWanModel((from, to) => {
      const a = from ? region.get(from) : undefined;
      const b = region.get(to);
      return a && b && a !== b ? rtt : 0;
    });
  try {
    for (const d of shape.documents)
      if (d.perShard.some((n) => n > 0)) await c.seedDocuments(d.database, d.collection, d.perShard);
    await c.waitConverged(120_000);
    const sources = c.dbServers.map((m) => m.id).sort();
    o.log?.(
      `copy: ${shape.topology.agents} agents, ${sources.length} DB servers, ${shape.topology.coordinators} coordinators, ${shape.documents.reduce((n, d) => n + d.perShard.length, 0)} shard groups`,
    );
    const initial = { agent: [...c.agents], dbserver: [...c.dbServers], coordinator: [...c.coordinators] };
    const added: SimMember[] = [];
    let carried = 0;
    const noteRestart = (m: SimMember) => {
      if (added.includes(m)) carried += m.dbServer?.recvLink.bytes ?? 0;
    };
    const running = (ms: SimMember[]) => ms.find((m) => m.running);
    return {
      cluster: c,
      sources,
      get targets() {
        return added
          .filter((m) => m.kind === 'dbserver')
          .map((m) => m.id)
          .sort();
      },
      mirror(members) {
        const rank = { agent: 0, dbserver: 0, coordinator: 0 };
        return members.map((m) => {
          const sim = initial[m.role as keyof typeof initial]?.[rank[m.role as keyof typeof rank]++];
          if (!sim) throw new Error(`the copy has no ${m.role} for ${m.podName}`);
          return { ...m, id: sim.id, endpoint: sim.endpoint };
        });
      },
      async addMember(role) {
        // The address is placed before the member starts: its first requests already cross the WAN.
        const m =
          role === 'dbserver'
            ? await c.addDBServer({ beforeStart: (x) => place(x, 'target') })
            : await c.addCoordinator({ beforeStart: (x) => place(x, 'target') });
        added.push(m);
        return { id: m.id, endpoint: m.endpoint };
      },
      async moveAgent(id, podStartMs, to) {
        await c.memberById(id)?.stop();
        await new Promise((r) => setTimeout(r, podStartMs));
        return (await c.replaceAgent(id, { beforeStart: (x) => place(x, to) })).endpoint;
      },
      async stopMember(id) {
        const m = c.memberById(id);
        if (m) {
          noteRestart(m);
          await m.stop();
        }
      },
      coordinatorUrl(side) {
        const m =
          side === 'target' ? running(added.filter((x) => x.kind === 'coordinator')) : running(initial.coordinator);
        return m?.url ?? c.coordinatorUrl;
      },
      bytesReceived: () => carried + added.reduce((n, m) => n + (m.dbServer?.recvLink.bytes ?? 0), 0),
      noteRestart,
      stop: async () => {
        setWanModel(null);
        await c.stop();
      },
    };
  } catch (e) {
    setWanModel(null);
    await c.stop();
    throw e;
  }
}
