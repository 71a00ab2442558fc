// Full filesystems: telling a write that failed for want of space (ENOSPC, EDQUOT, or a tool's
// "No space left on device") from any other failure, and describing where the space ran out.
// The bare errno names neither the mount nor the filesystem; the user needs both to know what
// to free, and must not be led to blame the input being written.
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { showName } from '../formats/names.js';
import { DiskFullError } from './errors.js';

const NO_SPACE_TEXT = /No space left on device|Disk quota exceeded/;

/** Whether `e` (or what it wraps) is a write that failed because the filesystem is full. */
export function isNoSpace(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    if (x instanceof DiskFullError) return true;
    const code = (x as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (NO_SPACE_TEXT.test(String((x as Error).message ?? ''))) return true;
  }
  return false;
}

interface Mount {
  point: string;
  fsType: string;
  source: string;
}

// /proc/self/mountinfo fields: id parent major:minor root mountpoint options ... - type source ...
function mountOf(path: string): Mount | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined; // not Linux: the message does without the mount
  }
  let best: Mount | undefined;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 5 || sep < 0) continue;
    const point = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const under = point === '/' || path === point || path.startsWith(point + '/');
    // the last mount over a path hides earlier ones, so a later line of equal length wins too
    if (under && (!best || point.length >= best.point.length)) best = { point, fsType: f[sep + 1], source: f[sep + 2] };
  }
  return best;
}

export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * The error for a write under `path` that ran out of space. `what` names what was being written
 * ("output out/minimal.tar", "layer 2 of alpine:3.20 into the store"), `needed` the bytes it
 * needed when known, `remedy` what else the user may do (another -o or --cache).
 */
export async function diskFullError(
  path: string,
  opts: { what: string; needed?: number; written?: number; remedy?: string; cause?: unknown },
): Promise<DiskFullError> {
  if (opts.cause instanceof DiskFullError) return opts.cause;
  // the file itself may be gone (removed as partial): ask about its directory
  let probe = path;
  let st;
  for (let i = 0; i < 64 && !st; i++) {
    st = await statfs(probe).catch(() => undefined);
    if (!st) {
      const up = dirname(probe);
      if (up === probe) break;
      probe = up;
    }
  }
  const mount = mountOf(probe);
  const free = st ? st.bavail * st.bsize : undefined;
  const total = st ? st.blocks * st.bsize : undefined;
  const on = mount
    ? `${mount.fsType} filesystem${mount.source.startsWith('/') ? ` ${showName(mount.source)}` : ''} mounted at ${showName(mount.point)}`
    : `the filesystem holding ${showName(probe)}`;
  // measured after the partial files went: what is free now, not at the moment of failure
  const sizes = free !== undefined ? ` (size ${formatSize(total!)}, ${formatSize(free)} free once the partial files were removed)` : '';
  let need: string;
  if (opts.needed !== undefined) need = `this needs ${formatSize(opts.needed)}${free !== undefined && opts.needed > free ? `: free at least ${formatSize(opts.needed - free)} there` : ': free space there'}`;
  else if (opts.written !== undefined) need = `this needs more than the ${formatSize(opts.written)} written when the space ran out: free space there`;
  else need = 'free space there';
  const hint = `${need}${opts.remedy ? `, or ${opts.remedy}` : ''}`;
  const message = `no space left writing ${opts.what}: ${showName(path)} is on the ${on}${sizes}; ${hint}. Nothing was left behind.`;
  return new DiskFullError(
    message,
    { path, mount: mount?.point, fsType: mount?.fsType, free, needed: opts.needed },
    { cause: opts.cause, where: showName(path), hint },
  );
}
