// The file tree of one component layer, gathered from several sources (packages, the
// component folder, the kernel) and emitted deterministically: sorted by path, every parent
// directory present, owned by root, every mtime the same.
import type { Entry, EntryStream, EntryType } from '../formats/entry.js';
import { ancestors } from '../rootfs/paths.js';
import { PkgError } from './errors.js';
import type { Spool, SpoolRef } from './spool.js';
import { showName } from '../formats/names.js';

export interface TreeItem {
  type: Exclude<EntryType, 'hardlink'>;
  mode: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  content?: SpoolRef;
  uid?: number;
  gid?: number;
  /** Where it came from, for conflict messages: "package runc", "files[2] in build.yml". */
  origin: string;
  /** Directories made only because something lies below them. */
  implicit?: boolean;
}

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Tree {
  private readonly items = new Map<string, TreeItem>();

  get size(): number {
    return this.items.size;
  }

  get(path: string): TreeItem | undefined {
    return this.items.get(path);
  }

  /**
   * Adds an item. Directories merge (an explicit mode wins over an implicit parent); anything
   * else at a taken path is a conflict unless `override` (the files section overrides packages)
   * or both are the same symlink.
   */
  add(path: string, item: TreeItem, override = false): void {
    if (path === '') return;
    const old = this.items.get(path);
    if (old && !override) {
      const sameDir = old.type === 'dir' && item.type === 'dir';
      const sameLink = old.type === 'symlink' && item.type === 'symlink' && old.linkname === item.linkname;
      if (sameDir) {
        if (old.implicit && !item.implicit) this.items.set(path, item);
        return;
      }
      if (!sameLink) {
        throw new PkgError(
          'PATH_CONFLICT',
          `/${showName(path)} comes from both ${old.origin} (${old.type}) and ${item.origin} (${item.type}): select it from one source only, or set it in the files section (which overrides packages)`,
        );
      }
      return;
    }
    this.items.set(path, item);
  }

  /** Entries in tar order with the parent directories filled in. */
  entries(opts: { mtime: number }): { entry: Entry; content?: SpoolRef }[] {
    for (const path of [...this.items.keys()]) {
      for (const dir of ancestors(path)) {
        const have = this.items.get(dir);
        if (!have) this.items.set(dir, { type: 'dir', mode: 0o755, origin: `parent of /${showName(path)}`, implicit: true });
        else if (have.type !== 'dir') {
          throw new PkgError('PATH_CONFLICT', `/${showName(dir)} is a ${have.type} from ${have.origin}, but /${showName(path)} lies below it`);
        }
      }
    }
    return [...this.items.keys()].sort(byPath).map((path) => {
      const it = this.items.get(path)!;
      const entry: Entry = {
        path,
        type: it.type,
        mode: it.mode & 0o7777,
        uid: it.uid ?? 0,
        gid: it.gid ?? 0,
        mtime: opts.mtime,
        size: it.type === 'file' ? (it.content?.size ?? 0) : 0,
      };
      if (it.linkname !== undefined) entry.linkname = it.linkname;
      if (it.type === 'char' || it.type === 'block') {
        entry.devmajor = it.devmajor ?? 0;
        entry.devminor = it.devminor ?? 0;
      }
      return { entry, content: it.content };
    });
  }
}

/** The tree as an entry stream whose file contents are read back from the spool. */
export async function* treeStream(tree: Tree, spool: Spool, mtime: number): EntryStream {
  for (const { entry, content } of tree.entries({ mtime })) {
    yield content && entry.type === 'file' ? { entry, content: spool.read(content) } : { entry };
  }
}
