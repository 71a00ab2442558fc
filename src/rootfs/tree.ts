// A directory tree being laid down, with chroot-style path resolution. Both a layer stack
// (flatten.ts) and the whole root (settle.ts) are simulated on one: every entry is placed where
// an unpacker that follows symlinks inside the root (as containerd and the kernel do) would put
// it, so each stored path has no symlink among its ancestors, by construction.

import type { Entry } from '../formats/entry.js';

export type NodeKind = 'dir' | 'symlink' | 'file' | 'other';

/** What an entry is in the tree: a hard link is a file (it shares the file's inode). */
export function nodeKindOf(e: Entry): NodeKind {
  switch (e.type) {
    case 'dir': return 'dir';
    case 'symlink': return 'symlink';
    case 'file': case 'hardlink': return 'file';
    default: return 'other';
  }
}

export interface Node<T> {
  name: string;
  /** The clean path from the tree's root ('' for the root). */
  path: string;
  parent: Node<T> | undefined;
  kind: NodeKind;
  /** False for a directory made only because something below it needed it. */
  explicit: boolean;
  children?: Map<string, Node<T>>;
  /** Symlinks: the target as stored. */
  target?: string;
  /** Symlinks: where an absolute target starts (a container's root, not the system's). */
  base?: Node<T>;
  data: T;
}

export type Resolved<T> =
  | { ok: true; parent: Node<T>; name: string; path: string }
  | { ok: false; reason: 'loop' | 'notdir' | 'missing'; at: string };

/** As the kernel counts (ELOOP after 40 links in one lookup). */
const MAX_HOPS = 40;

export class Tree<T> {
  readonly root: Node<T>;

  constructor(rootData: T) {
    this.root = { name: '', path: '', parent: undefined, kind: 'dir', explicit: true, children: new Map(), data: rootData };
  }

  /**
   * Resolve the directory part of `path` (the last component is the entry itself and is not
   * followed). Symlinks among the ancestors are followed inside the tree, `..` stops at the
   * root. Missing directories are made (implicit, with `implicitData()`) when `create` is set,
   * and only when the whole resolution succeeds.
   */
  resolveParent(path: string, create: boolean, implicitData: () => T): Resolved<T> {
    const segs = path.split('/').filter((s) => s !== '' && s !== '.');
    const name = segs.pop();
    if (name === undefined || name === '..') return { ok: false, reason: 'missing', at: path };
    const dir = this.walk(segs, create, implicitData);
    if (!dir.ok) return dir;
    return { ok: true, parent: dir.node, name, path: dir.node.path === '' ? name : `${dir.node.path}/${name}` };
  }

  /** The node at `path` (its last component not followed), if there is one. */
  lookup(path: string): Node<T> | undefined {
    const r = this.resolveParent(path, false, () => undefined as T);
    return r.ok ? r.parent.children?.get(r.name) : undefined;
  }

  /** The directory `path` leads to, following every component. */
  lookupDir(path: string): Node<T> | undefined {
    const r = this.walk(path.split('/').filter((s) => s !== '' && s !== '.'), false, () => undefined as T);
    return r.ok ? r.node : undefined;
  }

  add(parent: Node<T>, name: string, kind: NodeKind, data: T): Node<T> {
    const node: Node<T> = { name, path: parent.path === '' ? name : `${parent.path}/${name}`, parent, kind, explicit: true, data };
    if (kind === 'dir') node.children = new Map();
    parent.children!.set(name, node);
    return node;
  }

  remove(node: Node<T>): void {
    node.parent?.children?.delete(node.name);
  }

  private walk(segs: string[], create: boolean, implicitData: () => T): { ok: true; node: Node<T> } | { ok: false; reason: 'loop' | 'notdir' | 'missing'; at: string } {
    const todo = segs.reverse();
    let cur = this.root;
    // names below `cur` that do not exist yet: nothing below them can be a symlink
    const pending: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const seg = todo.pop()!;
      if (seg === '..') {
        if (pending.length) pending.pop();
        else cur = cur.parent ?? cur;
        continue;
      }
      if (pending.length) { pending.push(seg); continue; }
      const child = cur.children!.get(seg);
      if (!child) { pending.push(seg); continue; }
      if (child.kind === 'dir') { cur = child; continue; }
      if (child.kind !== 'symlink') return { ok: false, reason: 'notdir', at: child.path };
      if (++hops > MAX_HOPS) return { ok: false, reason: 'loop', at: child.path };
      const target = child.target ?? '';
      if (target.startsWith('/')) cur = child.base ?? this.root;
      const parts = target.split('/').filter((s) => s !== '' && s !== '.');
      for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]);
    }
    if (pending.length && !create) return { ok: false, reason: 'missing', at: [cur.path, ...pending].filter(Boolean).join('/') };
    for (const seg of pending) {
      const node = this.add(cur, seg, 'dir', implicitData());
      node.explicit = false;
      cur = node;
    }
    return { ok: true, node: cur };
  }
}

/** Every node below `node` (not itself), parents before children. */
export function* descendants<T>(node: Node<T>): Generator<Node<T>> {
  const stack: Node<T>[] = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if (n !== node) yield n;
    if (n.children) for (const c of n.children.values()) stack.push(c);
  }
}
