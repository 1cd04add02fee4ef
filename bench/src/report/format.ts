// Number formatting shared by the progress lines, the tables and the charts.
import { scenarioById, type ScenarioId } from '../scenarios.ts';

export const integer = (value: number): string =>
  Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—';
export const fixed = (value: number, digits: number): string =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '—';
export const ratio = (value: number): string => `${fixed(value, 2)}x`;

/** A share (0–1) as a percentage. */
export const percent = (value: number): string =>
  Number.isFinite(value) ? `${Math.round(value * 100)}%` : '—';

/** One run's main numbers, for a progress line. */
export function formatMetric(scenario: ScenarioId, metrics: Readonly<Record<string, number>>): string {
  const value = (name: string): number => metrics[name] ?? Number.NaN;
  return formatMeasure(scenario, value) + formatServerCpu(value);
}

function formatMeasure(scenario: ScenarioId, value: (name: string) => number): string {
  switch (scenarioById(scenario).measures) {
    case 'lines':
      return `${integer(value('linesPerSecond'))} lines/s, ${fixed(value('megabytesPerSecond'), 2)} MB/s`;
    case 'roundTrips':
      return (
        `${integer(value('roundTripsPerSecond'))} round trips/s, p50 ${integer(value('p50Us'))} µs, ` +
        `p99 ${integer(value('p99Us'))} µs, p99.9 ${integer(value('p999Us'))} µs`
      );
    case 'connections':
      return `${integer(value('connectionsPerSecond'))} connections/s, p50 ${fixed(value('p50Ms'), 2)} ms, p99 ${fixed(value('p99Ms'), 2)} ms`;
    case 'transfers':
      return `${fixed(value('megabytesPerSecond'), 1)} MB/s, ${integer(value('transfers'))} transfers, p50 ${fixed(value('transferP50Ms'), 1)} ms each`;
    case 'idle':
      return (
        `${integer(value('connections'))} connections, RSS ${fixed(value('rssBeforeBytes') / 2 ** 20, 1)} → ` +
        `${fixed(value('rssAfterBytes') / 2 ** 20, 1)} MiB, ${fixed(value('rssPerConnectionBytes') / 1024, 2)} KiB per connection`
      );
  }
}

/** The server CPU of a run, when it was sampled: `; server 1.52 cores, 61 µs CPU per op, busiest process 54%`. */
function formatServerCpu(value: (name: string) => number): string {
  if (Number.isNaN(value('serverCores'))) return '';
  const busiest = value('busiestProcessShare');
  return (
    `; server ${fixed(value('serverCores'), 2)} cores, ${integer(value('cpuUsPerOperation'))} µs CPU per op` +
    (Number.isNaN(busiest) ? '' : `, busiest process ${percent(busiest)}`)
  );
}
