// Regenerates docs/benchmarks.md and docs/benchmarks/*.svg from a results file, without
// running anything (after editing bench/findings.md or the report code); the results of a run of
// some groups (`--group`) regenerate their own document, next to them (<results>.md):
//   node bench/src/report.ts bench/results/<date>-<host>.json [--out docs/benchmarks.md]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluateAims } from './aims.ts';
import { isAllGroupsRun, resultsSchemaVersion, type BenchResults } from './results.ts';
import { writeReport } from './report/write-report.ts';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const { values, positionals } = parseArgs({
  options: { out: { type: 'string' } },
  allowPositionals: true,
});
const [resultsPath] = positionals;
if (resultsPath === undefined || positionals.length !== 1) {
  process.stderr.write('usage: node bench/src/report.ts <results.json> [--out FILE.md]\n');
  process.exit(2);
}
const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults;
if (results.schemaVersion !== resultsSchemaVersion) {
  process.stderr.write(
    `report: ${resultsPath} has schema version ${results.schemaVersion}, this report reads ${resultsSchemaVersion}\n`,
  );
  process.exit(1);
}
results.aims = evaluateAims(results); // as the current aims code says (the file keeps its own copy)
const isAllGroups = isAllGroupsRun(results);
const out =
  values.out ??
  (isAllGroups
    ? path.join(repositoryRoot, 'docs/benchmarks.md')
    : resultsPath.replace(/\.json$/, '') + '.md');
writeReport(results, path.resolve(resultsPath), path.resolve(out), false);
console.log(
  `report: wrote ${path.relative(process.cwd(), path.resolve(out))} and its charts from ${resultsPath}`,
);
