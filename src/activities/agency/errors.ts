// Named failures of the agency activities, in the one pattern of src/activities/failure.ts (the `type` is the
// class name, so the workflow can branch on it and retry policies can list it); retryability is decided here, once.
import { ActivityError } from '../failure';

/** The agency has no leader, lost quorum, or could not be reached for a while. Retryable. */
export class AgencyUnavailableError extends ActivityError {
  constructor(message: string, cause?: Error) {
    super(message, 'AgencyUnavailableError', false, undefined, cause);
  }
}

/** A coordinator could not be reached or answered 5xx. Retryable. */
export class ArangoUnavailableError extends ActivityError {
  constructor(message: string, cause?: Error) {
    super(message, 'ArangoUnavailableError', false, undefined, cause);
  }
}

/**
 * A coordinator refused a request with a 4xx other than 401/403 (invalid for this collection, this server version or
 * this cluster's settings): repeating it would be refused again. Not retryable: the message names what to change.
 */
export class ArangoRequestRefusedError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'ArangoRequestRefusedError', true, details);
  }
}

/** 401/403: the credential is wrong. Not retryable: a person has to fix the credential reference. */
export class ArangoAuthError extends ActivityError {
  constructor(message: string) {
    super(message, 'ArangoAuthError', true);
  }
}

/** A precondition failed and re-reading could not classify the outcome yet. Retryable. */
export class AgencyPreconditionFailedError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'AgencyPreconditionFailedError', false, details);
  }
}

export interface ShardConflict {
  index: number;
  shard: string;
  reason: string;
}

/**
 * Someone else (a supervision job, an operator, another migration) changed or locked a shard we were about to
 * change; we never overwrite. Not retryable. `details[0]` = { conflicts, results } where results holds the
 * outcome of every other move of the batch (those writes were applied).
 */
export class ShardConflictError extends ActivityError {
  constructor(
    message: string,
    readonly conflicts: ShardConflict[],
    readonly results: unknown[],
  ) {
    super(message, 'ShardConflictError', true, { conflicts, results });
  }
}

/** The step would break a safety invariant (fewer in-sync copies than replicationFactor, …). Not retryable. */
export class InvariantViolationError extends ActivityError {
  constructor(
    message: string,
    readonly offenders: string[] = [],
  ) {
    super(message, 'InvariantViolationError', true, { offenders });
  }
}

/** A server the step needs is not GOOD yet (BAD, starting). Retryable. */
export class ServerNotHealthyError extends ActivityError {
  constructor(message: string) {
    super(message, 'ServerNotHealthyError', false);
  }
}

/** A bounded wait ended without the awaited state. Not retryable (the workflow decides what next). */
export class WaitTimeoutError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'WaitTimeoutError', true, details);
  }
}

/** Replacing this agent now would lose agency quorum. Not retryable. */
export class AgentNotReplaceableError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'AgentNotReplaceableError', true, details);
  }
}

/** The agency is electing a leader or its leader changed while we looked. Retryable. */
export class AgencyUnstableError extends ActivityError {
  constructor(message: string) {
    super(message, 'AgencyUnstableError', false);
  }
}

/** removeServer was refused (the server is not FAILED yet, still locked, …). Retryable. */
export class ServerNotRemovableError extends ActivityError {
  constructor(message: string) {
    super(message, 'ServerNotRemovableError', false);
  }
}

/** The cluster holds something Transit cannot move (a replication-2 database, …). Not retryable. */
export class UnsupportedClusterError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'UnsupportedClusterError', true, details);
  }
}

/** Failure types the workflow should not retry (for RetryPolicy.nonRetryableErrorTypes). */
export const NON_RETRYABLE_AGENCY_ERRORS = [
  'ArangoAuthError',
  'ShardConflictError',
  'InvariantViolationError',
  'WaitTimeoutError',
  'AgentNotReplaceableError',
  'UnsupportedClusterError',
] as const;
