/**
 * The ETA judged against what happened, from the workflow's timeline (MigrationState.timeline: progress and ETA
 * samples while shards move). Each shard run (forward, or back on a rollback) is a segment; its actual end is the
 * first sample at which every byte and shard of it was done (the timeline records that moment whatever its sampling
 * interval). Used by the report (chart and table) and by `npm run bench` (the ETA error table).
 */
import type { Timeline } from '../shared/types';

export interface EtaPoint {
  /** Sample time (ms). */
  t: number;
  direction: 'forward' | 'back';
  /** Fraction of the segment's bytes done at the sample. */
  fraction: number;
  /** Predicted seconds to the end (null: not known yet). */
  etaS: number | null;
  p50S: number | null;
  p90S: number | null;
  /** Seconds from the sample to the segment's actual end (null: the segment has not ended). */
  actualS: number | null;
}

export interface EtaSegment {
  direction: 'forward' | 'back';
  start: number;
  /** When every byte and shard was done (null: not reached in the timeline). */
  end: number | null;
  points: EtaPoint[];
}

const known = (x: number | undefined): number | null => (x === undefined || x < 0 ? null : x);

export function etaSegments(tl: Timeline | null | undefined): EtaSegment[] {
  const holders: { direction: 0 | 1; rows: number[][] }[] = [];
  for (const r of tl?.samples ?? []) {
    const direction = r[9] === 1 ? 1 : 0;
    const cur = holders.at(-1);
    if (cur && cur.direction === direction) cur.rows.push(r);
    else holders.push({ direction, rows: [r] });
  }
  return holders.map(toSegment);
}

function toSegment(h: { direction: 0 | 1; rows: number[][] }): EtaSegment {
  const done = h.rows.find((r) => r[2]! > 0 && r[1]! >= r[2]! && r[3]! >= r[4]!);
  const end = done ? done[0]! : null;
  return {
    direction: h.direction === 1 ? 'back' : 'forward',
    start: h.rows[0]?.[0] ?? 0,
    end,
    points: h.rows.map((r) => ({
      t: r[0]!,
      direction: h.direction === 1 ? 'back' : 'forward',
      fraction: r[2]! > 0 ? r[1]! / r[2]! : 0,
      etaS: known(r[6]),
      p50S: known(r[7]),
      p90S: known(r[8]),
      actualS: end === null ? null : Math.max(0, (end - r[0]!) / 1000),
    })),
  };
}

export interface EtaErrorRow {
  direction: 'forward' | 'back';
  /** The fraction of bytes asked for (0.1, 0.25, …) and the sample that first reached it. */
  fraction: number;
  atFraction: number;
  t: number;
  predictedS: number | null;
  actualS: number;
  /** (predicted − actual) ÷ actual, in %; null without a prediction (or an actual end at the sample). */
  errorPct: number | null;
  /** Whether the segment ended within that moment's P90 (null without one). */
  withinP90: boolean | null;
}

/** The ETA's error at each fraction of the bytes, per finished segment. */
export function etaErrors(tl: Timeline | null | undefined, fractions = [0.1, 0.25, 0.5, 0.75]): EtaErrorRow[] {
  const rows: EtaErrorRow[] = [];
  for (const seg of etaSegments(tl)) {
    if (seg.end === null) continue;
    for (const f of fractions) {
      const p = seg.points.find((x) => x.fraction >= f && x.actualS !== null);
      if (!p || p.actualS === null) continue;
      const predicted = p.etaS;
      rows.push({
        direction: seg.direction,
        fraction: f,
        atFraction: Math.round(p.fraction * 1000) / 1000,
        t: p.t,
        predictedS: predicted,
        actualS: Math.round(p.actualS * 10) / 10,
        errorPct:
          predicted === null || p.actualS <= 0 ? null : Math.round(((predicted - p.actualS) / p.actualS) * 1000) / 10,
        withinP90: p.p90S === null ? null : p.actualS <= p.p90S + 0.5,
      });
    }
  }
  return rows;
}
