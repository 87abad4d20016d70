/**
 * The report as one self-contained HTML file: inline CSS and inline SVG charts, no script, no external resource,
 * so it opens from disk without a network.
 */
import type { Chart } from './charts';
import { etaErrors } from './eta';
import type { ReportData, StepRow } from './extract';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const iso = (t: number) =>
  new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = n;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin-top:0}dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}
dl.facts dt{color:#555}dl.facts dd{margin:0}figure{margin:16px 0}figcaption{color:#555;font-size:13px;margin-top:4px;max-width:900px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.failed td{background:#fdecea}
tr.retry td{background:#eef7ee}.note{background:#fff8e1;border-left:4px solid #f5b800;padding:6px 10px;margin:8px 0}
.missing{color:#777;font-style:italic}
`;

function stepRow(s: StepRow, t0: number): string {
  const dur = s.endedAt !== null ? duration(s.endedAt - s.scheduledAt) : 'running';
  const cls = s.outcome === 'failed' || s.outcome === 'timed out' ? 'failed' : s.retryOf !== null ? 'retry' : '';
  const cells = [
    `<td class="num">${s.index}</td>`,
    `<td>${escapeHtml(s.phase)}</td>`,
    `<td>${escapeHtml(s.activity)}</td>`,
    `<td>${escapeHtml(s.detail)}</td>`,
    `<td class="num">${((s.scheduledAt - t0) / 1000).toFixed(3)}</td>`,
    `<td class="num">${escapeHtml(dur)}</td>`,
    `<td class="num">${s.attempts}</td>`,
    `<td>${escapeHtml(s.outcome)}${s.retryOf !== null ? ` (retry of ${s.retryOf})` : ''}</td>`,
    `<td>${s.error ? escapeHtml(s.error) : ''}</td>`,
  ];
  return `<tr data-step="${s.index}"${cls ? ` class="${cls}"` : ''}>${cells.join('')}</tr>`;
}

export function renderHtml(d: ReportData, charts: Chart[], generatedAt: Date): string {
  const facts: [string, string][] = [
    ['Workflow', d.workflowId],
    ['Status', d.status + (d.open ? ' (history still open)' : '')],
    ['Runs', `${d.runs}${d.runs > 1 ? ' (continue-as-new chain)' : ''}`],
    ['Started', iso(d.startedAt)],
    [d.open ? 'Last event' : 'Ended', iso(d.endedAt)],
    ['Elapsed', duration(d.endedAt - d.startedAt)],
    [
      'Steps',
      `${d.steps.length} (${d.steps.filter((s) => s.outcome === 'failed' || s.outcome === 'timed out').length} failed)`,
    ],
  ];
  const r = d.result;
  if (r) {
    facts.push(['Outcome', `${r.status}: ${r.summary}`]);
    facts.push([
      'Shards',
      `${r.shardsOnTarget} on target, ${r.shardsOnSource} on source, ${r.shardsMoving} moving (of ${r.shardsTotal})`,
    ]);
    facts.push(['Bytes moved', bytes(r.bytesMoved)]);
    facts.push(['Agents on target', `${r.agentsOnTarget} / ${r.agentsTotal}`]);
    facts.push(['DNS', r.dnsValues.join(', ')]);
    if (r.lastError) facts.push(['Last error', r.lastError]);
  }
  if (d.failure) facts.push(['Failure', d.failure]);
  const l = d.live;
  if (l) {
    facts.push(['Now (progress query)', `${l.label} (${l.status}${l.paused ? ', paused' : ''})`]);
    facts.push(['Shards now', `${l.shardsDone} / ${l.shardsTotal}, in flight ${l.shardsInFlight}`]);
    facts.push(['Bytes now', `${bytes(l.bytesDone)} / ${bytes(l.bytesTotal)}`]);
    if (l.lastError) facts.push(['Last error', l.lastError]);
  }
  const phaseRows = d.phases.map(
    (p) =>
      `<tr data-phase="${escapeHtml(p.phase)}"><td>${escapeHtml(p.phase)}</td><td class="num">${((p.start - d.startedAt) / 1000).toFixed(3)}</td><td class="num">${escapeHtml(duration(p.end - p.start))}${p.open ? ' (running)' : ''}</td></tr>`,
  );
  const holdRows = d.holds.map(
    (h) =>
      `<tr data-hold="${h.kind}"><td>${h.kind}</td><td>${escapeHtml(h.phase)}</td><td class="num">${((h.start - d.startedAt) / 1000).toFixed(3)}</td><td class="num">${escapeHtml(duration(h.end - h.start))}${h.open ? ' (still)' : ''}</td><td>${escapeHtml(h.reason)}</td></tr>`,
  );
  const controlRows = d.controls.map(
    (c) =>
      `<tr><td class="num">${((c.t - d.startedAt) / 1000).toFixed(3)}</td><td>${c.kind}</td><td>${escapeHtml(c.name)}</td><td>${escapeHtml(c.note)}</td></tr>`,
  );
  const etaRows = etaErrors(d.timeline).map(
    (e) =>
      `<tr data-eta="${e.direction} ${e.fraction}"><td>${e.direction}</td><td class="num">${Math.round(e.fraction * 100)} % (at ${(e.atFraction * 100).toFixed(1)} %)</td><td class="num">${((e.t - d.startedAt) / 1000).toFixed(1)}</td><td class="num">${e.predictedS ?? '–'}</td><td class="num">${e.actualS}</td><td class="num">${e.errorPct === null ? '–' : `${e.errorPct > 0 ? '+' : ''}${e.errorPct} %`}</td><td>${e.withinP90 === null ? '–' : e.withinP90 ? 'yes' : 'no'}</td></tr>`,
  );
  const figure = (c: Chart) =>
    `<figure id="${c.id}"><h2>${escapeHtml(c.title)}</h2>${c.svg ?? '<p class="missing">no data for this chart in the history</p>'}<figcaption>${escapeHtml(c.caption)}</figcaption></figure>`;
  const table = (head: string[], rows: string[], id: string, empty: string) =>
    rows.length
      ? `<table id="${id}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`
      : `<p class="missing" id="${id}">${empty}</p>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transit report: ${escapeHtml(d.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Transit migration report</h1>
<p class="sub">${escapeHtml(d.title)}</p>
<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
${d.notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('\n')}
${charts.map(figure).join('\n')}
<h2>ETA error</h2>
${table(
  ['shard run', 'bytes done', 'time (s)', 'predicted s', 'actual s', 'error', 'ended within P90'],
  etaRows,
  'eta-errors',
  'no finished shard run in the timeline',
)}
<h2>Phases</h2>
${table(['phase', 'start (s)', 'duration'], phaseRows, 'phases', 'no phase recorded')}
<h2>Paused and parked</h2>
${table(['kind', 'phase', 'start (s)', 'duration', 'why'], holdRows, 'holds', 'never paused or parked')}
<h2>Steps</h2>
${table(
  ['#', 'phase', 'activity', 'on', 'start (s)', 'duration', 'attempts', 'outcome', 'error'],
  d.steps.map((s) => stepRow(s, d.startedAt)),
  'steps',
  'no step recorded',
)}
<h2>Controls</h2>
${table(['time (s)', 'kind', 'name', 'note'], controlRows, 'controls', 'no signal or update')}
<p class="sub">Generated ${escapeHtml(iso(generatedAt.getTime()))} by <code>transit report</code> from the workflow's Temporal history${l ? ' and its progress query' : ''}. Times are Temporal's event times; a step's duration runs from its scheduling to its last attempt's end. Shard, byte and latency figures are what the activities reported from the cluster (from this repository's tests and demo, that cluster is the simulator: simulated figures).</p>
</body>
</html>
`;
}
