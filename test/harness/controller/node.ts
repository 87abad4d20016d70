// The cluster objects no API server creates by itself: the one Node (spec.podCIDR = the region's pod
// range, read by Transit's ClusterMesh preflight), a default StorageClass, the cluster DNS Service that
// reserves the DNS address in the Service range, and a tiny volume provisioner that binds each claim of
// that StorageClass to a PersistentVolume backed by a directory.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type StorageV1Api,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { ADDRESS_PLAN, dnsServiceIp, nodeIp, type Region } from '../network.js';
import { WorkQueue, keyOf, splitKey } from './queue.js';
import { SERVED_BY_LABEL } from './services.js';

export const STORAGE_CLASS = 'standard';
export const PROVISIONER = 'transit.test/local-dir';
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function ignoreConflict(e: unknown): void {
  if ((e as { code?: number }).code !== 409) throw e;
}

export async function ensureNode(core: CoreV1Api, region: Region, nodeName: string): Promise<void> {
  const podCIDR = ADDRESS_PLAN[region].podCidr;
  await core
    .createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: nodeName,
          labels: {
            'kubernetes.io/hostname': nodeName,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'topology.kubernetes.io/region': region,
            'topology.kubernetes.io/zone': `${region}-a`,
            'node.kubernetes.io/instance-type': 'transit-test',
          },
        },
        spec: { podCIDR, podCIDRs: [podCIDR] },
      },
    })
    .catch(ignoreConflict);
  const now = new Date().toISOString();
  const cap = { cpu: '64', memory: '256Gi', pods: '1000', 'ephemeral-storage': '1Ti' };
  const cond = (type: string, status: string, reason: string) => ({
    type,
    status,
    reason,
    message: 'transit test kubelet',
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  await core.patchNodeStatus(
    {
      name: nodeName,
      body: {
        status: {
          capacity: cap,
          allocatable: cap,
          phase: 'Running',
          conditions: [
            cond('Ready', 'True', 'KubeletReady'),
            cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
            cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
            cond('PIDPressure', 'False', 'KubeletHasSufficientPID'),
          ],
          addresses: [
            { type: 'InternalIP', address: nodeIp(region) },
            { type: 'Hostname', address: nodeName },
          ],
          nodeInfo: {
            machineID: `transit-${region}`,
            systemUUID: `transit-${region}`,
            bootID: `transit-${region}`,
            kernelVersion: 'transit-test',
            osImage: 'transit test node',
            containerRuntimeVersion: 'transit://0.1.0',
            kubeletVersion: 'v0.0.0-transit',
            kubeProxyVersion: 'v0.0.0-transit',
            operatingSystem: 'linux',
            architecture: 'amd64',
          },
        },
      },
    },
    MERGE,
  );
}

export async function ensureStorageClass(storage: StorageV1Api): Promise<void> {
  await storage
    .createStorageClass({
      body: {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: PROVISIONER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'Immediate',
        allowVolumeExpansion: true,
      },
    })
    .catch(ignoreConflict);
}

/** kube-system/kube-dns at the region's DNS address; served by the controller's DNS server, not proxied. */
export async function ensureDnsService(core: CoreV1Api, region: Region): Promise<void> {
  await core
    .createNamespacedService({
      namespace: 'kube-system',
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: 'kube-dns',
          namespace: 'kube-system',
          labels: { 'k8s-app': 'kube-dns', [SERVED_BY_LABEL]: 'controller' },
        },
        spec: {
          clusterIP: dnsServiceIp(region),
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53, protocol: 'TCP' },
          ],
        },
      },
    })
    .catch(ignoreConflict);
}

/**
 * Binds claims of the default StorageClass (or with no class) to a PersistentVolume on a directory
 * under dataDir/volumes/<ns>/<claim> — the same directory the kubelet hands the member as its data dir.
 * Deleting the claim deletes the volume (reclaimPolicy Delete; the directory stays until stop).
 */
export class VolumeProvisioner {
  readonly queue: WorkQueue;

  constructor(
    private readonly core: CoreV1Api,
    private readonly dataDir: string,
    private readonly getClaim: (key: string) => V1PersistentVolumeClaim | undefined,
    log: (msg: string) => void,
  ) {
    this.queue = new WorkQueue('volumes', (k) => this.reconcile(k), log);
  }

  onClaim(pvc: V1PersistentVolumeClaim): void {
    this.queue.add(keyOf(pvc));
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pvc = this.getClaim(key);
    if (!pvc || pvc.metadata?.deletionTimestamp) {
      // Volume names are derived from the claim's uid, which a deleted claim no longer tells us: find by claimRef.
      const pvs = await this.core.listPersistentVolume({ labelSelector: `transit.test/claim-namespace=${namespace}` });
      for (const pv of pvs.items) {
        const ref = pv.spec?.claimRef;
        if (ref?.namespace === namespace && ref.name === name && (!pvc || ref.uid === pvc.metadata?.uid)) {
          await this.core.deletePersistentVolume({ name: pv.metadata!.name! }).catch(() => undefined);
        }
      }
      return;
    }
    const cls = pvc.spec?.storageClassName;
    if (cls !== undefined && cls !== null && cls !== STORAGE_CLASS) return; // incl. "": no dynamic provisioning
    if (pvc.status?.phase === 'Bound') return;
    const uid = pvc.metadata!.uid!;
    const pvName = `pvc-${uid}`;
    const size = pvc.spec?.resources?.requests?.storage ?? '1Gi';
    const accessModes = pvc.spec?.accessModes ?? ['ReadWriteOnce'];
    const dir = join(this.dataDir, 'volumes', namespace, name);
    await mkdir(dir, { recursive: true });
    await this.core
      .createPersistentVolume({
        body: {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: {
            name: pvName,
            labels: { 'transit.test/claim-namespace': namespace },
            annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER },
          },
          spec: {
            capacity: { storage: size },
            accessModes,
            persistentVolumeReclaimPolicy: 'Delete',
            storageClassName: STORAGE_CLASS,
            volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
            hostPath: { path: dir, type: 'DirectoryOrCreate' },
            claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid },
          },
        },
      })
      .catch(ignoreConflict);
    await this.core.patchPersistentVolumeStatus({ name: pvName, body: { status: { phase: 'Bound' } } }, MERGE);
    if (!pvc.spec?.volumeName) {
      await this.core.patchNamespacedPersistentVolumeClaim(
        {
          name,
          namespace,
          body: {
            metadata: {
              annotations: { 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' },
            },
            spec: { volumeName: pvName, ...(cls ? {} : { storageClassName: STORAGE_CLASS }) },
          },
        },
        MERGE,
      );
    }
    await this.core.patchNamespacedPersistentVolumeClaimStatus(
      { name, namespace, body: { status: { phase: 'Bound', accessModes, capacity: { storage: size } } } },
      MERGE,
    );
  }
}
