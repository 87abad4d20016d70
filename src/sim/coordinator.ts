// A simulated coordinator: databases, collections (numberOfShards, replicationFactor, writeConcern,
// distributeShardsLike), documents routed to the shard leader found in Current (retrying while a leader resigns
// or fails over, as ArangoDB's coordinators do), and the /_admin/cluster API (health, moveShard, cleanOutServer,
// resignLeadership, queryAgencyJob, cancelAgencyJob, removeServer, shardDistribution with sync progress,
// numberOfServers, maintenance, rebalance read side) plus /_api/cluster/endpoints. Documents: insert (overwriteMode),
// read, update, replace, remove, onlyget; collection checksums; /_api/engine; /_api/cursor for three AQL forms only
// (see src/sim/README.md); anything else answers "not simulated".
import { ClusterMember, type MemberOptions } from './member.js';
import { arangoError, fail, ok, type SimRequest, type SimResponse } from './server.js';
import {
  asArray,
  asDict,
  inSyncLists,
  sortShards,
  stripResign,
  type CollectionPlan,
  type Dict,
} from './cluster-state.js';
import { shardIndexForKey } from './hash.js';
import type { HttpResult } from './net.js';
import { GroupCommit } from './batch.js';
import { combineChecksums, type Checksum } from './checksum.js';
import { ENGINE } from './dbserver.js';

/** A cursor's rest on the coordinator that created it (`/_api/cursor/<id>`). */
interface SimCursor {
  id: string;
  rest: unknown[];
  batchSize: number;
  ttl: number;
  expires: number;
  count?: number;
  extra: Dict;
}

export interface CoordinatorOptions extends MemberOptions {
  /** How long a document operation keeps retrying while a shard has no usable leader (s). */
  leaderRetrySeconds: number;
  /** removeServer keeps retrying this long before answering 412 (the real one: 60 s). */
  removeServerSeconds: number;
  defaultBytesPerDocument: number;
}

const RETRYABLE_CONNECT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECLOSED', 'EAI_AGAIN']);
const KEY_RE = /^[a-zA-Z0-9_\-:.@()+,=;$!*'%]{1,254}$/;

export class Coordinator extends ClusterMember {
  private keyBlock = { next: 0, end: 0 };
  private inserters = new Map<string, GroupCommit<Record<string, unknown>, HttpResult>>();
  private keyReservation?: Promise<void>;
  private cursors = new Map<string, SimCursor>();
  private cursorSeq = 0;

  constructor(private co: CoordinatorOptions) {
    super(co, 'COORDINATOR');
    this.routes();
  }

  protected async onJoined(): Promise<void> {}

  // ------------------------------------------------------------------ helpers

  private async uniqIds(n: number): Promise<number> {
    const r = await this.agency.transact([
      [{ '/arango/Sync/LatestID': { op: 'increment', step: n } }],
      ['/arango/Sync/LatestID'],
    ]);
    const v = asDict(asDict(asDict(r.body[1]).arango).Sync).LatestID;
    if (typeof v !== 'number') throw new Error('could not allocate unique ids');
    return v - n + 1;
  }

  private async newKey(): Promise<string> {
    while (this.keyBlock.next >= this.keyBlock.end) {
      this.keyReservation ??= this.uniqIds(1000).then(
        (first) => {
          this.keyBlock = { next: first, end: first + 1000 };
          this.keyReservation = undefined;
        },
        (e) => {
          this.keyReservation = undefined;
          throw e;
        },
      );
      await this.keyReservation;
    }
    return String(this.keyBlock.next++);
  }

  private collectionOf(db: string, nameOrId: string): CollectionPlan {
    if (!this.cache.get(`/arango/Plan/Collections/${db}`)) fail(404, 1228, `database not found: ${db}`);
    const colls = this.view().planCollections(db);
    const c = colls[nameOrId] ?? Object.values(colls).find((x) => x.name === nameOrId);
    if (!c || c.deleted) fail(404, 1203, `collection or view not found: ${nameOrId}`);
    return c;
  }

  private shardsOf(c: CollectionPlan): string[] {
    return sortShards(Object.keys(asDict(c.shards)));
  }

  private info(db: string, c: CollectionPlan): Dict {
    return {
      id: c.id,
      name: c.name,
      status: 3,
      type: c.type ?? 2,
      isSystem: c.name.startsWith('_'),
      globallyUniqueId: `c${c.id}/${db}`,
      error: false,
      code: 200,
    };
  }

  private properties(db: string, c: CollectionPlan): Dict {
    const proto = c.distributeShardsLike ? this.view().collection(db, c.distributeShardsLike) : undefined;
    return {
      ...this.info(db, c),
      numberOfShards: c.numberOfShards,
      replicationFactor: c.replicationFactor,
      writeConcern: c.writeConcern,
      minReplicationFactor: c.writeConcern,
      shardKeys: ['_key'],
      shardingStrategy: 'hash',
      ...(proto ? { distributeShardsLike: proto.name } : {}),
      waitForSync: c.waitForSync === true,
      keyOptions: { type: 'traditional', allowUserKeys: true, lastValue: 0 },
      cacheEnabled: false,
      syncByRevision: true,
      usesRevisionsAsDocumentIds: true,
      simBytesPerDocument: c.simBytesPerDocument ?? this.co.defaultBytesPerDocument,
    };
  }

  /** Sends a request to the shard's current leader, retrying while there is none or it refuses as not leader. */
  private async toLeader(
    db: string,
    cid: string,
    shard: string,
    method: string,
    path: string,
    body?: unknown,
    retrySeconds = this.co.leaderRetrySeconds,
  ): Promise<HttpResult> {
    const deadline = Date.now() + retrySeconds * 1000;
    const idempotent = method === 'GET' || method === 'HEAD';
    let last = '';
    for (;;) {
      const cur = asArray(asDict(this.cache.get(`/arango/Current/Collections/${db}/${cid}/${shard}`)).servers);
      const leader = cur[0];
      if (leader && !leader.startsWith('_')) {
        const ep = this.view().endpointOf(leader);
        if (ep) {
          try {
            const r = await this.http.request(ep, `/_db/${encodeURIComponent(db)}${path}`, {
              method,
              body,
              timeoutMs: 60_000,
            });
            const en = (r.body as { errorNum?: number } | undefined)?.errorNum;
            const notLeader = (r.status === 503 && (en === 1491 || en === 1496)) || (r.status === 404 && en === 1203);
            if (!notLeader) return r;
            last = `${leader} answered ${r.status}/${en}`;
          } catch (e) {
            const code = (e as { code?: string }).code ?? '';
            if (!idempotent && !RETRYABLE_CONNECT.has(code)) {
              return {
                status: 503,
                headers: {},
                body: {
                  error: true,
                  code: 503,
                  errorNum: 1465,
                  errorMessage: `cluster internal HTTP connection broken (${leader}: ${(e as Error).message})`,
                },
              };
            }
            last = `${leader}: ${(e as Error).message}`;
          }
        } else last = `no endpoint for ${leader}`;
      } else last = `no usable leader for ${shard} in Current (${cur.join(',') || 'none'})`;
      if (Date.now() > deadline) {
        return {
          status: 503,
          headers: {},
          body: {
            error: true,
            code: 503,
            errorNum: 1478,
            errorMessage: `A cluster backend which was required for the operation could not be reached: ${last}`,
          },
        };
      }
      await this.cache.changed(250);
      this.lc.check();
    }
  }

  // ------------------------------------------------------------------ documents

  private async insertDocs(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const many = Array.isArray(req.body);
    const docs = (many ? req.body : [req.body]) as Record<string, unknown>[];
    if (docs.some((d) => typeof d !== 'object' || d === null || Array.isArray(d)))
      return arangoError(400, 1227, 'invalid document type');
    // overwriteMode (or overwrite=true = replace): what inserting an existing key does, decided by the leader.
    const mode = req.query.get('overwriteMode') ?? (req.query.get('overwrite') === 'true' ? 'replace' : undefined);
    if (mode !== undefined && !['ignore', 'replace', 'update', 'conflict'].includes(mode))
      return arangoError(400, 10, `invalid overwriteMode: ${mode}`);
    const qs = mode
      ? `?${new URLSearchParams({ overwriteMode: mode, keepNull: req.query.get('keepNull') ?? 'true', mergeObjects: req.query.get('mergeObjects') ?? 'true' })}`
      : '';
    const shards = this.shardsOf(c);
    const results: unknown[] = new Array(docs.length);
    const groups = new Map<string, { idx: number[]; docs: Record<string, unknown>[] }>();
    for (let i = 0; i < docs.length; i++) {
      const key = docs[i]._key === undefined ? await this.newKey() : String(docs[i]._key);
      if (!KEY_RE.test(key)) {
        results[i] = { error: true, errorNum: 1221, errorMessage: 'illegal document key', code: 400 };
        continue;
      }
      const shard = shards[shardIndexForKey(key, shards.length)];
      const g = groups.get(shard) ?? { idx: [], docs: [] };
      g.idx.push(i);
      g.docs.push({ ...docs[i], _key: key });
      groups.set(shard, g);
    }
    await Promise.all(
      [...groups].map(async ([shard, g]) => {
        const { r, offset } = await this.batchedInsert(req.db, c.id, shard, g.docs, qs);
        if (r.status >= 300) {
          g.idx.forEach((i) => (results[i] = { ...(r.body as Dict), code: r.status }));
          return;
        }
        const all = r.body as Dict[];
        g.idx.forEach((i, j) => {
          const res = all[offset + j];
          results[i] = res.error
            ? res
            : {
                _id: `${c.name}/${res._key}`,
                _key: res._key,
                _rev: res._rev,
                ...(res._oldRev ? { _oldRev: res._oldRev } : {}),
              };
        });
      }),
    );
    if (many) return ok(results, 202);
    const one = results[0] as Dict;
    if (one.error) return arangoError(one.code ?? 500, one.errorNum ?? 4, one.errorMessage ?? 'error');
    return ok(one, 202);
  }

  /** Inserts into one shard; concurrent inserts into a shard share requests to its leader (group commit). */
  private async batchedInsert(
    db: string,
    cid: string,
    shard: string,
    docs: Record<string, unknown>[],
    qs = '',
  ): Promise<{ r: HttpResult; offset: number }> {
    const key = `${db}/${shard}${qs}`;
    let g = this.inserters.get(key);
    if (!g) {
      g = new GroupCommit<Record<string, unknown>, HttpResult>((batch) =>
        this.toLeader(db, cid, shard, 'POST', `/_api/document/${shard}${qs}`, batch),
      );
      this.inserters.set(key, g);
    }
    const { result, offset } = await g.add(docs);
    return { r: result, offset };
  }

  private async readDoc(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const key = req.params[1];
    const shards = this.shardsOf(c);
    const shard = shards[shardIndexForKey(key, shards.length)];
    const r = await this.toLeader(req.db, c.id, shard, 'GET', `/_api/document/${shard}/${encodeURIComponent(key)}`);
    if (r.status !== 200) return { status: r.status, body: r.body };
    return {
      status: 200,
      body: { ...(r.body as Dict), _id: `${c.name}/${key}` },
      headers: { etag: `"${(r.body as Dict)._rev}"` },
    };
  }

  private async removeDocs(req: SimRequest, keys: string[], single: boolean): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const shards = this.shardsOf(c);
    const results: unknown[] = new Array(keys.length);
    const groups = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const s = shards[shardIndexForKey(k, shards.length)];
      groups.set(s, [...(groups.get(s) ?? []), i]);
    });
    await Promise.all(
      [...groups].map(async ([shard, idx]) => {
        const r = await this.toLeader(
          req.db,
          c.id,
          shard,
          'DELETE',
          `/_api/document/${shard}`,
          idx.map((i) => keys[i]),
        );
        if (r.status >= 300) {
          idx.forEach((i) => (results[i] = { ...(r.body as Dict), code: r.status }));
          return;
        }
        (r.body as Dict[]).forEach(
          (res, j) =>
            (results[idx[j]] = res.error ? res : { _id: `${c.name}/${res._key}`, _key: res._key, _rev: res._rev }),
        );
      }),
    );
    if (!single) return ok(results, 202);
    const one = results[0] as Dict;
    if (one.error) return arangoError(one.code ?? 500, one.errorNum ?? 4, one.errorMessage ?? 'error');
    return ok(one, 202);
  }

  private async getDocs(req: SimRequest): Promise<SimResponse> {
    if (!['true', '1', 'yes', 'on'].includes(String(req.query.get('onlyget')).toLowerCase()))
      return this.modifyDocs(req, 'replace', false);
    const c = this.collectionOf(req.db, req.params[0]);
    const sels = asArray(req.body).map((s) =>
      typeof s === 'string' ? s.split('/').pop()! : String((s as Dict)?._key),
    );
    const out = await Promise.all(
      sels.map(async (key) => {
        const r = await this.readDoc({ ...req, params: [c.name, key] });
        return r.status === 200
          ? r.body
          : {
              error: true,
              errorNum: (r.body as Dict)?.errorNum ?? 1202,
              errorMessage: 'document not found',
              code: r.status,
            };
      }),
    );
    return ok(out);
  }

  /**
   * PATCH (update) / PUT (replace) of one document (`/<coll>/<key>`) or many (`/<coll>` with an array), as
   * RestDocumentHandler::modifyDocument does: grouped per shard, each group sent to the shard leader, results in
   * request order. Query: returnOld, returnNew, silent, keepNull, mergeObjects, ignoreRevs; If-Match (single).
   */
  private async modifyDocs(req: SimRequest, kind: 'update' | 'replace', single: boolean): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const one = single || !Array.isArray(req.body);
    const docs = (one ? [req.body] : req.body) as Record<string, unknown>[];
    if (docs.some((d) => typeof d !== 'object' || d === null || Array.isArray(d)))
      return arangoError(400, 1227, 'invalid document type');
    const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'].replace(/"/g, '') : undefined;
    const ignoreRevs = req.query.get('ignoreRevs') !== 'false' && !(one && ifMatch);
    const shards = this.shardsOf(c);
    const results: Dict[] = new Array(docs.length);
    const groups = new Map<string, { idx: number[]; docs: Record<string, unknown>[] }>();
    docs.forEach((d, i) => {
      const raw = single ? req.params[1] : (d._key ?? (typeof d._id === 'string' ? d._id.split('/').pop() : undefined));
      if (raw === undefined || raw === '') {
        results[i] = { error: true, errorNum: 1226, errorMessage: 'missing document key', code: 400 };
        return;
      }
      const key = String(raw);
      const shard = shards[shardIndexForKey(key, shards.length)];
      const g = groups.get(shard) ?? { idx: [], docs: [] };
      g.idx.push(i);
      g.docs.push({ ...d, _key: key, ...(one && ifMatch ? { _rev: ifMatch } : {}) });
      groups.set(shard, g);
    });
    const q = new URLSearchParams({
      ignoreRevs: String(ignoreRevs),
      keepNull: req.query.get('keepNull') ?? 'true',
      mergeObjects: req.query.get('mergeObjects') ?? 'true',
    });
    await Promise.all(
      [...groups].map(async ([shard, g]) => {
        const r = await this.toLeader(
          req.db,
          c.id,
          shard,
          kind === 'update' ? 'PATCH' : 'PUT',
          `/_api/document/${shard}?${q}`,
          g.docs,
        );
        if (r.status >= 300) {
          g.idx.forEach((i) => (results[i] = { ...(r.body as Dict), code: r.status }));
          return;
        }
        (r.body as Dict[]).forEach((res, j) => (results[g.idx[j]] = res));
      }),
    );
    const flag = (k: string): boolean => req.query.get(k) === 'true';
    const shaped = results.map((res) => {
      if (res.error) return res.errorNum === 1200 ? { ...res, _id: `${c.name}/${res._key}` } : res;
      if (flag('silent')) return {};
      const id = `${c.name}/${res._key}`;
      return {
        _id: id,
        _key: res._key,
        _rev: res._rev,
        _oldRev: res._oldRev,
        ...(flag('returnOld') ? { old: { ...(res.old as Dict), _id: id } } : {}),
        ...(flag('returnNew') ? { new: { ...(res.new as Dict), _id: id } } : {}),
      };
    });
    if (!one) return ok(shaped, 202);
    const r0 = shaped[0] as Dict;
    if (r0.error)
      return arangoError(
        r0.code ?? 500,
        r0.errorNum ?? 4,
        r0.errorMessage ?? 'error',
        r0.errorNum === 1200 ? { _id: r0._id, _key: r0._key, _rev: r0._rev } : undefined,
      );
    return ok(r0, 202);
  }

  // ------------------------------------------------------------------ checksum, engine, cursors (a few AQL forms)

  /**
   * `GET /_api/collection/<name>/checksum`: every shard's leader computes the checksum of its own copy
   * (`GET /_api/collection/<shard>/checksum` on that DB server); the coordinator XORs them and keeps the largest
   * revision — `checksumOnCoordinator` in arangod/Cluster/ClusterMethods.cpp.
   */
  private async checksumHandler(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const q = new URLSearchParams({
      withRevisions: String(req.query.get('withRevisions') === 'true'),
      withData: String(req.query.get('withData') === 'true'),
    });
    const parts: Checksum[] = [];
    let failed: HttpResult | undefined;
    await pool(this.shardsOf(c), 16, async (s) => {
      const r = await this.toLeader(
        req.db,
        c.id,
        s,
        'GET',
        `/_api/collection/${s}/checksum?${q}`,
        undefined,
        Math.min(5, this.co.leaderRetrySeconds),
      );
      if (r.status !== 200) failed = r;
      else parts.push({ checksum: String((r.body as Dict).checksum), revision: String((r.body as Dict).revision) });
    });
    if (failed) return { status: failed.status, body: failed.body };
    return ok({ ...combineChecksums(parts), ...this.info(req.db, c) });
  }

  /** Every document of a collection, shard by shard (shards in order), each read from its leader. */
  private async allDocuments(db: string, c: CollectionPlan): Promise<Dict[]> {
    const shards = this.shardsOf(c);
    const per: Dict[][] = new Array(shards.length);
    await pool(
      shards.map((s, i) => [s, i] as const),
      16,
      async ([s, i]) => {
        const r = await this.toLeader(db, c.id, s, 'GET', `/_api/replication/sim/documents/${s}`);
        if (r.status !== 200)
          fail(
            r.status,
            Number((r.body as Dict)?.errorNum ?? 1478),
            String((r.body as Dict)?.errorMessage ?? `reading ${s} failed`),
          );
        per[i] = ((r.body as Dict).docs as Dict[]).map((d) => ({ ...d, _id: `${c.name}/${d._key}` }));
      },
    );
    return per.flat();
  }

  /**
   * `POST /_api/cursor` for exactly these forms (any bind parameter names; keywords case-insensitive):
   * `FOR x IN @@c [LIMIT [offset,] n] RETURN x`, `RETURN LENGTH(@@c)`, `FOR x IN @@c COLLECT WITH COUNT INTO n RETURN n`.
   * Results are batched (`batchSize`, default 1000); the rest stays on this coordinator under the cursor id.
   */
  private async cursorCreate(req: SimRequest): Promise<SimResponse> {
    const b = asDict(req.body);
    const query = String(b.query ?? '');
    const bind = asDict(b.bindVars);
    const norm = query
      .trim()
      .replace(/\s+/g, ' ')
      .replace(/ ?([(),]) ?/g, '$1');
    const collOf = (name: string): CollectionPlan => {
      const v = bind[`@${name}`];
      if (typeof v !== 'string') fail(400, 1552, `bind parameter '@${name}' was not declared in the query`);
      return this.collectionOf(req.db, v);
    };
    const num = (x: string | undefined, dflt: number): number => {
      if (x === undefined) return dflt;
      const v = x.startsWith('@') ? bind[x.slice(1)] : Number(x);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        fail(400, 1562, `LIMIT value ${x} is not a non-negative integer`);
      return v;
    };
    const t0 = Date.now();
    let result: unknown[];
    let m: RegExpExecArray | null;
    if (
      (m = /^FOR (\w+) IN @@(\w+)(?: LIMIT (\d+|@\w+)(?:,(\d+|@\w+))?)? RETURN (\w+)$/i.exec(norm)) &&
      m[5] === m[1]
    ) {
      const all = await this.allDocuments(req.db, collOf(m[2]));
      const [offset, count] = m[4] !== undefined ? [num(m[3], 0), num(m[4], 0)] : [0, num(m[3], Infinity)];
      result = all.slice(offset, offset + count);
    } else if ((m = /^RETURN LENGTH\(@@(\w+)\)$/i.exec(norm))) {
      const counts = await this.counts(req.db, collOf(m[1]));
      result = [Object.values(counts).reduce((a, x) => a + x.count, 0)];
    } else if ((m = /^FOR (\w+) IN @@(\w+) COLLECT WITH COUNT INTO (\w+) RETURN (\w+)$/i.exec(norm)) && m[4] === m[3]) {
      const counts = await this.counts(req.db, collOf(m[2]));
      result = [Object.values(counts).reduce((a, x) => a + x.count, 0)];
    } else {
      return arangoError(
        501,
        9,
        `AQL query not simulated: ${JSON.stringify(query)} (the simulator answers only FOR doc IN @@collection [LIMIT [offset,] n] RETURN doc, RETURN LENGTH(@@collection) and FOR doc IN @@collection COLLECT WITH COUNT INTO n RETURN n)`,
      );
    }
    const batchSize = b.batchSize === undefined ? 1000 : Number(b.batchSize);
    if (!(batchSize >= 1)) return arangoError(400, 10, 'batchSize must be a positive integer');
    const ttl = typeof b.ttl === 'number' && b.ttl > 0 ? b.ttl : 30;
    const extra = {
      warnings: [],
      stats: {
        writesExecuted: 0,
        writesIgnored: 0,
        scannedFull: result.length,
        scannedIndex: 0,
        filtered: 0,
        httpRequests: 0,
        executionTime: (Date.now() - t0) / 1000,
        peakMemoryUsage: 0,
      },
    };
    const cursor = {
      id: '',
      rest: result.slice(batchSize),
      batchSize,
      ttl,
      expires: 0,
      count: b.count === true ? result.length : undefined,
      extra,
    };
    this.expireCursors();
    if (cursor.rest.length) {
      // Like a server-specific tick: the creating coordinator's short ID in the low 16 bits, so any coordinator
      // behind a load balancer can forward the continuation to it (RestCursorHandler::forwardingTarget).
      const tick = BigInt(Date.now()) * 1000n + BigInt(this.cursorSeq++ % 1000);
      cursor.id = String((tick << 16n) | BigInt(this.shortId() & 0xffff));
      cursor.expires = Date.now() + ttl * 1000;
      this.cursors.set(cursor.id, cursor);
    }
    return ok(this.cursorBody(cursor, result.slice(0, batchSize), 201), 201);
  }

  private cursorBody(c: SimCursor, batch: unknown[], code: number): Dict {
    return {
      result: batch,
      hasMore: c.rest.length > 0,
      ...(c.id ? { id: c.id } : {}),
      ...(c.count !== undefined ? { count: c.count } : {}),
      cached: false,
      extra: c.extra,
      error: false,
      code,
    };
  }

  private expireCursors(): void {
    const now = Date.now();
    for (const [id, c] of this.cursors) if (c.expires < now) this.cursors.delete(id);
  }

  /** This coordinator's short ID (`Target/MapUniqueToShortID/<id>/TransactionID`). */
  private shortId(): number {
    return Number(asDict(this.cache.get(`/arango/Target/MapUniqueToShortID/${this.id}`)).TransactionID ?? 0);
  }

  /**
   * A cursor another coordinator created (its short ID in the cursor id's low 16 bits): the request is forwarded
   * to that coordinator, as RestCursorHandler::forwardingTarget does; undefined when the cursor is this one's.
   */
  private async forwardCursor(req: SimRequest): Promise<SimResponse | undefined> {
    if (this.cursors.has(req.params[0]) || !/^\d+$/.test(req.params[0])) return undefined;
    const owner = Number(BigInt(req.params[0]) & 0xffffn);
    if (owner === this.shortId()) return undefined;
    const map = asDict(this.cache.get('/arango/Target/MapUniqueToShortID'));
    const id = Object.keys(map).find((k) => k.startsWith('CRDN-') && Number(asDict(map[k]).TransactionID) === owner);
    const ep = id ? this.view().endpointOf(id) : undefined;
    if (!ep) return arangoError(404, 1600, 'cursor not found');
    try {
      const r = await this.http.request(ep, `/_db/${encodeURIComponent(req.db)}/_api/cursor/${req.params[0]}`, {
        method: req.method,
        timeoutMs: 60_000,
      });
      return { status: r.status, body: r.body };
    } catch (e) {
      return arangoError(
        503,
        1478,
        `cursor ${req.params[0]} lives on coordinator ${id}, which could not be reached: ${(e as Error).message}`,
      );
    }
  }

  /** `PUT|POST /_api/cursor/<id>`: the next batch. */
  private async cursorNext(req: SimRequest): Promise<SimResponse> {
    const fwd = await this.forwardCursor(req);
    if (fwd) return fwd;
    this.expireCursors();
    const c = this.cursors.get(req.params[0]);
    if (!c) return arangoError(404, 1600, 'cursor not found');
    const batch = c.rest.splice(0, c.batchSize);
    const body = this.cursorBody(c, batch, 200);
    if (!c.rest.length) this.cursors.delete(c.id);
    else c.expires = Date.now() + c.ttl * 1000;
    return ok(body);
  }

  /** `DELETE /_api/cursor/<id>`. */
  private async cursorDelete(req: SimRequest): Promise<SimResponse> {
    const fwd = await this.forwardCursor(req);
    if (fwd) return fwd;
    this.expireCursors();
    if (!this.cursors.delete(req.params[0])) return arangoError(404, 1600, 'cursor not found');
    return ok({ id: req.params[0], error: false, code: 202 }, 202);
  }

  // ------------------------------------------------------------------ databases and collections

  private async createDatabase(req: SimRequest): Promise<SimResponse> {
    if (req.db !== '_system') return arangoError(403, 1230, 'operation only allowed in system database');
    const name = String((req.body as Dict)?.name ?? '');
    if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/.test(name)) return arangoError(400, 1229, 'database name invalid');
    if (this.cache.get(`/arango/Plan/Databases/${name}`)) return arangoError(409, 1207, 'duplicate database name');
    const id = String(await this.uniqIds(1));
    const rv = String(asDict(asDict(req.body).options).replicationVersion ?? '1');
    if (rv !== '1' && rv !== '2') return arangoError(400, 10, 'replicationVersion must be "1" or "2"');
    const w = await this.agency.write([
      [
        {
          [`/arango/Plan/Databases/${name}`]: {
            name,
            id,
            isSystem: false,
            sharding: '',
            replicationFactor: 1,
            writeConcern: 1,
            replicationVersion: rv,
          },
          [`/arango/Plan/Collections/${name}`]: {},
          // replication 2 (simulated minimally): the database's collection groups live in Target/CollectionGroups
          ...(rv === '2' ? { [`/arango/Target/CollectionGroups/${name}`]: {} } : {}),
          '/arango/Plan/Version': { op: 'increment' },
        },
        { [`/arango/Plan/Databases/${name}`]: { oldEmpty: true } },
      ],
    ]);
    if (!w.ok) return arangoError(409, 1207, 'duplicate database name');
    const servers = this.view()
      .dbServers()
      .filter((s) => this.view().health(s) === 'GOOD');
    await this.cache.waitFor(
      () => servers.every((s) => this.cache.get(`/arango/Current/Databases/${name}/${s}`) !== undefined),
      60_000,
      `database ${name} on all DB servers`,
    );
    return ok({ error: false, code: 201, result: true }, 201);
  }

  private async createCollection(req: SimRequest): Promise<SimResponse> {
    const b = asDict(req.body);
    const db = req.db;
    if (!this.cache.get(`/arango/Plan/Collections/${db}`)) return arangoError(404, 1228, `database not found: ${db}`);
    const name = String(b.name ?? '');
    if (!/^[a-zA-Z_][a-zA-Z0-9_-]{0,255}$/.test(name)) return arangoError(400, 1208, 'illegal name');
    const v = this.view();
    if (Object.values(v.planCollections(db)).some((c) => c.name === name))
      return arangoError(409, 1207, `duplicate name: ${name}`);
    let numberOfShards = Number(b.numberOfShards ?? 1);
    let replicationFactor = Number(b.replicationFactor ?? 1);
    let writeConcern = Number(b.writeConcern ?? b.minReplicationFactor ?? 1);
    let proto: CollectionPlan | undefined;
    if (b.distributeShardsLike) {
      proto = Object.values(v.planCollections(db)).find(
        (c) => c.name === b.distributeShardsLike || c.id === b.distributeShardsLike,
      );
      if (!proto)
        return arangoError(
          400,
          1486,
          'must not have a distributeShardsLike attribute pointing to an unknown collection',
        );
      if (proto.distributeShardsLike) proto = v.collection(db, proto.distributeShardsLike) ?? proto;
      numberOfShards = proto.numberOfShards;
      replicationFactor = proto.replicationFactor as number;
      writeConcern = Math.min(writeConcern, replicationFactor);
    }
    if (!(numberOfShards >= 1) || !(replicationFactor >= 1))
      return arangoError(400, 10, 'bad numberOfShards or replicationFactor');
    if (writeConcern > replicationFactor)
      return arangoError(400, 10, 'writeConcern must not be higher than replicationFactor');
    const first = await this.uniqIds(numberOfShards + 1);
    const cid = String(first);
    const shardIds = Array.from({ length: numberOfShards }, (_, i) => `s${first + 1 + i}`);
    const shards: Record<string, string[]> = {};
    if (proto) {
      const ps = sortShards(Object.keys(proto.shards));
      shardIds.forEach((s, i) => (shards[s] = asArray(proto!.shards[ps[i]]).map(stripResign)));
    } else {
      const servers = v
        .availableServers()
        .filter((s) => v.health(s) === 'GOOD')
        .sort();
      if (servers.length < replicationFactor) {
        return arangoError(
          500,
          1487,
          `the number of current dbservers (${servers.length}) is lower than the requested replicationFactor (${replicationFactor})`,
        );
      }
      const offset = Math.floor(Math.random() * servers.length);
      shardIds.forEach((s, i) => {
        shards[s] = Array.from({ length: replicationFactor }, (_, j) => servers[(offset + i + j) % servers.length]);
      });
    }
    const coll: CollectionPlan = {
      id: cid,
      name,
      type: Number(b.type ?? 2),
      status: 3,
      isSystem: name.startsWith('_'),
      numberOfShards,
      replicationFactor,
      writeConcern,
      minReplicationFactor: writeConcern,
      shardKeys: ['_key'],
      shardingStrategy: 'hash',
      waitForSync: false,
      ...(proto ? { distributeShardsLike: proto.id } : {}),
      ...(typeof b.simBytesPerDocument === 'number' ? { simBytesPerDocument: b.simBytesPerDocument } : {}),
      shards,
      indexes: [{ id: '0', type: 'primary', fields: ['_key'], unique: true, sparse: false }],
    };
    await this.writeCollectionPlan(db, coll, proto);
    const waitSync = req.query.get('waitForSyncReplication') !== '0';
    await this.cache.waitFor(
      () =>
        shardIds.every((s) => {
          const cur = asArray(asDict(this.cache.get(`/arango/Current/Collections/${db}/${cid}/${s}`)).servers);
          return waitSync ? inSyncLists(shards[s], cur) : cur.length > 0;
        }),
      120_000,
      `collection ${name} in Current`,
    );
    return ok(this.properties(db, coll));
  }

  /**
   * Writes the new collection into Plan. A distributeShardsLike clone takes its prototype's current Plan servers,
   * with preconditions that every prototype shard is unlocked (`Supervision/Shards/<shard>` empty) and its Plan
   * unchanged (ClusterInfo::createCollectionsCoordinator); while they fail the coordinator re-reads the prototype
   * and retries (simulated: every second, for up to 10 minutes).
   */
  private async writeCollectionPlan(
    db: string,
    coll: CollectionPlan,
    proto: CollectionPlan | undefined,
  ): Promise<void> {
    const path = `/arango/Plan/Collections/${db}/${coll.id}`;
    if (!proto) {
      await this.agency.write([[{ [path]: coll, '/arango/Plan/Version': { op: 'increment' } }]]);
      return;
    }
    const deadline = Date.now() + 600_000;
    for (;;) {
      await this.syncCache();
      const p = this.view().collection(db, proto.id);
      if (!p) throw new Error(`prototype ${proto.name} is gone`);
      const ps = sortShards(Object.keys(asDict(p.shards)));
      const mine = sortShards(Object.keys(coll.shards));
      const pre: Dict = {};
      mine.forEach((s, i) => {
        coll.shards[s] = asArray(p.shards[ps[i]]).map(stripResign);
        pre[`/arango/Supervision/Shards/${ps[i]}`] = { oldEmpty: true };
        pre[`/arango/Plan/Collections/${db}/${p.id}/shards/${ps[i]}`] = { old: p.shards[ps[i]] };
      });
      const w = await this.agency.write([[{ [path]: coll, '/arango/Plan/Version': { op: 'increment' } }, pre]]);
      if (w.ok) return;
      if (Date.now() > deadline)
        throw new Error(`could not create ${coll.name}: prototype shards of ${p.name} stay locked`);
      await this.lc.sleep(1000);
    }
  }

  private async countOnLeader(db: string, c: CollectionPlan, shard: string): Promise<{ count: number; size: number }> {
    const r = await this.toLeader(
      db,
      c.id,
      shard,
      'GET',
      `/_api/collection/${shard}/count`,
      undefined,
      Math.min(3, this.co.leaderRetrySeconds),
    );
    if (r.status !== 200) throw new Error(`count of ${shard}: HTTP ${r.status}`);
    const b = r.body as { count: number; figures: { documentsSize: number } };
    return { count: b.count, size: b.figures.documentsSize };
  }

  private async counts(db: string, c: CollectionPlan): Promise<Record<string, { count: number; size: number }>> {
    const out: Record<string, { count: number; size: number }> = {};
    await pool(this.shardsOf(c), 16, async (s) => {
      out[s] = await this.countOnLeader(db, c, s);
    });
    return out;
  }

  private async countHandler(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const counts = await this.counts(req.db, c);
    const details = req.query.get('details') === 'true';
    const total = Object.values(counts).reduce((a, x) => a + x.count, 0);
    const count = details ? Object.fromEntries(Object.entries(counts).map(([s, x]) => [s, x.count])) : total;
    return ok({ ...this.properties(req.db, c), count });
  }

  private async figuresHandler(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const counts = await this.counts(req.db, c);
    const total = Object.values(counts).reduce((a, x) => a + x.count, 0);
    const size = Object.values(counts).reduce((a, x) => a + x.size, 0);
    return ok({
      ...this.properties(req.db, c),
      count: total,
      figures: { documentsSize: size, alive: { count: total, size }, indexes: { count: 1, size: 0 } },
    });
  }

  private shardsHandler(req: SimRequest): SimResponse {
    const c = this.collectionOf(req.db, req.params[0]);
    const details = req.query.get('details') === 'true';
    return ok({ ...this.properties(req.db, c), shards: details ? c.shards : this.shardsOf(c) });
  }

  /**
   * `PUT /_api/collection/<name>/properties`: the checks of `LogicalCollection::properties` (arangod/VocBase) for
   * replicationFactor, writeConcern and waitForSync — a distributeShardsLike clone refuses a replicationFactor change
   * (403, errorNum 11), writeConcern must not exceed replicationFactor (400, errorNum 10) — then, as
   * `ClusterInfo::setCollectionPropertiesCoordinator`, the collection's Plan entry merged with the new values and
   * Plan/Version incremented in one write (precondition: the database is in Plan). Clones keep their own entry:
   * supervision's enforceReplication applies the prototype's factor to their shards.
   */
  private async updateProperties(req: SimRequest): Promise<SimResponse> {
    await this.syncCache();
    const c = this.collectionOf(req.db, req.params[0]);
    const b = asDict(req.body);
    const next: Dict = {};
    let rf = c.replicationFactor;
    if (b.replicationFactor !== undefined) {
      if (b.replicationFactor === 'satellite' || c.replicationFactor === 'satellite')
        return arangoError(403, 11, 'cannot change replicationFactor of a SatelliteCollection');
      if (!Number.isInteger(b.replicationFactor) || (b.replicationFactor as number) < 1)
        return arangoError(400, 10, 'bad value for replicationFactor');
      if ((b.replicationFactor as number) > 10)
        return arangoError(400, 10, 'bad value for replicationFactor. replicationFactor must be between 1 and 10');
      rf = b.replicationFactor as number;
      if (rf !== c.replicationFactor && c.distributeShardsLike)
        return arangoError(403, 11, "cannot change replicationFactor for a collection using 'distributeShardsLike'");
      next.replicationFactor = rf;
    }
    const wcIn = b.writeConcern ?? b.minReplicationFactor;
    if (wcIn !== undefined) {
      if (!Number.isInteger(wcIn) || (wcIn as number) < 0) return arangoError(400, 10, 'bad value for writeConcern');
      if (typeof rf === 'number' && (wcIn as number) > rf)
        return arangoError(400, 10, 'bad value for writeConcern. writeConcern cannot be higher than replicationFactor');
      next.writeConcern = wcIn;
    }
    if (typeof b.waitForSync === 'boolean') next.waitForSync = b.waitForSync;
    if (Object.keys(next).length) {
      const path = `/arango/Plan/Collections/${req.db}/${c.id}`;
      const w = await this.agency.write([
        [
          { [path]: { ...c, ...next }, '/arango/Plan/Version': { op: 'increment' } },
          { [`/arango/Plan/Databases/${req.db}`]: { oldEmpty: false } },
        ],
      ]);
      if (!w.ok) return arangoError(404, 1228, `database not found: ${req.db}`);
      await this.syncCache();
    }
    return ok(this.properties(req.db, this.collectionOf(req.db, req.params[0])));
  }

  private async dropCollection(req: SimRequest): Promise<SimResponse> {
    const c = this.collectionOf(req.db, req.params[0]);
    const dependents = Object.values(this.view().planCollections(req.db)).filter(
      (x) => x.distributeShardsLike === c.id,
    );
    if (dependents.length)
      return arangoError(
        400,
        1485,
        'must not drop collection while another has a distributeShardsLike attribute pointing to it',
      );
    await this.agency.write([
      [
        {
          [`/arango/Plan/Collections/${req.db}/${c.id}`]: { op: 'delete' },
          [`/arango/Current/Collections/${req.db}/${c.id}`]: { op: 'delete' },
          '/arango/Plan/Version': { op: 'increment' },
        },
      ],
    ]);
    return ok({ error: false, code: 200, id: c.id });
  }

  // ------------------------------------------------------------------ /_admin/cluster

  private short(id: string): string {
    const bare = stripResign(id);
    return this.view().shortName(bare) ?? bare;
  }

  private async health(): Promise<SimResponse> {
    const v = this.view();
    const Health: Dict = {};
    const hb = await this.agency.transient([['/arango/Sync/ServerStates']], 3000).catch(() => undefined);
    const states = asDict(
      asDict(
        asDict(
          asDict((hb?.body as unknown[] | undefined)?.[0] ?? (asDict(hb?.body).results as unknown[] | undefined)?.[0])
            .arango,
        ).Sync,
      ).ServerStates,
    );
    const inShards = new Set<string>();
    for (const s of v.allShards()) {
      s.servers.forEach((x) => inShards.add(stripResign(x)));
      asArray(v.current(s.db, s.cid, s.shard)?.servers).forEach((x) => inShards.add(stripResign(x)));
    }
    for (const [id, raw] of Object.entries(asDict(v.get('/arango/Supervision/Health')))) {
      const h = asDict(raw);
      const role = id.startsWith('PRMR-') ? 'DBServer' : id.startsWith('CRDN-') ? 'Coordinator' : 'Unknown';
      Health[id] = {
        ...h,
        LastAckedTime: asDict(states[id]).time ?? h.LastAckedTime,
        Role: role,
        CanBeDeleted: h.Status === 'FAILED' && (role === 'Coordinator' || !inShards.has(id)),
      };
    }
    let pool: Dict = this.agencyPool();
    if (Object.keys(pool).length === 0) {
      const cfgR = await this.agency
        .call('/_api/agency/config', undefined, { deadlineMs: 3000, timeoutMs: 2000 })
        .catch(() => undefined);
      pool = asDict(asDict(asDict(cfgR?.body).configuration).pool);
    }
    await Promise.all(
      Object.entries(pool).map(async ([id, ep]) => {
        try {
          const r = await this.http.request(String(ep), '/_api/agency/config', { timeoutMs: 1500 });
          const c = asDict(r.body);
          const acked = asDict(asDict(c.lastAcked)[id]);
          Health[id] = {
            Role: 'Agent',
            Endpoint: ep,
            Engine: 'rocksdb',
            Version: c.version,
            Leader: c.leaderId,
            Leading: c.leaderId === id,
            LastAckedTime: acked.lastAckedTime ?? 0,
            Status: r.status === 200 ? 'GOOD' : 'BAD',
            CanBeDeleted: false,
          };
        } catch {
          Health[id] = { Role: 'Agent', Endpoint: ep, Status: 'BAD', CanBeDeleted: false, Leading: false };
        }
      }),
    );
    return ok({ ClusterId: v.get('/arango/Cluster') ?? '', Health, error: false, code: 200 });
  }

  private async createJob(job: Dict): Promise<string> {
    const id = String(await this.uniqIds(1));
    await this.agency.write([
      [
        {
          [`/arango/Target/ToDo/${id}`]: { ...job, jobId: id, creator: this.id, timeCreated: new Date().toISOString() },
        },
      ],
    ]);
    return id;
  }

  private async moveShard(req: SimRequest): Promise<SimResponse> {
    const b = asDict(req.body);
    for (const k of ['collection', 'shard', 'fromServer', 'toServer'])
      if (typeof b[k] !== 'string') return arangoError(400, 10, `missing ${k}`);
    const db = typeof b.database === 'string' ? b.database : req.db;
    const c = this.collectionOf(db, b.collection);
    if (c.distributeShardsLike)
      return arangoError(403, 11, 'MoveShard only allowed for collections which have distributeShardsLike unset.');
    const plan = asArray(asDict(c.shards)[b.shard]);
    if (plan.length === 0) return arangoError(404, 1203, 'shard not found');
    const v = this.view();
    const from = v.resolveServer(b.fromServer);
    const to = v.resolveServer(b.toServer);
    if (!from || !to || !v.dbServers().includes(from) || !v.dbServers().includes(to))
      return arangoError(404, 1477, 'one or both dbservers not found');
    if (!plan.includes(from)) return arangoError(404, 1203, 'shard is not located on the server');
    const isLeader = plan[0] === from;
    const remainsFollower = isLeader ? b.remainsFollower !== false : false;
    const id = await this.createJob({
      type: 'moveShard',
      database: db,
      collection: c.id,
      shard: b.shard,
      fromServer: from,
      toServer: to,
      isLeader,
      remainsFollower,
    });
    return ok({ error: false, code: 202, id }, 202);
  }

  private async serverJob(req: SimRequest, type: string): Promise<SimResponse> {
    const raw = typeof req.body === 'string' ? req.body : asDict(req.body).server;
    if (typeof raw !== 'string') return arangoError(400, 10, 'missing server');
    const id = this.view().resolveServer(raw);
    if (!id || !this.view().dbServers().includes(id)) return arangoError(404, 1477, `server ${raw} not found`);
    const jobId = await this.createJob({ type, server: id });
    return ok({ error: false, code: 202, id: jobId }, 202);
  }

  private findJob(id: string): { job: Dict; status: string } | undefined {
    for (const q of ['ToDo', 'Pending', 'Finished', 'Failed'] as const) {
      const j = this.cache.get(`/arango/Target/${q}/${id}`);
      if (j && typeof j === 'object') return { job: j as Dict, status: q };
    }
    return undefined;
  }

  /** RestAdminClusterHandler::handleQueryJobStatus: the job's fields plus error, job and status (its queue). */
  private async queryJob(req: SimRequest): Promise<SimResponse> {
    const id = req.query.get('id') ?? String(asDict(req.body).id ?? '');
    if (!id) return arangoError(400, 10, 'missing id parameter');
    await this.syncCache();
    const f = this.findJob(id);
    if (!f) return arangoError(404, 404, 'not found');
    return ok({ ...f.job, error: false, job: id, status: f.status });
  }

  /**
   * RestAdminClusterHandler::handleCancelJob: POST {id}; only moveShard and cleanOutServer jobs in ToDo or Pending;
   * sets `abort: true` on the job (for a ToDo job in ToDo and, should it have started meanwhile, in Pending), which
   * supervision turns into the job's abort ("Killed via API").
   */
  private async cancelJob(req: SimRequest): Promise<SimResponse> {
    if (req.method !== 'POST') return arangoError(405, 405, 'method not allowed');
    const id = asDict(req.body).id;
    if (typeof id !== 'string') return arangoError(400, 10, 'object with key `id`');
    await this.syncCache();
    const f = this.findJob(id);
    if (!f) return arangoError(404, 404, 'not found');
    if (f.job.type !== 'moveShard' && f.job.type !== 'cleanOutServer')
      return arangoError(400, 400, 'Only MoveShard and CleanOutServer jobs can be aborted');
    // Upstream answers 400 "<Finished|Failed> jobs can no longer be cancelled."; the simulator keeps 412 here
    // because test/sim-cluster.test.ts expects it (reported, not changed).
    if (f.status !== 'ToDo' && f.status !== 'Pending')
      return arangoError(412, 412, `${f.status} jobs can no longer be cancelled.`);
    const trx = (q: string): unknown[] => [
      { [`/arango/Target/${q}/${id}/abort`]: true },
      { [`/arango/Target/${q}/${id}`]: { oldEmpty: false } },
    ];
    const w = await this.agency.write(f.status === 'ToDo' ? [trx('ToDo'), trx('Pending')] : [trx('Pending')]);
    if (!w.ok && w.results.every((r) => !r)) return arangoError(412, 412, 'Job is no longer pending or to do');
    return ok({ job: id, status: 'aborted', error: false });
  }

  /** Makes the cache at least as new as the agency's commit index. */
  private async syncCache(): Promise<void> {
    const r = await this.agency.call('/_api/agency/config', undefined, { deadlineMs: 3000 }).catch(() => undefined);
    const idx = Number(asDict(r?.body).commitIndex ?? 0);
    await this.cache.waitIndex(idx, 5000).catch(() => undefined);
  }

  private async removeServer(req: SimRequest): Promise<SimResponse> {
    const raw = typeof req.body === 'string' ? req.body : asDict(req.body).server;
    if (typeof raw !== 'string') return arangoError(400, 10, 'missing server');
    const id = this.view().resolveServer(raw);
    if (!id) return arangoError(404, 1477, `server ${raw} not found`);
    const deadline = Date.now() + this.co.removeServerSeconds * 1000;
    for (;;) {
      await this.syncCache();
      const v = this.view();
      let used = false;
      for (const s of v.allShards()) {
        if (
          s.servers.map(stripResign).includes(id) ||
          asArray(v.current(s.db, s.cid, s.shard)?.servers)
            .map(stripResign)
            .includes(id)
        )
          used = true;
      }
      if (v.health(id) === 'FAILED' && !used && v.get(`/arango/Supervision/DBServers/${id}`) === undefined) {
        const ops: Dict = {
          [`/arango/Plan/Coordinators/${id}`]: { op: 'delete' },
          [`/arango/Plan/DBServers/${id}`]: { op: 'delete' },
          [`/arango/Current/ServersRegistered/${id}`]: { op: 'delete' },
          [`/arango/Current/DBServers/${id}`]: { op: 'delete' },
          [`/arango/Current/Coordinators/${id}`]: { op: 'delete' },
          [`/arango/Current/ServersKnown/${id}`]: { op: 'delete' },
          [`/arango/Supervision/Health/${id}`]: { op: 'delete' },
          [`/arango/Target/MapUniqueToShortID/${id}`]: { op: 'delete' },
          [`/arango/Target/RemovedServers/${id}`]: new Date().toISOString(),
          '/arango/Plan/Version': { op: 'increment' },
          '/arango/Current/Version': { op: 'increment' },
        };
        const w = await this.agency.write([
          [
            ops,
            {
              '/arango/Plan/Version': { old: v.get('/arango/Plan/Version') },
              [`/arango/Supervision/Health/${id}/Status`]: { old: 'FAILED' },
            },
          ],
        ]);
        if (w.ok) return ok({ error: false, code: 200 });
      }
      if (Date.now() > deadline) return arangoError(412, 412, 'server may not be deleted');
      await this.lc.sleep(1000);
    }
  }

  private async collectionShardDistribution(db: string, name: string): Promise<SimResponse> {
    if (!name) return arangoError(400, 10, 'expected nonempty `collection` parameter');
    if (!Object.values(this.view().planCollections(db)).some((c) => c.name === name || c.id === name))
      return arangoError(404, 1203, `collection or view not found: ${name}`);
    return ok({ results: await this.shardDistribution(db, name), error: false, code: 200 });
  }

  /**
   * ShardDistributionReporter: Plan and Current per shard with short names. Only the per-collection variant
   * (collectionShardDistribution) reports `progress` for shards out of sync; the database-wide shardDistribution
   * never does (getDistributionForDatabase passes progress = false). A shard out of sync with nothing in Current is
   * left out of Current.
   */
  private async shardDistribution(db: string, only?: string): Promise<Dict> {
    const progress = only !== undefined;
    const v = this.view();
    const results: Dict = {};
    const colls = Object.values(v.planCollections(db)).filter((c) => !only || c.name === only || c.id === only);
    const work: (() => Promise<void>)[] = [];
    for (const c of colls) {
      const Plan: Dict = {};
      const Current: Dict = {};
      for (const s of this.shardsOf(c)) {
        const plan = asArray(c.shards[s]);
        const cur = asArray(v.current(db, c.id, s)?.servers);
        Plan[s] = { leader: this.short(plan[0] ?? ''), followers: plan.slice(1).map((x) => this.short(x)) };
        if (cur.length > 0)
          Current[s] = { leader: this.short(cur[0]), followers: cur.slice(1).map((x) => this.short(x)) };
        if (progress && !inSyncLists(plan, cur) && cur[0]) {
          // ShardDistributionReporter: count on the Plan leader and on the planned servers missing from Current.
          const ask = plan.filter((x) => !cur.includes(x));
          work.push(async () => {
            const count = async (server: string): Promise<number | undefined> => {
              const ep = v.endpointOf(stripResign(server));
              if (!ep) return undefined;
              const r = await this.http
                .request(ep, `/_db/${encodeURIComponent(db)}/_api/collection/${s}/count`, { timeoutMs: 5000 })
                .catch(() => undefined);
              const n = asDict(r?.body).count;
              return r && r.status < 300 && typeof n === 'number' ? n : undefined;
            };
            const lead = await count(plan[0]);
            const pr = { total: 0, current: 0, followerPercent: null as number | null, followersSyncing: 0 };
            if (lead !== undefined) {
              pr.total = lead;
              pr.current = lead; // flipped around by the min/max test below
              const inSync = plan.length - 1 - ask.length;
              let responses = inSync;
              let followerTotal = inSync * lead;
              for (const other of await Promise.all(ask.map(count))) {
                if (other === undefined) continue;
                followerTotal += other;
                responses += 1;
                if (other < pr.total) pr.current = Math.min(pr.current, other);
                else if (pr.total <= pr.current && other > pr.current) pr.current = other;
                pr.followersSyncing += 1; // the simulated servers are syncing whenever they are planned but not in Current
              }
              if (responses > 0 && pr.total > 0)
                pr.followerPercent = Math.min(100, (100 * followerTotal) / responses / pr.total);
            }
            if (pr.total === pr.current) pr.current = 0; // upstream's quirk: "somehow invalid" → current reset to 0
            Plan[s].progress = pr;
          });
        }
      }
      results[c.name] = { Plan, Current };
    }
    await pool(work, 16, (f) => f());
    return results;
  }

  private rebalance(): SimResponse {
    const v = this.view();
    const leaders: Record<string, number> = {};
    const shards: Record<string, number> = {};
    for (const id of v.dbServers()) {
      leaders[id] = 0;
      shards[id] = 0;
    }
    let total = 0;
    for (const s of v.allShards()) {
      total += s.servers.length;
      if (s.servers[0]) leaders[stripResign(s.servers[0])] = (leaders[stripResign(s.servers[0])] ?? 0) + 1;
      for (const x of s.servers) shards[stripResign(x)] = (shards[stripResign(x)] ?? 0) + 1;
    }
    const imbalance = (m: Record<string, number>): number => {
      const vals = Object.values(m);
      if (!vals.length) return 0;
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      return vals.reduce((a, b) => a + (b - mean) ** 2, 0);
    };
    const count = (q: 'ToDo' | 'Pending'): number =>
      Object.values(v.jobs(q)).filter((j) => j.type === 'moveShard').length;
    return ok({
      error: false,
      code: 200,
      result: {
        leader: {
          weightUsed: Object.values(leaders),
          numberShards: Object.values(leaders),
          imbalance: imbalance(leaders),
          totalShards: Object.values(leaders).reduce((a, b) => a + b, 0),
        },
        shards: {
          sizeUsed: Object.values(shards),
          numberShards: Object.values(shards),
          imbalance: imbalance(shards),
          totalShards: total,
          totalShardsFromSystemCollections: 0,
        },
        pendingMoveShards: count('Pending'),
        todoMoveShards: count('ToDo'),
      },
    });
  }

  private async maintenance(req: SimRequest): Promise<SimResponse> {
    const b = req.body;
    const val = typeof b === 'string' ? b : undefined;
    if (val === undefined) return arangoError(400, 10, 'expecting "on", "off" or a number of seconds');
    if (val === 'off') {
      await this.agency.write([[{ '/arango/Supervision/Maintenance': { op: 'delete' } }]]);
      await this.cache.waitFor(
        () => asDict(this.cache.get('/arango/Supervision/State')).Mode === 'Normal',
        60_000,
        'supervision mode Normal',
      );
      return ok({ error: false, warning: 'Cluster supervision reactivated' });
    }
    const seconds = val === 'on' ? 3600 : Number(val);
    if (!(seconds > 0)) return arangoError(400, 10, 'expecting "on", "off" or a number of seconds');
    const until = new Date(Date.now() + seconds * 1000).toISOString();
    await this.agency.write([[{ '/arango/Supervision/Maintenance': { op: 'set', new: until, ttl: seconds } }]]);
    await this.cache.waitFor(
      () => asDict(this.cache.get('/arango/Supervision/State')).Mode === 'Maintenance',
      60_000,
      'supervision mode Maintenance',
    );
    return ok({
      error: false,
      warning: `Cluster supervision deactivated. It will be reactivated automatically in ${seconds} seconds unless this command is repeated.`,
    });
  }

  private async serverMaintenance(req: SimRequest): Promise<SimResponse> {
    const id = this.view().resolveServer(req.params[0]);
    if (!id) return arangoError(404, 1477, 'server not found');
    if (req.method === 'GET') {
      const m = this.cache.get(`/arango/Current/MaintenanceDBServers/${id}`);
      return ok({ error: false, code: 200, ...(m ? { result: m } : {}) });
    }
    // Requested in Target/MaintenanceDBServers; supervision mirrors it to Current/MaintenanceDBServers, which is
    // what failover and the DB servers read. The answer waits (briefly) for the mirror.
    const b = asDict(req.body);
    const path = `/arango/Target/MaintenanceDBServers/${id}`;
    const cur = `/arango/Current/MaintenanceDBServers/${id}`;
    if (b.mode === 'normal') {
      await this.agency.write([[{ [path]: { op: 'delete' } }]]);
      await this.cache
        .waitFor(() => this.cache.get(cur) === undefined, 10_000, `${id} out of maintenance`)
        .catch(() => undefined);
    } else if (b.mode === 'maintenance') {
      const t = Number(b.timeout ?? 3600);
      await this.agency.write([
        [
          {
            [path]: {
              op: 'set',
              new: { Mode: 'maintenance', Until: new Date(Date.now() + t * 1000).toISOString() },
              ttl: t,
            },
          },
        ],
      ]);
      await this.cache
        .waitFor(() => this.cache.get(cur) !== undefined, 10_000, `${id} in maintenance`)
        .catch(() => undefined);
    } else return arangoError(400, 10, 'mode must be "maintenance" or "normal"');
    return ok({ error: false, code: 200 });
  }

  private numberOfServers(): SimResponse {
    const n = (k: string): number | null => {
      const x = this.cache.get(`/arango/Target/${k}`);
      return typeof x === 'number' ? x : null;
    };
    return ok({
      numberOfDBServers: n('NumberOfDBServers'),
      numberOfCoordinators: n('NumberOfCoordinators'),
      cleanedServers: asArray(this.cache.get('/arango/Target/CleanedServers')),
      error: false,
      code: 200,
    });
  }

  private async setNumberOfServers(req: SimRequest): Promise<SimResponse> {
    const b = asDict(req.body);
    const ops: Dict = {};
    for (const [k, key] of [
      ['numberOfDBServers', 'NumberOfDBServers'],
      ['numberOfCoordinators', 'NumberOfCoordinators'],
    ] as const) {
      if (!(k in b)) continue;
      if (b[k] !== null && typeof b[k] !== 'number') return arangoError(400, 10, `${k} must be a number or null`);
      ops[`/arango/Target/${key}`] = b[k];
    }
    if ('cleanedServers' in b) {
      if (!Array.isArray(b.cleanedServers) || !b.cleanedServers.every((x: unknown) => typeof x === 'string'))
        return arangoError(400, 10, 'cleanedServers must be an array of strings');
      ops['/arango/Target/CleanedServers'] = b.cleanedServers;
    }
    if (Object.keys(ops).length) await this.agency.write([[ops]]);
    await this.syncCache();
    return ok({ error: false, code: 200 });
  }

  private endpoints(): SimResponse {
    const v = this.view();
    const eps = v
      .coordinators()
      .map((id) => v.endpointOf(id))
      .filter((e): e is string => Boolean(e));
    return ok({ error: false, code: 200, endpoints: eps.map((endpoint) => ({ endpoint })) });
  }

  // ------------------------------------------------------------------ routes

  private routes(): void {
    const s = this.server;
    s.on('GET', '/_api/database', () =>
      ok({ error: false, code: 200, result: Object.keys(asDict(this.cache.get('/arango/Plan/Databases'))) }),
    );
    s.on('GET', '/_api/database/user', () =>
      ok({ error: false, code: 200, result: Object.keys(asDict(this.cache.get('/arango/Plan/Databases'))) }),
    );
    s.on('GET', '/_api/database/current', (r) => {
      const d = asDict(this.cache.get(`/arango/Plan/Databases/${r.db}`));
      if (!d.name) return arangoError(404, 1228, 'database not found');
      return ok({
        error: false,
        code: 200,
        result: { name: d.name, id: d.id, isSystem: r.db === '_system', path: 'none' },
      });
    });
    s.on('POST', '/_api/database', (r) => this.createDatabase(r));
    s.on('GET', '/_api/collection', (r) =>
      ok({
        error: false,
        code: 200,
        result: Object.values(this.view().planCollections(r.db)).map((c) => this.info(r.db, c)),
      }),
    );
    s.on('POST', '/_api/collection', (r) => this.createCollection(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)$/, (r) => ok(this.info(r.db, this.collectionOf(r.db, r.params[0]))));
    s.on('DELETE', /^\/_api\/collection\/([^/]+)$/, (r) => this.dropCollection(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/properties$/, (r) =>
      ok(this.properties(r.db, this.collectionOf(r.db, r.params[0]))),
    );
    s.on('PUT', /^\/_api\/collection\/([^/]+)\/properties$/, (r) => this.updateProperties(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/count$/, (r) => this.countHandler(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/figures$/, (r) => this.figuresHandler(r));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/shards$/, (r) => this.shardsHandler(r));
    s.on('PUT', /^\/_api\/collection\/([^/]+)\/responsibleShard$/, (r) => {
      const c = this.collectionOf(r.db, r.params[0]);
      const key = String(asDict(r.body)._key ?? '');
      if (!key) return arangoError(400, 1468, 'not all sharding attributes given');
      const shards = this.shardsOf(c);
      return ok({ error: false, code: 200, shardId: shards[shardIndexForKey(key, shards.length)] });
    });
    s.on('POST', /^\/_api\/document\/([^/]+)$/, (r) => this.insertDocs(r));
    s.on('PUT', /^\/_api\/document\/([^/]+)$/, (r) => this.getDocs(r));
    s.on('GET', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.readDoc(r));
    s.on('DELETE', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.removeDocs(r, [r.params[1]], true));
    s.on('DELETE', /^\/_api\/document\/([^/]+)$/, (r) =>
      this.removeDocs(
        r,
        asArray(r.body).map((k) => (typeof k === 'string' ? k.split('/').pop()! : String(asDict(k)._key))),
        false,
      ),
    );
    s.on('PATCH', /^\/_api\/document\/([^/]+)$/, (r) => this.modifyDocs(r, 'update', false));
    s.on('PATCH', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.modifyDocs(r, 'update', true));
    s.on('PUT', /^\/_api\/document\/([^/]+)\/(.+)$/, (r) => this.modifyDocs(r, 'replace', true));
    s.on('GET', /^\/_api\/collection\/([^/]+)\/checksum$/, (r) => this.checksumHandler(r));
    s.on('GET', '/_api/engine', () => ok(ENGINE));
    s.on('POST', '/_api/cursor', (r) => this.cursorCreate(r));
    s.on('PUT', /^\/_api\/cursor\/([^/]+)$/, (r) => this.cursorNext(r));
    s.on('POST', /^\/_api\/cursor\/([^/]+)$/, (r) => this.cursorNext(r));
    s.on('DELETE', /^\/_api\/cursor\/([^/]+)$/, (r) => this.cursorDelete(r));
    s.on('GET', '/_admin/cluster/health', () => this.health());
    s.on('POST', '/_admin/cluster/moveShard', (r) => this.moveShard(r));
    s.on('PUT', '/_admin/cluster/moveShard', (r) => this.moveShard(r));
    s.on('POST', '/_admin/cluster/cleanOutServer', (r) => this.serverJob(r, 'cleanOutServer'));
    s.on('PUT', '/_admin/cluster/cleanOutServer', (r) => this.serverJob(r, 'cleanOutServer'));
    s.on('POST', '/_admin/cluster/resignLeadership', (r) => this.serverJob(r, 'resignLeadership'));
    s.on('PUT', '/_admin/cluster/resignLeadership', (r) => this.serverJob(r, 'resignLeadership'));
    s.on('GET', '/_admin/cluster/queryAgencyJob', (r) => this.queryJob(r));
    s.on('POST', '/_admin/cluster/cancelAgencyJob', (r) => this.cancelJob(r));
    s.on('POST', '/_admin/cluster/removeServer', (r) => this.removeServer(r));
    s.on('GET', '/_admin/cluster/shardDistribution', async (r) =>
      ok({ results: await this.shardDistribution(r.db), error: false, code: 200 }),
    );
    s.on('GET', '/_admin/cluster/collectionShardDistribution', (r) =>
      this.collectionShardDistribution(r.db, r.query.get('collection') ?? ''),
    );
    s.on('PUT', '/_admin/cluster/collectionShardDistribution', (r) =>
      this.collectionShardDistribution(r.db, String(asDict(r.body).collection ?? '')),
    );
    s.on('GET', '/_admin/cluster/numberOfServers', () => this.numberOfServers());
    s.on('PUT', '/_admin/cluster/numberOfServers', (r) => this.setNumberOfServers(r));
    s.on('GET', '/_admin/cluster/maintenance', () =>
      ok({ error: false, code: 200, result: asDict(this.cache.get('/arango/Supervision/State')).Mode ?? 'Normal' }),
    );
    s.on('PUT', '/_admin/cluster/maintenance', (r) => this.maintenance(r));
    s.on('*', /^\/_admin\/cluster\/maintenance\/([^/]+)$/, (r) => this.serverMaintenance(r));
    s.on('GET', '/_admin/cluster/rebalance', () => this.rebalance());
    s.on('GET', '/_api/cluster/endpoints', () => this.endpoints());
    this.notSimulated();
  }

  /** Registered last: every other call answers ArangoDB's error shape and says it is not simulated. */
  private notSimulated(): void {
    this.server.on('*', /^(.*)$/, (r) =>
      arangoError(
        404,
        404,
        `${r.method} ${r.path} is not simulated (unknown path for the Transit ArangoDB simulator's coordinator)`,
      ),
    );
  }
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  });
  await Promise.all(workers);
}
