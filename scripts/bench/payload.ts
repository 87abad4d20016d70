/**
 * The largest payloads a migration of N shard groups carries, computed (not run) from the real types: the
 * readShardPlan result (one activity result) and the continue-as-new input (spec, migrationId, state with the
 * plan and the shard run; a rollback run carries a second plan). Temporal's default limit is 2 MB per payload
 * (error; 256 KB warns). Real ArangoDB names: shards "s" + 7 digits, collection ids 7 digits, server ids
 * PRMR-<uuid>. Beside each JSON size its gzipped size: what src/codec.ts stores for payloads of 64 KiB and more.
 */
import { gzipSync } from 'node:zlib';
import { MigrationSpec } from '../../src/spec/schema';
import type { ShardPlan } from '../../src/activities/agency-types';
import { indexPlan } from '../../src/workflows/plan';
import { assignTargets } from '../../src/workflows/scheduler';
import { newShardRun } from '../../src/workflows/shard-mover';
import { initialState } from '../../src/workflows/state';
import { worldSpec } from '../../test/harness/specs';

const uuid = (i: number) => `PRMR-${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`;

export function shardPlan(collections: number, shardsPer: number, servers = 6): ShardPlan {
  let id = 1_000_000;
  return {
    planVersion: 1,
    servers: Array.from({ length: servers * 2 }, (_, i) => ({
      id: uuid(i),
      shortName: `DBServer${String(i + 1).padStart(4, '0')}`,
      endpoint: `tcp://arango-prmr-${i}.arango-int.db.svc:8529`,
      status: 'GOOD' as never,
    })),
    collections: Array.from({ length: collections }, (_, c) => ({
      database: 'db',
      collectionId: String(id++),
      name: `c${c}`,
      replicationFactor: 2,
      writeConcern: 1,
      clones: [],
      shards: Array.from(
        { length: shardsPer },
        (_, s) => [`s${id++}`, [(c + s) % servers, (c + s + 1) % servers], 0] as [string, number[], number],
      ),
    })),
  };
}

export function payloadSizes(collections: number, shardsPer: number): Record<string, number> {
  const plan = shardPlan(collections, shardsPer);
  const ix = indexPlan(plan);
  const targets = plan.servers.slice(plan.servers.length / 2).map((s) => s.id);
  const desired = assignTargets(ix, targets);
  const spec = MigrationSpec.parse(worldSpec());
  const state = initialState('m', spec);
  state.plan = plan;
  state.targetServerIds = targets;
  state.shards = { ...newShardRun('forward', ix, desired, true), engine: 'jobs' };
  const forward = JSON.stringify({ spec, migrationId: 'm', state });
  // A rollback run carries the plan it started from besides the original one.
  state.shards = { ...newShardRun('backward', ix, desired, false), engine: 'jobs' };
  const rollback = JSON.stringify({ spec, migrationId: 'm', state });
  const planJson = JSON.stringify(plan);
  // As stored: src/codec.ts gzips payloads from 64 KiB on (the figures below gzip the JSON alone).
  const gz = (j: string) => gzipSync(j).length;
  return {
    groups: ix.count,
    readShardPlan: planJson.length,
    continueAsNew: forward.length,
    rollback: rollback.length,
    readShardPlanGzip: gz(planJson),
    continueAsNewGzip: gz(forward),
    rollbackGzip: gz(rollback),
  };
}
