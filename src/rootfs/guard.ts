// The last line of defence: the rules that keep an output safe to unpack, checked on the stream
// that the writers actually get. The plan (flatten.ts, settle.ts) already keeps them; this
// catches what no plan sees (a kernel's modules tarball, a damaged table of contents) and drops
// any entry that would break one, with a warning, rather than ever writing it:
//
//   - every name is clean and relative (no leading /, no `.` or `..`, no empty component);
//   - no entry lies below something emitted before it that is not a directory (a symlink above
//     it would make GNU tar, cpio or Python's tarfile write through the link);
//   - each path appears once, so with one type;
//   - a hard link names a regular file emitted before it, counted in its link count.
//
// Missing parent directories are made (mode 0755, root), before what needs them, as the
// kernel's initramfs unpacker needs them.

import type { Entry, EntryStream } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import type { FlattenWarning } from './flatten.js';
import { ancestors, isCleanName } from './paths.js';
import { dirEntry } from './plan.js';

const NONE: readonly string[] = [];

export type Kind = 'dir' | 'symlink' | 'file' | 'linked file' | 'other';

const KIND_NAME: Record<Kind, string> = { dir: 'a directory', symlink: 'a symlink', file: 'a file', 'linked file': 'a file', other: 'not a directory' };

export async function* guardRoot(source: EntryStream, epoch: number, onWarning?: (w: FlattenWarning) => void): EntryStream {
  yield* new RootGuard(epoch, onWarning).check(source);
}

/**
 * What the guard let through, one record an entry, in order: enough to check the same entries
 * again without their content (replay), as a cached piece of an output must be.
 */
export interface GuardRecord {
  path: string;
  kind: Kind | 'hardlink';
  /** A hard link's target. */
  link?: string;
}

/**
 * The guard over one output, fed in pieces: what it has seen carries from one piece to the next,
 * so the rules hold across the whole stream whether a piece is checked entry by entry (check) or
 * as a record of an earlier build (replay).
 */
export class RootGuard {
  private readonly seen = new Map<string, Kind>();
  /** Warnings given so far (a piece that drew one is not worth keeping as it was). */
  warnings = 0;

  constructor(
    private readonly epoch: number,
    private readonly onWarning?: (w: FlattenWarning) => void,
  ) {}

  /** Checks a stream; records what it lets through in `record` when given. */
  async *check(source: EntryStream, record?: GuardRecord[]): EntryStream {
    const seen = this.seen;
    const drop = (e: Entry, code: FlattenWarning['code'], why: string) => {
      this.warnings++;
      this.onWarning?.({ code, layer: '', path: e.path, message: `${showName(e.path)} ${why}; dropped from the output` });
    };
    for await (const item of source) {
      const e = item.entry;
      if (!isCleanName(e.path)) {
        drop(e, 'UNSAFE_NAME', 'is not a clean relative name');
        continue;
      }
      const up = this.parentsToCheck(e.path, seen);
      const blocked = up.find((a) => {
        const k = seen.get(a);
        return k !== undefined && k !== 'dir';
      });
      if (blocked !== undefined) {
        drop(e, 'NOT_A_DIR', `lies below ${showName(blocked)}, which is ${KIND_NAME[seen.get(blocked)!]}`);
        continue;
      }
      const there = seen.get(e.path);
      if (there !== undefined) {
        // a directory made as a parent and declared again with the same metadata is no news
        if (!(there === 'dir' && e.type === 'dir' && isDefaultDir(e, this.epoch))) drop(e, 'DUPLICATE', `is already in the output as ${KIND_NAME[there]}`);
        continue;
      }
      if (e.type === 'hardlink' && seen.get(e.linkname ?? '') !== 'linked file') {
        drop(e, 'HARDLINK', `is a hard link to ${showName(e.linkname ?? '')}, which is not a linked file before it`);
        continue;
      }
      if (e.type === 'symlink' && !e.linkname) {
        drop(e, 'EMPTY_SYMLINK', 'is a symlink with no target');
        continue;
      }
      for (const a of up) {
        if (seen.has(a)) continue;
        seen.set(a, 'dir');
        record?.push({ path: a, kind: 'dir' });
        yield { entry: dirEntry(a, this.epoch) };
      }
      const kind = kindOf(e);
      seen.set(e.path, kind);
      record?.push(e.type === 'hardlink' ? { path: e.path, kind: 'hardlink', link: e.linkname } : { path: e.path, kind });
      yield item;
    }
  }

  /**
   * Would `check` let exactly these entries through, dropping nothing and adding no parent? If
   * so, takes them as seen and returns true; else changes nothing and returns false.
   */
  replay(records: readonly GuardRecord[]): boolean {
    const added = new Map<string, Kind>();
    const get = (p: string) => added.get(p) ?? this.seen.get(p);
    const view = { get, has: (p: string) => get(p) !== undefined };
    for (const r of records) {
      if (!isCleanName(r.path) || get(r.path) !== undefined) return false;
      for (const a of this.parentsToCheck(r.path, view)) if (get(a) !== 'dir') return false;
      if (r.kind === 'hardlink') {
        if (r.link === undefined || get(r.link) !== 'linked file') return false;
        added.set(r.path, 'other');
      } else added.set(r.path, r.kind);
    }
    for (const [p, k] of added) this.seen.set(p, k);
    return true;
  }

  /** Undoes a replay of `records` that returned true (their entries are then written after all). */
  forget(records: readonly GuardRecord[]): void {
    for (const r of records) this.seen.delete(r.path);
  }

  // Kinds never change once seen, and a path is seen as a directory only once all its
  // ancestors are: so a parent seen as a directory settles every ancestor at once (the
  // common case), without making a list of them.
  private parentsToCheck(path: string, seen: { get(p: string): Kind | undefined }): readonly string[] {
    const slash = path.lastIndexOf('/');
    const parentIsDir = slash < 0 || seen.get(path.slice(0, slash)) === 'dir';
    return parentIsDir ? NONE : ancestors(path);
  }
}

function kindOf(e: Entry): Kind {
  switch (e.type) {
    case 'dir': return 'dir';
    case 'symlink': return 'symlink';
    case 'file': return (e.nlink ?? 1) >= 2 ? 'linked file' : 'file';
    default: return 'other';
  }
}

function isDefaultDir(e: Entry, epoch: number): boolean {
  return e.mode === 0o755 && e.uid === 0 && e.gid === 0 && e.mtime === epoch && !e.xattrs;
}
