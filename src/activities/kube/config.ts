// Where each side's KubeConfig comes from: the spec names a context and optionally a kubeconfig reference
// (a file, or a Secret key read through the worker's own kubeconfig by the credentials module, which registers
// it with the log redaction); without one, the worker's kubeconfig (KUBECONFIG or ~/.kube/config, or the given
// path: the credentials module's workerKubeConfig, the one loader of it). The credentials are read here, inside
// the activity, and never leave it.
import { KubeConfig } from '@kubernetes/client-node';
import type { Side } from '../contract';
import type { MigrationSpec } from '../../spec/schema';
import { secretReader, workerKubeConfig } from '../credentials';
import { KubeConfigError } from './errors';

export type KubeConfigLoader = (side: Side, spec: MigrationSpec) => Promise<KubeConfig>;

export interface KubeConfigLoaderOptions {
  /** The worker's kubeconfig file (default: KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
}

export function kubeConfigLoader(o: KubeConfigLoaderOptions = {}): KubeConfigLoader {
  const worker = workerKubeConfig(o.kubeconfigPath);
  // A kubeconfig in a Secret is a credential: read through the credentials module (its errors, its redaction).
  const readSecret = secretReader({ loadKubeConfig: worker });
  return async (side, spec) => {
    const s = spec[side];
    const ref = s.kubeconfig;
    let kc: KubeConfig;
    if (!ref) kc = worker();
    else if ('file' in ref) kc = fromFile(side, ref.file);
    else {
      const text = await readSecret({
        ...ref.secret,
        namespace: ref.secret.namespace ?? s.namespace,
        context: ref.secret.context ?? spec.source.context,
      });
      kc = new KubeConfig();
      kc.loadFromString(text);
    }
    useContext(kc, s.context, `${side}.context`);
    return kc;
  };
}

function fromFile(side: Side, file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (e) {
    throw new KubeConfigError(
      `${side}.kubeconfig.file ${file} cannot be read as a kubeconfig (${(e as Error).message.slice(0, 200)}): fix the path or the file`,
    );
  }
  return kc;
}

function useContext(kc: KubeConfig, context: string, what: string): void {
  const names = kc.getContexts().map((c) => c.name);
  if (!names.includes(context)) {
    throw new KubeConfigError(
      `${what}: kube context ${context} is not in the kubeconfig (it has ${names.join(', ') || 'none'}): fix the context name or the kubeconfig reference`,
    );
  }
  kc.setCurrentContext(context);
}
