// One Kubernetes cluster as the activities see it: generic get/list/create/replace/delete through
// @kubernetes/client-node's KubernetesObjectApi, each call with a timeout, transient failures (unreachable,
// 5xx, 429) retried inside the activity for a while (then a retryable failure), and every other failure
// classified (403 → KubeForbiddenError naming verb, resource and namespace). Writes are create-or-update by
// name: read, compare, and replace with the resourceVersion read, re-reading on 409.
import {
  AuthorizationV1Api,
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  ServerConfiguration,
  VersionApi,
  type KubernetesObject,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Side } from '../contract';
import {
  describeOp,
  httpStatus,
  isTransient,
  KubeConflictError,
  KubeConfigError,
  kubeFailure,
  type KubeOp,
} from './errors';
import { firstDifference, stripNulls } from './objects';
import type { Runtime } from './runtime';

export interface Kind {
  apiVersion: string;
  kind: string;
  /** Plural, with the group when not core: what RBAC and messages name. */
  resource: string;
  namespaced: boolean;
}

export const KINDS = {
  pod: { apiVersion: 'v1', kind: 'Pod', resource: 'pods', namespaced: true },
  service: { apiVersion: 'v1', kind: 'Service', resource: 'services', namespaced: true },
  endpoints: { apiVersion: 'v1', kind: 'Endpoints', resource: 'endpoints', namespaced: true },
  pvc: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', resource: 'persistentvolumeclaims', namespaced: true },
  secret: { apiVersion: 'v1', kind: 'Secret', resource: 'secrets', namespaced: true },
  namespace: { apiVersion: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false },
  node: { apiVersion: 'v1', kind: 'Node', resource: 'nodes', namespaced: false },
  storageClass: {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    resource: 'storageclasses.storage.k8s.io',
    namespaced: false,
  },
  endpointSlice: {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    resource: 'endpointslices.discovery.k8s.io',
    namespaced: true,
  },
  arangoDeployment: {
    apiVersion: 'database.arangodb.com/v1',
    kind: 'ArangoDeployment',
    resource: 'arangodeployments.database.arangodb.com',
    namespaced: true,
  },
} as const satisfies Record<string, Kind>;

export interface ClientOptions {
  /** Per HTTP request (default 6 s). */
  requestTimeoutMs: number;
  /** How long one call keeps retrying an unreachable/overloaded API server before a retryable failure (default 20 s). */
  apiRetryMs: number;
  /** Re-reads after 409 on one write before a retryable KubeConflictError (default 8). */
  conflictRetries: number;
}

/** Transit's field manager name on the API server (managedFields). */
export const FIELD_MANAGER = 'transit';

type Obj = KubernetesObject & Record<string, unknown>;

export const NOT_FOUND = Symbol('not found');

export class ClusterClient {
  private readonly objects: KubernetesObjectApi;
  private readonly authz: AuthorizationV1Api;
  private readonly versionApi: VersionApi;
  readonly server: string;
  /** 409s met and retried so far (observability and tests). */
  conflicts = 0;

  constructor(
    readonly side: Side,
    private readonly kc: KubeConfig,
    readonly context: string,
    /** The namespace of the deployment on this side. */
    readonly namespace: string,
    private readonly runtime: Runtime,
    private readonly o: ClientOptions,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeConfigError(`kube context ${context} names no cluster: fix the kubeconfig`);
    this.server = cluster.server;
    // Every request: the kubeconfig's TLS and credentials, plus a deadline and the activity's cancellation.
    const auth: SecurityAuthentication = {
      getName: () => 'transit',
      applySecurityAuthentication: async (ctx: RequestContext) => {
        await kc.applySecurityAuthentication(ctx);
        const deadline = AbortSignal.timeout(o.requestTimeoutMs);
        ctx.setSignal(runtime.signal ? AbortSignal.any([deadline, runtime.signal]) : deadline);
      },
    };
    const config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: auth },
    });
    this.objects = new KubernetesObjectApi(config);
    this.authz = new AuthorizationV1Api(config);
    this.versionApi = new VersionApi(config);
  }

  op(verb: string, kind: Kind, name?: string, namespace?: string): KubeOp {
    return {
      verb,
      resource: kind.resource,
      namespace: kind.namespaced ? (namespace ?? this.namespace) : undefined,
      name,
      context: this.context,
    };
  }

  /** Runs one API call; transient failures are retried until apiRetryMs, everything else is classified. */
  call<T>(op: KubeOp, fn: () => Promise<T>): Promise<T> {
    return this.run(op, fn, false) as Promise<T>;
  }

  /** As call(), but a 404 answer is returned as NOT_FOUND instead of an error. */
  callOr404<T>(op: KubeOp, fn: () => Promise<T>): Promise<T | typeof NOT_FOUND> {
    return this.run(op, fn, true);
  }

  private async run<T>(op: KubeOp, fn: () => Promise<T>, allow404: boolean): Promise<T | typeof NOT_FOUND> {
    const start = this.runtime.now();
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      this.runtime.throwIfCancelled();
      // Alive while talking to the API server (Temporal throttles heartbeats; a call that hangs past the
      // heartbeat timeout gets the activity retried, which is idempotent).
      this.runtime.heartbeat({ call: describeOp(op) });
      try {
        return await fn();
      } catch (e) {
        if (this.runtime.signal?.aborted) this.runtime.throwIfCancelled();
        const status = httpStatus(e);
        if (allow404 && status === 404) return NOT_FOUND;
        // An API server that is (re)starting answers 401/403 until its authenticators and RBAC caches are
        // synced: that is no verdict. Only a ready server's refusal is final.
        const starting = (status === 401 || status === 403) && !(await this.ready());
        if ((!isTransient(e) && !starting) || this.runtime.now() - start >= this.o.apiRetryMs)
          throw kubeFailure(e, op, this.server);
        const why = kubeFailure(e, op, this.server).message;
        this.runtime.log(`${describeOp(op)}: attempt ${attempt} failed (${why}); retrying in ${delay} ms`);
        this.runtime.heartbeat({ waiting: 'kube-apiserver', context: this.context, attempt });
        await this.runtime.sleep(delay);
        delay = Math.min(delay * 2, 2_000);
      }
    }
  }

  private header(
    kind: Kind,
    name: string,
    namespace?: string,
  ): KubernetesObject & { metadata: { name: string; namespace?: string } } {
    return {
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      metadata: { name, ...(kind.namespaced ? { namespace: namespace ?? this.namespace } : {}) },
    };
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubernetesObject>(kind: Kind, name: string, namespace?: string): Promise<T | undefined> {
    const op = this.op('get', kind, name, namespace);
    const r = await this.callOr404(op, () => this.objects.read<T>(this.header(kind, name, namespace) as never));
    return r === NOT_FOUND ? undefined : r;
  }

  async list<T extends KubernetesObject>(
    kind: Kind,
    o: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<T[]> {
    const ns = kind.namespaced ? (o.namespace ?? this.namespace) : undefined;
    const op = this.op('list', kind, undefined, ns);
    const r = await this.call(op, () =>
      this.objects.list<T>(
        kind.apiVersion,
        kind.kind,
        ns,
        undefined,
        undefined,
        undefined,
        o.fieldSelector,
        o.labelSelector,
      ),
    );
    return r.items;
  }

  async create<T extends KubernetesObject>(kind: Kind, obj: T): Promise<T> {
    const op = this.op('create', kind, obj.metadata?.name, obj.metadata?.namespace);
    return this.call(op, () =>
      this.objects.create<T>(withHeader(kind, obj, this.namespace), undefined, undefined, FIELD_MANAGER),
    );
  }

  async replace<T extends KubernetesObject>(kind: Kind, obj: T): Promise<T> {
    const op = this.op('update', kind, obj.metadata?.name, obj.metadata?.namespace);
    return this.call(op, () =>
      this.objects.replace<T>(withHeader(kind, obj, this.namespace), undefined, undefined, FIELD_MANAGER),
    );
  }

  /** Deletes by name; false when it was already gone. `uid` guards against deleting a successor of the same name. */
  async delete(
    kind: Kind,
    name: string,
    o: { namespace?: string; uid?: string; gracePeriodSeconds?: number } = {},
  ): Promise<boolean> {
    const op = this.op('delete', kind, name, o.namespace);
    try {
      const r = await this.callOr404(op, () =>
        this.objects.delete(
          this.header(kind, name, o.namespace),
          undefined,
          undefined,
          o.gracePeriodSeconds,
          undefined,
          'Background',
          o.uid ? { preconditions: { uid: o.uid } } : undefined,
        ),
      );
      return r !== NOT_FOUND;
    } catch (e) {
      // A failed uid precondition (409): the object of that name is already another one.
      if (o.uid && e instanceof KubeConflictError) return false;
      throw e;
    }
  }

  /**
   * Create-or-update by name. `same(current)` says whether the object already is as wanted (then nothing is
   * written, so a re-run leaves resourceVersion alone); `merge(current)` builds the replacement from what was
   * read (it keeps the resourceVersion, so a concurrent writer makes the replace fail with 409, and we read
   * and decide again); `check(current)` may refuse (e.g. someone else's object).
   */
  async apply<T extends Obj>(
    kind: Kind,
    desired: T,
    h: { same(cur: T): boolean; merge(cur: T): T; check?(cur: T): void },
  ): Promise<{ obj: T; changed: boolean }> {
    const r = await this.writeLoop<T>(kind, desired.metadata!.name!, desired.metadata?.namespace, h, desired);
    return r!;
  }

  /** As apply(), for an object that must exist already: undefined when it does not (nothing is created). */
  modify<T extends Obj>(
    kind: Kind,
    name: string,
    h: { same(cur: T): boolean; merge(cur: T): T; check?(cur: T): void },
    namespace?: string,
  ): Promise<{ obj: T; changed: boolean } | undefined> {
    return this.writeLoop<T>(kind, name, namespace, h, undefined);
  }

  private async writeLoop<T extends Obj>(
    kind: Kind,
    name: string,
    ns: string | undefined,
    h: { same(cur: T): boolean; merge(cur: T): T; check?(cur: T): void },
    desired: T | undefined,
  ): Promise<{ obj: T; changed: boolean } | undefined> {
    let delay = 50;
    for (let attempt = 0; attempt <= this.o.conflictRetries; attempt++) {
      const cur = await this.get<T>(kind, name, ns);
      try {
        if (!cur) return desired ? { obj: await this.create(kind, stripNulls(desired)), changed: true } : undefined;
        h.check?.(cur);
        if (h.same(cur)) return { obj: cur, changed: false };
        if (desired)
          this.runtime.log(
            `${kind.kind} ${name} (context ${this.context}) differs at ${firstDifference(cur, desired)}`,
          );
        const next = h.merge(cur);
        next.metadata = { ...next.metadata, resourceVersion: cur.metadata?.resourceVersion };
        return { obj: await this.replace(kind, next), changed: true };
      } catch (e) {
        if (!(e instanceof KubeConflictError)) throw e;
        // Created or changed by someone else between our read and our write: read again and decide again.
        this.conflicts++;
        this.runtime.log(
          `${kind.kind} ${name} (context ${this.context}): 409 on attempt ${attempt + 1}; reading again`,
        );
        await this.runtime.sleep(delay + Math.floor(Math.random() * delay));
        delay = Math.min(delay * 2, 1_000);
      }
    }
    throw new KubeConflictError(
      `${kind.kind} ${ns ?? this.namespace}/${name} (context ${this.context}) kept changing while Transit wrote it (${this.o.conflictRetries + 1} attempts); it is retried`,
    );
  }

  /** Create, or take the existing object as it is (pods and PVCs: never rewritten under a running member). */
  async createOrGet<T extends Obj>(
    kind: Kind,
    desired: T,
    check?: (cur: T) => void,
  ): Promise<{ obj: T; created: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const cur = await this.get<T>(kind, desired.metadata!.name!, desired.metadata?.namespace);
      if (cur) {
        check?.(cur);
        return { obj: cur, created: false };
      }
      try {
        return { obj: await this.create(kind, stripNulls(desired)), created: true };
      } catch (e) {
        if (!(e instanceof KubeConflictError)) throw e;
      }
    }
    throw new KubeConflictError(
      `${kind.kind} ${desired.metadata?.name} (context ${this.context}) appeared and vanished repeatedly; it is retried`,
    );
  }

  /** SelfSubjectAccessReview: may the worker do this? */
  async canI(a: {
    verb: string;
    group: string;
    resource: string;
    namespace?: string;
    name?: string;
  }): Promise<{ allowed: boolean; reason?: string }> {
    const op: KubeOp = {
      verb: 'create',
      resource: 'selfsubjectaccessreviews.authorization.k8s.io',
      context: this.context,
    };
    const r = await this.call(op, () =>
      this.authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: a.verb,
              group: a.group,
              resource: a.resource,
              namespace: a.namespace,
              name: a.name,
            },
          },
        },
      }),
    );
    return { allowed: r.status?.allowed === true, reason: r.status?.reason };
  }

  /** GET /readyz (open to everyone by default): false while the server starts, or when it cannot be asked. */
  async ready(): Promise<boolean> {
    const opts: RequestOptions = { method: 'GET', timeout: 5_000 };
    await this.kc.applyToHTTPSOptions(opts);
    const headers = { ...(opts.headers as Record<string, string>) };
    delete headers.Authorization;
    delete headers.authorization;
    return new Promise((resolve) => {
      const req = httpsRequest(new URL('/readyz', this.server), { ...opts, headers, auth: undefined }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  /** GET /version: the API server is reachable and speaks to us. */
  async version(): Promise<string> {
    const op: KubeOp = { verb: 'get', resource: '/version', context: this.context };
    const v = await this.call(op, () => this.versionApi.getCode());
    return v.gitVersion;
  }
}

function withHeader<T extends KubernetesObject>(kind: Kind, obj: T, namespace: string): T {
  return {
    ...obj,
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: { ...obj.metadata, ...(kind.namespaced ? { namespace: obj.metadata?.namespace ?? namespace } : {}) },
  };
}
