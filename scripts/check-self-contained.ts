// The repository stands alone: no tracked file names, or links to, a file outside it.
//
// Reads every tracked file (`git ls-files`) as it is in the working tree, except pnpm-lock.yaml and
// binary files (a NUL byte), and reports each line that contains one of `forbiddenTexts` (paths and
// names of files that live outside the repository), and, in Markdown files, each relative link
// (`[text](target)`, `[label]: target`) whose target resolves outside the repository root.
// Fenced code blocks and inline code are not read for links. A tracked symlink that leads outside
// the repository is reported too.
//
// Run: `node scripts/check-self-contained.ts` (pnpm check-self-contained). Prints one line per
// offence, `file:line: reason`, on stderr and exits 1; otherwise one line on stdout and exits 0.
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tracked files never read: generated, and holding no links. */
const skippedFiles = new Set(['pnpm-lock.yaml']);

// Built from parts, so that this file does not name them itself.
const seed = ['seed', 'recipe'];
const outside = 'shared';
/** Text no tracked file may contain, compared case-insensitively. */
const forbiddenTexts: readonly string[] = [
  `${outside}/${seed.join('-')}`,
  `${outside}/${['echo', 'cli'].join('-')}`,
  ['..', outside, ''].join('/'),
  ['', 'work', outside].join('/'),
  seed.join('-'),
  seed.join(' '),
  ['echo', 'cli.md'].join('-'),
];

/** Whether a repository-relative path (POSIX) leads outside the repository root. */
function leavesRoot(resolved: string): boolean {
  return resolved === '..' || resolved.startsWith('../');
}

/**
 * Where a Markdown link target leads, relative to the repository root, or `undefined` for a target
 * that is not a path in the repository (a URL, an anchor, an e-mail address).
 */
export function resolveLinkTarget(file: string, rawTarget: string): string | undefined {
  let target = rawTarget.trim();
  if (target.startsWith('<') && target.endsWith('>')) target = target.slice(1, -1).trim();
  target = target.replace(/[?#].*$/s, '');
  if (target === '' || target.startsWith('//') || /^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined;
  try {
    target = decodeURIComponent(target);
  } catch {
    // Not percent-encoded after all: take it as written.
  }
  // A leading `/` is the repository root, as GitHub reads it; anything else is the file's folder.
  const base = target.startsWith('/') ? '' : path.posix.dirname(file);
  return path.posix.normalize(path.posix.join(base, target.replace(/^\/+/, '')));
}

/** The link targets on one line of Markdown prose: inline links and images, and reference definitions. */
function linkTargets(line: string): string[] {
  const prose = line.replace(/(`+)(?:(?!\1).)*?\1/g, '');
  const targets = [...prose.matchAll(/\]\(\s*(<[^>]*>|[^\s)]*)/g)].map((match) => match[1] ?? '');
  const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
  if (definition?.[1] !== undefined) targets.push(definition[1]);
  return targets;
}

/** Every offence in one file's text, as `file:line: reason` lines. `file` is repository-relative, POSIX. */
export function findOffences(file: string, text: string): string[] {
  const offences: string[] = [];
  const isMarkdown = /\.(md|markdown)$/i.test(file);
  let fence: string | undefined;
  text.split(/\r?\n/).forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    const lower = line.toLowerCase();
    const named = forbiddenTexts.find((forbidden) => lower.includes(forbidden));
    if (named !== undefined) {
      offences.push(`${where}: names ${JSON.stringify(named)}, outside the repository`);
      return;
    }
    if (!isMarkdown) return;
    const fenceMark = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fenceMark !== undefined) {
      if (fence === undefined) fence = fenceMark;
      else if (fenceMark[0] === fence[0] && fenceMark.length >= fence.length) fence = undefined;
      return;
    }
    if (fence !== undefined) return;
    for (const target of linkTargets(line)) {
      const resolved = resolveLinkTarget(file, target);
      if (resolved !== undefined && leavesRoot(resolved)) {
        offences.push(`${where}: links to ${target}, outside the repository`);
        return;
      }
    }
  });
  return offences;
}

/** Every offence among the tracked files of the repository at `root`. */
export function checkRepository(root: string): string[] {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 })
    .split('\0')
    .filter((file) => file !== '' && !skippedFiles.has(path.posix.basename(file)));
  const offences: string[] = [];
  for (const file of files) {
    const absolute = path.join(root, file);
    let stat: Stats;
    try {
      stat = lstatSync(absolute);
    } catch {
      continue; // deleted in the working tree
    }
    if (stat.isSymbolicLink()) {
      const target = readlinkSync(absolute);
      const resolved = path.relative(root, path.resolve(path.dirname(absolute), target));
      if (path.isAbsolute(resolved) || leavesRoot(resolved.split(path.sep).join('/'))) {
        offences.push(`${file}: symlink to ${target}, outside the repository`);
      }
      continue;
    }
    if (!stat.isFile()) continue;
    const bytes = readFileSync(absolute);
    if (bytes.includes(0)) continue; // binary
    offences.push(...findOffences(file, bytes.toString('utf8')));
  }
  return offences;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const offences = checkRepository(root);
  if (offences.length > 0) {
    for (const offence of offences) process.stderr.write(`${offence}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(
      'check-self-contained: no tracked file names or links to a file outside the repository\n',
    );
  }
}
