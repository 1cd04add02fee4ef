// The load generator's ceiling, per scenario, and which cells it bounds.
//
// Ceiling: the operations per second of the load generator's own CPU time (user + system, of its
// processes, over the measured window) when it drives the C epoll echo server: the rate it would
// sustain with one core of its own. (On 2 shared cores a rate against the C server says more
// about the kernel and the sharing of the cores than about the generator.)
//
// A cell is load-generator-bound when its rate is at least 80% of that ceiling (†), or when the
// generator kept at least 80% of the cores it could use busy during that very cell (‡): then the
// cell measured the generator (as much as the server), and an aim computed from it is not claimed.
import { medianOf, type BenchResults } from './results.ts';
import type { ScenarioId } from './scenarios.ts';

export const ceilingServerId = 'c-echo';
/** A rate this close to the ceiling (or a generator this busy) marks a cell load-generator-bound. */
export const boundShare = 0.8;

/** The scenarios with a ceiling, and the rate each is measured by. */
export const ceilingRates: Partial<Readonly<Record<ScenarioId, { metric: string; unit: string }>>> = {
  throughput: { metric: 'linesPerSecond', unit: 'lines/s' },
  'pingpong-1': { metric: 'roundTripsPerSecond', unit: 'round trips/s' },
  'pingpong-50': { metric: 'roundTripsPerSecond', unit: 'round trips/s' },
  connect: { metric: 'connectionsPerSecond', unit: 'connections/s' },
};

/** The ceiling of `scenario` in operations per second (per generator CPU-second); undefined when not measured. */
export const ceilingOf = (results: BenchResults, scenario: ScenarioId): number | undefined =>
  ceilingRates[scenario] === undefined
    ? undefined
    : medianOf(results, scenario, ceilingServerId, 'operationsPerGeneratorCpuSecond');

/**
 * Why the cell of `server` in `scenario` is load-generator-bound: '†' (its rate is ≥ 80% of the
 * ceiling), '‡' (the generator kept ≥ 80% of its cores busy), or undefined when it is not.
 */
export function loadGeneratorBound(
  results: BenchResults,
  scenario: ScenarioId,
  server: string,
): '†' | '‡' | undefined {
  const rate = ceilingRates[scenario];
  const ceiling = ceilingOf(results, scenario);
  const value = rate === undefined ? undefined : medianOf(results, scenario, server, rate.metric);
  if (ceiling !== undefined && value !== undefined && value >= boundShare * ceiling) return '†';
  const share = medianOf(results, scenario, server, 'generatorCoreShare');
  if (share !== undefined && share >= boundShare) return '‡';
  return undefined;
}
