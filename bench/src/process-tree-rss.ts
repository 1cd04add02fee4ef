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

/** The fields of `/proc/<path>/stat` after the parenthesised name, from field 3 (state); undefined once gone. */
export function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${path}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone since the listing
  }
}

/** The children of every process, from each one's parent (field 4 of /proc/<pid>/stat). */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(entry)?.[1]);
    if (Number.isInteger(parent)) children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  return children;
}

function descendants(pid: number, children: Map<number, number[]>): number[] {
  const tree: number[] = [];
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined && tree.length < 100_000; next = pending.pop()) {
    tree.push(next);
    pending.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** `pid` and its descendants. */
export function processTree(pid: number): number[] {
  return descendants(pid, childrenByParent());
}

/** Each of `pids` with its descendants, from one listing of /proc. */
export function processTrees(pids: readonly number[]): number[][] {
  const children = childrenByParent();
  return pids.map((pid) => descendants(pid, children));
}

/** VmRSS of `pid` and its descendants, summed, in bytes. */
export function processTreeRssBytes(pid: number): { bytes: number; processes: number } {
  const tree = processTree(pid);
  return { bytes: tree.reduce((sum, member) => sum + vmRssBytes(member), 0), processes: tree.length };
}
