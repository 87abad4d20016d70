/**
 * The defaults of credential references, as the schema documents them: a Secret's namespace is the namespace of
 * the side it belongs to, its kube context the source's. Applied once, when a spec is parsed (schema.ts), so
 * every reference that reaches an activity names exactly one Secret — an activity never guesses (a missing
 * namespace used to mean "default", the worker's namespace, not the deployment's).
 *
 * Pure and deterministic (the workflow parses specs too): no I/O, no Node built-ins.
 */

/** A Secret reference as written: namespace and context may be left out. */
export interface SecretRefInput {
  name: string;
  key: string;
  namespace?: string;
  context?: string;
}

/** A Secret reference with its defaults applied: names one Secret in one cluster. */
export type ResolvedSecretRef = SecretRefInput & { namespace: string; context: string };

type SideOf = { context: string; namespace: string; kubeconfig?: Ref };
type Ref = { file: string } | { secret: SecretRefInput };
type WithRefs = {
  source: SideOf;
  target: SideOf;
  dns: { tsigKey?: Ref };
  arango: { jwtSecret: Ref };
};

/** Which side each reference belongs to: its namespace defaults to that side's. */
export type CredentialOwner = 'source' | 'target';

export function resolveSecretRef(
  secret: SecretRefInput,
  spec: Pick<WithRefs, 'source' | 'target'>,
  owner: CredentialOwner,
): ResolvedSecretRef {
  return {
    ...secret,
    namespace: secret.namespace ?? spec[owner].namespace,
    context: secret.context ?? spec.source.context,
  };
}

function resolveRef<R extends Ref | undefined>(ref: R, spec: WithRefs, owner: CredentialOwner): R {
  if (!ref || !('secret' in ref)) return ref;
  return { ...ref, secret: resolveSecretRef(ref.secret, spec, owner) };
}

/**
 * The spec with every Secret reference resolved: arango.jwtSecret and dns.tsigKey belong to the source;
 * source.kubeconfig and target.kubeconfig to their side (read through the source context by default).
 */
export function resolveCredentialRefs<T extends WithRefs>(spec: T): T {
  return {
    ...spec,
    source: {
      ...spec.source,
      ...(spec.source.kubeconfig ? { kubeconfig: resolveRef(spec.source.kubeconfig, spec, 'source') } : {}),
    },
    target: {
      ...spec.target,
      ...(spec.target.kubeconfig ? { kubeconfig: resolveRef(spec.target.kubeconfig, spec, 'target') } : {}),
    },
    dns: { ...spec.dns, ...(spec.dns.tsigKey ? { tsigKey: resolveRef(spec.dns.tsigKey, spec, 'source') } : {}) },
    arango: { ...spec.arango, jwtSecret: resolveRef(spec.arango.jwtSecret, spec, 'source') },
  };
}
