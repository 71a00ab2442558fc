// The whole root, settled: the sections of a root plan (init tree, kernel modules, container
// bundles and roots, the files section) are laid on one simulated tree in the order they will be
// emitted, so that a later section's entries go where the earlier sections' symlinks lead (an
// init whose `containers` or `etc` is a symlink), chroot-style, and never below one.
//
// After this pass, for the whole output: no entry lies below a symlink or a non-directory
// emitted before it, no name is absolute or has `..`, every path appears once with one type,
// hard links name files emitted before them, and every directory comes before what is in it
// (declared, or made by the guard where first needed).
// assemble.ts checks the same on the real stream (guard.ts), as a last line of defence.
// Pure: works on the plans' entries only.

import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { Warnings, type WarningCode } from './flatten.js';
import { isCleanName } from './paths.js';
import { Tree, nodeKindOf as kindOf, type Node } from './tree.js';

/** One entry to emit, in emission order. */
export interface Item<C = unknown> {
  entry: Entry | null;
  content?: C;
  /** Directories to emit right before this item: declared later, needed here as parents. */
  before?: Item<C>[];
  /** Where it comes from, for messages: the section's `what`, and the layer digest if any. */
  what: string;
  layer: string;
  /** Where an absolute symlink target starts for this item's symlinks (a container's root). */
  base?: string;
}

interface Data {
  item?: Item;
  /** Implicit directories: the item whose emission makes them (guard.ts makes missing parents). */
  createdBy?: Item;
  /** Regular files: how many hard links name them. */
  links: number;
  hardTarget?: Node<Data>;
}

/**
 * A point in the emission order where a section whose entries are known only when it streams
 * (the kernel modules) goes: it is told the symlinks placed before it (clean path -> target,
 * absolute targets made absolute in the whole root), to resolve its entries through.
 */
export interface Probe {
  probe(symlinks: Map<string, string>): void;
}

/**
 * Settle items, given in emission order, in place: entries are moved, replaced or set to null,
 * and directories hoisted into `before`. Warnings go to `warnings`.
 */
export function settle(items: Iterable<Item | Probe>, warnings: Warnings): void {
  const tree = new Tree<Data>({ links: 0 });
  const placed: Node<Data>[] = [];
  const owners = new Set<Item>();
  const symlinks = () => {
    const out = new Map<string, string>();
    for (const n of placed) {
      if (n.kind !== 'symlink' || !n.data.item?.entry || n.parent?.children?.get(n.name) !== n) continue;
      const t = n.target!;
      out.set(n.path, t.startsWith('/') && n.base && n.base.path !== '' ? `/${n.base.path}${t}` : t);
    }
    return out;
  };
  const warn = (it: Item, code: WarningCode, path: string, message: string) =>
    warnings.add({ code, layer: it.layer, path, message: `${it.what}: ${message}` }, it.what);

  const place = (it: Item) => {
    const e = it.entry;
    if (!e) return;
    const show = showName(e.path);
    if (!isCleanName(e.path)) {
      warn(it, 'UNSAFE_NAME', e.path, `${show} is not a clean relative name; dropped`);
      it.entry = null;
      return;
    }
    if (e.type === 'symlink' && !e.linkname) {
      warn(it, 'EMPTY_SYMLINK', e.path, `symlink ${show} has no target; dropped`);
      it.entry = null;
      return;
    }
    const r = tree.resolveParent(e.path, true, () => ({ links: 0, createdBy: it }));
    if (!r.ok) {
      if (r.reason === 'loop') warn(it, 'LINK_LOOP', e.path, `${show} lies below a symlink loop (${showName(r.at)}); dropped`);
      else warn(it, 'NOT_A_DIR', e.path, `${show} lies below ${showName(r.at)}, which is not a directory; dropped`);
      it.entry = null;
      return;
    }
    let entry = e;
    if (r.path !== e.path) {
      warn(it, 'SYMLINK_PARENT', e.path, `${show} lies below a symlink; placed at ${showName(r.path)}`);
      entry = { ...e, path: r.path };
    }
    const existing = r.parent.children!.get(r.name);
    if (existing) {
      if (existing.kind === 'dir' && entry.type === 'dir') {
        sameDir(existing, entry, it);
        return;
      }
      // Later wins, as in LinuxKit, where sections are unpacked in this order; but a directory
      // stays (what is below it is emitted already), and so does a file hard links name.
      const removable = existing.explicit && existing.kind !== 'dir' && existing.data.links === 0;
      if (!removable) {
        const code = existing.kind === kindOf(entry) ? 'DUPLICATE' : 'TYPE_CONFLICT';
        warn(it, code, entry.path, `${showName(entry.path)} is already in the root (from ${existing.data.item?.what ?? 'a parent directory'}); this one is dropped`);
        it.entry = null;
        return;
      }
      existing.data.item!.entry = null;
      if (existing.data.hardTarget) existing.data.hardTarget.data.links--;
      tree.remove(existing);
    }
    let hardTarget: Node<Data> | undefined;
    if (entry.type === 'hardlink') {
      const t = isCleanName(entry.linkname ?? '') ? tree.lookup(entry.linkname!) : undefined;
      hardTarget = t?.data.hardTarget ?? t;
      if (!hardTarget || hardTarget.kind !== 'file' || !hardTarget.data.item?.entry) {
        warn(it, 'HARDLINK', entry.path, `${showName(entry.path)} is a hard link to ${showName(entry.linkname ?? '')}, which is not a file earlier in the root; dropped`);
        it.entry = null;
        return;
      }
      hardTarget.data.links++;
      if (entry.linkname !== hardTarget.path) entry = { ...entry, linkname: hardTarget.path };
    }
    it.entry = entry;
    const node = tree.add(r.parent, r.name, kindOf(entry), { item: it, links: 0, hardTarget });
    if (node.kind === 'symlink') {
      node.target = entry.linkname;
      if (it.base) node.base = tree.lookupDir(it.base);
    }
    placed.push(node);
  };

  // A directory that is there already keeps its place and takes the later metadata, as in
  // LinuxKit; one made only as a parent gets its metadata emitted where it was first needed.
  const sameDir = (existing: Node<Data>, entry: Entry, it: Item) => {
    it.entry = null;
    if (!existing.explicit) {
      const hoisted: Item = { entry: { ...entry, path: existing.path }, what: it.what, layer: it.layer };
      const at = existing.data.createdBy!;
      (at.before ??= []).push(hoisted);
      owners.add(at);
      existing.explicit = true;
      existing.data.item = hoisted;
      return;
    }
    const prev = existing.data.item?.entry;
    if (!prev) return; // the root itself
    existing.data.item!.entry = { ...entry, path: prev.path };
  };

  for (const it of items) {
    if ('probe' in it) it.probe(symlinks());
    else place(it);
  }

  // Link counts as they are now: the pass may have dropped links or their targets' rivals.
  for (const n of placed) {
    const it = n.data.item!;
    const e = it.entry;
    if (!e || n.parent?.children?.get(n.name) !== n) continue;
    if (e.type === 'file') {
      const want = n.data.links > 0 ? n.data.links + 1 : undefined;
      if (e.nlink !== want) it.entry = { ...e, nlink: want };
    } else if (e.type === 'hardlink') {
      const want = n.data.hardTarget!.data.links + 1;
      if (e.nlink !== want) it.entry = { ...e, nlink: want };
    }
  }
  // parents first: what one item needs is a chain of directories
  for (const it of owners) it.before!.sort((a, b) => depth(a.entry!.path) - depth(b.entry!.path));
}

function depth(p: string): number {
  let d = 0;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) d++;
  return d;
}
