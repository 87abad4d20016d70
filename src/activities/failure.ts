/**
 * The one pattern of Transit's named activity failures (kube/errors.ts, dns/errors.ts): a Temporal
 * ApplicationFailure whose `type` and `name` are the class name, so the retry decision travels with the error
 * (nonRetryable) and the workflow and retry policies can name the type.
 */
import { ApplicationFailure } from '@temporalio/common';

export abstract class ActivityError extends ApplicationFailure {
  constructor(message: string, type: string, nonRetryable: boolean, details?: unknown, cause?: Error) {
    super(message, type, nonRetryable, details === undefined ? undefined : [details], cause);
    // ApplicationFailure's prototype pins `name` (read-only): each instance gets its own type as name.
    Object.defineProperty(this, 'name', { value: type, enumerable: true });
  }
}
