/**
 * Workflow time. Inside Temporal's sandbox `Date` is replay-safe: it reads the time of the workflow task being
 * processed, the same on every replay. This is the one place workflow code reads it, so that the lint rule
 * against clocks in src/workflows/ (.oxlintrc.json) can stay strict everywhere else.
 */
export function workflowNow(): number {
  return Date.now(); // oxlint-disable-line no-restricted-properties -- the sanctioned read: the sandbox makes Date.now() the workflow task's time
}
