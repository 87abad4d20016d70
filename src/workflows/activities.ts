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
  'UnsupportedClusterError',
];

type Name = keyof TransitActivities;

/**
 * Activities that wait on the outside world heartbeat, so a dead worker is noticed quickly. Agency waits poll
 * every second: a short heartbeat timeout lets another worker resume shard moves within seconds. Kubernetes
 * calls may block up to one API request (6 s) between heartbeats, so they get more room.
 */
const AGENCY_WAITS: Name[] = [
  'waitForServerRegistered',
  'waitForShardInSync',
  'waitForShardMoves',
  'verifyShardCopies',
  'changeReplicationFactor',
  'moveShardLeadership',
  'waitForAgentCaughtUp',
];
const KUBE_WAITS: Name[] = [
  'provisionTargetMembers',
  'moveAgent',
  'removeTargetMembers',
  'decommissionSourceMembers',
  'bridgeNetworks',
  'probeVersionChecks',
  'ensureLatencyCanary',
  'probeClientLatency',
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
  const retry = {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '20s',
    nonRetryableErrorTypes: NON_RETRYABLE_ERRORS,
  };
  // The worker's activity interceptor heartbeats every 500 ms for every activity (src/observability.ts): a worker
  // that dies in a short step is noticed after 10 s, not after the 60 s start-to-close timeout.
  const short: ActivityOptions = {
    startToCloseTimeout: '60s',
    heartbeatTimeout: '10s',
    scheduleToCloseTimeout: `${t.activitySeconds}s`,
    retry,
  };
  // A wait is a read-only poll: its first retry (e.g. on another worker after this one died) starts at once.
  const wait = (heartbeatTimeout: string): ActivityOptions => ({
    startToCloseTimeout: `${Math.max(t.activitySeconds, 120)}s`,
    heartbeatTimeout,
    scheduleToCloseTimeout: `${Math.max(t.activitySeconds, 120) * 3}s`,
    retry: { ...retry, initialInterval: '200ms' },
  });
  const propagation: ActivityOptions = {
    ...wait('15s'),
    startToCloseTimeout: `${t.propagationSeconds}s`,
    scheduleToCloseTimeout: `${t.propagationSeconds * 2}s`,
  };
  const s = proxyActivities<TransitActivities>(short);
  // Agency waits heartbeat every 500 ms (the worker sends each one: maxHeartbeatThrottleInterval); after three
  // missed ones the attempt is retried, on another worker if this one died. Waits are read-only polls: a false
  // alarm (a worker stalled 1.5 s) costs one more poll, a dead worker is noticed within 2 s.
  const agency = proxyActivities<TransitActivities>(wait('2s'));
  const kube = proxyActivities<TransitActivities>(wait('20s'));
  const p = proxyActivities<TransitActivities>(propagation);
  // proxyActivities hands out functions by name on access, so route each name to its class.
  return new Proxy({} as TransitActivities, {
    get(_, name: string) {
      if (name === 'waitForPropagation') return p.waitForPropagation;
      if ((AGENCY_WAITS as string[]).includes(name)) return agency[name as Name];
      return (KUBE_WAITS as string[]).includes(name) ? kube[name as Name] : s[name as Name];
    },
  });
}

/**
 * probeClientLatency on one region's probe task queue (policy.latency.probeFrom "each-region"). One attempt: a
 * window that fails is a window without samples. A region with no probe worker polling its queue times out before
 * the activity starts (schedule-to-start: one window and 10 s), which the controller reads as no measurement.
 */
export function regionProbeProxy(
  spec: MigrationSpec,
  taskQueue: string,
): Pick<TransitActivities, 'probeClientLatency'> {
  const windowSeconds = spec.policy.latency?.windowSeconds ?? 10;
  return proxyActivities<TransitActivities>({
    taskQueue,
    scheduleToStartTimeout: `${windowSeconds + 10}s`,
    startToCloseTimeout: `${windowSeconds + 120}s`,
    heartbeatTimeout: '20s',
    retry: { maximumAttempts: 1 },
  });
}
