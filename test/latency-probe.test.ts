// Client-latency probe activities (src/activities/latency-probe.ts) against the simulated cluster: the canary
// collection is created with a document on every shard and shards on every DB server (read back from the DB
// servers themselves), a window of probes reads and writes through the coordinator and comes back as one compact
// summary, creating and removing the canary are idempotent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLatencyProbeActivities, CANARY_COLLECTION } from '../src/activities/latency-probe';
import { fileCredentialReader } from '../src/activities/agency';
import { MigrationSpec } from '../src/spec/schema';
import { startSim, type SimCluster } from './harness/sim';
import { worldSpec } from './harness/specs';

describe('client-latency probes on the simulator', () => {
  let c: SimCluster;
  before(async () => {
    c = await startSim({ agents: 3, dbServers: 4, coordinators: 1, targetNumberOfDBServers: null, databases: [] });
  });
  after(async () => c?.stop());

  test('canary on every DB server, one window of probes summarised, idempotent create and remove', async () => {
    const spec = MigrationSpec.parse(
      worldSpec({ arango: { endpoint: c.coordinatorUrl, jwtSecret: { file: c.jwtSecretFile } } }),
    );
    const ref = { migrationId: 'm1', spec };
    const p = createLatencyProbeActivities({ readCredential: fileCredentialReader(), region: 'eu' });
    const info = await p.ensureLatencyCanary(ref);
    const ids = c.dbServers.map((m) => m.id).sort();
    assert.deepEqual(info.servers, ids, 'the canary has a copy on every DB server');
    assert.deepEqual(info.missing, []);
    assert.equal(info.keys.length, 2 * ids.length, 'a key on every shard');
    assert.equal(new Set(info.keys.map((k) => k.shard)).size, info.keys.length);
    // Read from the DB servers themselves: each key's document sits in its shard on every server of that shard.
    for (const k of info.keys) {
      for (const s of k.servers) {
        const docs = c.dbServers.find((m) => m.id === s)!.dbServer!.shardDocuments(k.shard);
        assert.ok(
          docs.some((d) => d._key === k.key),
          `${k.key} on ${s} (${k.shard})`,
        );
      }
    }
    // Idempotent: a retried activity finds the same canary and keys.
    const again = await p.ensureLatencyCanary(ref);
    assert.deepEqual(
      again.keys.map((k) => k.key),
      info.keys.map((k) => k.key),
    );

    const w = await p.probeClientLatency({ ...ref, keys: info.keys.map((k) => k.key), windowMs: 2000 });
    console.log('one probe window (simulated cluster, 2 s, 50 requests/s open loop):', JSON.stringify(w));
    assert.equal(w.errors, 0);
    assert.ok(w.samples >= 20, `samples ${w.samples}`);
    assert.equal(w.samples, w.reads + w.writes);
    assert.equal(w.reads, w.writes);
    assert.equal(w.from, 'eu');
    assert.deepEqual(
      w.byRegion.map((r) => r.region),
      ['eu'],
    );
    assert.ok(w.p99Ms !== null && w.p50Ms !== null && w.p99Ms >= w.p50Ms);
    // One window is one small payload whatever the number of requests (the history budget).
    assert.ok(JSON.stringify(w).length < 1000);
    // The writes went through: every shard's document changed.
    for (const k of info.keys) {
      const leader = c.dbServers.find((m) => m.id === k.servers[0])!.dbServer!;
      const doc = leader.shardDocuments(k.shard).find((d) => d._key === k.key)!;
      assert.ok(Number(doc.v) > 0, `${k.key} written by the probes`);
    }

    // No leader changed in that window: every sample is steady.
    assert.equal(w.switchedShards, 0);
    assert.equal(w.steadyP99Ms, w.p99Ms);

    // A window during which one canary shard's leader moves to its follower (a MoveShard job through the coordinator,
    // as any move does): that shard is counted as switched, and the steady p99 leaves its samples out.
    const k0 = info.keys[0]!;
    const windowDone = p.probeClientLatency({ ...ref, keys: info.keys.map((k) => k.key), windowMs: 6000 });
    await new Promise((r) => setTimeout(r, 500));
    const mv = await c.request(c.coordinatorUrl, '/_db/_system/_admin/cluster/moveShard', {
      method: 'POST',
      body: {
        collection: CANARY_COLLECTION,
        shard: k0.shard,
        fromServer: k0.servers[0],
        toServer: k0.servers[1],
        isLeader: true,
        remainsFollower: true,
      },
    });
    assert.equal(mv.status, 202, JSON.stringify(mv.body));
    const sw = await windowDone;
    console.log('a window with a leader switch (simulated):', JSON.stringify(sw));
    const leaderNow = async () => {
      const r = await c.request(
        c.coordinatorUrl,
        `/_db/_system/_api/collection/${CANARY_COLLECTION}/shards?details=true`,
      );
      return (r.body as { shards: Record<string, string[]> }).shards[k0.shard]![0];
    };
    assert.equal(await leaderNow(), k0.servers[1], 'the job switched the leader within the window');
    assert.equal(sw.switchedShards, 1);
    assert.equal(typeof sw.steadyP99Ms, 'number');
    assert.ok(sw.steadyP99Ms! <= sw.p99Ms!, 'the steady p99 leaves samples out, it adds none');

    assert.deepEqual(await p.removeLatencyCanary(ref), { removed: true });
    assert.deepEqual(await p.removeLatencyCanary(ref), { removed: false });
    const r = await c.request(c.coordinatorUrl, `/_db/_system/_api/collection/${CANARY_COLLECTION}`);
    assert.equal(r.status, 404);
  });
});
