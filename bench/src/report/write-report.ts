// Writes a results file and what is generated from it: the Markdown document and its charts
// (next to it, in a directory named after it: docs/benchmarks.md → docs/benchmarks/*.svg).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianOf, type BenchResults } from '../results.ts';
import { scenarioById, type ScenarioId } from '../scenarios.ts';
import { renderDocument, referenceOf, referenceText } from './markdown.ts';
import { barChart, type Bar } from './svg.ts';

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const findingsFile = fileURLToPath(new URL('../../findings.md', import.meta.url));

/** The chart of one scenario: each measured server's primary metric ÷ its baseline's. */
function chartOf(results: BenchResults, scenario: ScenarioId): string | undefined {
  const { title, primaryMetric, isHigherBetter } = scenarioById(scenario);
  const bars: Bar[] = [];
  for (const server of results.servers) {
    const value = medianOf(results, scenario, server.id, primaryMetric);
    const base = medianOf(results, scenario, referenceOf(scenario, server), primaryMetric);
    if (value === undefined || base === undefined || base === 0) continue;
    bars.push({ label: server.name, value: value / base, kind: server.kind });
  }
  if (bars.length === 0) return undefined;
  const metricText: Record<string, string> = {
    linesPerSecond: 'lines/s',
    p99Us: 'p99 latency',
    roundTripsPerSecond: 'round trips/s',
    connectionsPerSecond: 'connections/s',
    megabytesPerSecond: 'MB/s',
    rssPerConnectionBytes: 'RSS per connection',
  };
  const note = `${metricText[primaryMetric] ?? primaryMetric}, ${referenceText[scenario]}; ${isHigherBetter ? 'higher' : 'lower'} is better`;
  const versus = scenario.startsWith('pools-') ? 'vs async' : 'vs baseline';
  return barChart(`${title}: ${metricText[primaryMetric] ?? primaryMetric} ${versus} (medians)`, note, bars);
}

/** Writes `results` to `resultsPath` (unless it is where they came from), then the document and charts. */
export function writeReport(
  results: BenchResults,
  resultsPath: string,
  markdownPath: string,
  isResultsWritten = true,
): void {
  if (isResultsWritten) {
    mkdirSync(path.dirname(resultsPath), { recursive: true });
    writeFileSync(resultsPath, `${JSON.stringify(results, null, 1)}\n`);
  }
  const chartDirectory = path.join(path.dirname(markdownPath), path.basename(markdownPath, '.md'));
  mkdirSync(chartDirectory, { recursive: true });
  const charts = new Map<ScenarioId, string>();
  for (const { id } of results.scenarios) {
    const svg = chartOf(results, id);
    rmSync(path.join(chartDirectory, `${id}.svg`), { force: true }); // none left from an earlier run
    if (svg === undefined) continue;
    writeFileSync(path.join(chartDirectory, `${id}.svg`), svg);
    charts.set(id, `${path.basename(chartDirectory)}/${id}.svg`);
  }
  const relative = (target: string): string =>
    path.relative(path.dirname(markdownPath), target).split(path.sep).join('/');
  const relativeResults = relative(resultsPath);
  const document = renderDocument({
    results,
    resultsLink: relativeResults,
    charts,
    findings: readFileSync(findingsFile, 'utf8'),
    regenerateCommand: `node bench/src/report.ts ${path.relative(repositoryRoot, resultsPath).split(path.sep).join('/')}`,
    links: {
      readme: relative(path.join(repositoryRoot, 'bench/README.md')),
      scaleOut: relative(path.join(repositoryRoot, 'docs/scale-out.md')),
    },
  });
  writeFileSync(markdownPath, document);
}
