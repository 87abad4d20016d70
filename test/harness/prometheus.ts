/**
 * Scrapes a Prometheus endpoint and parses the text exposition format with a real parser (prom2javascript:
 * every family with its type and help; histograms checked for consistent buckets and count).
 */
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from 'prom2javascript';

export type { PromMetrics };

export async function scrape(url: string): Promise<{ text: string; metrics: PromMetrics }> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const text = await res.text();
  return { text, metrics: await parseExposition(text) };
}

export function parseExposition(text: string): Promise<PromMetrics> {
  return getMetricsFromIterator(text.split('\n')[Symbol.iterator]());
}

/** Samples of a gauge or counter whose labels include `match`. */
export function samples(m: PromMetrics, name: string, match: Record<string, string> = {}): PromData[] {
  const f = m[name];
  if (!f) return [];
  return (f.data as PromData[]).filter((d) => Object.entries(match).every(([k, v]) => d.labels[k] === v));
}

/** The single value of a gauge or counter series (throws when there is none or several). */
export function value(m: PromMetrics, name: string, match: Record<string, string> = {}): number {
  const xs = samples(m, name, match);
  if (xs.length !== 1) throw new Error(`${name}${JSON.stringify(match)}: expected one series, found ${xs.length}`);
  return xs[0]!.value;
}

export function histograms(m: PromMetrics, name: string): PromHistogramData[] {
  const f = m[name];
  return f && f.type === 'histogram' ? (f.data as PromHistogramData[]) : [];
}
