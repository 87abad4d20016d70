/** Spec text (YAML or JSON; JSON is YAML) to a value, then validated (validate.ts). */
import { parseDocument } from 'yaml';
import { topKeys, validateSpec, type SpecResult } from './validate';

/** Parse YAML or JSON text without validating it: the value as written, or one problem per syntax error. */
export function parseSpecDocument(
  text: string,
  source = 'spec',
): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  if (text.trim() === '') {
    return { ok: false, problems: [`${source}: empty; expected a YAML or JSON mapping with keys ${topKeys()}`] };
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => `${source}: not valid YAML/JSON: ${e.message.split('\n')[0]}`),
    };
  }
  return { ok: true, value: doc.toJS() as unknown };
}

/** Parse YAML or JSON text and validate it. */
export function parseSpecText(text: string, source = 'spec'): SpecResult {
  const doc = parseSpecDocument(text, source);
  return doc.ok ? validateSpec(doc.value) : doc;
}
