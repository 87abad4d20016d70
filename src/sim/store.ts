// The simulated agency's key/value store: a JSON tree with ArangoDB's write operations and preconditions
// (arangod/Agency/Store.cpp and Node.cpp as described in shared/docs/arangodb-cluster.md §1.2). Every agent
// keeps one committed copy ("readDB") and the leader one more with uncommitted entries applied ("spearhead");
// DB servers and coordinators keep a replica fed by /_api/agency/poll. Values are plain JSON; every value that
// enters the tree is copied, so log entries and readers never alias the tree.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** One write transaction's operations: key path → operation (or a plain value = set). */
export type WriteOps = Record<string, unknown>;
export type Preconditions = Record<string, unknown>;

export function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p !== '');
}

export function normalizePath(path: string): string {
  return '/' + splitPath(path).join('/');
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** ArangoDB compares VelocyPack values structurally; object key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as JsonObject)[k], (b as JsonObject)[k]),
  );
}

const OPERATIONS = new Set([
  'set',
  'delete',
  'increment',
  'decrement',
  'push',
  'prepend',
  'pop',
  'shift',
  'erase',
  'replace',
  'observe',
  'unobserve',
]);
const PRECONDITIONS = new Set(['old', 'oldNot', 'oldEmpty', 'isArray', 'in', 'notin', 'intersectionEmpty', 'isEmpty']);

export class StoreError extends Error {
  override name = 'StoreError';
}

/** A normalised operation; `expires` (ms since epoch) is filled in by the leader for `ttl`. */
export interface Operation {
  op: string;
  new?: unknown;
  val?: unknown;
  pos?: number;
  step?: number;
  ttl?: number;
  expires?: number;
}

/** Turns the user's `{key: op | value}` map into normalised [path, op] pairs; throws StoreError on junk. */
export function normalizeOps(ops: WriteOps): [string, Operation][] {
  if (!isObject(ops)) throw new StoreError('write transaction operations must be an object');
  const out: [string, Operation][] = [];
  for (const [key, raw] of Object.entries(ops)) {
    const path = normalizePath(key);
    if (isObject(raw) && (typeof raw.op === 'string' || 'new' in raw)) {
      const op = typeof raw.op === 'string' ? raw.op : 'set';
      if (!OPERATIONS.has(op)) throw new StoreError(`unknown agency operation "${op}"`);
      out.push([path, { ...(raw as object), op } as Operation]);
    } else {
      out.push([path, { op: 'set', new: raw }]);
    }
  }
  return out;
}

export class Store {
  root: JsonObject = {};
  /** path → absolute expiry (ms) of keys written with a ttl. */
  ttls = new Map<string, number>();

  static fromJSON(root: unknown, ttls?: [string, number][]): Store {
    const s = new Store();
    s.root = isObject(root) ? clone(root) : {};
    s.ttls = new Map(ttls ?? []);
    return s;
  }

  toJSON(): { root: JsonObject; ttls: [string, number][] } {
    return { root: this.root, ttls: [...this.ttls] };
  }

  get(path: string | string[]): Json | undefined {
    const parts = Array.isArray(path) ? path : splitPath(path);
    let node: Json | undefined = this.root;
    for (const p of parts) {
      if (!isObject(node)) return undefined;
      node = Object.prototype.hasOwnProperty.call(node, p) ? node[p] : undefined;
      if (node === undefined) return undefined;
    }
    return node;
  }

  private parentOf(parts: string[], create: boolean): JsonObject | undefined {
    let node: JsonObject = this.root;
    for (const p of parts.slice(0, -1)) {
      let next = node[p];
      if (!isObject(next)) {
        if (!create) return undefined;
        next = {};
        node[p] = next;
      }
      node = next;
    }
    return node;
  }

  private put(parts: string[], value: Json): void {
    if (parts.length === 0) {
      this.root = isObject(value) ? value : {};
      return;
    }
    this.parentOf(parts, true)![parts[parts.length - 1]] = value;
  }

  private clearTtls(path: string): void {
    if (this.ttls.size === 0) return;
    for (const k of this.ttls.keys()) if (k === path || k.startsWith(path + '/') || path === '/') this.ttls.delete(k);
  }

  /** Applies one normalised operation. */
  applyOp(path: string, o: Operation): void {
    const parts = splitPath(path);
    const cur = this.get(parts);
    switch (o.op) {
      case 'set':
        this.clearTtls(path);
        this.put(parts, clone((o.new ?? null) as Json));
        if (o.expires !== undefined) this.ttls.set(path, o.expires);
        return;
      case 'delete': {
        this.clearTtls(path);
        if (parts.length === 0) {
          this.root = {};
          return;
        }
        const parent = this.parentOf(parts, false);
        if (parent) delete parent[parts[parts.length - 1]];
        return;
      }
      case 'increment':
      case 'decrement': {
        const step = typeof o.step === 'number' ? o.step : 1;
        const base = typeof cur === 'number' ? cur : 0;
        this.put(parts, o.op === 'increment' ? base + step : base - step);
        return;
      }
      case 'push':
      case 'prepend': {
        const arr = Array.isArray(cur) ? cur : [];
        const v = clone((o.new ?? null) as Json);
        if (o.op === 'push') arr.push(v);
        else arr.unshift(v);
        this.put(parts, arr);
        return;
      }
      case 'pop':
      case 'shift': {
        const arr = Array.isArray(cur) ? cur : [];
        if (o.op === 'pop') arr.pop();
        else arr.shift();
        this.put(parts, arr);
        return;
      }
      case 'erase': {
        const arr = Array.isArray(cur) ? cur : [];
        if (o.pos !== undefined) {
          if (o.pos >= 0 && o.pos < arr.length) arr.splice(o.pos, 1);
          this.put(parts, arr);
        } else {
          this.put(
            parts,
            arr.filter((x) => !deepEqual(x, o.val)),
          );
        }
        return;
      }
      case 'replace': {
        const arr = Array.isArray(cur) ? cur : [];
        this.put(
          parts,
          arr.map((x) => (deepEqual(x, o.val) ? clone((o.new ?? null) as Json) : x)),
        );
        return;
      }
      case 'observe':
      case 'unobserve':
        return; // legacy HTTP callbacks: accepted, never called (members long-poll instead)
      default:
        throw new StoreError(`unknown agency operation "${o.op}"`);
    }
  }

  applyOps(ops: [string, Operation][]): void {
    for (const [p, o] of ops) this.applyOp(p, o);
  }

  /** Paths whose preconditions fail (empty = all hold). */
  failedPreconditions(pre: Preconditions | undefined): string[] {
    if (pre === undefined || pre === null) return [];
    if (!isObject(pre)) throw new StoreError('preconditions must be an object');
    const failed: string[] = [];
    for (const [key, cond] of Object.entries(pre)) {
      const path = normalizePath(key);
      if (!this.check(path, cond)) failed.push(path);
    }
    return failed;
  }

  private check(path: string, cond: unknown): boolean {
    const node = this.get(path);
    if (!isObject(cond) || !Object.keys(cond).some((k) => PRECONDITIONS.has(k))) {
      // A plain value (or an object without operator keys) is shorthand for "old".
      return node !== undefined && deepEqual(node, cond);
    }
    for (const [k, v] of Object.entries(cond)) {
      switch (k) {
        case 'old':
          if (node === undefined || !deepEqual(node, v)) return false;
          break;
        case 'oldNot':
          if (node !== undefined && deepEqual(node, v)) return false;
          break;
        case 'oldEmpty':
          if ((node === undefined) !== Boolean(v)) return false;
          break;
        case 'isEmpty': {
          const empty =
            node === undefined ||
            (Array.isArray(node) && node.length === 0) ||
            (isObject(node) && Object.keys(node).length === 0);
          if (empty !== Boolean(v)) return false;
          break;
        }
        case 'isArray':
          if (Array.isArray(node) !== Boolean(v)) return false;
          break;
        case 'in':
          if (!Array.isArray(node) || !node.some((x) => deepEqual(x, v))) return false;
          break;
        case 'notin':
          if (Array.isArray(node) && node.some((x) => deepEqual(x, v))) return false;
          break;
        case 'intersectionEmpty':
          if (Array.isArray(node) && Array.isArray(v) && node.some((x) => v.some((y) => deepEqual(x, y)))) return false;
          break;
        default:
          return false; // an unknown operator fails the precondition
      }
    }
    return true;
  }

  /**
   * The projection of the tree onto `paths`, keeping full paths. A missing key yields the deepest existing
   * parent as `{}` (docs: "A missing key gives the deepest existing parent"). Values are shared with the tree:
   * serialise the result before the store changes again.
   */
  read(paths: string[]): JsonObject {
    const out: JsonObject = {};
    for (const raw of paths) {
      const parts = splitPath(raw);
      if (parts.length === 0) return this.root;
      let src: Json | undefined = this.root;
      let dst: JsonObject = out;
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i];
        const next: Json | undefined =
          isObject(src) && Object.prototype.hasOwnProperty.call(src, p) ? src[p] : undefined;
        if (next === undefined) break;
        if (i === parts.length - 1) {
          dst[p] = next;
        } else {
          if (!isObject(next)) break;
          if (!isObject(dst[p])) dst[p] = {};
          dst = dst[p] as JsonObject;
        }
        src = next;
      }
    }
    return out;
  }

  /** Keys whose ttl has passed (for the leader to delete through the log). */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [k, t] of this.ttls) if (t <= now) out.push(k);
    return out;
  }

  nextExpiry(): number | undefined {
    let min: number | undefined;
    for (const t of this.ttls.values()) if (min === undefined || t < min) min = t;
    return min;
  }
}

/** Does a transaction touch the reserved key `/.agency`? (403 for clients.) */
export function touchesReserved(ops: [string, Operation][], pre?: Preconditions): boolean {
  const hit = (p: string): boolean => splitPath(p)[0] === '.agency';
  return ops.some(([p]) => hit(p)) || Object.keys(pre ?? {}).some(hit);
}
