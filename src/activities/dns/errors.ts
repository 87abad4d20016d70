// Named failures of the DNS activities. They are Temporal ApplicationFailures, so the retry decision travels
// with the error itself (nonRetryable) and the workflow sees a stable `type` to branch on.
import { ApplicationFailure } from '@temporalio/common';

function named(cls: { prototype: object }, name: string) {
  // ApplicationFailure's prototype pins `name` (read-only); give each subclass its own.
  Object.defineProperty(cls.prototype, 'name', { value: name, enumerable: true });
}

/** The record holds neither the expected old values nor the new ones: someone else changed it. Never retried. */
export class DnsConflictError extends ApplicationFailure {
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
      [{ record, expected, actual, wanted }],
      cause,
    );
  }
}
named(DnsConflictError, 'DnsConflictError');

/** The server refused us: NOTAUTH, REFUSED, bad TSIG. Retrying cannot help; the message says what to fix. */
export class DnsAuthError extends ApplicationFailure {
  constructor(
    message: string,
    readonly rcode: string,
    cause?: Error,
  ) {
    super(message, 'DnsAuthError', true, [{ rcode }], cause);
  }
}
named(DnsAuthError, 'DnsAuthError');

/** Server unreachable, timed out or SERVFAIL: retryable, the server may come back. */
export class DnsUnavailableError extends ApplicationFailure {
  constructor(
    message: string,
    readonly server: string,
    cause?: Error,
  ) {
    super(message, 'DnsUnavailableError', false, [{ server }], cause);
  }
}
named(DnsUnavailableError, 'DnsUnavailableError');

/** The spec, the key or the installation is wrong. Never retried. */
export class DnsConfigError extends ApplicationFailure {
  constructor(message: string, cause?: Error) {
    super(message, 'DnsConfigError', true, [], cause);
  }
}
named(DnsConfigError, 'DnsConfigError');
