// Each control's constant is its wire name plus its kind (pauseSignal ↔ 'pause'), so UI, CLI and code agree.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as controls from '../src/shared/controls';

it('control constants are named <wire name><Kind> and every control has a description', () => {
  const kinds = { signal: 'Signal', query: 'Query', update: 'Update' } as const;
  let n = 0;
  for (const [name, value] of Object.entries(controls)) {
    const def = value as { type?: string; name?: string };
    if (!def || typeof def !== 'object' || !(def.type! in kinds)) continue;
    n++;
    assert.equal(name, `${def.name}${kinds[def.type as keyof typeof kinds]}`);
    assert.ok(def.name! in controls.CONTROL_DESCRIPTIONS, `${def.name} has a description`);
  }
  assert.equal(n, 9);
});
