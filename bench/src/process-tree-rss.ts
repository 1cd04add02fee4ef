// Resident memory of a process and its descendants (a fork or process-pool server has children),
// from /proc/<pid>/status VmRSS. Linux only.
import { readdirSync, readFileSync } from 'node:fs';

function vmRssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0; // gone since the listing
  }
}

/** The parent of every process, from /proc/<pid>/stat (field 4, after the parenthesised name). */
function parents(): Map<number, number> {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // gone since the listing
    }
  }
  return parentOf;
}

/** `pid` and its descendants. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents()) children.set(parent, [...(children.get(parent) ?? []), child]);
  const tree: number[] = [];
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined && tree.length < 100_000; next = pending.pop()) {
    tree.push(next);
    pending.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** VmRSS of `pid` and its descendants, summed, in bytes. */
export function processTreeRssBytes(pid: number): { bytes: number; processes: number } {
  const tree = processTree(pid);
  return { bytes: tree.reduce((sum, member) => sum + vmRssBytes(member), 0), processes: tree.length };
}
