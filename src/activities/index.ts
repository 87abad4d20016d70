/**
 * createActivities(deps): the object a worker registers — every activity of TransitActivities, one file per
 * outside system (kube/, agency/, dns/, probes.ts). Dependencies are injected, so tests and the demo bind the
 * same code to the servers they started.
 */
import { ApplicationFailure } from '@temporalio/common';
import { validateSpec as validate } from '../spec/validate';
import type { CredentialRef } from '../spec/schema';
import { credentialReader, redacting, workerKubeConfig } from './credentials';
import { createAgencyActivities, type AgencyActivityDeps } from './agency';
import type { TransitActivities } from './contract';
import { createDnsActivities } from './dns';
import { createKubeActivities, kubeConfigLoader, type KubeActivityDeps } from './kube';
import { createProbeActivities, workerRegionFromEnv } from './probes';
import { createLatencyProbeActivities } from './latency-probe';

export interface ActivityDeps {
  /** The worker's kubeconfig (default: KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
  /** Overrides for each part (tests bind them to their servers). */
  kube?: Partial<KubeActivityDeps>;
  agency?: Partial<AgencyActivityDeps>;
  /** Reads a credential reference (default: src/activities/credentials.ts); what it returns is redacted in logs. */
  readCredential?: (ref: CredentialRef) => Promise<string>;
  /**
   * The region this worker runs in, for the version checks' labels (default TRANSIT_WORKER_REGION, then
   * TRANSIT_REGION; unset: "region unknown"). Labels only: no workflow decision depends on it.
   */
  region?: string;
}

export { credentialReader } from './credentials';

export function createActivities(deps: Partial<ActivityDeps> = {}): TransitActivities {
  // Every credential, however it is read, is registered with the log redaction.
  const readCredential = deps.readCredential
    ? redacting(deps.readCredential)
    : credentialReader({ kubeconfigPath: deps.kubeconfigPath });
  const kube = createKubeActivities({
    loadKubeConfig: kubeConfigLoader({ kubeconfigPath: deps.kubeconfigPath }),
    ...deps.kube,
  });
  const agency = createAgencyActivities({ readCredential, ...deps.agency });
  const dns = createDnsActivities({
    readSecret: (secret) => readCredential({ secret }),
    kubeConfig: workerKubeConfig(deps.kubeconfigPath),
  });
  const region = deps.region?.trim() || workerRegionFromEnv();
  const probes = createProbeActivities({ readCredential, region });
  const latencyProbes = createLatencyProbeActivities({ readCredential, region });
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
    ...latencyProbes,
  };
}
