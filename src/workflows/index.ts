// The workflows a Transit worker registers (bundled by the Temporal SDK; no Node built-ins below this folder).
export { migrationWorkflow } from './migration';
export type { MigrationInput } from './migration';
