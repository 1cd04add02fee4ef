// The API surface check: every export of every published entry point (`exports` in each package's
// package.json, read from the built .d.ts files), by name and kind, must match the package's
// committed `api-surface.txt`, so the public surface only changes on purpose. `--update` rewrites
// the files from the build; review their diff like code.
//
// Run after a build: `node scripts/check-api-surface.ts [--update]`. Exit 1 with the differences.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['packages/core', 'packages/handlers', 'packages/client', 'packages/concurrency'];

/** `kind name` for each export of the declaration file `path`, sorted. */
function exportsOf(path: string): string[] {
  const program = ts.createProgram([path], { noEmit: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(path);
  const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
  if (module === undefined) throw new Error(`no module at ${path}: build first`);
  return checker
    .getExportsOfModule(module)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      return `${kindOf(target.flags)} ${symbol.name}`;
    })
    .toSorted();
}

function kindOf(flags: ts.SymbolFlags): string {
  if (flags & ts.SymbolFlags.Class) return 'class';
  if (flags & ts.SymbolFlags.Function) return 'function';
  if (flags & ts.SymbolFlags.Variable) return 'const';
  if (flags & ts.SymbolFlags.Interface) return 'interface';
  if (flags & ts.SymbolFlags.TypeAlias) return 'type';
  if (flags & ts.SymbolFlags.Enum) return 'enum';
  return 'other';
}

/** The surface of one package: a section per entry point. */
function surfaceOf(directory: string): string {
  const manifest = JSON.parse(readFileSync(join(root, directory, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { types?: string }>;
  };
  const sections = Object.entries(manifest.exports)
    .filter(([subpath, target]) => subpath !== './package.json' && typeof target === 'object')
    .map(([subpath, target]) => {
      const types = (target as { types: string }).types;
      const name = subpath === '.' ? manifest.name : `${manifest.name}${subpath.slice(1)}`;
      return `# ${name}\n${exportsOf(join(root, directory, types)).join('\n')}\n`;
    });
  return sections.join('\n');
}

const isUpdate = process.argv.includes('--update');
let differences = 0;
for (const directory of packages) {
  const file = join(root, directory, 'api-surface.txt');
  const surface = surfaceOf(directory);
  if (isUpdate) {
    writeFileSync(file, surface);
    continue;
  }
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // no file yet: everything is new
  }
  if (committed === surface) continue;
  const before = new Set(committed.split('\n'));
  const after = new Set(surface.split('\n'));
  const added = [...after].filter((line) => line !== '' && !before.has(line));
  const removed = [...before].filter((line) => line !== '' && !after.has(line));
  differences += 1;
  console.log(`${directory}/api-surface.txt does not match the build:`);
  for (const line of added) console.log(`  + ${line}`);
  for (const line of removed) console.log(`  - ${line}`);
}
if (differences > 0) {
  console.log('If the change is meant: node scripts/check-api-surface.ts --update, and commit the files.');
  process.exit(1);
}
console.log(isUpdate ? 'api-surface.txt files written' : 'API surface: as committed');
