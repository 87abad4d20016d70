/**
 * "Version check" probes (the talk's measure): `GET /_api/version` round trips from where the worker runs to
 * each side's coordinators, summarised per region pair and recorded per phase. The worker's region comes from
 * TRANSIT_REGION; TRANSIT_SOURCE_ADDRESS binds outgoing probes to the worker's own address (in the test
 * network the WAN delay is applied by source address).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Context } from '@temporalio/activity';
import type { CredentialRef } from '../spec/schema';
import type { MigrationRef } from './contract';
import { mintSuperuserJwt } from './agency';
import type { LatencySample } from '../shared/types';

export interface ProbeDeps {
  readCredential(ref: CredentialRef): Promise<string>;
  region?: string;
  sourceAddress?: string;
  timeoutMs?: number;
}

export interface ProbeTarget {
  region: string;
  url: string;
  label?: string;
}

/** One GET with a fresh connection each time (a client that resolves and connects, as the talk measured). */
export function timedGet(
  url: string,
  headers: Record<string, string>,
  o: { localAddress?: string; timeoutMs: number },
): Promise<{ ms: number; status: number }> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const r = req(
      u,
      {
        method: 'GET',
        headers: { ...headers, connection: 'close' },
        localAddress: o.localAddress,
        timeout: o.timeoutMs,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode ?? 0 }));
      },
    );
    r.on('timeout', () => r.destroy(new Error(`timed out after ${o.timeoutMs} ms`)));
    r.on('error', reject);
    r.end();
  });
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10 : 0;
}

export function createProbeActivities(deps: ProbeDeps) {
  const region = deps.region ?? process.env.TRANSIT_REGION ?? 'worker';
  const localAddress = deps.sourceAddress ?? process.env.TRANSIT_SOURCE_ADDRESS;
  return {
    /** Version checks to each side; an unreachable side is reported (samples 0), not fatal: probes observe. */
    async probeVersionChecks(
      a: MigrationRef & { phase: string; samples?: number; targets?: ProbeTarget[] },
    ): Promise<LatencySample[]> {
      const targets: ProbeTarget[] = a.targets ?? [
        { region: a.spec.source.region, url: a.spec.arango.endpoint },
        ...(a.spec.arango.targetEndpoint ? [{ region: a.spec.target.region, url: a.spec.arango.targetEndpoint }] : []),
      ];
      const token = mintSuperuserJwt(await deps.readCredential(a.spec.arango.jwtSecret));
      const out: LatencySample[] = [];
      for (const t of targets) {
        const times: number[] = [];
        let lastError = '';
        for (let i = 0; i < (a.samples ?? 5); i++) {
          try {
            const r = await timedGet(
              `${t.url.replace(/\/$/, '')}/_api/version`,
              { authorization: `bearer ${token}` },
              { localAddress, timeoutMs: deps.timeoutMs ?? 5000 },
            );
            if (r.status === 200) times.push(r.ms);
            else lastError = `HTTP ${r.status}`;
          } catch (e) {
            lastError = (e as Error).message;
          }
          heartbeat({ phase: a.phase, target: t.url, i });
        }
        out.push({
          phase: a.phase,
          from: region,
          to: t.region,
          path: `${t.label ?? 'worker → coordinators'} ${new URL(t.url).host}${times.length ? '' : ` (unreachable: ${lastError})`}`,
          samples: times.length,
          p50Ms: percentile(times, 0.5),
          p95Ms: percentile(times, 0.95),
        });
      }
      return out;
    },
  };
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* not in an activity */
  }
}
