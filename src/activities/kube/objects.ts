// Comparing and merging Kubernetes objects for create-or-update: a desired object says only what Transit
// cares about (null = must be absent); the API server adds defaults (clusterIP, protocol, …) that must not
// count as a difference, and fields others own (their labels and annotations) are kept on update.
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isPlain(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Date);
}

/** Does `cur` hold everything `want` says? null in `want` means absent (or null) in `cur`. */
export function holds(cur: unknown, want: unknown): boolean {
  if (want === undefined) return true;
  if (want === null) return cur === undefined || cur === null;
  if (Array.isArray(want)) {
    return Array.isArray(cur) && cur.length === want.length && want.every((w, i) => holds(cur[i], w));
  }
  if (isPlain(want)) {
    if (!isPlain(cur)) return Object.values(want).every((v) => v === null);
    return Object.entries(want).every(([k, v]) => holds(cur[k], v));
  }
  return cur === want;
}

/** The first path where `cur` does not hold `want` (for logs), or undefined. */
export function firstDifference(cur: unknown, want: unknown, path = ''): string | undefined {
  if (holds(cur, want)) return undefined;
  if (Array.isArray(want) && Array.isArray(cur) && cur.length === want.length) {
    for (let i = 0; i < want.length; i++) {
      const d = firstDifference(cur[i], want[i], `${path}[${i}]`);
      if (d) return d;
    }
  }
  if (isPlain(want) && isPlain(cur)) {
    for (const [k, v] of Object.entries(want)) {
      const d = firstDifference(cur[k], v, `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path || '.'}: have ${JSON.stringify(cur)?.slice(0, 120)}, want ${JSON.stringify(want)?.slice(0, 120)}`;
}

/** `a` with `b` on top; keys whose value in `b` is null are removed. */
export function mergeMap<T>(
  a: Record<string, T> | undefined,
  b: Record<string, T | null> | undefined,
): Record<string, T> {
  const out: Record<string, T> = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A deep copy without null values (what create sends). */
export function stripNulls<T>(x: T): T {
  if (Array.isArray(x)) return x.map((v) => stripNulls(v)) as T;
  if (isPlain(x)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (v !== null && v !== undefined) out[k] = stripNulls(v);
    return out as T;
  }
  return x;
}

/**
 * The replacement for `cur`: labels and annotations merged, `spec` merged key by key (nulls remove), every
 * other top-level field of `desired` (subsets, data, …) replaced whole.
 */
export function overlay<T extends KubernetesObject>(cur: T, desired: T): T {
  const c = cur as unknown as Record<string, Json>;
  const d = desired as unknown as Record<string, Json>;
  const out: Record<string, unknown> = { ...c };
  for (const [k, v] of Object.entries(d)) {
    if (k === 'metadata' || k === 'apiVersion' || k === 'kind') continue;
    if (k === 'spec' && isPlain(v) && isPlain(c.spec))
      out.spec = mergeMap(c.spec as Record<string, Json>, v as Record<string, Json | null>);
    else out[k] = stripNulls(v);
  }
  out.metadata = {
    ...cur.metadata,
    labels: mergeMap(cur.metadata?.labels, desired.metadata?.labels as Record<string, string | null> | undefined),
    annotations: mergeMap(
      cur.metadata?.annotations,
      desired.metadata?.annotations as Record<string, string | null> | undefined,
    ),
  };
  return out as T;
}

/** overlay() for Services: keeps the node ports the API server allocated for ports that stay. */
export function overlayService(cur: V1Service, desired: V1Service): V1Service {
  const out = overlay(cur, desired);
  if (desired.spec?.ports && out.spec) {
    out.spec.ports = desired.spec.ports.map((p) => {
      const was = cur.spec?.ports?.find((x) => x.port === p.port && (x.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      return was?.nodePort && !p.nodePort ? { ...p, nodePort: was.nodePort } : p;
    });
  }
  return out;
}

/** apply() handlers for an object compared by holds() and merged by overlay(). */
export function upsertHandlers<T extends KubernetesObject>(desired: T, check?: (cur: T) => void) {
  return {
    same: (cur: T) => holds(cur, desired),
    merge: (cur: T) => (isService(desired) ? overlayService(cur as V1Service, desired) : overlay(cur, desired)) as T,
    check,
  };
}

function isService(o: KubernetesObject): o is V1Service {
  return o.kind === 'Service';
}
