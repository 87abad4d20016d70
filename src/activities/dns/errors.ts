// Named failures of the DNS activities, in the one pattern of src/activities/failure.ts: the retry decision
// travels with the error itself (nonRetryable) and the workflow sees a stable `type` to branch on.
import { ActivityError } from '../failure';

/** The record holds neither the expected old values nor the new ones: someone else changed it. Never retried. */
export class DnsConflictError extends ActivityError {
  constructor(
    readonly record: string,
    readonly expected: string[],
    readonly actual: string[],
    readonly wanted: string[],
    cause?: Error,
  ) {
    super(
      `DNS record ${record} was changed outside Transit: expected [${expected.join(', ')}] (or already [${wanted.join(', ')}]), ` +
        `found [${actual.join(', ')}]. Nothing was overwritten; find out who changed it, then set it back or update the migration's expected values.`,
      'DnsConflictError',
      true,
      { record, expected, actual, wanted },
      cause,
    );
  }
}

/** The server refused us: NOTAUTH, REFUSED, bad TSIG. Retrying cannot help; the message says what to fix. */
export class DnsAuthError extends ActivityError {
  constructor(
    message: string,
    readonly rcode: string,
    cause?: Error,
  ) {
    super(message, 'DnsAuthError', true, { rcode }, cause);
  }
}

/** Server unreachable, timed out or SERVFAIL: retryable, the server may come back. */
export class DnsUnavailableError extends ActivityError {
  constructor(
    message: string,
    readonly server: string,
    cause?: Error,
  ) {
    super(message, 'DnsUnavailableError', false, { server }, cause);
  }
}

/** The spec, the key or the installation is wrong. Never retried. */
export class DnsConfigError extends ActivityError {
  constructor(message: string, cause?: Error) {
    super(message, 'DnsConfigError', true, undefined, cause);
  }
}
