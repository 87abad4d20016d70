/** Specs used by the workflow tests (references only; the in-memory world ignores them). */
import type { MigrationSpecInput } from '../../src/spec/schema';
import type { ShardPlan } from '../../src/activities/contract';

export function worldSpec(overrides: Partial<Record<keyof MigrationSpecInput, unknown>> = {}): MigrationSpecInput {
  const base: MigrationSpecInput = {
    deployment: { name: 'arango', namespace: 'db' },
    source: { context: 'eu', region: 'eu', namespace: 'db' },
    target: { context: 'us', region: 'us', namespace: 'db' },
    network: { mode: 'loadbalancer' },
    dns: {
      provider: 'rfc2136',
      name: 'db.example.test.',
      zone: 'example.test.',
      ttl: 5,
      tsigKey: { secret: { name: 'tsig', key: 'key' } },
    },
    arango: { endpoint: 'http://10.12.0.1:8529', jwtSecret: { secret: { name: 'arango-jwt', key: 'token' } } },
    policy: { maxConcurrentShardMoves: 4, timeouts: { drainSeconds: 0, activitySeconds: 30 } },
  };
  return { ...base, ...overrides } as MigrationSpecInput;
}

/**
 * A one-collection shard plan for unit tests: DB servers `servers` (IDs), `shards` rows [name, server indices
 * (leader first), bytes]; replicationFactor is the first row's number of servers.
 */
export function testShardPlan(servers: string[], shards: [string, number[], number][]): ShardPlan {
  return {
    planVersion: 1,
    servers: servers.map((id, i) => ({
      id,
      shortName: `DBServer${String(i + 1).padStart(4, '0')}`,
      endpoint: `tcp://${id}:8529`,
      status: 'GOOD',
    })),
    collections: [
      {
        database: 'shop',
        collectionId: '1',
        name: 'orders',
        replicationFactor: shards[0]?.[1].length ?? 1,
        writeConcern: 1,
        clones: [],
        shards,
      },
    ],
  };
}
