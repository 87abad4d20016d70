/**
 * Validating a migration spec at the edges: the CLI and client before a start, the workflow on its input
 * (src/workflows/input.ts). A bad spec yields one message per problem, each naming the field path and what is
 * expected. Deterministic and free of Node built-ins (the workflow bundle includes it); text parsing (YAML) is
 * in text.ts.
 */
import type { z } from 'zod';
import { crossFieldProblems, MigrationSpec, specJsonSchema } from './schema';

export type SpecResult = { ok: true; spec: MigrationSpec } | { ok: false; problems: string[] };

/** Thrown at the edges when a spec is invalid; `problems` holds one line per problem. */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';
  constructor(readonly problems: string[]) {
    super(`invalid migration spec:\n  ${problems.join('\n  ')}`);
  }
}

/** Validate an already-parsed value. */
export function validateSpec(value: unknown): SpecResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problems: [`(top level): expected a mapping with keys ${topKeys()}, got ${describe(value)}`] };
  }
  const r = MigrationSpec.safeParse(value);
  const cross = crossFieldProblems(value).map(([path, msg]) => `${pathText(path)}: ${msg}`);
  if (r.success && cross.length === 0) return { ok: true, spec: r.data };
  const shape = r.success ? [] : r.error.issues.flatMap((i) => formatIssue(i, [], value));
  return { ok: false, problems: dedupe([...shape, ...cross]) };
}

/** Validate or throw InvalidSpecError. */
export function assertValidSpec(value: unknown): MigrationSpec {
  const r = validateSpec(value);
  if (!r.ok) throw new InvalidSpecError(r.problems);
  return r.spec;
}

export function topKeys(): string {
  const props = (specJsonSchema().properties ?? {}) as Record<string, unknown>;
  return Object.keys(props).join(', ');
}

type Issue = z.core.$ZodIssue;

function formatIssue(issue: Issue, prefix: PropertyKey[], root: unknown): string[] {
  const path = [...prefix, ...issue.path];
  const at = pathText(path);
  const actual = valueAt(root, path);
  switch (issue.code) {
    case 'invalid_type':
      if (actual === undefined) return [`${at}: required (${issue.expected})`];
      return [`${at}: expected ${issue.expected}, got ${describe(actual)}`];
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const allowed = allowedKeys(path);
        return `${pathText([...path, k])}: unknown key${allowed ? ` (allowed here: ${allowed.join(', ')})` : ''}`;
      });
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        const disc = String(issue.discriminator);
        const values = discriminatorValues(path, disc);
        const dpath = issue.path.length && issue.path[issue.path.length - 1] === disc ? path : [...path, disc];
        return [
          `${pathText(dpath)}: expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(valueAt(root, dpath))}`,
        ];
      }
      const keys = allowedKeys(path) ?? [];
      if (keys.includes('file') && keys.includes('secret') && (actual === null || typeof actual !== 'object')) {
        return [
          `${at}: expected a reference {"file": path} or {"secret": {"name": ..., "key": ...}}, never the credential itself; got ${describe(actual)}`,
        ];
      }
      // Report the branch that got furthest (the user's evident intent), else what the union accepts.
      const branches = issue.errors.filter((errs) =>
        errs.every((e) => e.path.length > 0 && e.code !== 'unrecognized_keys'),
      );
      if (branches.length === 1) return branches[0]!.flatMap((e) => formatIssue(e, path, root));
      const note = describeSchemaAt(path);
      return [`${at}: expected ${note ?? 'a different shape'}, got ${describe(actual)}`];
    }
    case 'invalid_value':
      return [
        `${at}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(actual)}`,
      ];
    case 'invalid_format':
    case 'custom':
      return [`${at}: ${issue.message}${issue.code === 'invalid_format' ? `, got ${describe(actual)}` : ''}`];
    case 'too_small':
    case 'too_big': {
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const what = issue.origin === 'string' ? 'length ' : issue.origin === 'array' ? 'item count ' : '';
      const custom = issue.message && !issue.message.startsWith('Too ') ? issue.message : undefined;
      return [
        `${at}: ${custom ?? `expected ${what}${op} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}`}, got ${describe(actual)}`,
      ];
    }
    default:
      return [`${at}: ${issue.message}`];
  }
}

function pathText(path: PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  // Never echo long strings back: a misplaced secret would end up in logs.
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : `"${v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  return typeof v;
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  description?: string;
};

function schemaNodes(path: PropertyKey[]): JsonSchema[] {
  let nodes: JsonSchema[] = [specJsonSchema() as JsonSchema];
  for (const p of path) {
    const next: JsonSchema[] = [];
    const expand = (n: JsonSchema): JsonSchema[] => [
      n,
      ...(n.anyOf ?? []).flatMap(expand),
      ...(n.oneOf ?? []).flatMap(expand),
    ];
    for (const n of nodes.flatMap(expand)) {
      if (typeof p === 'number' && n.items) next.push(n.items);
      else if (n.properties && typeof p === 'string' && n.properties[p]) next.push(n.properties[p]!);
    }
    nodes = next;
  }
  return nodes;
}

function allowedKeys(path: PropertyKey[]): string[] | undefined {
  const keys = new Set<string>();
  const expand = (n: JsonSchema): JsonSchema[] => [
    n,
    ...(n.anyOf ?? []).flatMap(expand),
    ...(n.oneOf ?? []).flatMap(expand),
  ];
  for (const n of schemaNodes(path).flatMap(expand)) for (const k of Object.keys(n.properties ?? {})) keys.add(k);
  return keys.size ? [...keys] : undefined;
}

function discriminatorValues(path: PropertyKey[], disc: string): unknown[] {
  const parentPath = path[path.length - 1] === disc ? path.slice(0, -1) : path;
  const values: unknown[] = [];
  const expand = (n: JsonSchema): JsonSchema[] => [
    n,
    ...(n.anyOf ?? []).flatMap(expand),
    ...(n.oneOf ?? []).flatMap(expand),
  ];
  for (const n of schemaNodes(parentPath).flatMap(expand)) {
    const d = n.properties?.[disc] as { const?: unknown; enum?: unknown[] } | undefined;
    if (d?.const !== undefined) values.push(d.const);
    if (d?.enum) values.push(...d.enum);
  }
  return values;
}

function describeSchemaAt(path: PropertyKey[]): string | undefined {
  return schemaNodes(path).find((n) => n.description)?.description;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
