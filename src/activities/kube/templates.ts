// The objects Transit writes: member pods and PVCs (kube-arangodb's layout: container "server", data volume
// "arangod-data" at --database.directory, the JWT Secret at the directory of --server.jwt-secret-keyfile),
// member Services and selectorless bridge Services (their EndpointSlices: endpointslices.ts).
import { posix } from 'node:path';
import type {
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1Probe,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { ServerGroup } from '../contract';
import { argValues, parseEndpoint } from './names';

export interface MemberPodSpec {
  name: string;
  namespace: string;
  role: ServerGroup;
  image: string;
  entrypoint: string;
  args: string[];
  resources?: Record<string, unknown>;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  jwtSecret: string;
  /** PVC for the data directory; none (coordinators): an emptyDir. */
  claim?: string;
  ownerReferences?: V1OwnerReference[];
}

/** Listen port and scheme from --server.endpoint (default tcp://[::]:8529). */
export function serverPort(args: string[]): { port: number; tls: boolean } {
  const ep = argValues(args, 'server.endpoint').at(-1);
  if (!ep) return { port: 8529, tls: false };
  const e = parseEndpoint(ep.replace('[::]', '0.0.0.0'));
  return { port: e.port, tls: e.scheme === 'ssl' };
}

export function memberPod(s: MemberPodSpec): V1Pod {
  const { port, tls } = serverPort(s.args);
  const dataDir = argValues(s.args, 'database.directory').at(-1) ?? '/data';
  const keyfile = argValues(s.args, 'server.jwt-secret-keyfile').at(-1);
  const folder = argValues(s.args, 'server.jwt-secret-folder').at(-1);
  const jwtDir = keyfile ? posix.dirname(keyfile) : folder;
  const volumes: V1Volume[] = [
    s.claim
      ? { name: 'arangod-data', persistentVolumeClaim: { claimName: s.claim } }
      : { name: 'arangod-data', emptyDir: {} },
  ];
  const mounts: V1VolumeMount[] = [{ name: 'arangod-data', mountPath: dataDir }];
  if (jwtDir) {
    volumes.push({ name: 'cluster-jwt', secret: { secretName: s.jwtSecret } });
    mounts.push({ name: 'cluster-jwt', mountPath: jwtDir, readOnly: true });
  }
  // Agents answer nothing useful without a JWT; DB servers and coordinators serve availability openly once joined.
  const readinessProbe: V1Probe =
    s.role === 'agent'
      ? { tcpSocket: { port: port as never }, periodSeconds: 2, failureThreshold: 3 }
      : {
          httpGet: { path: '/_admin/server/availability', port: port as never, scheme: tls ? 'HTTPS' : 'HTTP' },
          periodSeconds: 2,
          failureThreshold: 3,
        };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      labels: s.labels,
      ...(s.annotations ? { annotations: s.annotations } : {}),
      ...(s.ownerReferences ? { ownerReferences: s.ownerReferences } : {}),
    },
    spec: {
      hostname: s.name,
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'server',
          image: s.image,
          command: [s.entrypoint, ...s.args],
          ports: [{ name: 'server', containerPort: port, protocol: 'TCP' }],
          ...(s.resources ? { resources: s.resources as never } : {}),
          volumeMounts: mounts,
          readinessProbe,
        },
      ],
      volumes,
    },
  };
}

export function memberPvc(o: {
  name: string;
  namespace: string;
  size: string;
  storageClassName?: string;
  labels: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
}): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: o.labels,
      ...(o.ownerReferences ? { ownerReferences: o.ownerReferences } : {}),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: o.size } },
      ...(o.storageClassName ? { storageClassName: o.storageClassName } : {}),
    },
  };
}

/** A member's own Service (selector on its pod), like kube-arangodb's per-member Service. */
export function homeService(o: {
  name: string;
  namespace: string;
  port: number;
  selector: Record<string, string>;
  labels: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: o.labels as Record<string, string>,
      annotations: o.annotations as Record<string, string>,
    },
    spec: {
      type: 'ClusterIP',
      selector: o.selector,
      publishNotReadyAddresses: true,
      ports: [{ name: 'server', port: o.port, targetPort: o.port as never, protocol: 'TCP' }],
    },
  };
}

/** A Service without selector: Transit writes its EndpointSlice (endpointslices.ts). */
export function bridgeService(o: {
  name: string;
  namespace: string;
  port: number;
  labels: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: o.labels as Record<string, string>,
      annotations: o.annotations as Record<string, string>,
    },
    spec: {
      type: 'ClusterIP',
      selector: null as never,
      publishNotReadyAddresses: true,
      ports: [{ name: 'server', port: o.port, targetPort: o.port as never, protocol: 'TCP' }],
    },
  };
}
