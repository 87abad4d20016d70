/**
 * Types of the agency and coordinator activities (src/activities/agency.ts), imported by the workflow with
 * `import type`. Pure declarations.
 */

/** Where a credential lives; activities read it at run time, it never enters workflow history. */
export type CredentialRef = { file: string } | { secret: { name: string; key: string; namespace?: string; context?: string } };

export interface ArangoRef {
  /** A coordinator URL, http(s)://. */
  endpoint: string;
  jwtSecret: CredentialRef;
  database?: string;
}

/** A prototype shard and the shards of its distributeShardsLike clones with the same index: they move together. */
export interface ShardKey {
  database: string;
  collectionId: string;
  shard: string;
  clones: { collectionId: string; shard: string }[];
}

/** Compact on purpose: 10,000 shards must fit one Temporal payload well under 512 KB. */
export interface ShardPlan {
  planVersion: number;
  /** DB servers; indices below point here. */
  servers: { id: string; shortName: string; endpoint: string; status: 'GOOD' | 'BAD' | 'FAILED' | 'UNCLEAR' }[];
  /** Prototypes only; clone shards are aligned with the prototype's shards. */
  collections: {
    database: string;
    collectionId: string;
    name: string;
    replicationFactor: number;
    writeConcern: number;
    clones: { collectionId: string; name: string; shards: string[] }[];
    /** [shard, Plan servers (leader first), bytes of the group: prototype shard plus its clone shards]. */
    shards: [shard: string, servers: number[], bytes: number][];
  }[];
}
