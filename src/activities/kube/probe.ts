// The talk's "version check": GET /_api/version over a fresh connection, optionally from a given source
// address, through every bridged path. Any answer from arangod counts as the path working — 200, or 401 when
// the member wants a JWT (the Kubernetes activities hold no ArangoDB credentials).
import { setMaxListeners } from 'node:events';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { BridgeReport, Side } from '../contract';
import type { Placed } from './bridge';
import type { Env } from './env';
import { KubeWaitTimeoutError } from './errors';
import { pollUntil } from './runtime';

export interface ProbeResult {
  ok: boolean;
  status: number;
  ms: number;
  error?: string;
}

export function versionProbe(o: {
  host: string;
  port: number;
  tls?: boolean;
  localAddress?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const done = (r: Omit<ProbeResult, 'ms'>): void =>
      resolve({ ...r, ms: Math.round((performance.now() - t0) * 10) / 10 });
    const req = (o.tls ? httpsRequest : httpRequest)(
      {
        host: o.host,
        port: o.port,
        path: '/_api/version',
        method: 'GET',
        agent: false,
        localAddress: o.localAddress,
        timeout: o.timeoutMs ?? 5_000,
        signal: o.signal,
        // Cluster-internal certificates are not verified by arangod either (--network.verify-hosts=false).
        rejectUnauthorized: false,
        headers: { accept: 'application/json', connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c.length < 4096 ? c : ''));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let json = false;
          try {
            json = typeof JSON.parse(body) === 'object';
          } catch {
            json = false;
          }
          const ok = (status === 200 || status === 401) && json;
          done({
            ok,
            status,
            ...(ok ? {} : { error: `answered HTTP ${status}${json ? '' : ' (not an arangod reply)'}` }),
          });
        });
        res.on('error', (e) => done({ ok: false, status: res.statusCode ?? 0, error: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 5_000} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, status: 0, error: e.code ?? e.message }));
    req.end();
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

export interface BridgeProbe {
  /** The cluster the path starts in (where the bridge Service is). */
  cluster: Side;
  name: string;
  via: 'endpoint' | 'service';
  address: string;
  status: number;
  /** Median of the round trips, ms. */
  ms: number;
}

/** Every bridged path answers /_api/version (retrying while the proxies and KCM catch up), then its latency. */
export async function probePaths(
  env: Env,
  paths: { p: Placed; svc: BridgeReport['services'][number]; to: { ip: string; port: number } }[],
): Promise<BridgeProbe[]> {
  const o = env.deps.probe ?? {};
  if (o.disabled) return [];
  const via = o.via ?? 'endpoint';
  const timeoutMs = o.timeoutMs ?? 60_000;
  // The probes of all paths run side by side. Each in-flight request listens on the signal it is given, so
  // handing them the activity's own signal put one listener per path on it (16 paths: MaxListenersExceeded).
  // One relay listener per call instead, removed when the call ends; the batch signal's listeners are bounded
  // by the number of paths and all gone when their requests end.
  const batch = new AbortController();
  // Per path at most one request and one sleep listen at a time.
  setMaxListeners(2 * paths.length + 5, batch.signal);
  const relay = (): void => batch.abort(env.runtime.signal?.reason);
  if (env.runtime.signal?.aborted) relay();
  else env.runtime.signal?.addEventListener('abort', relay, { once: true });
  try {
    return await probeAll(env, paths, batch.signal, via, timeoutMs);
  } finally {
    env.runtime.signal?.removeEventListener('abort', relay);
  }
}

function probeAll(
  env: Env,
  paths: Parameters<typeof probePaths>[1],
  signal: AbortSignal,
  via: 'endpoint' | 'service',
  timeoutMs: number,
): Promise<BridgeProbe[]> {
  const o = env.deps.probe ?? {};
  return Promise.all(
    paths.map(async ({ p, svc, to }) => {
      const cluster = svc.cluster;
      const clusterIP = (svc as { clusterIP?: string }).clusterIP;
      const host = via === 'service' && clusterIP ? clusterIP : to.ip;
      const port = via === 'service' && clusterIP ? p.port : to.port;
      const localAddress = o.localAddress?.(cluster);
      let last = '';
      const probe = () => versionProbe({ host, port, tls: p.tls, localAddress, timeoutMs: 5_000, signal });
      const first = await pollUntil(
        env.runtime,
        async () => {
          const r = await probe();
          last = r.error ?? `HTTP ${r.status}`;
          return r.ok ? r : undefined;
        },
        {
          timeoutMs,
          intervalMs: 250,
          progress: () => ({ probing: p.svc, cluster, address: `${host}:${port}` }),
          onTimeout: () =>
            new KubeWaitTimeoutError(
              `bridge path to ${p.svc} from the ${cluster} cluster (${host}:${port}, via ${via}) did not answer /_api/version within ${timeoutMs / 1000} s: ${last}`,
            ),
        },
      );
      const ms = [first.ms];
      for (let i = 1; i < (o.samples ?? 3); i++) {
        const r = await probe();
        if (r.ok) ms.push(r.ms);
      }
      env.runtime.heartbeat({ probed: p.svc, cluster });
      return { cluster, name: p.svc, via, address: `${host}:${port}`, status: first.status, ms: median(ms) };
    }),
  );
}
