/**
 * The live progress display of `transit start --watch`, `transit status` and `npm run demo`: phase, shards, bytes,
 * ETA, agents (and the verified count when the migration verifies). On a terminal it redraws in place (cli-progress
 * bars); elsewhere (a pipe, a log file, CI) it prints one plain line per change — a change of phase, status,
 * shards, bytes (whole percent), agents or verified count, not of the ETA alone — at most one line per
 * `minIntervalMs` (a change of phase or status is printed at once), and the last state when it stops.
 */
import type { MigrationProgress } from '../shared/types';

export interface ProgressDisplay {
  /** Show this progress (redraws the bars, or prints a line if something changed). */
  update(p: MigrationProgress): void;
  /** A line of other output: above the bars on a terminal, as it is elsewhere. */
  log(line: string): void;
  /** Final state drawn (or printed), cursor restored. */
  stop(): void;
}

export interface ProgressDisplayOptions {
  /** Default process.stdout. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Default: whether the stream is a terminal. */
  tty?: boolean;
  /** Plain lines: at most one per this many ms, phase and status changes aside (default 2000). */
  minIntervalMs?: number;
  now?: () => number;
}

export function createProgressDisplay(o: ProgressDisplayOptions = {}): ProgressDisplay {
  const stream = o.stream ?? process.stdout;
  const tty = o.tty ?? !!stream.isTTY;
  return tty ? barsDisplay(stream) : lineDisplay(stream, o.minIntervalMs ?? 2000, o.now ?? Date.now);
}

/** "1.2 MB", "830 kB", "12 B". */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** "–", "42 s", "3 min 05 s", "2 h 04 min". */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function percent(done: number, total: number): number {
  return total > 0 ? Math.floor((100 * done) / total) : 0;
}

function statusOf(p: MigrationProgress): string {
  return p.statusText ?? (p.paused ? 'paused' : p.pauseRequested ? `${p.status}, pause requested` : p.status);
}

function shardsExtra(p: MigrationProgress): string {
  const parts = [`${p.shardsInFlight} in flight`];
  if (p.verification) parts.push(`${p.verification.shardsVerified} verified`);
  return parts.join(', ');
}

/** "2 min 00 s (P50 1 min 50 s, P90 3 min 10 s)": the ETA and, once the run has enough samples, its band. */
export function etaText(p: MigrationProgress): string {
  const band = p.etaBand ? ` (P50 ${formatEta(p.etaBand.p50Seconds)}, P90 ${formatEta(p.etaBand.p90Seconds)})` : '';
  return `${formatEta(p.etaSeconds)}${band}`;
}

/** One plain line: "[Moving shards · running] shards 12/42 (8 in flight, 6 verified) · bytes …". */
export function progressLine(p: MigrationProgress): string {
  return [
    `[${p.label} · ${statusOf(p)}] shards ${p.shardsDone}/${p.shardsTotal} (${shardsExtra(p)})`,
    `bytes ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} (${percent(p.bytesDone, p.bytesTotal)} %)`,
    `ETA ${etaText(p)}`,
    `agents ${p.agentsMoved}/${p.agentsTotal}`,
    ...(p.lastError ? [`last error: ${p.lastError}`] : []),
  ].join(' · ');
}

/** What makes a new plain line worth printing (the ETA alone does not). */
function changeKey(p: MigrationProgress): string {
  return JSON.stringify([
    p.label,
    statusOf(p),
    p.shardsDone,
    p.shardsTotal,
    p.shardsInFlight,
    percent(p.bytesDone, p.bytesTotal),
    p.agentsMoved,
    p.agentsTotal,
    p.verification?.shardsVerified ?? null,
    p.lastError,
  ]);
}

function lineDisplay(stream: NodeJS.WritableStream, minIntervalMs: number, now: () => number): ProgressDisplay {
  let lastKey = '';
  let lastHead = '';
  let lastAt = -Infinity;
  let pending: MigrationProgress | null = null;
  const print = (p: MigrationProgress) => {
    stream.write(`${progressLine(p)}\n`);
    lastKey = changeKey(p);
    lastHead = `${p.label}|${statusOf(p)}`;
    lastAt = now();
    pending = null;
  };
  return {
    update(p) {
      if (changeKey(p) === lastKey) {
        pending = null;
        return;
      }
      const head = `${p.label}|${statusOf(p)}`;
      if (head !== lastHead || now() - lastAt >= minIntervalMs) print(p);
      else pending = p;
    },
    log(line) {
      stream.write(`${line}\n`);
    },
    stop() {
      if (pending) print(pending);
    },
  };
}

function barsDisplay(stream: NodeJS.WritableStream & { columns?: number }): ProgressDisplay {
  const { MultiBar, Presets } = require('cli-progress') as typeof import('cli-progress');
  const bars = new MultiBar(
    {
      stream,
      format: ' {name} |{bar}| {progress}  {extra}',
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 5,
      // A logged line overwrites the first bar's line: redraw every line each time, not only the changed ones.
      forceRedraw: true,
      linewrap: false,
      // Ctrl-C: restore the cursor before the process ends.
      gracefulExit: true,
    },
    Presets.shades_classic,
  );
  const header = bars.create(1, 0, { name: '', extra: '' }, { format: ' {extra}' });
  const shards = bars.create(1, 0, { name: 'shards', progress: '', extra: '' });
  const bytes = bars.create(1, 0, { name: 'bytes ', progress: '', extra: '' });
  const agents = bars.create(1, 0, { name: 'agents', progress: '', extra: '' });
  let stopped = false;
  return {
    update(p) {
      if (stopped) return;
      header.update(0, {
        extra: `${p.label} · ${statusOf(p)} · run ${p.run} · concurrency ${p.concurrency}${p.lastError ? ` · last error: ${p.lastError}` : ''}`,
      });
      shards.setTotal(Math.max(1, p.shardsTotal));
      shards.update(p.shardsDone, { progress: `${p.shardsDone}/${p.shardsTotal}`, extra: shardsExtra(p) });
      bytes.setTotal(Math.max(1, p.bytesTotal));
      bytes.update(p.bytesDone, {
        progress: `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}`,
        extra: `ETA ${etaText(p)}`,
      });
      agents.setTotal(Math.max(1, p.agentsTotal));
      agents.update(p.agentsMoved, { progress: `${p.agentsMoved}/${p.agentsTotal}`, extra: '' });
    },
    log(line) {
      if (stopped) stream.write(`${line}\n`);
      else bars.log(`${line}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bars.update(); // flushes lines logged since the last redraw
      bars.stop();
    },
  };
}
