/**
 * One table of activity options: each activity's timeout class. Transient errors are retried with backoff until
 * the class's schedule-to-close budget runs out; the error types listed here are never retried (bad input,
 * authentication/authorisation, invariant violations, conflicts) — the workflow then records the message,
 * parks, and waits for the operator (resume retries the step; rollback or abort end it).
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { TransitActivities } from '../activities/contract';
import type { MigrationSpec } from '../spec/schema';

export const NON_RETRYABLE_ERRORS = [
  'InvalidSpecError',
  'InvariantViolationError',
  'ShardConflictError',
  'DnsConflictError',
  'DnsAuthError',
  'AuthenticationError',
  'AuthorizationError',
  'KubeForbiddenError',
  'PreflightError',
  'ArangoAuthError',
  'WaitTimeoutError',
  'AgentNotReplaceableError',
  'DnsConfigError',
  'CredentialError',
];

type Name = keyof TransitActivities;

/** Activities that wait on the outside world: they heartbeat, so a dead worker is noticed within seconds. */
const WAITS: Name[] = [
  'provisionTargetMembers',
  'moveAgent',
  'removeTargetMembers',
  'decommissionSourceMembers',
  'waitForServerRegistered',
  'waitForShardInSync',
  'moveShardLeadership',
  'waitForAgentCaughtUp',
  'waitForPropagation',
  'bridgeNetworks',
  'probeVersionChecks',
];

/** Validation runs before the spec (and its timeouts) can be trusted. */
export function validationProxy(): Pick<TransitActivities, 'validateSpec'> {
  return proxyActivities<TransitActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERRORS },
  });
}

export function activityProxies(spec: MigrationSpec): TransitActivities {
  const t = spec.policy.timeouts;
  const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', nonRetryableErrorTypes: NON_RETRYABLE_ERRORS };
  const short: ActivityOptions = {
    startToCloseTimeout: '60s',
    scheduleToCloseTimeout: `${t.activitySeconds}s`,
    retry,
  };
  const wait: ActivityOptions = {
    startToCloseTimeout: `${Math.max(t.activitySeconds, 120)}s`,
    // Heartbeats arrive every few seconds; a worker that stops sending them is presumed dead.
    heartbeatTimeout: '5s',
    scheduleToCloseTimeout: `${Math.max(t.activitySeconds, 120) * 3}s`,
    retry,
  };
  const propagation: ActivityOptions = {
    ...wait,
    startToCloseTimeout: `${t.propagationSeconds}s`,
    scheduleToCloseTimeout: `${t.propagationSeconds * 2}s`,
  };
  const s = proxyActivities<TransitActivities>(short);
  const w = proxyActivities<TransitActivities>(wait);
  const p = proxyActivities<TransitActivities>(propagation);
  // proxyActivities hands out functions by name on access, so route each name to its class.
  return new Proxy({} as TransitActivities, {
    get(_, name: string) {
      if (name === 'waitForPropagation') return p.waitForPropagation;
      return (WAITS as string[]).includes(name) ? w[name as Name] : s[name as Name];
    },
  });
}
