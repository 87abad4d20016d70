/**
 * The one place activities read credentials: a file, or a key of a Kubernetes Secret read through the worker's
 * kubeconfig. References arrive resolved — parsing the spec fills in a Secret's namespace (its side's) and
 * context (the source's), see src/spec/credentials.ts — so a Secret reference names exactly one Secret; an
 * unresolved one is refused rather than guessed at. Every value read is registered with the worker's log
 * redaction (src/observability.ts) before it is returned, whoever reads it (JWT, TSIG key, …).
 */
import { readFile } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { registerSecret } from '../observability';
import type { ResolvedSecretRef, SecretRefInput } from '../spec/credentials';
import type { CredentialRef } from '../spec/schema';

export { resolveCredentialRefs, resolveSecretRef, type ResolvedSecretRef } from '../spec/credentials';

export type CredentialReader = (ref: CredentialRef) => Promise<string>;
/** Reads one key of a Secret (decoded): what the DNS activities take for a TSIG key in a Secret. */
export type SecretReader = (ref: SecretRefInput) => Promise<string>;

/** The worker's kubeconfig, loaded afresh for each read (KUBECONFIG or ~/.kube/config unless a path is given). */
export function workerKubeConfig(kubeconfigPath?: string): () => KubeConfig {
  return () => {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return kc;
  };
}

export interface CredentialReaderOptions {
  /** The worker's kubeconfig file (default: KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
  /** Or: how to load it (tests, embedding). */
  loadKubeConfig?: () => KubeConfig;
}

/** Reads file and Secret references; every value goes through the redaction. */
export function credentialReader(o: CredentialReaderOptions = {}): CredentialReader {
  const readSecret = secretReader(o);
  return redacting(async (ref) => {
    if ('file' in ref) return readCredentialFile(ref.file);
    return readSecret(ref.secret);
  });
}

/** Reads a key of a Secret named by a resolved reference (namespace and context given). */
export function secretReader(o: CredentialReaderOptions = {}): SecretReader {
  const load = o.loadKubeConfig ?? workerKubeConfig(o.kubeconfigPath);
  return redacting(async (ref) => {
    const r = requireResolved(ref);
    const where = `Secret ${r.namespace}/${r.name} key ${r.key} (kube context ${r.context})`;
    const kc = load();
    const contexts = kc.getContexts().map((c) => c.name);
    if (!contexts.includes(r.context)) {
      throw ApplicationFailure.nonRetryable(
        `cannot read ${where}: the worker's kubeconfig has no context ${r.context} (it has ${contexts.join(', ') || 'none'}) — fix secret.context in the spec or the worker's kubeconfig`,
        'CredentialError',
      );
    }
    kc.setCurrentContext(r.context);
    let data: Record<string, string> | undefined;
    try {
      data = (await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: r.name, namespace: r.namespace })).data;
    } catch (e) {
      const status = (e as { code?: unknown }).code;
      const detail = typeof status === 'number' ? `HTTP ${status}` : (e as Error).message.split('\n')[0];
      if (status === 401 || status === 403 || status === 404) {
        throw ApplicationFailure.nonRetryable(
          `cannot read ${where}: ${detail} — create the Secret, or grant the worker get on it`,
          'CredentialError',
        );
      }
      // The API server is unreachable or restarting: the activity's retry policy tries again.
      throw ApplicationFailure.retryable(
        `cannot read ${where}: ${detail}; it is retried`,
        'CredentialUnavailableError',
      );
    }
    const v = data?.[r.key];
    if (v === undefined) {
      throw ApplicationFailure.nonRetryable(
        `${where}: the Secret has no key ${r.key} (it has ${Object.keys(data ?? {}).join(', ') || 'none'}) — fix secret.key in the spec`,
        'CredentialError',
      );
    }
    return Buffer.from(v, 'base64').toString('utf8').trim();
  });
}

async function readCredentialFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw ApplicationFailure.nonRetryable(
      `cannot read the credential file ${path}: ${why} — mount it on the worker or fix the path`,
      'CredentialError',
    );
  }
}

function requireResolved(ref: SecretRefInput): ResolvedSecretRef {
  if (ref.namespace === undefined || ref.context === undefined) {
    throw ApplicationFailure.nonRetryable(
      `Secret reference ${ref.name}/${ref.key} reached an activity without ${ref.namespace === undefined ? 'a namespace' : 'a kube context'}: ` +
        'specs get those defaults when parsed (MigrationSpec in src/spec/schema.ts) — pass the parsed spec, or name namespace and context',
      'CredentialError',
    );
  }
  return ref as ResolvedSecretRef;
}

/** Registers every value `read` returns with the worker's log redaction. */
export function redacting<R>(read: (ref: R) => Promise<string>): (ref: R) => Promise<string> {
  return async (ref) => {
    const v = await read(ref);
    registerSecret(v);
    return v;
  };
}
