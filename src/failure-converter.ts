// Loaded by path (the worker's workflow sandbox needs a module): failure messages and stack traces are encoded
// by the payload codec too, so infrastructure errors that echo hostnames or paths are not stored in plain text.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
