export interface Figures {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  p50Ms?: number;
  p99Ms?: number;
  [extra: string]: number | undefined;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function summarize(events: number, seconds: number, latencies: number[]): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const figures: Figures = { events, seconds: round(seconds), eventsPerSecond: Math.round(events / seconds) };
  if (sorted.length) {
    figures.p50Ms = round(percentile(sorted, 50));
    figures.p99Ms = round(percentile(sorted, 99));
  }
  return figures;
}

export function round(n: number): number {
  return Math.round(n * 100) / 100;
}
