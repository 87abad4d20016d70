/**
 * The rehearsal's pure parts: the copy's shape from a survey of the source (src/rehearse/copy.ts copyShape), the
 * fault schedule (src/rehearse/faults.ts), and `transit rehearse` refusing bad input before it reads or starts
 * anything (no server runs here: a refusal that came later would fail to connect instead). The rehearsal itself
 * runs in test/rehearse.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { copyShape } from '../src/rehearse/copy';
import { describeFault, loadFaultSchedule, parseFaultSchedule } from '../src/rehearse/faults';
import type { DeploymentInventory, MemberInfo } from '../src/activities/contract';
import type { ShardPlan } from '../src/activities/agency-types';

const member = (role: MemberInfo['role'], i: number, args: string[] = []): MemberInfo => ({
  id: `${role}-${i}`,
  role,
  side: 'source',
  podName: `arango-${role}-${i}`,
  podIP: null,
  endpoint: `tcp://arango-${role}-${i}:8529`,
  image: 'arangodb/arangodb:3.12.4',
  args,
});

const inventory: DeploymentInventory = {
  name: 'arango',
  namespace: 'db',
  image: 'arangodb/arangodb:3.12.4',
  members: [
    member('agent', 0, ['--agency.supervision-frequency=0.5', '--agency.election-timeout-min', '1']),
    member('agent', 1),
    member('agent', 2),
    member('dbserver', 0, ['--sim.heartbeat-interval=0.5']),
    member('dbserver', 1),
    member('dbserver', 2),
    member('coordinator', 0),
    member('coordinator', 1),
  ],
};

const plan: ShardPlan = {
  planVersion: 7,
  servers: ['A', 'B', 'C'].map((id) => ({ id, shortName: id, endpoint: `tcp://${id}:8529`, status: 'GOOD' as const })),
  collections: [
    {
      database: 'shop',
      collectionId: '101',
      name: 'orders',
      replicationFactor: 2,
      writeConcern: 1,
      clones: [{ collectionId: '102', name: 'orderLines', shards: ['s20', 's3'] }],
      // Shard IDs out of numeric order on purpose: the copy seeds them in shard-ID order (s2 before s10).
      shards: [
        ['s10', [1, 2], 6400],
        ['s2', [0, 1], 640_000],
      ],
    },
    {
      database: 'audit',
      collectionId: '201',
      name: 'events',
      replicationFactor: 1,
      writeConcern: 1,
      clones: [],
      shards: [['s30', [2], 0]],
    },
  ],
};

describe('the copy of a source', () => {
  it('has the source shape, its supervision settings and each group size (modelled by documents)', () => {
    const s = copyShape({ inventory, plan }, 8e6);
    assert.equal(s.topology.agents, 3);
    assert.equal(s.topology.dbServers, 3);
    assert.equal(s.topology.coordinators, 2);
    assert.equal(s.targets, 3, 'one new DB server per source DB server');
    assert.equal(s.topology.bandwidth, 8e6);
    assert.deepEqual(s.topology.timing, { supervisionFrequency: 0.5, electionTimeoutMin: 1, heartbeatMs: 500 });
    assert.equal(s.settings.length, 3);
    const shop = s.topology.databases!.find((d) => d.name === 'shop')!;
    assert.deepEqual(
      shop.collections!.map((c) => [c.name, c.numberOfShards, c.replicationFactor, c.distributeShardsLike]),
      [
        ['orders', 2, 2, undefined],
        ['orderLines', undefined, undefined, 'orders'],
      ],
    );
    const orders = s.documents.find((d) => d.collection === 'orders')!;
    const bpd = shop.collections![0]!.bytesPerDocument!;
    assert.deepEqual(orders.perShard, [640_000 / bpd, Math.round(6400 / bpd)], 's2 (large) first, then s10');
    assert.deepEqual(s.documents.find((d) => d.collection === 'events')!.perShard, [0]);
    assert.equal(copyShape({ inventory, plan }, Infinity).topology.bandwidth, 'unbounded');
  });
});

describe('the fault schedule', () => {
  it('reads phases and fractions, with defaults', () => {
    const f = parseFaultSchedule({
      faults: [
        { fault: 'kill-target-dbserver', at: { phase: 'MoveShards', fraction: 0.5 }, seconds: 20, server: 1 },
        { fault: 'worker-sigkill', at: { phase: 'MoveAgents' } },
      ],
    });
    assert.deepEqual(f.map(describeFault), [
      'kill-target-dbserver #1 in MoveShards at 50 % for 20 s',
      'worker-sigkill in MoveAgents start',
    ]);
    assert.deepEqual(parseFaultSchedule(undefined), []);
    assert.deepEqual(loadFaultSchedule(join(__dirname, '..', 'examples', 'faults.yaml')).map(describeFault), [
      'kill-source-dbserver #0 in MoveShards at 30 % for 10 s',
      'worker-sigkill in MoveShards at 60 %',
      'dns-server-stop in CutoverDNS start for 10 s',
    ]);
  });

  it('rejects what it does not know, naming each problem', () => {
    assert.throws(
      () =>
        parseFaultSchedule(
          { faults: [{ fault: 'unplug-everything', at: { phase: 'MoveShards', fraction: 2 } }] },
          '--faults f.yaml',
        ),
      (e: Error) =>
        e.message.startsWith('--faults f.yaml: ') &&
        e.message.includes('faults.0.fault') &&
        e.message.includes('faults.0.at.fraction'),
    );
    assert.throws(
      () => parseFaultSchedule({ faults: [{ fault: 'halve-link', at: { phase: 'Nowhere' } }] }),
      /at\.phase/,
    );
  });
});

describe('transit rehearse: bad input is refused first, with a message naming the fix', () => {
  const run = promisify(execFile);
  const transit = join(__dirname, '..', 'bin', 'transit');
  const spec = join(__dirname, '..', 'examples', 'migration.yaml');
  const dir = mkdtempSync(join(tmpdir(), 'transit-rehearse-cli-'));
  const refused = async (args: string[]) => {
    // Nothing listens at this address: had the command got as far as Temporal, it would say so instead.
    const r = await run(transit, ['rehearse', '--spec', spec, '--address', '127.0.0.1:9', ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    assert.equal(r.code, 1, r.stderr);
    return r.stderr.trim();
  };

  it('--speed, --pod-start-seconds and --bandwidth', async () => {
    assert.equal(await refused(['--speed', '0']), 'transit: --speed: expected a positive number, got 0');
    assert.equal(
      await refused(['--pod-start-seconds', '-1']),
      'transit: --pod-start-seconds: expected seconds ≥ 0, got -1',
    );
    assert.match(await refused(['--bandwidth', 'fast']), /^transit: --bandwidth: bad bandwidth "fast"/);
  });

  it('a fault schedule it cannot read or does not understand', async () => {
    const bad = join(dir, 'faults.yaml');
    writeFileSync(bad, 'faults:\n  - fault: unplug\n    at: { phase: MoveShards, fraction: 2 }\n');
    const msg = await refused(['--faults', bad]);
    assert.ok(msg.startsWith(`transit: --faults ${bad}: faults.0.fault: `), msg);
    assert.ok(msg.includes('faults.0.at.fraction'), msg);
    assert.match(await refused(['--faults', join(dir, 'missing.yaml')]), /cannot read: ENOENT/);
  });

  it('with good input it gets as far as Temporal, and says where it could not connect', async () => {
    assert.match(await refused([]), /cannot connect to Temporal at 127\.0\.0\.1:9/);
  });
});
