// Where each side's KubeConfig comes from: the spec names a context and optionally a kubeconfig reference
// (a file, or a Secret key read through the worker's own kubeconfig); without one, the worker's kubeconfig
// (KUBECONFIG or ~/.kube/config, or the given path). The credentials are read here, inside the activity, and
// never leave it.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Side } from '../contract';
import type { MigrationSpec } from '../../spec/schema';
import { httpStatus, KubeConfigError } from './errors';

export type KubeConfigLoader = (side: Side, spec: MigrationSpec) => Promise<KubeConfig>;

export interface KubeConfigLoaderOptions {
  /** The worker's kubeconfig file (default: KUBECONFIG or ~/.kube/config). */
  kubeconfigPath?: string;
}

export function kubeConfigLoader(o: KubeConfigLoaderOptions = {}): KubeConfigLoader {
  const base = (): KubeConfig => {
    const kc = new KubeConfig();
    if (o.kubeconfigPath) kc.loadFromFile(o.kubeconfigPath);
    else kc.loadFromDefault();
    return kc;
  };
  return async (side, spec) => {
    const s = spec[side];
    let kc: KubeConfig;
    const ref = s.kubeconfig;
    if (!ref) kc = base();
    else if ('file' in ref) {
      kc = new KubeConfig();
      try {
        kc.loadFromFile(ref.file);
      } catch (e) {
        throw new KubeConfigError(
          `${side}.kubeconfig.file ${ref.file} cannot be read as a kubeconfig (${(e as Error).message.slice(0, 200)}): fix the path or the file`,
        );
      }
    } else {
      const where = `${side}.kubeconfig.secret ${ref.secret.namespace ?? s.namespace}/${ref.secret.name} key ${ref.secret.key}`;
      const holder = base();
      useContext(holder, ref.secret.context ?? spec.source.context, `${where} (context holding it)`);
      let text: string | undefined;
      try {
        const secret = await holder
          .makeApiClient(CoreV1Api)
          .readNamespacedSecret({ name: ref.secret.name, namespace: ref.secret.namespace ?? s.namespace });
        const b64 = secret.data?.[ref.secret.key];
        text = b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
      } catch (e) {
        throw new KubeConfigError(
          `${where}: cannot read it (${httpStatus(e) ?? (e as Error).message.slice(0, 200)}): create the Secret or grant the worker get on it`,
        );
      }
      if (text === undefined) throw new KubeConfigError(`${where}: the Secret has no such key`);
      kc = new KubeConfig();
      kc.loadFromString(text);
    }
    useContext(kc, s.context, `${side}.context`);
    return kc;
  };
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
