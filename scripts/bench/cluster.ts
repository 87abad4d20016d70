/**
 * The simulated cluster of one benchmark topology (in this process, so that the bench can read and change each
 * DB server's modelled links): start it, add the new DB servers, set the links' rates, count the bytes moved.
 */
import { join } from 'node:path';
import { SimCluster } from '../../src/sim/cluster';
import type { Link } from '../../src/sim/bandwidth';
import type { ShardPlan } from '../../src/activities/agency-types';
import { arangoRef, simActivities } from '../../test/harness/sim';
import { assignTargets } from '../../src/workflows/scheduler';
import { indexPlan } from '../../src/workflows/plan';
import { assignmentBound, assignmentIndependentBound, type Bound, type LinkRates } from './bound';
import { BANDWIDTH, type BenchTopology } from './topologies';

export interface BenchCluster {
  c: SimCluster;
  plan: ShardPlan;
  sources: string[];
  targets: string[];
  rates: LinkRates;
  bound: Bound;
  assignment: Bound;
  /** Bytes every DB server has received so far (modelled). */
  bytesReceived(): number;
  /** Applies the topology's mid-run change of a link rate now. */
  applyChange(): void;
  /**
   * Timings of the finished MoveShard jobs (seconds): queued in ToDo, running, and a shard's gap between jobs; with
   * `ceiling`, the floors it puts under the makespan (`ceilingFloorS`, `jobsFloorS`: Little's law; see the
   * implementation).
   */
  jobStats(ceiling?: number): Promise<{ text: string; ceilingFloorS: number | null; jobsFloorS: number | null }>;
  /** The agency's jobs in these lists of Target (every job whatever its type). */
  jobs(lists: ('ToDo' | 'Pending' | 'Finished' | 'Failed')[]): Promise<Record<string, unknown>[]>;
  /** Groups with a copy on an old server (0 when converged). */
  groupsLeft(): Promise<number>;
  stop(): Promise<void>;
}

function linkOf(c: SimCluster, id: string, dir: 'send' | 'recv'): Link {
  const d = c.dbServers.find((m) => m.id === id)?.dbServer;
  if (!d) throw new Error(`no in-process DB server ${id}`);
  return dir === 'send' ? d.sendLink : d.recvLink;
}

export async function startBenchCluster(t: BenchTopology, log: (s: string) => void): Promise<BenchCluster> {
  const slog = process.env.TRANSIT_SIM_LOG ? (l: string) => process.stderr.write(l + '\n') : undefined;
  const c = await SimCluster.start({ topology: t.sim, log: slog });
  try {
    const acts = simActivities();
    const ref = arangoRef(c);
    const before = await acts.readShardPlan({ migrationId: 'bench', arango: ref });
    const sources = before.servers.map((s) => s.id);
    const members = await Promise.all(Array.from({ length: t.targets }, () => c.addDBServer()));
    const reg = await acts.waitForServerRegistered({
      arango: ref,
      endpoints: members.map((m) => m.endpoint),
      timeoutSeconds: 120,
    });
    const targets = reg.servers.map((s) => s.id).sort();
    // Wait until supervision sees them GOOD (a MoveShard to a server not GOOD waits).
    for (let i = 0; ; i++) {
      const h = (await c.coordinatorCall('GET', '/_admin/cluster/health')) as {
        Health: Record<string, { Status: string }>;
      };
      if (targets.every((id) => h.Health[id]?.Status === 'GOOD')) break;
      if (i > 300) throw new Error('new DB servers not GOOD after 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const recvFactor = t.targetRecvFactor ?? 1;
    for (const id of targets) if (recvFactor !== 1) linkOf(c, id, 'recv').setCapacity(BANDWIDTH * recvFactor);
    const ch = t.change;
    const rates: LinkRates = {
      base: (s, dir) => (dir === 'recv' && targets.includes(s) ? BANDWIDTH * recvFactor : BANDWIDTH),
      ...(ch
        ? { change: { server: targets[ch.target]!, dir: ch.dir, atSeconds: ch.atSeconds, factor: ch.factor } }
        : {}),
    };
    const plan = await acts.readShardPlan({ migrationId: 'bench', arango: ref });
    const desired = assignTargets(indexPlan(plan), targets);
    const bound = assignmentIndependentBound(plan, targets, rates);
    const assignment = assignmentBound(plan, desired, rates);
    const agencyJobs: BenchCluster['jobs'] = async (lists) => {
      const r = (await c.agencyRead(lists.map((l) => `/arango/Target/${l}`))) as {
        arango?: { Target?: Record<string, Record<string, Record<string, unknown>> | undefined> };
      };
      return lists.flatMap((l) => Object.values(r.arango?.Target?.[l] ?? {}));
    };
    log(
      `${t.name}: ${plan.collections.reduce((n, x) => n + x.shards.length, 0)} groups on ${sources.length} servers → ${targets.length} new; bound ${bound.seconds.toFixed(1)} s (${bound.by}), assignment bound ${assignment.seconds.toFixed(1)} s (${assignment.by})`,
    );
    return {
      c,
      plan,
      sources,
      targets,
      rates,
      bound,
      assignment,
      bytesReceived: () => c.dbServers.reduce((n, m) => n + (m.dbServer?.recvLink.bytes ?? 0), 0),
      applyChange() {
        if (!ch) return;
        const id = targets[ch.target]!;
        linkOf(c, id, ch.dir).setCapacity(rates.base(id, ch.dir) * ch.factor);
      },
      jobs: agencyJobs,
      async jobStats(ceiling?: number) {
        const jobs = (await agencyJobs(['Finished']))
          .filter((j) => j.type === 'moveShard')
          .map((j) => ({
            shard: String(j.shard),
            created: Date.parse(String(j.timeCreated)),
            started: Date.parse(String(j.timeStarted)),
            finished: Date.parse(String(j.timeFinished)),
          }))
          .filter((j) => j.created && j.started && j.finished);
        const byShard = new Map<string, typeof jobs>();
        for (const j of jobs) byShard.set(j.shard, [...(byShard.get(j.shard) ?? []), j]);
        const gaps: number[] = [];
        for (const js of byShard.values()) {
          js.sort((a, b) => a.created - b.created);
          for (let i = 1; i < js.length; i++) gaps.push(js[i]!.created - js[i - 1]!.finished);
        }
        const q = (xs: number[]) => {
          const s2 = [...xs].sort((a, b) => a - b);
          const at = (p: number) =>
            s2.length ? (s2[Math.min(s2.length - 1, Math.floor(p * s2.length))]! / 1000).toFixed(1) : '-';
          return `median ${at(0.5)} s, p90 ${at(0.9)} s`;
        };
        // A group is in flight at least from its first job's creation to its last job's end (its shards' jobs in the
        // agency's own timestamps; the engine's pick before and its noticing after come on top). At most `ceiling`
        // groups are in flight at once, so by Little's law the makespan ≥ Σ those lifetimes ÷ ceiling, whatever the
        // links: the floor the ceiling and ArangoDB's job latency put under it.
        const lifetimes = [...byShard.values()].map((js) => Math.max(...js.map((j) => j.finished)) - js[0]!.created);
        // The lifetimes include the gaps between a group's jobs (Transit's LOCK_GAP_MS and its noticing a job's end);
        // with no gap at all a group is in flight at least for its jobs' own times: Σ job (created → finished) ÷
        // ceiling, the floor for any engine that moves a group with these MoveShard jobs under this ceiling.
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        const ceilingFloorS = ceiling ? Math.round(sum(lifetimes) / ceiling / 100) / 10 : null;
        const jobsFloorS = ceiling
          ? Math.round(sum(jobs.map((j) => j.finished - j.created)) / ceiling / 100) / 10
          : null;
        const floor =
          ceilingFloorS === null
            ? ''
            : `; a group's jobs, first created → last finished ${q(lifetimes)} (${lifetimes.length} groups): Σ ÷ ${ceiling} in flight = ${ceilingFloorS} s, the least makespan that ceiling allows at these lifetimes (Little's law); with no gap between a group's jobs ${jobsFloorS} s`;
        return {
          text: `${jobs.length} MoveShard jobs finished: in ToDo ${q(jobs.map((j) => j.started - j.created))}; running ${q(jobs.map((j) => j.finished - j.started))}; same shard, job end → next job created ${q(gaps)}${floor}`,
          ceilingFloorS,
          jobsFloorS,
        };
      },
      async groupsLeft() {
        const p = await acts.readShardPlan({ migrationId: 'bench', arango: ref });
        const old = new Set(sources);
        return p.collections.reduce(
          (n, col) => n + col.shards.filter(([, servers]) => servers.some((i) => old.has(p.servers[i]!.id))).length,
          0,
        );
      },
      stop: () => c.stop(),
    };
  } catch (e) {
    await c.stop();
    throw e;
  }
}

export const SIM_WORKER = join(__dirname, '../../src/rehearse/worker.ts');
