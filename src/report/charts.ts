/**
 * The report's charts: Vega-Lite specifications compiled with vega-lite and rendered to SVG strings by Vega in
 * Node (`view.toSVG()`, no browser, no DOM). Vega and Vega-Lite are ES modules: loaded lazily with import().
 * Times are seconds since the migration started (the first run's first event).
 */
import { etaSegments } from './eta';
import type { ReportData } from './extract';

type Spec = Record<string, unknown>;

export interface Chart {
  id: string;
  title: string;
  /** What the chart is drawn from and what it cannot show. */
  caption: string;
  svg: string | null;
}

const WIDTH = 820;
const COLORS = { phase: '#4c78a8', paused: '#f58518', parked: '#e45756', retried: '#54a24b' };

async function render(spec: Spec): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const compiled = vl.compile({
    config: {
      font: 'sans-serif',
      view: { stroke: '#ddd' },
      axis: { labelFontSize: 11, titleFontSize: 12 },
      legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 },
    },
    ...spec,
  } as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Points per chart series at most: a six-hour migration waits on its shard moves thousands of times. */
const MAX_POINTS = 600;

/** Every k-th point, and always the last, so that at most `max` remain. */
export function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const k = Math.ceil(xs.length / (max - 1));
  const out = xs.filter((_, i) => i % k === 0);
  if (out.at(-1) !== xs.at(-1)) out.push(xs.at(-1)!);
  return out;
}

const secs = (d: ReportData, t: number) => Math.round((t - d.startedAt) / 10) / 100;

export async function ganttChart(d: ReportData): Promise<Chart> {
  const span = Math.max(1, secs(d, d.endedAt));
  const minWidth = span / 400; // a phase of a few milliseconds still shows as a sliver
  const rows: Spec[] = [];
  for (const p of d.phases)
    rows.push({
      row: p.phase,
      kind: 'phase',
      start: secs(d, p.start),
      end: Math.max(secs(d, p.end), secs(d, p.start) + minWidth),
      what: `${p.phase}${p.open ? ' (running)' : ''}`,
    });
  for (const h of d.holds)
    rows.push({
      row: h.phase,
      kind: h.kind,
      start: secs(d, h.start),
      end: Math.max(secs(d, h.end), secs(d, h.start) + minWidth),
      what: `${h.kind}: ${h.reason.slice(0, 120)}`,
    });
  const retried = d.steps
    .filter((s) => s.retryOf !== null || s.attempts > 1)
    .map((s) => ({
      row: s.phase,
      kind: 'retried step',
      t: secs(d, s.startedAt ?? s.scheduledAt),
      what: `${s.activity}${s.detail ? ` ${s.detail}` : ''} (step ${s.index}, attempts ${s.attempts}${s.retryOf ? `, retry of step ${s.retryOf}` : ''})`,
    }));
  const order = [...new Set(d.phases.map((p) => p.phase))];
  const color = {
    field: 'kind',
    type: 'nominal',
    title: null,
    scale: {
      domain: ['phase', 'paused', 'parked', 'retried step'],
      range: [COLORS.phase, COLORS.paused, COLORS.parked, COLORS.retried],
    },
  };
  const y = { field: 'row', type: 'nominal', sort: order, title: null };
  const x = { title: `seconds since ${new Date(d.startedAt).toISOString()}`, scale: { domain: [0, span] } };
  const spec: Spec = {
    width: WIDTH,
    height: { step: 24 },
    layer: [
      {
        data: { values: rows.filter((r) => r.kind === 'phase') },
        mark: { type: 'bar', height: 16 },
        encoding: {
          y,
          x: { field: 'start', type: 'quantitative', ...x },
          x2: { field: 'end' },
          color,
          tooltip: { field: 'what' },
        },
      },
      {
        data: { values: rows.filter((r) => r.kind !== 'phase') },
        mark: { type: 'bar', height: 8, opacity: 0.9 },
        encoding: {
          y,
          x: { field: 'start', type: 'quantitative' },
          x2: { field: 'end' },
          color,
          tooltip: { field: 'what' },
        },
      },
      {
        data: { values: retried },
        mark: { type: 'point', shape: 'diamond', filled: true, size: 90 },
        encoding: { y, x: { field: 't', type: 'quantitative' }, color, tooltip: { field: 'what' } },
      },
    ],
  };
  return {
    id: 'chart-phases',
    title: 'Phase timeline',
    caption:
      'Each phase from the MigrationPhase search attribute updates in the history (Temporal event times). Thin bars: paused by an operator (pause signal → resume) and parked (a step failed or the cluster was unhealthy → resume, rollback or abort). Diamonds: steps run again (after a failure, or retried by Temporal).',
    svg: await render(spec),
  };
}

export async function movementChart(d: ReportData): Promise<Chart> {
  const caption =
    d.engine === 'lock'
      ? 'From the shard plan reads and the lock-holding engine of earlier releases (addShardFollower → moveShardLeadership → removeShardFollower): bytes count when a follower was added.'
      : 'Shards: prototype and clone shards whose Plan servers, as the last Plan read or finished MoveShard job reported them, are all new (target) DB servers. Bytes: copied by finished MoveShard jobs, plus the progress waitForShardMoves reported for jobs in flight.';
  if (d.moves.length === 0)
    return {
      id: 'chart-movement',
      title: 'Shards and bytes moved',
      caption: `${caption} No shard plan in this history yet.`,
      svg: null,
    };
  const values = thin(d.moves, MAX_POINTS).map((m) => ({
    t: secs(d, m.t),
    shards: m.shardsOnTarget,
    total: m.shardsTotal,
    bytes: m.bytesCopied,
  }));
  const x = {
    field: 't',
    type: 'quantitative',
    title: 'seconds since start',
    scale: { domain: [0, Math.max(1, secs(d, d.endedAt))] },
  };
  const spec: Spec = {
    data: { values },
    vconcat: [
      {
        width: WIDTH,
        height: 160,
        layer: [
          {
            mark: { type: 'line', interpolate: 'step-after', point: true, color: COLORS.phase },
            encoding: {
              x,
              y: { field: 'shards', type: 'quantitative', title: 'shards on target' },
              tooltip: [{ field: 't' }, { field: 'shards' }],
            },
          },
          {
            mark: { type: 'line', interpolate: 'step-after', strokeDash: [4, 4], color: '#999' },
            encoding: { x, y: { field: 'total', type: 'quantitative' } },
          },
        ],
      },
      {
        width: WIDTH,
        height: 160,
        mark: { type: 'line', interpolate: 'linear', point: true, color: COLORS.paused },
        encoding: {
          x,
          y: { field: 'bytes', type: 'quantitative', title: 'bytes copied', axis: { format: '~s' } },
          tooltip: [{ field: 't' }, { field: 'bytes' }],
        },
      },
    ],
  };
  return {
    id: 'chart-movement',
    title: 'Shards and bytes moved',
    caption: `${caption} Dashed: all shards.`,
    svg: await render(spec),
  };
}

export async function throughputChart(d: ReportData): Promise<Chart> {
  const caption = `Bytes each DB server sent (the group's leader, which the new copy syncs from) and received (the new copy), from the MoveShard jobs' reported copy progress, spread evenly between two reports, in ${d.rateBucketMs / 1000} s buckets. The workflow records no per-server link counters: for measured send/receive rates (replication and client traffic too) it must keep a bounded timeline of per-server byte counters in its state.`;
  if (d.rates.length === 0)
    return {
      id: 'chart-throughput',
      title: 'Send/receive throughput per DB server',
      caption: `${caption} No copy progress in this history.`,
      svg: null,
    };
  // Every series over every bucket (0 where it moved nothing), closed at the last bucket's end: steps, not spikes.
  const buckets = Math.max(1, Math.ceil((d.endedAt - d.startedAt) / d.rateBucketMs));
  const seriesOf = (r: { server: string; direction: string }) => `${r.server} ${r.direction}`;
  const byKey = new Map(d.rates.map((r) => [`${seriesOf(r)}@${Math.round((r.t0 - d.startedAt) / d.rateBucketMs)}`, r]));
  const series = [...new Map(d.rates.map((r) => [seriesOf(r), r])).values()];
  const line: Spec[] = [];
  for (const s of series)
    for (let k = 0; k <= buckets; k++) {
      const r = byKey.get(`${seriesOf(s)}@${Math.min(k, buckets - 1)}`);
      line.push({
        t: Math.round((k * d.rateBucketMs) / 10) / 100,
        server: s.server,
        direction: s.direction,
        series: seriesOf(s),
        bps: r ? Math.round(r.bytesPerSecond) : 0,
      });
    }
  const points = d.rates.map((r) => ({
    t: secs(d, r.t0),
    server: r.server,
    direction: r.direction,
    series: seriesOf(r),
    bps: Math.round(r.bytesPerSecond),
  }));
  const x = {
    field: 't',
    type: 'quantitative',
    title: 'seconds since start',
    scale: { domain: [0, Math.max(1, secs(d, d.endedAt))] },
  };
  const y = { field: 'bps', type: 'quantitative', title: 'bytes/s', axis: { format: '~s' } };
  const color = {
    field: 'server',
    type: 'nominal',
    title: 'DB server',
    scale: { domain: [...new Set(d.rates.map((r) => r.server))].sort() },
  };
  // One panel per direction, so a sender and a receiver with the same rate do not hide each other.
  const panel = (direction: 'send' | 'receive'): Spec => ({
    width: WIDTH,
    height: 150,
    title: { text: direction === 'send' ? 'sent' : 'received', anchor: 'start', fontSize: 12 },
    layer: [
      {
        data: { values: line.filter((v) => v.direction === direction) },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5, clip: true },
        encoding: { x, y, color, detail: { field: 'series' } },
      },
      {
        // One point per bucket in which the server sent or received: where the figures are.
        data: { values: points.filter((v) => v.direction === direction) },
        mark: { type: 'point', filled: true, size: 25 },
        encoding: { x, y, color, tooltip: [{ field: 'series' }, { field: 't' }, { field: 'bps' }] },
      },
    ],
  });
  const spec: Spec = { vconcat: [panel('send'), panel('receive')], resolve: { scale: { color: 'shared' } } };
  return { id: 'chart-throughput', title: 'Send/receive throughput per DB server', caption, svg: await render(spec) };
}

export async function latencyChart(d: ReportData): Promise<Chart> {
  const caption =
    'Version checks (GET /_api/version) the probes measured at the end of each phase, per region pair: bar p50, tick p95 (probeVersionChecks results).';
  if (d.latency.length === 0)
    return {
      id: 'chart-latency',
      title: 'Version-check latency per region pair',
      caption: `${caption} No probe results in this history.`,
      svg: null,
    };
  const values = d.latency.map((l) => ({
    phase: l.phase,
    pair: `${l.from} → ${l.to}`,
    p50: l.p50Ms,
    p95: l.p95Ms,
    path: l.path,
    samples: l.samples,
  }));
  const order = [...new Set(values.map((v) => v.phase))];
  const x = { field: 'phase', type: 'nominal', sort: order, title: 'phase', axis: { labelAngle: -30 } };
  const spec: Spec = {
    data: { values },
    width: WIDTH,
    height: 200,
    layer: [
      {
        mark: 'bar',
        encoding: {
          x,
          xOffset: { field: 'pair' },
          y: { field: 'p50', type: 'quantitative', title: 'ms', axis: { format: ',.1~f' } },
          color: { field: 'pair', type: 'nominal', title: 'region pair' },
          tooltip: [
            { field: 'pair' },
            { field: 'phase' },
            { field: 'p50' },
            { field: 'p95' },
            { field: 'path' },
            { field: 'samples' },
          ],
        },
      },
      {
        mark: { type: 'tick', color: '#333', thickness: 2 },
        encoding: { x, xOffset: { field: 'pair' }, y: { field: 'p95', type: 'quantitative' } },
      },
    ],
  };
  return { id: 'chart-latency', title: 'Version-check latency per region pair', caption, svg: await render(spec) };
}

export async function etaChart(d: ReportData): Promise<Chart> {
  const caption =
    "The ETA the workflow predicted at each moment while shards moved (from this run's own byte rate; P50 and P90 from its rate windows) against the time that actually remained (dashed: from the moment every byte and shard of that shard run was done). From the workflow's timeline (its result, its timeline query, or the state continue-as-new carried).";
  const segs = etaSegments(d.timeline);
  const rows: { t: number; s: number; series: string }[] = [];
  for (const seg of segs) {
    const dir = seg.direction === 'back' ? ' (rollback)' : '';
    for (const p of thin(seg.points, MAX_POINTS)) {
      const t = secs(d, p.t);
      if (p.etaS !== null) rows.push({ t, s: p.etaS, series: `predicted (ETA)${dir}` });
      if (p.p50S !== null) rows.push({ t, s: p.p50S, series: `P50${dir}` });
      if (p.p90S !== null) rows.push({ t, s: p.p90S, series: `P90${dir}` });
      if (p.actualS !== null) rows.push({ t, s: Math.round(p.actualS * 10) / 10, series: `actual remaining${dir}` });
    }
  }
  if (rows.length === 0)
    return {
      id: 'chart-eta',
      title: 'ETA predicted against the actual end',
      caption: `${caption} ${d.timeline ? 'No ETA while shards moved yet.' : 'No timeline in this history (a migration started before it was kept).'}`,
      svg: null,
    };
  const spec: Spec = {
    data: { values: rows },
    width: WIDTH,
    height: 220,
    mark: { type: 'line', point: { size: 12 } },
    encoding: {
      x: {
        field: 't',
        type: 'quantitative',
        title: 'seconds since start',
        scale: { domain: [0, Math.max(1, secs(d, d.endedAt))] },
      },
      y: { field: 's', type: 'quantitative', title: 'seconds to the end of the shard moves' },
      color: { field: 'series', type: 'nominal', title: null },
      strokeDash: {
        condition: { test: "indexof(datum.series, 'actual') === 0", value: [5, 4] },
        value: [1, 0],
      },
      tooltip: [{ field: 'series' }, { field: 't' }, { field: 's' }],
    },
  };
  return { id: 'chart-eta', title: 'ETA predicted against the actual end', caption, svg: await render(spec) };
}

export async function allCharts(d: ReportData): Promise<Chart[]> {
  // One at a time: each loads and runs a Vega view.
  return [
    await ganttChart(d),
    await movementChart(d),
    await throughputChart(d),
    await latencyChart(d),
    await etaChart(d),
  ];
}
