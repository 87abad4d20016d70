/**
 * `kubectl get` listings of both clusters — pods, services, endpointslices and arangodeployments of a namespace,
 * with their labels — for the end of a demo or end-to-end run (the demo prints them before it stops). Uses the
 * machine's kubectl when there is one (`kubectl get … -o wide --show-labels`, the admin contexts of the test
 * kubeconfig); without it, the same kinds and labels through @kubernetes/client-node.
 *
 *   node --import tsx scripts/kube-listings.ts <kubeconfig> [namespace] [--client-node]
 *   (e.g. the clusters of `npm run demo -- --keep`, inside its network namespace; --client-node: without kubectl)
 */
import { spawnSync } from 'node:child_process';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';

export const LISTED_KINDS = 'pods,services,endpointslices,arangodeployments';

export async function kubeListings(
  kubeconfigPath: string,
  namespace: string,
  o: { contexts?: string[]; useKubectl?: boolean } = {},
): Promise<string> {
  const contexts = o.contexts ?? ['eu-admin', 'us-admin'];
  const out: string[] = [];
  const kubectl = o.useKubectl !== false && spawnSync('kubectl', ['version', '--client']).status === 0;
  for (const ctx of contexts) {
    const argv = ['--kubeconfig', kubeconfigPath, '--context', ctx, '-n', namespace, 'get', LISTED_KINDS];
    if (kubectl) {
      const r = spawnSync('kubectl', [...argv, '-o', 'wide', '--show-labels'], { encoding: 'utf8' });
      out.push(`$ kubectl ${argv.slice(2).join(' ')} -o wide --show-labels`, r.stdout.trimEnd());
      if (r.status !== 0) out.push(`(kubectl exited ${r.status}: ${r.stderr.trim()})`);
    } else {
      out.push(`# ${ctx}, namespace ${namespace} (no kubectl here: read through @kubernetes/client-node)`);
      out.push(await clientNodeListing(kubeconfigPath, ctx, namespace));
    }
  }
  return out.join('\n');
}

const labels = (l: Record<string, string> | undefined) =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '<none>';

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]! + 3))).join('')).join('\n');
}

async function clientNodeListing(kubeconfigPath: string, context: string, namespace: string): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  kc.setCurrentContext(context);
  const core = kc.makeApiClient(CoreV1Api);
  const [pods, svcs, slices, ads] = await Promise.all([
    core.listNamespacedPod({ namespace }),
    core.listNamespacedService({ namespace }),
    kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace }),
    kc
      .makeApiClient(CustomObjectsApi)
      .listNamespacedCustomObject({
        group: 'database.arangodb.com',
        version: 'v1',
        namespace,
        plural: 'arangodeployments',
      })
      .then(
        (r) =>
          (
            r as {
              items: { metadata?: { name?: string; labels?: Record<string, string> }; spec?: { mode?: string } }[];
            }
          ).items,
      )
      .catch((e: Error) => e),
  ]);
  const parts = [
    table([
      ['NAME', 'STATUS', 'IP', 'NODE', 'LABELS'],
      ...pods.items.map((p) => [
        `pod/${p.metadata?.name}`,
        p.status?.phase ?? '',
        p.status?.podIP ?? '<none>',
        p.spec?.nodeName ?? '<none>',
        labels(p.metadata?.labels),
      ]),
    ]),
    table([
      ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'LABELS'],
      ...svcs.items.map((s) => [
        `service/${s.metadata?.name}`,
        s.spec?.type ?? '',
        s.spec?.clusterIP ?? '',
        (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).join(',') || '<none>',
        (s.spec?.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(','),
        labels(s.metadata?.labels),
      ]),
    ]),
    table([
      ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'LABELS'],
      ...slices.items.map((e) => [
        `endpointslice.discovery.k8s.io/${e.metadata?.name}`,
        e.addressType,
        (e.ports ?? []).map((p) => p.port).join(',') || '<unset>',
        (e.endpoints ?? []).flatMap((x) => x.addresses).join(',') || '<unset>',
        labels(e.metadata?.labels),
      ]),
    ]),
    ads instanceof Error
      ? `arangodeployments: ${ads.message}`
      : table([
          ['NAME', 'MODE', 'LABELS'],
          ...ads.map((a) => [
            `arangodeployment.database.arangodb.com/${a.metadata?.name}`,
            a.spec?.mode ?? '',
            labels(a.metadata?.labels),
          ]),
        ]),
  ];
  return parts.join('\n\n');
}

if (require.main === module) {
  const [kubeconfig, namespace = 'db'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!kubeconfig) {
    console.error('usage: kube-listings.ts <kubeconfig> [namespace]');
    process.exit(2);
  }
  kubeListings(kubeconfig, namespace, { useKubectl: !process.argv.includes('--client-node') })
    .then((s) => console.log(s))
    .catch((e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
}
