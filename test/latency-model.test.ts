// The simulator's client-latency model (src/sim/latency-model.ts, SIMULATED): the latency-vs-utilisation curve is
// printed and its shape checked (rises monotonically, flat at low utilisation, a knee towards saturation), the
// utilisation a client sees grows with the copies a server runs, and the final catch-up of a shard sync holds
// writes longer the more writes arrived during the copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HOLD_BASE_MS,
  RHO_MAX,
  SERVICE_MS,
  catchupHoldMs,
  delayQuantileMs,
  meanDelayMs,
  sampleDelayMs,
  utilisation,
} from '../src/sim/latency-model';
import { extraHopMs, withCopies } from '../scripts/bench/ideal';
import { mulberry32 } from './harness/random';

test('latency vs utilisation: monotone, flat at first, a knee towards saturation (simulated)', () => {
  const rhos = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99];
  const rows = rhos.map((r) => ({ rho: r, mean: meanDelayMs(r), p99: delayQuantileMs(r, 0.99) }));
  console.log('simulated DB server request delay (model only, no HTTP): utilisation → mean ms, p99 ms');
  for (const x of rows) console.log(`  ρ=${x.rho.toFixed(2)}  mean ${x.mean.toFixed(2)}  p99 ${x.p99.toFixed(2)}`);
  for (let i = 1; i < rows.length; i++) {
    assert.ok(rows[i]!.mean > rows[i - 1]!.mean, `mean rises from ρ=${rows[i - 1]!.rho} to ρ=${rows[i]!.rho}`);
    assert.ok(rows[i]!.p99 > rows[i - 1]!.p99);
  }
  // Convex (the knee): each step of ρ costs more than the one before it, per unit of ρ.
  for (let i = 2; i < rows.length; i++) {
    const s1 = (rows[i - 1]!.mean - rows[i - 2]!.mean) / (rows[i - 1]!.rho - rows[i - 2]!.rho);
    const s2 = (rows[i]!.mean - rows[i - 1]!.mean) / (rows[i]!.rho - rows[i - 1]!.rho);
    assert.ok(s2 > s1, `slope grows at ρ=${rows[i]!.rho}`);
  }
  // Flat at first, steep at the end: half utilisation at most doubles the idle delay, 0.9 is ten times it.
  assert.equal(meanDelayMs(0), SERVICE_MS);
  assert.ok(meanDelayMs(0.5) <= 2 * SERVICE_MS + 1e-9);
  assert.ok(meanDelayMs(0.9) >= 10 * SERVICE_MS - 1e-9);
  // Bounded: the cap keeps the delay finite.
  assert.equal(meanDelayMs(1), meanDelayMs(RHO_MAX));
  assert.ok(Number.isFinite(meanDelayMs(5)));
});

test('utilisation grows with the copy flows a server runs and with the clients own load', () => {
  const row: string[] = [];
  let last = -1;
  for (let n = 0; n <= 64; n = n === 0 ? 1 : n * 2) {
    const r = utilisation(n);
    row.push(`${n}→${r.toFixed(3)} (p99 ${delayQuantileMs(r, 0.99).toFixed(1)} ms)`);
    assert.ok(r > last, `ρ rises at ${n} flows`);
    last = r;
  }
  console.log('copy flows on one server → utilisation a client sees (simulated):', row.join(', '));
  assert.equal(utilisation(0), 0);
  assert.equal(utilisation(1), 0.5);
  assert.ok(utilisation(0, 0.2) > utilisation(0));
  assert.ok(utilisation(3, 0.2) > utilisation(3));
  assert.ok(utilisation(1000, 0.5) <= RHO_MAX);
  // Processor sharing: n flows give the client S·(n+1).
  for (const n of [0, 1, 3, 7]) assert.ok(Math.abs(meanDelayMs(utilisation(n)) - SERVICE_MS * (n + 1)) < 1e-9);
});

test('the drawn delays follow the exponential sojourn time (median and p99 of evenly spread draws)', () => {
  const rho = utilisation(3);
  const n = 10_000;
  const xs = Array.from({ length: n }, (_, i) => sampleDelayMs(rho, (i + 0.5) / n)).sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(mean - meanDelayMs(rho)) / meanDelayMs(rho) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(xs[Math.floor(0.5 * n)]! - delayQuantileMs(rho, 0.5)) < 0.01);
  assert.ok(Math.abs(xs[Math.floor(0.99 * n)]! - delayQuantileMs(rho, 0.99)) < 0.05);
  assert.ok(xs.every((x) => x >= 0 && Number.isFinite(x)));
  assert.ok(Number.isFinite(sampleDelayMs(rho, 1)));
});

test('the final catch-up holds writes longer the more writes arrived during the copy', () => {
  assert.equal(catchupHoldMs(0, 10), HOLD_BASE_MS);
  const ws = [0, 100, 1000, 10_000, 50_000];
  const holds = ws.map((w) => catchupHoldMs(w, 10));
  console.log(
    'writes during a 10 s copy → hold of the final catch-up (simulated):',
    ws.map((w, i) => `${w}→${holds[i]!.toFixed(1)} ms`).join(', '),
  );
  for (let i = 1; i < holds.length; i++) assert.ok(holds[i]! > holds[i - 1]!);
  // 10,000 writes in 10 s: the soft catch-up takes 1 s, 1,000 more arrive, applying them takes 0.1 s.
  assert.ok(Math.abs(catchupHoldMs(10_000, 10) - (HOLD_BASE_MS + 100)) < 1e-9);
  // The same writes spread over a longer copy leave less behind.
  assert.ok(catchupHoldMs(10_000, 100) < catchupHoldMs(10_000, 10));
});

// scripts/bench-latency.ts's best-any-strategy estimate (scripts/bench/ideal.ts) turns an idle request into one
// served by a server with one copy flow by adding Z to its hop (0 with probability ½, else exponential of mean 2·S):
// Exp(S) + Z must have the distribution of Exp(2·S), the model's sojourn time at ρ = ½.
test('one copy on a server: an idle hop plus Z has the model sojourn time at ρ = ½ (the bench estimate)', () => {
  const rand = mulberry32(7);
  const n = 200_000;
  const xs = Array.from({ length: n }, () => sampleDelayMs(0, rand()) + extraHopMs(rand)).sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const want = delayQuantileMs(utilisation(1), q);
    assert.ok(Math.abs(xs[Math.floor(q * n)]! - want) / want < 0.03, `q${q}: ${xs[Math.floor(q * n)]} vs ${want}`);
  }
  // Twin: without Z the idle hop is not the loaded one (its p99 is half).
  const idle = Array.from({ length: n }, () => sampleDelayMs(0, rand())).sort((a, b) => a - b);
  assert.ok(idle[Math.floor(0.99 * n)]! < 0.6 * delayQuantileMs(utilisation(1), 0.99));
  // withCopies: f = 0 leaves every request as it was; f = 1 adds to every hop, twice as often to a write.
  const reqs = Array.from({ length: 20_000 }, (_, i) => ({ t: i, ms: 5, ok: true, w: i % 2 === 0 }));
  assert.deepEqual(withCopies(reqs, 0), reqs);
  const loaded = withCopies(reqs, 1);
  const mean = (w: boolean) => {
    const xs = loaded.filter((r) => r.w === w).map((r) => r.ms - 5);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  // E[Z] = ½ · 2·S = S per hop: reads S, writes 2·S.
  assert.ok(Math.abs(mean(false) - SERVICE_MS) < 0.05 && Math.abs(mean(true) - 2 * SERVICE_MS) < 0.08);
});
