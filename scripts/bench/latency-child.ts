/**
 * A process of its own for scripts/bench-latency.ts (SIMULATED ArangoDB): either the clients (open-loop reads and
 * updates at a fixed rate through the coordinators) or the latency probes (the real `probeClientLatency` activity,
 * as a probe worker runs it). Until 3 December both ran in the bench process beside the shard engine and the agency
 * watcher; that process's event loop stalled 18–65 ms per window, and a request is timed from its scheduled start,
 * so the bench's own stalls were counted as client latency. Here the clients' timers wait only for the clients.
 *
 * Messages (IPC, JSON):
 *   → { kind: 'clients', urls, jwt, rate }          start the load (half reads, half updates of 'load', keys k0..k999)
 *   → { kind: 'peek' }                              ← { kind: 'recs', recs, lag }  (so far; lag: [t, max ms] per second)
 *   → { kind: 'stop' }                              ← { kind: 'recs', recs, lag }  (all, once the open requests ended)
 *   → { kind: 'probe', id, args }                   ← { kind: 'probed', id, result } | { kind: 'probed', id, error }
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, request } from 'node:http';
import { createLatencyProbeActivities } from '../../src/activities/latency-probe';
import { fileCredentialReader } from '../../src/activities/agency';

/** One client request: when it was sent (epoch ms), its latency from its scheduled start, whether it succeeded. */
export interface Rec {
  t: number;
  ms: number;
  ok: boolean;
  /** A write (an update: two DB-server hops, the leader and the follower applying it); a read otherwise. */
  w: boolean;
}

type Msg =
  | { kind: 'clients'; urls: string[]; jwt: string; rate: number }
  | { kind: 'stop' }
  | { kind: 'peek' }
  | {
      kind: 'probe';
      id: number;
      args: Parameters<ReturnType<typeof createLatencyProbeActivities>['probeClientLatency']>[0];
    };

const send = (m: unknown) => process.send!(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const lagSamples: [number, number][] = [];
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const lagTimer = setInterval(() => {
  lagSamples.push([Date.now(), lag.max / 1e6]);
  lag.reset();
}, 1000);

const recs: Rec[] = [];
let stopping = false;
let load: Promise<void> | null = null;
const inflight = new Set<Promise<void>>();

/**
 * One document request over a keep-alive connection (node:http, no driver): the clients are the bench's own
 * apparatus, and arangojs cost ~1.9 ms of CPU per request here (measured 3 December: the clients' process was the
 * largest CPU user on the machine, 19 % of a core for 100 requests/s) — load on the 2 cores that the cluster's
 * members then waited for. The same REST calls arangojs makes for `collection.document` / `collection.update`.
 */
function documentRequest(agent: Agent, base: URL, jwt: string, method: 'GET' | 'PATCH', path: string, body?: string) {
  return new Promise<void>((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers: {
          authorization: `bearer ${jwt}`,
          ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          (res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode} for ${method} ${path}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function startClients(urls: string[], jwt: string, rate: number): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const bases = urls.map((u) => new URL(u.replace(/^tcp:/, 'http:')));
  load = (async () => {
    const start = performance.now();
    for (let i = 0; !stopping; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const base = bases[i % bases.length]!;
      const path = `/_db/shop/_api/document/load/k${(i * 7919) % 1000}`;
      const t = Date.now();
      const w = i % 2 === 0;
      const p = (
        !w
          ? documentRequest(agent, base, jwt, 'GET', path)
          : documentRequest(agent, base, jwt, 'PATCH', path, JSON.stringify({ v: i }))
      )
        .then(
          () => void recs.push({ t, ms: performance.now() - due, ok: true, w }),
          () => void recs.push({ t, ms: performance.now() - due, ok: false, w }),
        )
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })();
}

const probes = createLatencyProbeActivities({ readCredential: fileCredentialReader(), region: 'eu' });

process.on('message', (m: Msg) => {
  if (m.kind === 'clients') startClients(m.urls, m.jwt, m.rate);
  else if (m.kind === 'peek') send({ kind: 'recs', recs, lag: lagSamples });
  else if (m.kind === 'stop') {
    stopping = true;
    void (async () => {
      await load;
      await Promise.all(inflight);
      clearInterval(lagTimer);
      send({ kind: 'recs', recs, lag: lagSamples });
    })();
  } else if (m.kind === 'probe')
    probes.probeClientLatency(m.args).then(
      (result) => send({ kind: 'probed', id: m.id, result }),
      (e: unknown) => send({ kind: 'probed', id: m.id, error: (e as Error).message }),
    );
});
process.on('disconnect', () => process.exit(0));
