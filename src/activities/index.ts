/**
 * createActivities(deps): the object a worker registers — every activity of TransitActivities, one file per
 * outside system (kube/, agency/, dns/, probes.ts). Dependencies are injected, so tests and the demo bind the
 * same code to the servers they started.
 */
import { readFile } from 'node:fs/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { validateSpec as validate } from '../spec/validate';
import type { CredentialRef } from './agency-types';
import { createAgencyActivities, type AgencyActivityDeps } from './agency';
import type { TransitActivities } from './contract';
import { createDnsActivities } from './dns';
import { createKubeActivities, kubeConfigLoader, type KubeActivityDeps } from './kube';
import { createProbeActivities } from './probes';

export interface ActivityDeps {
  /** The worker's kubeconfig (default: KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
  /** Overrides for each part (tests bind them to their servers). */
  kube?: Partial<KubeActivityDeps>;
  agency?: Partial<AgencyActivityDeps>;
  /** Reads a credential reference: a file, or a key of a Kubernetes Secret (through the worker's kubeconfig). */
  readCredential?: (ref: CredentialRef) => Promise<string>;
}

/** Secret references are read with the worker's kubeconfig, in the context the reference names. */
export function credentialReader(kubeconfigPath?: string): (ref: CredentialRef) => Promise<string> {
  return async (ref) => {
    if ('file' in ref) {
      try {
        return (await readFile(ref.file, 'utf8')).trim();
      } catch (e) {
        throw ApplicationFailure.nonRetryable(`cannot read the credential file ${ref.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'CredentialError');
      }
    }
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    if (ref.secret.context) kc.setCurrentContext(ref.secret.context);
    const ns = ref.secret.namespace ?? 'default';
    try {
      const s = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: ref.secret.name, namespace: ns });
      const v = s.data?.[ref.secret.key];
      if (v === undefined) throw new Error(`no key "${ref.secret.key}"`);
      return Buffer.from(v, 'base64').toString('utf8').trim();
    } catch (e) {
      throw ApplicationFailure.nonRetryable(
        `cannot read Secret ${ns}/${ref.secret.name} key ${ref.secret.key}: ${(e as Error).message.split('\n')[0]} — create it, or grant the worker get on it`,
        'CredentialError',
      );
    }
  };
}

export function createActivities(deps: Partial<ActivityDeps> = {}): TransitActivities {
  const readCredential = deps.readCredential ?? credentialReader(deps.kubeconfigPath);
  const kube = createKubeActivities({ loadKubeConfig: kubeConfigLoader({ kubeconfigPath: deps.kubeconfigPath }), ...deps.kube });
  const agency = createAgencyActivities({ readCredential, ...deps.agency });
  const dns = createDnsActivities({
    readSecret: (secret) => readCredential({ secret }),
    kubeConfig: () => {
      const kc = new KubeConfig();
      if (deps.kubeconfigPath) kc.loadFromFile(deps.kubeconfigPath);
      else kc.loadFromDefault();
      return kc;
    },
  });
  const probes = createProbeActivities({ readCredential });
  return {
    async validateSpec({ spec }) {
      const r = validate(spec);
      if (!r.ok) throw ApplicationFailure.nonRetryable(r.problems.join('; '), 'InvalidSpecError');
      return r.spec;
    },
    ...kube,
    ...agency,
    readRecord: (a) => dns.readRecord(a),
    switchRecord: async (a) => ({ changed: (await dns.switchRecord(a)).changed }),
    restoreRecord: async (a) => ({ changed: (await dns.restoreRecord(a)).changed }),
    waitForPropagation: async (a) => {
      const r = await dns.waitForPropagation(a);
      return { propagatedSeconds: r.propagatedMs / 1000, ttlWaitSeconds: r.ttlWaitMs / 1000 };
    },
    ...probes,
  };
}
