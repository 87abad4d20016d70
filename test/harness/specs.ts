/** Specs used by the workflow tests (references only; the in-memory world ignores them). */
import type { MigrationSpecInput } from '../../src/spec/schema';

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
