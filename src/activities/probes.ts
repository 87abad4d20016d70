/**
 * "Version check" probes (the talk's measure): `GET /_api/version` round trips from where the worker runs to
 * each side's coordinators, summarised per region pair and recorded per phase. The worker knows its region only
 * if told: the worker's `region` setting (`transit worker --region`, TRANSIT_WORKER_REGION; TRANSIT_REGION, the
 * older name, still counts). Each result's path says where the worker sits and whether the check crossed regions
 * ("worker (eu) → us target coordinators (cross region) …", or "worker (region unknown) → …"); the labelling
 * happens here, from the worker's own setting, so the workflow passes what it always passed.
 * TRANSIT_SOURCE_ADDRESS binds outgoing probes to the worker's own address (in the test network the WAN delay
 * is applied by source address).
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
  /** The region the worker runs in (default: TRANSIT_WORKER_REGION, then TRANSIT_REGION; unset: unknown). */
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

/** The worker's region from its environment: TRANSIT_WORKER_REGION, else TRANSIT_REGION (older name), else unknown. */
export function workerRegionFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.TRANSIT_WORKER_REGION?.trim() || env.TRANSIT_REGION?.trim() || undefined;
}

/** `from` of a sample when the worker was not told its region. */
export const UNKNOWN_REGION = 'unknown';

/**
 * What a version check measured, e.g. "worker (eu) → eu source coordinators (in region) 10.12.0.1:8529" or
 * "worker (region unknown) → us coordinators 10.22.0.1:8529". `label` is what the workflow passed ("worker →
 * source coordinators"): only its side is kept.
 */
export function probePath(workerRegion: string | undefined, t: ProbeTarget): string {
  const side = /\b(source|target)\b/.exec(t.label ?? '')?.[1];
  const to = `${t.region} ${side ? `${side} ` : ''}coordinators`;
  const host = new URL(t.url).host;
  if (!workerRegion) return `worker (region unknown) → ${to} ${host}`;
  return `worker (${workerRegion}) → ${to} (${workerRegion === t.region ? 'in region' : 'cross region'}) ${host}`;
}

export function createProbeActivities(deps: ProbeDeps) {
  const known = deps.region?.trim() || workerRegionFromEnv();
  const region = known ?? UNKNOWN_REGION;
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
          path: `${probePath(known, t)}${times.length ? '' : ` (unreachable: ${lastError})`}`,
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
