/**
 * The workflow's input, checked before the workflow touches any of it. Whoever starts a migration — the client,
 * `temporal workflow start`, the Web UI's Start Workflow form — the input is one JSON value; anything but a valid
 * spec fails the workflow at once with a non-retryable `InvalidSpecError` that says what is wrong, instead of
 * crashing the first workflow task (which Temporal retries for ever).
 *
 * Accepted: `{"spec": <migration spec>, "migrationId"?: string, "continueAsNewAfterEvents"?: integer}` (what the
 * client sends; continue-as-new adds `state`), or the bare spec itself (handy in the Web UI form).
 *
 * Deterministic (workflow code): the same schema as the CLI and client (src/spec/), no I/O, no Node built-ins.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { MigrationSpec } from '../spec/schema';
import { topKeys, validateSpec } from '../spec/validate';
import { SPEC_CHECKED_ON_INPUT_PATCH } from './patches';
import type { MigrationState } from './state';

/** What a migration is started with (`transit start`, the client, or the Web UI's Start Workflow form). */
export interface MigrationInput {
  /** The migration spec (validated on input; see `transit schema`). */
  spec: unknown;
  /** Default: the workflow ID. */
  migrationId?: string;
  /** Test knob: continue-as-new after this many history events (0: when the server suggests it). */
  continueAsNewAfterEvents?: number;
  /** Set by continue-as-new only: the state carried from the previous run. */
  state?: MigrationState;
}

/** The input after the check: the spec parsed (defaults applied, credential references resolved). */
export interface CheckedInput {
  spec: MigrationSpec;
  migrationId?: string;
  continueAsNewAfterEvents: number;
  /** Set by continue-as-new only: the state carried from the previous run. */
  state?: MigrationState;
}

const WRAPPER_KEYS = ['spec', 'migrationId', 'continueAsNewAfterEvents', 'state'];
const EXPECTED = 'expected {"spec": <migration spec>} or the migration spec itself';

/** The failure every bad input ends the workflow with; nothing has been changed yet. */
export function invalidInput(problems: string[]): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `invalid migration spec, nothing was changed: ${problems.join('; ')}`,
    'InvalidSpecError',
  );
}

/** Checks the raw workflow input; throws invalidInput(…) naming every problem. */
export function checkMigrationInput(raw: unknown): CheckedInput {
  if (!isMapping(raw)) throw invalidInput([`workflow input: ${EXPECTED} (keys ${topKeys()}), got ${describe(raw)}`]);
  const wrapped = 'spec' in raw;
  if (!wrapped && !Object.keys(raw).some((k) => topKeys().split(', ').includes(k))) {
    const keys = Object.keys(raw);
    throw invalidInput([
      `workflow input: ${EXPECTED} (keys ${topKeys()}), got ${keys.length ? `a mapping with keys ${keys.join(', ')}` : 'an empty mapping'}`,
    ]);
  }
  const problems: string[] = [];
  if (wrapped) {
    for (const k of Object.keys(raw))
      if (!WRAPPER_KEYS.includes(k))
        problems.push(`workflow input: unknown key ${k} (allowed: ${WRAPPER_KEYS.join(', ')})`);
    if (raw.migrationId !== undefined && (typeof raw.migrationId !== 'string' || raw.migrationId === '')) {
      problems.push(`migrationId: expected a non-empty string, got ${describe(raw.migrationId)}`);
    }
    const n = raw.continueAsNewAfterEvents;
    if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
      problems.push(`continueAsNewAfterEvents: expected an integer >= 0, got ${describe(n)}`);
    }
    if (raw.state !== undefined && !isMapping(raw.state))
      problems.push(`state: expected the state carried by continue-as-new, got ${describe(raw.state)}`);
  }
  const spec = wrapped ? raw.spec : raw;
  if (!isMapping(spec)) problems.push(`spec: expected a mapping with keys ${topKeys()}, got ${describe(spec)}`);
  else {
    const r = validateSpec(spec);
    if (!r.ok)
      problems.push(...(wrapped ? r.problems.map((p) => `spec.${p.replace(/^\(top level\): /, '')}`) : r.problems));
    else if (problems.length === 0) {
      return {
        spec: r.spec,
        migrationId: wrapped ? (raw.migrationId as string | undefined) : undefined,
        continueAsNewAfterEvents: wrapped ? ((raw.continueAsNewAfterEvents as number | undefined) ?? 0) : 0,
        state: wrapped ? (raw.state as MigrationState | undefined) : undefined,
      };
    }
  }
  throw invalidInput(problems);
}

/**
 * Runs started before the input was checked in the workflow validated the spec in a `validateSpec` activity
 * first; they replay with it. New runs record this patch and skip it (the spec was checked on input).
 */
export function specCheckedOnInput(): boolean {
  return patched(SPEC_CHECKED_ON_INPUT_PATCH);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  // Never echo long strings back: a misplaced secret would end up in history.
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : `the string "${v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  return typeof v;
}
