// Cluster-level checks and waits: health, registration of new members, the auto-shrink trap, agent replacement
// checks, removing a drained server, and the convergence check before every irreversible step.
import type { AutoShrinkSetting, ClusterHealth, RegisteredServer, ServerInfo, ServerStatus } from '../agency-types';
import type { ArangoClient } from './client';
import { endpointKey } from './client';
import {
  AgencyPreconditionFailedError,
  AgencyUnstableError,
  AgentNotReplaceableError,
  InvariantViolationError,
  ServerNotRemovableError,
  WaitTimeoutError,
} from './errors';
import { asDict, asStrings, at, isTransitLock, strip, type Dict } from './paths';
import type { Waits } from './waits';

const status = (s: unknown): ServerStatus => (s === 'GOOD' || s === 'BAD' || s === 'FAILED' ? s : 'UNCLEAR');

export async function checkClusterHealth(client: ArangoClient): Promise<ClusterHealth> {
  const h = asDict((await client.coordinatorJson('GET', '/_admin/cluster/health')).Health);
  const dbServers: ServerInfo[] = [];
  const coordinators: ServerInfo[] = [];
  const agents: ClusterHealth['agents'] = [];
  const problems: string[] = [];
  for (const [id, raw] of Object.entries(h).sort(([a], [b]) => a.localeCompare(b))) {
    const e = asDict(raw);
    const info: ServerInfo = {
      id,
      shortName: String(e.ShortName ?? ''),
      endpoint: String(e.Endpoint ?? ''),
      status: status(e.Status),
    };
    if (e.Role === 'DBServer') dbServers.push(info);
    else if (e.Role === 'Coordinator') coordinators.push(info);
    else if (e.Role === 'Agent') {
      const cfg = await client.agentConfig(client.mapUrl(info.endpoint), 2000);
      agents.push({
        id,
        endpoint: info.endpoint,
        leader: e.Leading === true || (cfg ? cfg.leaderId === id : false),
        ...(cfg ? { commitIndex: Number(cfg.commitIndex) } : {}),
      });
      if (!cfg || e.Status !== 'GOOD') problems.push(`agent ${id} (${info.endpoint}) is not responding`);
      continue;
    } else continue;
    if (info.status !== 'GOOD') problems.push(`${e.Role} ${id} (${info.shortName || info.endpoint}) is ${info.status}`);
    else if (e.SyncStatus !== undefined && e.SyncStatus !== 'SERVING')
      problems.push(`${e.Role} ${id} is ${String(e.SyncStatus)}`);
  }
  const leaders = agents.filter((a) => a.leader);
  if (leaders.length !== 1) problems.push(`the agency has ${leaders.length} leaders`);
  const m = await client
    .coordinatorJson('GET', '/_admin/cluster/maintenance')
    .catch(() => ({ result: 'Normal' }) as Dict);
  const maintenance = m.result !== undefined && m.result !== 'Normal';
  if (maintenance)
    problems.push('supervision is in maintenance mode: moveShard, failover and cleanOutServer are stopped');
  return { healthy: problems.length === 0, problems, dbServers, coordinators, agents, maintenance };
}

export async function waitForServerRegistered(
  client: ArangoClient,
  waits: Waits,
  a: { endpoints: string[]; timeoutSeconds: number },
  pollMs: number,
): Promise<{ servers: RegisteredServer[] }> {
  const deadline = waits.now() + a.timeoutSeconds * 1000;
  for (;;) {
    waits.throwIfCancelled();
    const read = await client.agencyRead([
      '/arango/Current/ServersRegistered',
      '/arango/Target/MapUniqueToShortID',
      '/arango/Supervision/Health',
    ]);
    const reg = asDict(at(read, '/arango/Current/ServersRegistered'));
    const found: RegisteredServer[] = [];
    const missing: string[] = [];
    for (const ep of a.endpoints) {
      const id = Object.keys(reg).find(
        (k) =>
          typeof asDict(reg[k]).endpoint === 'string' &&
          endpointKey(String(asDict(reg[k]).endpoint)) === endpointKey(ep),
      );
      const ok =
        id &&
        (id.startsWith('PRMR-') || id.startsWith('CRDN-')) &&
        at(read, `/arango/Supervision/Health/${id}/Status`) === 'GOOD';
      if (!ok) {
        missing.push(id ? `${ep} (${id}, not GOOD yet)` : `${ep} (not registered)`);
        continue;
      }
      found.push({
        endpoint: ep,
        id: id!,
        shortName: String(asDict(at(read, `/arango/Target/MapUniqueToShortID/${id}`)).ShortName ?? ''),
        role: id!.startsWith('PRMR-') ? 'dbserver' : 'coordinator',
      });
    }
    waits.heartbeat({ registered: found.length, of: a.endpoints.length });
    if (missing.length === 0) return { servers: found };
    if (waits.now() > deadline)
      throw new WaitTimeoutError(`servers did not register within ${a.timeoutSeconds} s: ${missing.join(', ')}`, {
        missing,
      });
    await waits.sleep(pollMs);
  }
}

/** Where neutraliseAutoShrink records what it found, outside /arango, so retries and rollback see the original. */
export const AUTO_SHRINK_RECORD = '/transit/autoShrink';

export async function neutraliseAutoShrink(
  client: ArangoClient,
  atLeast: number,
): Promise<{ previous: AutoShrinkSetting }> {
  for (let round = 0; round < 5; round++) {
    const read = await client.agencyRead([
      '/arango/Target/NumberOfDBServers',
      '/arango/Target/NumberOfCoordinators',
      AUTO_SHRINK_RECORD,
    ]);
    const cur = at(read, '/arango/Target/NumberOfDBServers');
    const record = asDict(at(read, AUTO_SHRINK_RECORD));
    const previous: AutoShrinkSetting = record.previous
      ? (record.previous as AutoShrinkSetting)
      : {
          numberOfDBServers: typeof cur === 'number' ? cur : null,
          numberOfCoordinators:
            typeof at(read, '/arango/Target/NumberOfCoordinators') === 'number'
              ? (at(read, '/arango/Target/NumberOfCoordinators') as number)
              : null,
        };
    const needsSet = typeof cur === 'number' && cur < atLeast;
    if (record.previous && !needsSet) return { previous };
    const ops: Dict = {};
    const pre: Dict = {};
    if (!record.previous) {
      ops[AUTO_SHRINK_RECORD] = { previous, setAt: new Date().toISOString() };
      pre[AUTO_SHRINK_RECORD] = { oldEmpty: true };
    }
    if (needsSet) {
      ops['/arango/Target/NumberOfDBServers'] = atLeast;
      pre['/arango/Target/NumberOfDBServers'] = { old: cur };
    }
    const [r] = await client.agencyWrite([[ops, pre]]);
    if (r > 0) return { previous };
  }
  throw new AgencyPreconditionFailedError('neutraliseAutoShrink: Target/NumberOfDBServers kept changing; retry');
}

export async function restoreAutoShrink(client: ArangoClient, previous: AutoShrinkSetting): Promise<void> {
  const ops: Dict = {
    '/arango/Target/NumberOfDBServers': previous.numberOfDBServers,
    '/arango/Target/NumberOfCoordinators': previous.numberOfCoordinators,
    [AUTO_SHRINK_RECORD]: { op: 'delete' },
  };
  await client.agencyWrite([[ops]]);
}

interface AgentView {
  id: string;
  url: string;
  cfg?: Dict;
}

async function agencyViews(client: ArangoClient): Promise<{ pool: Record<string, string>; views: AgentView[] }> {
  let pool: Record<string, string> = {};
  for (const url of await client.agentUrls(true)) {
    const c = await client.agentConfig(url);
    const p = asDict(asDict(c?.configuration).pool);
    if (Object.keys(p).length) {
      pool = p as Record<string, string>;
      break;
    }
  }
  if (Object.keys(pool).length === 0) throw new AgencyUnstableError('no agent answered /_api/agency/config');
  const views = await Promise.all(
    Object.entries(pool).map(async ([id, ep]) => ({
      id,
      url: client.mapUrl(ep),
      cfg: await client.agentConfig(client.mapUrl(ep), 2000),
    })),
  );
  return { pool, views };
}

export async function checkAgentReplaceable(client: ArangoClient, waits: Waits, agentId: string): Promise<void> {
  const first = await agencyViews(client);
  if (!first.pool[agentId])
    throw new AgentNotReplaceableError(`${agentId} is not in the agency pool (${Object.keys(first.pool).join(', ')})`);
  await waits.sleep(1000);
  const { pool, views } = await agencyViews(client);
  const size = Object.keys(pool).length;
  const majority = Math.floor(size / 2) + 1;
  const leaders = new Set(views.filter((v) => v.cfg).map((v) => String(v.cfg!.leaderId ?? '')));
  const before = new Set(first.views.filter((v) => v.cfg).map((v) => `${v.cfg!.leaderId}@${v.cfg!.term}`));
  const after = new Set(views.filter((v) => v.cfg).map((v) => `${v.cfg!.leaderId}@${v.cfg!.term}`));
  if (
    leaders.size !== 1 ||
    leaders.has('') ||
    before.size !== 1 ||
    after.size !== 1 ||
    [...before][0] !== [...after][0]
  ) {
    throw new AgencyUnstableError(
      `the agency has no stable leader (leader/term seen: ${[...before, ...after].join(', ')})`,
    );
  }
  const leaderId = [...leaders][0];
  const leader = views.find((v) => v.id === leaderId)?.cfg;
  const acked = asDict(leader?.lastAcked);
  const leaderCommit = Number(leader?.commitIndex ?? 0);
  // Agents that keep the agency going without `agentId`: answering, following the leader, acked recently.
  const healthy = views.filter((v) => {
    if (v.id === agentId || !v.cfg) return false;
    if (v.id === leaderId) return true;
    const ack = asDict(acked[v.id]);
    return Number(ack.lastAckedTime ?? Infinity) < 5 && Number(v.cfg.commitIndex ?? 0) >= leaderCommit - 100;
  });
  if (healthy.length < majority) {
    throw new AgentNotReplaceableError(
      `replacing ${agentId} would lose agency quorum: only ${healthy.length} of the other ${size - 1} agents are up and in sync, ${majority} needed (${views
        .filter((v) => v.id !== agentId)
        .map((v) => `${v.id}: ${v.cfg ? `commitIndex ${v.cfg.commitIndex}` : 'not answering'}`)
        .join(', ')})`,
      { healthy: healthy.map((v) => v.id), needed: majority },
    );
  }
}

export async function waitForAgentCaughtUp(
  client: ArangoClient,
  waits: Waits,
  a: { agentId: string; endpoint: string; timeoutSeconds: number },
  pollMs: number,
): Promise<{ commitIndex: number }> {
  const deadline = waits.now() + a.timeoutSeconds * 1000;
  const url = client.mapUrl(a.endpoint);
  let target = -1;
  let why = '';
  for (;;) {
    waits.throwIfCancelled();
    const mine = await client.agentConfig(url, 2000);
    if (!mine) why = `${a.endpoint} does not answer`;
    else if (asDict(mine.configuration).id !== a.agentId)
      why = `${a.endpoint} is ${String(asDict(mine.configuration).id)}, not ${a.agentId}`;
    else if (!mine.leaderId) why = 'no agency leader known to the new agent';
    else {
      const leaderEp = asDict(asDict(mine.configuration).pool)[String(mine.leaderId)];
      const leader =
        mine.leaderId === a.agentId
          ? mine
          : leaderEp
            ? await client.agentConfig(client.mapUrl(String(leaderEp)), 2000)
            : undefined;
      if (!leader) why = `leader ${String(mine.leaderId)} does not answer`;
      else {
        if (target < 0) target = Number(leader.commitIndex ?? 0);
        const poolEp = String(asDict(asDict(leader.configuration).pool)[a.agentId] ?? '');
        const ack = Number(
          asDict(asDict(leader.lastAcked)[a.agentId]).lastAckedTime ?? (mine.leaderId === a.agentId ? 0 : Infinity),
        );
        if (endpointKey(poolEp) !== endpointKey(a.endpoint))
          why = `the agency pool still has ${a.agentId} at ${poolEp}`;
        else if (Number(mine.commitIndex) < target) why = `commitIndex ${String(mine.commitIndex)} < ${target}`;
        else if (!(ack < 5)) why = `the leader has no recent ack from ${a.agentId}`;
        else return { commitIndex: Number(mine.commitIndex) };
      }
    }
    waits.heartbeat({ waitingFor: why });
    if (waits.now() > deadline)
      throw new WaitTimeoutError(
        `agent ${a.agentId} at ${a.endpoint} did not catch up within ${a.timeoutSeconds} s: ${why}`,
      );
    await waits.sleep(pollMs);
  }
}

function shardUse(read: unknown, serverId: string): string[] {
  const out: string[] = [];
  for (const [db, colls] of Object.entries(asDict(at(read, '/arango/Plan/Collections')))) {
    for (const [cid, c] of Object.entries(asDict(colls))) {
      for (const [shard, list] of Object.entries(asDict(asDict(c).shards))) {
        if (asStrings(list).map(strip).includes(serverId)) out.push(`${db}/${asDict(c).name ?? cid}/${shard} (Plan)`);
      }
    }
  }
  for (const [db, colls] of Object.entries(asDict(at(read, '/arango/Current/Collections')))) {
    for (const [cid, c] of Object.entries(asDict(colls))) {
      for (const [shard, e] of Object.entries(asDict(c))) {
        if (asStrings(asDict(e).servers).map(strip).includes(serverId)) out.push(`${db}/${cid}/${shard} (Current)`);
      }
    }
  }
  return out;
}

export async function removeServer(client: ArangoClient, serverId: string): Promise<'removed' | 'alreadyGone'> {
  const read = await client.agencyRead([
    '/arango/Plan/Collections',
    '/arango/Current/Collections',
    '/arango/Plan/DBServers',
    '/arango/Plan/Coordinators',
    '/arango/Current/ServersRegistered',
  ]);
  const known = ['/arango/Plan/DBServers', '/arango/Plan/Coordinators', '/arango/Current/ServersRegistered'].some(
    (p) => asDict(at(read, p))[serverId] !== undefined,
  );
  if (!known) return 'alreadyGone';
  const used = shardUse(read, serverId);
  if (used.length)
    throw new InvariantViolationError(
      `removeServer ${serverId}: it still holds shards: ${used.slice(0, 10).join(', ')}`,
      used,
    );
  const r = await client.coordinatorCall(
    'POST',
    '/_admin/cluster/removeServer',
    { server: serverId },
    { timeoutMs: 120_000 },
  );
  if (r.status === 200) return 'removed';
  if (r.status === 404) return 'alreadyGone';
  throw new ServerNotRemovableError(
    `removeServer ${serverId}: HTTP ${r.status} ${JSON.stringify(r.body)} (the server must be stopped long enough to be FAILED, hold no shards and no supervision lock)`,
  );
}

export async function verifyConvergence(
  client: ArangoClient,
  mustNotHold: string[] = [],
): Promise<{ shards: number; ok: true }> {
  const read = await client.agencyRead([
    '/arango/Plan/Collections',
    '/arango/Current/Collections',
    '/arango/Target/ToDo',
    '/arango/Target/Pending',
    '/arango/Supervision/Shards',
  ]);
  const offenders: string[] = [];
  let shards = 0;
  const banned = new Set(mustNotHold);
  for (const [db, colls] of Object.entries(asDict(at(read, '/arango/Plan/Collections')))) {
    for (const [cid, c] of Object.entries(asDict(colls))) {
      const name = String(asDict(c).name ?? cid);
      for (const [shard, list] of Object.entries(asDict(asDict(c).shards))) {
        shards += 1;
        const plan = asStrings(list);
        const cur = asDict(at(read, `/arango/Current/Collections/${db}/${cid}/${shard}`));
        const servers = asStrings(cur.servers);
        const same =
          plan.length === servers.length &&
          plan[0] === servers[0] &&
          plan.every((s) => servers.includes(s)) &&
          !plan.some((s) => s.startsWith('_'));
        if (!same)
          offenders.push(`${db}/${name}/${shard}: Plan ${JSON.stringify(plan)} ≠ Current ${JSON.stringify(servers)}`);
        const held = [...plan, ...servers, ...asStrings(cur.failoverCandidates)]
          .map(strip)
          .filter((s) => banned.has(s));
        if (held.length) offenders.push(`${db}/${name}/${shard}: still on ${[...new Set(held)].join(', ')}`);
      }
    }
  }
  for (const q of ['ToDo', 'Pending']) {
    const jobs = asDict(at(read, `/arango/Target/${q}`));
    for (const [id, j] of Object.entries(jobs)) offenders.push(`job ${id} (${String(asDict(j).type)}) is ${q}`);
  }
  for (const [shard, v] of Object.entries(asDict(at(read, '/arango/Supervision/Shards')))) {
    if (isTransitLock(v)) offenders.push(`shard ${shard} still carries Transit's lock ${String(v)}`);
  }
  if (offenders.length) {
    throw new InvariantViolationError(
      `the cluster has not converged (${offenders.length} problem(s)): ${offenders.slice(0, 10).join('; ')}`,
      offenders.slice(0, 50),
    );
  }
  return { shards, ok: true };
}
