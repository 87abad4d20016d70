/**
 * Reads the ArangoDB cluster itself — never Transit's activities or Transit's report — so a test can check
 * where things really are:
 *
 * - the running pods of the namespace in BOTH Kubernetes clusters (the API servers' pod lists, `status.podIP`);
 * - each pod's member ID and role, asked of the pod itself (`GET /_admin/server/id|role` on `<podIP>:8529`);
 * - the agency: `configuration.pool` from `GET /_api/agency/config`, and Plan, Current and Supervision/Health
 *   from `POST /_api/agency/read` on whichever agent pod leads (followers answer 307, not followed).
 *
 * `placementProblems(view, region)` lists every shard server (Plan and Current) and every member (agency pool,
 * Plan/DBServers, Plan/Coordinators) that is not a pod with an address in `region`'s pod range. Plain HTTP with
 * the superuser JWT; nothing here imports src/activities.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { request } from 'node:http';
import { ADDRESS_PLAN, cidrContains, type Region } from './network';
import type { Clusters } from './kube';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});
const strip = (id: string): string => id.replace(/^_/, '');

export interface MemberPod {
  /** Member ID the pod answered (`/_admin/server/id`), or '' if it did not answer. */
  id: string;
  role: string;
  pod: string;
  podIP: string;
  /** The Kubernetes cluster whose API server lists the pod. */
  cluster: Region;
  /** The region whose pod range holds podIP (undefined: neither). */
  ipRegion?: Region;
}

export interface ShardView {
  database: string;
  collection: string;
  shard: string;
  plan: string[];
  current: string[];
}

export interface ClusterView {
  pods: MemberPod[];
  agencyPool: Record<string, string>;
  dbServers: string[];
  coordinators: string[];
  shards: ShardView[];
  health: Record<string, { Status?: string; Role?: string; Endpoint?: string }>;
  /** Which agent pod answered the agency read. */
  agencyLeader: string;
}

interface Raw {
  status: number;
  body: unknown;
}

function call(
  ip: string,
  path: string,
  token: string,
  o: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const req = request(
      {
        host: ip,
        port: 8529,
        path,
        method: o.method ?? 'GET',
        timeout: o.timeoutMs ?? 5000,
        headers: {
          authorization: `bearer ${token}`,
          ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function regionOfPodIp(ip: string): Region | undefined {
  return (Object.keys(ADDRESS_PLAN) as Region[]).find((r) => cidrContains(ADDRESS_PLAN[r].podCidr, ip));
}

/** Every running ArangoDB member pod of `namespace` in both clusters, each with the ID it answers. */
export async function memberPods(clusters: Clusters, namespace: string, token: string): Promise<MemberPod[]> {
  const out: MemberPod[] = [];
  for (const c of clusters.all) {
    const list = await c.kubeConfig('admin').makeApiClient(CoreV1Api).listNamespacedPod({ namespace });
    for (const p of list.items) {
      const podIP = p.status?.podIP;
      if (!podIP || p.metadata?.deletionTimestamp || p.status?.phase !== 'Running') continue;
      // Who the pod is, asked of the pod (labels only as a fallback for the role).
      let id = '';
      let role = '';
      for (let attempt = 0; attempt < 3 && !id; attempt++) {
        const r = await call(podIP, '/_admin/server/id', token).catch(() => undefined);
        if (r?.status === 200) id = String(d(r.body).id ?? '');
        else await new Promise((res) => setTimeout(res, 300));
      }
      if (id) {
        const r = await call(podIP, '/_admin/server/role', token).catch(() => undefined);
        role =
          ({ AGENT: 'agent', PRIMARY: 'dbserver', COORDINATOR: 'coordinator' } as Record<string, string>)[
            String(d(r?.body).role)
          ] ?? '';
      }
      role ||= p.metadata?.labels?.role ?? '';
      out.push({ id, role, pod: p.metadata!.name!, podIP, cluster: c.region, ipRegion: regionOfPodIp(podIP) });
    }
  }
  return out;
}

/** Pods, agency pool, Plan, Current and Health, read from the cluster's own members. */
export async function readCluster(
  clusters: Clusters,
  namespace: string,
  token: string,
  database?: string[],
): Promise<ClusterView> {
  const pods = await memberPods(clusters, namespace, token);
  const agents = pods.filter((p) => p.role === 'agent');
  let read: Dict | undefined;
  let agencyLeader = '';
  let agencyPool: Record<string, string> = {};
  for (let attempt = 0; attempt < 20 && !read; attempt++) {
    for (const a of agents) {
      const cfg = await call(a.podIP, '/_api/agency/config', token).catch(() => undefined);
      if (cfg?.status === 200 && Object.keys(agencyPool).length === 0)
        agencyPool = d(d(cfg.body).configuration).pool as Record<string, string>;
      const r = await call(a.podIP, '/_api/agency/read', token, {
        method: 'POST',
        body: [['/arango/Plan', '/arango/Current', '/arango/Supervision/Health']],
      }).catch(() => undefined);
      if (r?.status === 200 && Array.isArray(r.body)) {
        read = d(d(r.body[0]).arango);
        agencyLeader = a.pod;
        const leaderCfg = await call(a.podIP, '/_api/agency/config', token).catch(() => undefined);
        if (leaderCfg?.status === 200) agencyPool = d(d(leaderCfg.body).configuration).pool as Record<string, string>;
        break;
      }
    }
    if (!read) await new Promise((r) => setTimeout(r, 500));
  }
  if (!read)
    throw new Error(
      `no agent pod answered an agency read (agents: ${agents.map((a) => `${a.pod}@${a.podIP}`).join(', ')})`,
    );
  const plan = d(read.Plan);
  const current = d(read.Current);
  const shards: ShardView[] = [];
  for (const [db, colls] of Object.entries(d(plan.Collections))) {
    if (database && !database.includes(db)) continue;
    for (const [cid, coll] of Object.entries(d(colls))) {
      for (const [shard, servers] of Object.entries(d(d(coll).shards))) {
        const cur = d(d(d(d(current.Collections)[db])[cid])[shard]).servers;
        shards.push({
          database: db,
          collection: String(d(coll).name),
          shard,
          plan: (servers as string[]).map(String),
          current: Array.isArray(cur) ? cur.map(String) : [],
        });
      }
    }
  }
  return {
    pods,
    agencyPool,
    dbServers: Object.keys(d(plan.DBServers)),
    coordinators: Object.keys(d(plan.Coordinators)),
    shards,
    health: d(d(read.Supervision).Health) as ClusterView['health'],
    agencyLeader,
  };
}

/**
 * Every way the cluster is not entirely in `region`: a shard server (Plan or Current) or a member (agency pool,
 * Plan/DBServers, Plan/Coordinators) that no running pod answers for, or whose pod is listed by the other
 * cluster or has an address outside `region`'s pod range; a shard without Current or not in sync.
 */
export function placementProblems(view: ClusterView, region: Region): string[] {
  const problems: string[] = [];
  const byId = new Map<string, MemberPod[]>();
  for (const p of view.pods) if (p.id) byId.set(p.id, [...(byId.get(p.id) ?? []), p]);
  const where = (id: string, what: string): void => {
    const ps = byId.get(strip(id));
    if (!ps?.length) {
      problems.push(`${what} ${id}: no running member pod answers for it`);
      return;
    }
    for (const p of ps) {
      if (p.cluster !== region || p.ipRegion !== region)
        problems.push(
          `${what} ${id}: pod ${p.pod} ${p.podIP} in the ${p.cluster} cluster (address in ${p.ipRegion ?? 'no'} pod range), expected ${region}`,
        );
    }
  };
  for (const id of Object.keys(view.agencyPool)) where(id, 'agent');
  if (Object.keys(view.agencyPool).length === 0) problems.push('agency pool unknown');
  for (const id of view.dbServers) where(id, 'DB server');
  for (const id of view.coordinators) where(id, 'coordinator');
  for (const s of view.shards) {
    const name = `${s.database}/${s.collection}/${s.shard}`;
    if (!s.current.length) problems.push(`${name}: no Current entry`);
    else if (s.current[0] !== s.plan[0] || [...s.current].sort().join() !== [...s.plan].sort().join())
      problems.push(`${name}: Plan ${JSON.stringify(s.plan)} ≠ Current ${JSON.stringify(s.current)}`);
    for (const id of s.plan) where(id, `${name} Plan server`);
    for (const id of s.current) where(id, `${name} Current server`);
  }
  return [...new Set(problems)];
}

/** A short summary for printing: members and shard servers per region. */
export function placementSummary(view: ClusterView): Record<string, unknown> {
  const regionOf = new Map(view.pods.map((p) => [p.id, p.ipRegion ?? '?']));
  const count = (ids: string[]): Record<string, number> =>
    ids.reduce(
      (a, id) => ({ ...a, [regionOf.get(strip(id)) ?? 'none']: (a[regionOf.get(strip(id)) ?? 'none'] ?? 0) + 1 }),
      {} as Record<string, number>,
    );
  return {
    agents: count(Object.keys(view.agencyPool)),
    dbServers: count(view.dbServers),
    coordinators: count(view.coordinators),
    shardServersPlan: count(view.shards.flatMap((s) => s.plan)),
    shardServersCurrent: count(view.shards.flatMap((s) => s.current)),
    shards: view.shards.length,
    pods: view.pods.map((p) => `${p.cluster}:${p.role}:${p.podIP}`).sort(),
    agencyReadFrom: view.agencyLeader,
  };
}
