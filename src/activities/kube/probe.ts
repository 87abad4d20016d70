// The talk's "version check": GET /_api/version over a fresh connection, optionally from a given source
// address. Any answer from arangod counts as the path working — 200, or 401 when the member wants a JWT
// (the Kubernetes activities hold no ArangoDB credentials).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';

export interface ProbeResult {
  ok: boolean;
  status: number;
  ms: number;
  error?: string;
}

export function versionProbe(o: { host: string; port: number; tls?: boolean; localAddress?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const done = (r: Omit<ProbeResult, 'ms'>): void => resolve({ ...r, ms: Math.round((performance.now() - t0) * 10) / 10 });
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
          done({ ok, status, ...(ok ? {} : { error: `answered HTTP ${status}${json ? '' : ' (not an arangod reply)'}` }) });
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
