// Which process a temporary file belongs to, written into its name, so that a later run can
// remove what a killed one left behind without touching the files of one still running.
//
// A pid alone is not enough: pids are reused (a stale file would be kept forever by an unrelated
// process) and are per PID namespace (a build in another container sharing the directory would
// look dead). So the token is <pid namespace>.<pid>.<start time>: the start time (clock ticks
// since boot, /proc/<pid>/stat field 22) tells a reused pid from the original, and a token from
// another namespace is never judged by pid, only by age.
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';

function nsId(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: count fields after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let mine: string | undefined;

/** This process's token: `<pidns>.<pid>.<start>` (digits and dots only). */
export function ownerToken(): string {
  return (mine ??= `${nsId()}.${process.pid}.${startTime(process.pid) ?? '0'}`);
}

/**
 * The suffix of a file while this process writes it: `.partial-<owner>-<12 hex>`. Builds (and
 * `osbuild build`'s sweep of stale partial files) and artifact pulls share it.
 */
export function partialSuffix(): string {
  return `.partial-${ownerToken()}-${randomBytes(6).toString('hex')}`;
}

export const OWNER_TOKEN_RE = /(\d+)\.(\d+)\.(\d+)/;

/**
 * Whether the process a token names may still be running: 'alive', 'dead', or 'unknown' (another
 * PID namespace, or no /proc to tell): the caller then goes by the file's age.
 */
export function ownerState(token: string): 'alive' | 'dead' | 'unknown' {
  const m = new RegExp(`^${OWNER_TOKEN_RE.source}$`).exec(token);
  if (!m) return 'unknown';
  const [, ns, pidText, start] = m;
  if (ns !== nsId() || ns === '0') return 'unknown';
  const pid = Number(pidText);
  if (pid === process.pid) return 'alive';
  const now = startTime(pid);
  if (now === undefined) {
    try {
      process.kill(pid, 0);
      return 'alive'; // /proc hides it (hidepid), yet it exists: cannot compare, so keep its files
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
    }
  }
  return start === '0' || now === start ? 'alive' : 'dead';
}
