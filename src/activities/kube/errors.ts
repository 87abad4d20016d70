// Named failures of the Kubernetes activities, in the one pattern of src/activities/failure.ts (type = class
// name, retryability decided here). One classifier, kubeFailure(), turns whatever the client or the network threw
// into one of them.
import { ApplicationFailure } from '@temporalio/common';
import { ActivityError } from '../failure';

/** What Transit was doing when Kubernetes answered: for messages that name what to fix. */
export interface KubeOp {
  /** Kubernetes verb: get, list, create, update, delete, … */
  verb: string;
  /** Plural resource with its group when not core, e.g. "pods", "arangodeployments.database.arangodb.com". */
  resource: string;
  namespace?: string;
  name?: string;
  /** The kube context (names the cluster in messages). */
  context: string;
}

export function describeOp(op: KubeOp): string {
  const what = op.name ? `${op.resource}/${op.name}` : op.resource;
  return `${op.verb} ${what}${op.namespace ? ` in namespace ${op.namespace}` : ''} (context ${op.context})`;
}

/** 403: the worker's identity lacks a permission. Never retried: someone must grant it (deploy/rbac.yaml). */
export class KubeForbiddenError extends ActivityError {
  constructor(
    readonly op: KubeOp,
    serverMessage?: string,
    message?: string,
  ) {
    super(
      message ??
        `Kubernetes refused ${describeOp(op)}: the worker is not allowed to ${op.verb} ${op.resource}` +
          `${op.namespace ? ` in namespace ${op.namespace}` : ' (cluster-scoped)'}; grant it (see deploy/rbac.yaml)` +
          (serverMessage ? ` — API server: ${serverMessage.slice(0, 300)}` : ''),
      'KubeForbiddenError',
      true,
      { verb: op.verb, resource: op.resource, namespace: op.namespace ?? null, context: op.context },
    );
  }
}

/** 401: the credentials of the context are wrong or expired. Never retried. */
export class KubeUnauthorizedError extends ActivityError {
  constructor(op: KubeOp) {
    super(
      `the API server of context ${op.context} rejected the worker's credentials (401) on ${describeOp(op)}: ` +
        'renew the token or client certificate in the kubeconfig',
      'KubeUnauthorizedError',
      true,
    );
  }
}

/** API server unreachable, timed out, 5xx or 429. Retryable: it may come back. */
export class KubeUnavailableError extends ActivityError {
  constructor(message: string, cause?: Error) {
    super(message, 'KubeUnavailableError', false, undefined, cause);
  }
}

/** Optimistic-lock conflicts (409) kept coming back after the in-activity retries. Retryable. */
export class KubeConflictError extends ActivityError {
  constructor(message: string) {
    super(message, 'KubeConflictError', false);
  }
}

/** The API server rejected an object (400/422) or a resource type is missing (404 on a kind). Never retried. */
export class KubeInvalidError extends ActivityError {
  constructor(message: string) {
    super(message, 'KubeInvalidError', true);
  }
}

/** The kubeconfig, context or credential reference cannot be used. Never retried. */
export class KubeConfigError extends ActivityError {
  constructor(message: string) {
    super(message, 'KubeConfigError', true);
  }
}

/** An object Transit would write exists but belongs to someone else (or another migration). Never retried. */
export class KubeOwnershipError extends ActivityError {
  constructor(message: string) {
    super(message, 'KubeOwnershipError', true);
  }
}

/** A wait (pods Ready, LB ingress, probe) did not finish in time. Retryable: the next attempt waits again. */
export class KubeWaitTimeoutError extends ActivityError {
  constructor(message: string, details?: unknown) {
    super(message, 'KubeWaitTimeoutError', false, details);
  }
}

/** The clusters cannot host this migration as specified (CIDRs overlap, no StorageClass, …). Never retried. */
export class PreflightError extends ActivityError {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message, 'PreflightError', true, { problems });
  }
}

/** The deployment is not what Transit can migrate, or a step would act on the wrong thing. Never retried. */
export class InvalidDeploymentError extends ActivityError {
  constructor(message: string) {
    super(message, 'InvalidDeploymentError', true);
  }
}

export function httpStatus(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/** The Status message of an API error body, if any (never the request, which may hold a Secret). */
export function serverMessage(e: unknown): string | undefined {
  const body = (e as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message;
    } catch {
      return body.slice(0, 300);
    }
  }
  if (body && typeof body === 'object') return (body as { message?: string }).message;
  return undefined;
}

/** A network-level failure (refused, reset, DNS, TLS, timeout), as undici reports it. */
export function networkReason(e: unknown): string | undefined {
  if (httpStatus(e) !== undefined) return undefined;
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return 'request timed out';
  const code = err.cause?.code;
  if (code) return code;
  if (/fetch failed|socket|ECONN|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|other side closed/i.test(err.message ?? '')) {
    return err.cause?.message ?? err.message ?? 'network error';
  }
  return undefined;
}

/** Is this worth another attempt inside the activity (API server away, overloaded, or busy)? */
export function isTransient(e: unknown): boolean {
  const s = httpStatus(e);
  if (s !== undefined) return s === 429 || s >= 500;
  return networkReason(e) !== undefined;
}

/** Maps a raw client/network error of one operation to the named failures above. */
export function kubeFailure(e: unknown, op: KubeOp, server?: string): Error {
  if (e instanceof ApplicationFailure) return e;
  if (e instanceof Error && /Unrecognized API version and kind/.test(e.message)) {
    return new KubeInvalidError(
      `${describeOp(op)}: the API server does not serve this kind (${e.message}); install its CRD`,
    );
  }
  const s = httpStatus(e);
  const msg = serverMessage(e);
  if (s === 403) return new KubeForbiddenError(op, msg);
  if (s === 401) return new KubeUnauthorizedError(op);
  if (s === 400 || s === 422)
    return new KubeInvalidError(`the API server rejected ${describeOp(op)} (${s}): ${msg ?? ''}`.trim());
  if (s === 404) {
    return new KubeInvalidError(
      `${describeOp(op)}: not found (${msg ?? 'no such resource'}); is the CRD installed and the namespace created?`,
    );
  }
  if (s === 409)
    return new KubeConflictError(
      `${describeOp(op)}: conflict (409) — ${msg ?? 'the object changed meanwhile'}; it is retried`,
    );
  const net = networkReason(e);
  if (s !== undefined || net) {
    return new KubeUnavailableError(
      `API server of context ${op.context}${server ? ` (${server})` : ''} unavailable during ${describeOp(op)}: ` +
        `${s !== undefined ? `HTTP ${s}${msg ? ` ${msg}` : ''}` : net}; it is retried`,
      e instanceof Error ? e : undefined,
    );
  }
  return e instanceof Error ? e : new Error(String(e));
}
