// Each shard is verified before its last source copy goes (src/workflows/job-engine.ts nextMoveVerified,
// src/activities/agency/verify.ts), on the simulator (members as processes) through the real agency activities.
// What a skeptic wants shown, read from the cluster itself (the agency's Plan and Target/Finished, and the DB
// servers' own counts), not from Transit's report:
//  - under writes, every group with replicationFactor ≥ 2 was compared while both copies were in Plan, before the
//    MoveShard job that removed its last source copy was even created, and the two DB servers' own counts agreed;
//    replicationFactor-1 groups too: their collection is raised to 2 while they move (supervision adds a follower),
//    compared like the others, and set back to 1 (supervision removes the extra copy) — read back from Plan;
//  - the twin: one document silently corrupted on a target copy (test-only sim hook) parks the migration naming
//    the shard, and the source copy is still in Plan — for replicationFactor 2 and for replicationFactor 1; a copy that keeps changing parks after the bound, saying so.
// Verification costs are printed (FIGURE lines), never asserted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nextMove, nextMoveVerified } from '../src/workflows/job-engine';
import { sameServers } from '../src/workflows/shard-mover';
import { ContinuousWriter, arangoDb, arangoRef, simActivities, startSim, type SimCluster } from './harness/sim';
import { startEngine, type EngineRun } from './harness/engine';
import { TOPOLOGY, addNewServers, stopAndCheck } from './harness/migrate';
import { agencyAt as agency, transitLeftovers as leftovers } from './harness/failover';

type Dict = Record<string, unknown>;
const d = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});
const fig = (name: string, value: unknown) =>
  console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

/** A collection's Plan entry, by name. */
async function planCollection(c: SimCluster, db: string, name: string): Promise<Dict> {
  return d(
    Object.values(d(await agency(c, `/arango/Plan/Collections/${db}`)))
      .map(d)
      .find((x) => x.name === name),
  );
}

/**
 * A beforeStep hook for the twins: before the first verification that finds a copy of `shard` on a target server in
 * sync (Current), one document of that copy is changed on that server only (test-only sim hook).
 */
function corruptOnce(
  c: SimCluster,
  collectionId: string,
  shard: string,
  targets: string[],
  /**
   * Only a copy on these servers (default: any target). The replicationFactor-1 twin names the group's desired
   * server: the temporary second copy supervision adds may sit on another new server and be replaced before the
   * comparison — corrupting that one proved nothing (CI once saw the engine finish without parking).
   */
  on?: () => string[] | undefined,
): { beforeStep: (what: string) => Promise<void>; corrupted: () => { server: string; key: string } | null } {
  let corrupted: { server: string; key: string } | null = null;
  return {
    corrupted: () => corrupted,
    beforeStep: async (what) => {
      if (corrupted || !what.startsWith('verifyShardCopies')) return;
      const current = d(await agency(c, `/arango/Current/Collections/shop/${collectionId}/${shard}`));
      const where = on?.() ?? targets;
      const onTarget = ((current.servers as string[]) ?? []).find((s) => where.includes(s));
      if (!onTarget) return;
      const m = c.dbServers.find((x) => x.id === onTarget)!;
      const r = await fetch(`${m.url}/_db/shop/_api/sim/test/corrupt/${shard}`, {
        method: 'POST',
        headers: { authorization: `bearer ${c.jwt()}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(r.status, 200, 'the test hook corrupted a document');
      corrupted = { server: onTarget, key: String(d(await r.json())._key) };
    },
  };
}

/** The engine's park message once it parks, or null after `ms`. */
async function parkedWithin(e: EngineRun, ms: number): Promise<string | null> {
  const started = Date.now();
  while (!e.parked() && Date.now() - started < ms) await new Promise((r) => setTimeout(r, 200));
  return e.parked();
}

describe('nextMoveVerified (pure)', () => {
  type Move = Extract<ReturnType<typeof nextMove>, { kind: 'move' }>;
  // The effect of a MoveShard job on Plan, as MoveShard::pendingLeader/pendingFollower leave it.
  const apply = (cur: string[], m: Move): string[] => {
    if (!m.isLeader) return [...cur.filter((s) => s !== m.fromServer), m.toServer];
    const rest = cur.filter((s) => s !== m.fromServer && s !== m.toServer);
    return [m.toServer, ...rest, ...(m.remainsFollower ? [m.fromServer] : [])];
  };

  test('never switches leadership away from a source copy or removes the last one before the group is verified', () => {
    const pool = ['a', 'b', 'c', 'x', 'y', 'z'];
    let cases = 0;
    for (let rf = 1; rf <= 3; rf++) {
      for (let i = 0; i < 400; i++) {
        const shuffled = [...pool].sort(() => Math.random() - 0.5);
        const from = shuffled.slice(0, rf);
        const to = [...pool].sort(() => Math.random() - 0.5).slice(0, rf);
        let cur = [...from];
        let verified = false;
        let unverifiable = false;
        let jobs = 0;
        for (let step = 0; step < 10 && !sameServers(cur, to); step++) {
          const n = nextMoveVerified(cur, to, verified);
          const isSource = (s: string) => !to.includes(s);
          if (n.kind === 'verify') {
            assert.ok(cur.includes(n.source) && isSource(n.source), `${JSON.stringify(n)} on ${JSON.stringify(cur)}`);
            assert.ok(cur.includes(n.target) && !isSource(n.target));
            verified = true;
            continue;
          }
          assert.equal(n.kind, 'move', `${JSON.stringify(cur)} → ${JSON.stringify(to)}: ${JSON.stringify(n)}`);
          const m = n as Move & { unverifiable?: true };
          const switches = m.isLeader && isSource(m.fromServer);
          const removesLast = !m.remainsFollower && isSource(m.fromServer) && cur.filter(isSource).length === 1;
          if ((switches || removesLast) && !verified) {
            // Only when no target copy exists to compare with: a single-copy group.
            assert.ok(
              m.unverifiable,
              `unverified ${JSON.stringify(m)} on ${JSON.stringify(cur)} → ${JSON.stringify(to)}`,
            );
            assert.equal(cur.filter((s) => !isSource(s)).length, 0);
            unverifiable = true;
          }
          if (m.isLeader && cur.includes(m.toServer)) assert.equal(m.remainsFollower, true);
          cur = apply(cur, m);
          assert.ok(cur.length <= rf, 'a finished job leaves replicationFactor copies');
          jobs++;
        }
        assert.ok(sameServers(cur, to), `${JSON.stringify(from)} → ${JSON.stringify(to)} did not converge`);
        assert.ok(jobs <= rf + 1, `${JSON.stringify(from)} → ${JSON.stringify(to)} took ${jobs} jobs`);
        // Groups that keep no source server need a check; only single-copy ones may go without.
        if (from.every((s) => !to.includes(s)) && rf > 1) assert.ok(verified && !unverifiable);
        cases++;
      }
    }
    assert.ok(cases > 1000);
  });

  test('replicationFactor 2 moves the new leader in as a follower first, and checks it against the source leader', () => {
    assert.deepEqual(nextMoveVerified(['a', 'b'], ['x', 'y'], false), {
      kind: 'move',
      fromServer: 'b',
      toServer: 'x',
      isLeader: false,
      remainsFollower: false,
    });
    assert.deepEqual(nextMoveVerified(['a', 'x'], ['x', 'y'], false), { kind: 'verify', source: 'a', target: 'x' });
    assert.deepEqual(nextMoveVerified(['a', 'x'], ['x', 'y'], true), {
      kind: 'move',
      fromServer: 'a',
      toServer: 'x',
      isLeader: true,
      remainsFollower: true,
    });
    const single = nextMoveVerified(['a'], ['x'], false);
    assert.equal(single.kind === 'move' && 'unverifiable' in single && single.unverifiable, true);
  });

  test('a raised replicationFactor-1 group (one extra copy allowed) moves as a two-copy group and ends verified with the extra copy left to supervision', () => {
    // [source leader, follower supervision added] → the new copy joins in the follower's place, is compared, takes over.
    assert.deepEqual(nextMoveVerified(['a', 'f'], ['x'], false, 1), {
      kind: 'move',
      fromServer: 'f',
      toServer: 'x',
      isLeader: false,
      remainsFollower: false,
    });
    assert.deepEqual(nextMoveVerified(['a', 'x'], ['x'], false, 1), { kind: 'verify', source: 'a', target: 'x' });
    assert.deepEqual(nextMoveVerified(['a', 'x'], ['x'], true, 1), {
      kind: 'move',
      fromServer: 'a',
      toServer: 'x',
      isLeader: true,
      remainsFollower: true,
    });
    // Leader swapped after the check: done; the source copy goes when the factor is set back (RemoveFollower).
    assert.deepEqual(nextMoveVerified(['x', 'a'], ['x'], true, 1), { kind: 'done' });
    // Leader on the desired server but never compared (e.g. a failover switched it): compare first.
    assert.deepEqual(nextMoveVerified(['x', 'a'], ['x'], false, 1), { kind: 'verify', source: 'a', target: 'x' });
    // The leader never moved (a rollback of a group that had not switched): the extra copy may go unverified.
    assert.deepEqual(nextMoveVerified(['a', 'x'], ['a'], false, 1, true), { kind: 'done' });
  });
});

/** Plan servers of every prototype shard (stripped of the resign mark), read from the agency. */
async function planOf(c: SimCluster, db: string): Promise<Map<string, string[]>> {
  const cols = d(await agency(c, `/arango/Plan/Collections/${db}`));
  const out = new Map<string, string[]>();
  for (const col of Object.values(cols).map(d))
    for (const [shard, servers] of Object.entries(d(col.shards)))
      out.set(
        shard,
        (servers as string[]).map((s) => s.replace(/^_/, '')),
      );
  return out;
}

/** A DB server's own count of its copy of a shard (the test's own HTTP call, with the cluster JWT). */
async function countOn(c: SimCluster, serverId: string, db: string, shard: string): Promise<number> {
  const m = c.dbServers.find((x) => x.id === serverId);
  assert.ok(m, `no DB server ${serverId}`);
  const r = await fetch(`${m.url}/_db/${db}/_api/collection/${shard}/count`, {
    headers: { authorization: `bearer ${c.jwt()}` },
  });
  assert.equal(r.status, 200, `count of ${shard} on ${serverId}`);
  return Number(d(await r.json()).count);
}

describe('verify each shard before its last source copy goes (simulated cluster, members as processes)', () => {
  test('under writes: every group with a second copy compared in Plan before the job that removed its last source copy; nothing lost', async () => {
    process.env.TRANSIT_SIM_TEST_HOOKS = '1';
    const c = await startSim(TOPOLOGY, { processes: true });
    // Stopped in `finally` too: a failing test must not leave writers or an engine running (the process would not exit).
    let ws: ContinuousWriter[] = [];
    let engine: EngineRun | undefined;
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      const olds = c.dbServers.map((m) => m.id);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      ws = [
        new ContinuousWriter(arangoDb(c, 'shop'), 'orders', 2),
        new ContinuousWriter(arangoDb(c, 'shop', c.coordinators[1]!.url), 'single', 2),
        new ContinuousWriter(arangoDb(c, 'shop'), 'strict', 1),
      ];
      const targets = await addNewServers(c, simActivities(), ref);
      const rfOf = new Map<string, number>();
      for (const col of Object.values(d(await agency(c, '/arango/Plan/Collections/shop'))).map(d))
        if (!col.distributeShardsLike)
          for (const shard of Object.keys(d(col.shards))) rfOf.set(shard, Number(col.replicationFactor));

      // What the cluster looked like at each verification: read by the test at the moment the engine logs it.
      const seen: Promise<{
        shard: string;
        source: string;
        target: string;
        at: number;
        plan: string[];
        counts: [number, number];
        ms: number;
      }>[] = [];
      const unverifiable: string[] = [];
      const e = (engine = await startEngine(c, {
        targets,
        concurrency: 8,
        // replicationFactor-1 groups verified too: their collection is raised to 2 while they move (the workflow's default).
        raise: true,
        onLog: (msg, meta) => {
          if (msg === 'shard group cannot be verified before its source copy goes')
            unverifiable.push(String(meta?.shard).split('/')[2]!.split(' ')[0]!);
          if (msg !== 'shard group verified') return;
          const at = Date.now();
          const shard = String(meta!.shard).split('/')[2]!.split(' ')[0]!;
          const source = String(meta!.source);
          const target = String(meta!.target);
          seen.push(
            (async () => {
              const plan = (await planOf(c, 'shop')).get(shard) ?? [];
              // Each DB server's own count; writes in flight may differ for a moment: a few tries.
              let counts: [number, number] = [-1, -2];
              for (let i = 0; i < 20 && counts[0] !== counts[1]; i++) {
                counts = await Promise.all([countOn(c, source, 'shop', shard), countOn(c, target, 'shop', shard)]);
                if (counts[0] !== counts[1]) await new Promise((r) => setTimeout(r, 100));
              }
              return { shard, source, target, at, plan, counts, ms: Number(meta!.ms) };
            })(),
          );
        },
      }));
      assert.equal(await e.done, 'done');
      await act.verifyConvergence({ arango: ref, mustNotHold: olds });
      const { acked, missing } = await stopAndCheck(c, ws);
      assert.ok(acked > 0);
      assert.deepEqual(missing, [], 'acknowledged writes lost');
      assert.deepEqual(await leftovers(c), { locks: {}, openJobs: [] });
      fig(
        'client writes during the migration with verification (simulated): attempts, failed (orders, single, strict)',
        ws.map((w) => [w.attempts, w.errors.length]),
      );
      for (const w of ws) if (w.errors.length) console.log(`failed writes, first: ${w.errors.slice(0, 3).join(' | ')}`);

      const checks = await Promise.all(seen);
      // The jobs of Transit's that supervision finished, from Target/Finished.
      const finished = Object.values(d(await agency(c, '/arango/Target/Finished')))
        .map(d)
        .filter((j) => j.creator === 'transit-engine-test');
      const multi = [...rfOf].filter(([, rf]) => rf >= 2).map(([s]) => s);
      const single = [...rfOf].filter(([, rf]) => rf === 1).map(([s]) => s);
      assert.equal(multi.length, 8);
      assert.equal(single.length, 2);
      for (const shard of [...multi, ...single]) {
        const v = checks.filter((x) => x.shard === shard);
        assert.equal(v.length, 1, `${shard}: verified once`);
        const { source, target, plan, counts, at } = v[0]!;
        assert.ok(olds.includes(source) && targets.includes(target), `${shard}: ${source} (source) vs ${target}`);
        assert.ok(
          plan.includes(source) && plan.includes(target),
          `${shard}: both copies in Plan ${JSON.stringify(plan)}`,
        );
        assert.equal(counts[0], counts[1], `${shard}: the DB servers' own counts agree`);
        // The job that removed the shard's last source copy: the last of its jobs moving away from a source
        // server. It was created after the verification.
        // replicationFactor 1: supervision's RemoveFollower (after the factor was set back) removed it.
        const jobs = (
          rfOf.get(shard) === 1
            ? Object.values(d(await agency(c, '/arango/Target/Finished')))
                .map(d)
                .filter(
                  (j) =>
                    j.type === 'removeFollower' &&
                    j.shard === shard &&
                    (j.removed as string[]).some((x) => olds.includes(x)),
                )
            : finished.filter(
                (j) => j.shard === shard && olds.includes(String(j.fromServer)) && j.remainsFollower !== true,
              )
        ).sort((a, b) => Date.parse(String(a.timeCreated)) - Date.parse(String(b.timeCreated)));
        assert.ok(jobs.length >= 1, `${shard}: jobs ${JSON.stringify(jobs)}`);
        const last = jobs[jobs.length - 1]!;
        assert.ok(Date.parse(String(last.timeCreated)) >= at - 50, `${shard}: removal job created after the check`);
        // Leadership left the source only after the check too (a leader swap to the verified copy).
        const swap = finished.find((j) => j.shard === shard && j.isLeader === true);
        assert.ok(
          swap && swap.toServer === target && swap.remainsFollower === true,
          `${shard}: ${JSON.stringify(swap)}`,
        );
        assert.ok(Date.parse(String(swap.timeCreated)) >= at - 50, `${shard}: leader swap after the check`);
      }
      assert.deepEqual(unverifiable, [], 'every group verified, replicationFactor-1 ones included');
      // From the cluster itself: 'single' is back to replicationFactor 1 (Plan and the coordinator's properties), each
      // of its shards has exactly one copy, on a new server, and no raise is left in Transit's state.
      const singleCol = Object.values(d(await agency(c, '/arango/Plan/Collections/shop')))
        .map(d)
        .find((x) => x.name === 'single')!;
      assert.equal(singleCol.replicationFactor, 1, 'replicationFactor back to 1 in Plan');
      const props = await arangoDb(c, 'shop').collection('single').properties();
      assert.equal(props.replicationFactor, 1, 'the coordinator reports replicationFactor 1');
      const planNow = await planOf(c, 'shop');
      for (const shard of single) {
        const p = planNow.get(shard)!;
        assert.equal(p.length, 1, `${shard}: one copy in Plan ${JSON.stringify(p)}`);
        assert.ok(targets.includes(p[0]!), `${shard}: on a new server ${JSON.stringify(p)}`);
      }
      assert.deepEqual(e.state.raisedReplication ?? [], [], 'no raise left');
      const raiseJobs = Object.values(d(await agency(c, '/arango/Target/Finished')))
        .map(d)
        .filter((j) => single.includes(String(j.shard)) && ['addFollower', 'removeFollower'].includes(String(j.type)));
      fig(
        'supervision jobs on replicationFactor-1 shards (raise, restore)',
        raiseJobs.map((j) => `${String(j.type)}:${String(j.shard)}`),
      );
      fig('extra bytes copied for the temporary second copies (simulated)', e.state.shards?.verification?.extraBytes);
      const ms = checks.map((x) => x.ms).sort((a, b) => a - b);
      fig('verification per shard group under writes (simulated), ms: median, max, groups', [
        ms[Math.floor(ms.length / 2)],
        ms[ms.length - 1],
        ms.length,
      ]);
      fig(
        'documents per verified group at the check (simulated)',
        checks.map((x) => `${x.shard}:${x.counts[0]}`),
      );
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
      await engine?.kill();
      await c.stop();
    }
  });

  test('copies that keep differing in new ways park after the bound ("did not agree"), the source copy kept', async () => {
    process.env.TRANSIT_SIM_TEST_HOOKS = '1';
    const c = await startSim(TOPOLOGY, { processes: true });
    let stop = false;
    let loop: Promise<void> = Promise.resolve();
    const ws: ContinuousWriter[] = [];
    let engine: EngineRun | undefined;
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const targets = await addNewServers(c, simActivities(), ref);
      const orders = await planCollection(c, 'shop', 'orders');
      const victim = Object.keys(d(orders.shards)).sort()[0]!;
      let changes = 0;
      const e = (engine = await startEngine(c, {
        targets,
        concurrency: 8,
        beforeStep: async (what) => {
          if (changes > 0 || !what.startsWith('verifyShardCopies')) return;
          const current = d(await agency(c, `/arango/Current/Collections/shop/${String(orders.id)}/${victim}`));
          const onTarget = ((current.servers as string[]) ?? []).find((s) => targets.includes(s));
          if (!onTarget) return;
          const m = c.dbServers.find((x) => x.id === onTarget)!;
          // A copy that keeps changing on its own (a document rewritten every 100 ms on this copy only): no two
          // comparisons see the same difference, so neither a match nor a stable mismatch comes within the bound.
          const corrupt = () =>
            fetch(`${m.url}/_db/shop/_api/sim/test/corrupt/${victim}`, {
              method: 'POST',
              headers: { authorization: `bearer ${c.jwt()}`, 'content-type': 'application/json' },
              body: JSON.stringify({ nth: changes++ }),
            });
          assert.equal((await corrupt()).status, 200);
          loop = (async () => {
            while (!stop) {
              await new Promise((r) => setTimeout(r, 100));
              await corrupt().catch(() => undefined);
            }
          })();
        },
      }));
      const parked = await parkedWithin(e, 240_000);
      stop = true;
      await loop;
      assert.ok(changes > 0, 'a target copy of the victim kept changing');
      assert.ok(parked, 'the engine parked');
      assert.match(parked, new RegExp(`${victim}\\b`), 'the message names the shard');
      assert.match(parked, /did not agree within 20 comparisons/);
      assert.match(parked, /source copy is kept/);
      fig('parked with', parked);
      const plan = (await planOf(c, 'shop')).get(victim)!;
      assert.ok(!targets.includes(plan[0]!), `the source copy still leads: ${JSON.stringify(plan)}`);
      await e.kill();
    } finally {
      stop = true;
      await loop;
      await Promise.all(ws.map((w) => w.stop()));
      await engine?.kill();
      await c.stop();
    }
  });

  test('twin: a document corrupted on a target copy parks the migration naming the shard; the source copy stays in Plan', async () => {
    process.env.TRANSIT_SIM_TEST_HOOKS = '1';
    const c = await startSim(TOPOLOGY, { processes: true });
    // Stopped in `finally` too: a failing test must not leave writers or an engine running (the process would not exit).
    let ws: ContinuousWriter[] = [];
    let engine: EngineRun | undefined;
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      ws = [new ContinuousWriter(arangoDb(c, 'shop'), 'orders', 2)];
      const targets = await addNewServers(c, simActivities(), ref);
      // The victim: the first 'orders' shard (replicationFactor 2). Before the first verification that finds one of
      // its copies on a new server in sync, one of its documents is changed on that copy only.
      const orders = await planCollection(c, 'shop', 'orders');
      const victim = Object.keys(d(orders.shards)).sort()[0]!;
      const corrupt = corruptOnce(c, String(orders.id), victim, targets);
      const e = (engine = await startEngine(c, {
        targets,
        concurrency: 8,
        beforeStep: corrupt.beforeStep,
      }));
      const parked = await parkedWithin(e, 240_000);
      const corrupted = corrupt.corrupted();
      assert.ok(corrupted, 'a target copy of the victim was corrupted before a verification');
      assert.ok(parked, 'the engine parked');
      assert.match(parked, new RegExp(`${victim}\\b`), 'the message names the shard');
      assert.match(parked, /differs from the source copy/);
      assert.match(parked, /source copy is kept/);
      fig('parked with', parked);
      // Give supervision a few rounds: the source copies stay in Plan, and leadership never left the source.
      await new Promise((r) => setTimeout(r, 3000));
      const plan = (await planOf(c, 'shop')).get(victim)!;
      const olds = c.dbServers.map((m) => m.id).filter((id) => !targets.includes(id));
      assert.ok(olds.includes(plan[0]!), `the source copy still leads: ${JSON.stringify(plan)}`);
      assert.ok(plan.includes(corrupted!.server), `the corrupted target copy is in Plan too: ${JSON.stringify(plan)}`);
      const { missing } = await stopAndCheck(c, ws);
      assert.deepEqual(missing, [], 'acknowledged writes lost');
      await e.kill();
    } finally {
      await Promise.all(ws.map((w) => w.stop()));
      await engine?.kill();
      await c.stop();
    }
  });

  test('twin, replicationFactor 1: a document corrupted on the target copy parks naming the shard; the source copy stays', async () => {
    process.env.TRANSIT_SIM_TEST_HOOKS = '1';
    const topology = {
      ...TOPOLOGY,
      databases: [
        { name: 'shop', collections: [TOPOLOGY.databases[0]!.collections.find((x) => x.name === 'single')!] },
      ],
    };
    const c = await startSim(topology, { processes: true });
    let engine: EngineRun | undefined;
    try {
      const act = simActivities();
      const ref = arangoRef(c);
      await act.neutraliseAutoShrink({ arango: ref, atLeast: 6 });
      const olds = c.dbServers.map((m) => m.id);
      const targets = await addNewServers(c, simActivities(), ref);
      const single = await planCollection(c, 'shop', 'single');
      const victim = Object.keys(d(single.shards)).sort()[0]!;
      const corrupt = corruptOnce(c, String(single.id), victim, targets, () => engine?.desiredOf(victim));
      const e = (engine = await startEngine(c, {
        targets,
        concurrency: 8,
        raise: true,
        beforeStep: corrupt.beforeStep,
      }));
      const parked = await parkedWithin(e, 120_000);
      const corrupted = corrupt.corrupted();
      assert.ok(corrupted, 'the target copy of the replicationFactor-1 victim was corrupted before a verification');
      assert.ok(parked, 'the engine parked');
      assert.match(parked, new RegExp(`${victim}\\b`), 'the message names the shard');
      assert.match(parked, /differs from the source copy/);
      assert.match(parked, /source copy is kept/);
      fig('parked with (replicationFactor 1)', parked);
      await new Promise((r) => setTimeout(r, 2000));
      const plan = (await planOf(c, 'shop')).get(victim)!;
      assert.ok(olds.includes(plan[0]!), `the source copy still leads: ${JSON.stringify(plan)}`);
      assert.equal(await countOn(c, plan[0]!, 'shop', victim), 40, 'the source copy still holds every document');
      // Still raised while parked (the source copy must not go): recorded in the state for resume or rollback.
      assert.deepEqual(
        (e.state.raisedReplication ?? []).map((r) => [r.name, r.original, r.raised]),
        [['single', 1, 2]],
      );
      await e.kill();
    } finally {
      await engine?.kill();
      await c.stop();
    }
  });
});
