/**
 * The fault matrix's CI subset (scripts/fault-matrix.ts runs every fault × phase cell, one migration each): ONE
 * migration end to end — the real Temporal dev server, two real API servers with the test controller, the
 * simulated ArangoDB in pods, real BIND, clients writing through DNS — with each of the six faults injected at
 * the phase where it tells most, one after another (each once the previous one is cleared), because six full
 * migrations do not fit the ~3 min budget on 2 cores:
 *
 *   coordinator      SIGKILL in BridgeNetworks  (Transit's first calls and the clients go through the coordinators)
 *   bridge           down 30 s in ProvisionTarget (the target members register across it)
 *   source-dbserver  SIGKILL in MoveShards early (the source leads most shards, copies come from it)
 *   target-dbserver  SIGKILL in MoveShards late  (by then the target leads most shards)
 *   agency-leader    SIGKILL in MoveAgents       (the agency changes its own membership)
 *   bind-primary     stopped 30 s in CutoverDNS  (the compare-and-set goes to the primary)
 *
 * Killed members are restarted by the test kubelet (as a real kubelet restarts a crashed container). Asserted:
 * every fault was injected, the migration ends completed or rolled back — or parked with a message naming a
 * fault — and no acknowledged write is lost, changed or resurrected. Durations (time without a serving leader,
 * per fault) are printed figures, never checks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { namesFault, runFaultRun, type Injection } from './harness/faults';

const fig = (name: string, value: unknown) =>
  console.log(`FIGURE ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

const INJECTIONS: Injection[] = [
  { kind: 'coordinator', phase: 'BridgeNetworks' },
  { kind: 'bridge', phase: 'ProvisionTarget' },
  { kind: 'source-dbserver', phase: 'MoveShards-early' },
  { kind: 'target-dbserver', phase: 'MoveShards-late' },
  { kind: 'agency-leader', phase: 'MoveAgents' },
  { kind: 'bind-primary', phase: 'CutoverDNS' },
];

describe('fault matrix (CI subset): six faults in one live migration', () => {
  it(
    'each fault at its most telling phase: completed, rolled back or parked naming the fault; 0 writes lost',
    { timeout: 600_000 },
    async () => {
      const r = await runFaultRun({
        injections: INJECTIONS,
        bridgeSeconds: 30,
        bindSeconds: 30,
        timeoutMs: 420_000,
        log: (l) => console.log(`[fault-matrix] ${l}`),
      });
      for (const f of r.faults) {
        fig(`${f.kind} @ ${f.phase} (arango: simulated)`, {
          target: f.target,
          injectedIn: f.injectedIn,
          faultSeconds: f.clearedAt ? (f.clearedAt - f.injectedAt) / 1000 : null,
          maxNoLeaderSeconds: f.maxNoLeaderSeconds,
          shard: f.maxNoLeaderShard,
          why: f.maxNoLeaderWhy,
          agencyUnreadableSeconds: f.agencyUnreadableSeconds,
          clientFailures: f.clientFailures,
          note: f.note,
        });
      }
      fig('run', {
        outcome: r.outcome,
        parks: r.parks,
        acked: r.acked,
        lost: r.lost,
        clientFailures: r.clientFailures,
        migrationSeconds: r.migrationSeconds,
        runSeconds: r.runSeconds,
        report: r.report,
      });
      for (const f of r.faults)
        assert.ok(
          f.target !== 'none' && !f.note?.startsWith('not injected'),
          `${f.kind} @ ${f.phase} injected (${f.note ?? ''})`,
        );
      if (r.outcome === 'parked') {
        assert.ok(
          r.faults.some((f) => namesFault(r.parkedMessage ?? '', f)),
          `parked with a message naming a fault: ${r.parkedMessage}`,
        );
      } else {
        assert.ok(['completed', 'rolled back'].includes(r.outcome), `outcome ${r.outcome}: ${r.parkedMessage ?? ''}`);
      }
      assert.ok(r.acked > 50, `clients wrote (${r.acked} acknowledged writes)`);
      assert.equal(r.lost, 0, 'acknowledged writes lost');
      assert.equal(r.wrong, 0, 'acknowledged contents changed');
      assert.equal(r.resurrected, 0, 'acknowledged removals undone');
      assert.deepEqual(r.anomalies, []);
    },
  );
});
