// The directory tree of an ISO image built from flat lists of files, directories and symlinks:
// paths checked and split, parents implied, children sorted, ISO identifiers assigned.

import { IsoError } from './errors.js';
import { compareIdentifiers, isoIdentifiers } from './names.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from './rockridge.js';
import { nameByteLength, showName } from '../names.js';

export interface IsoFile {
  /** path in the image, '/'-separated, e.g. 'boot/vmlinuz' (a leading '/' is allowed) */
  path: string;
  /** exact byte length of what content() yields */
  size: number;
  /** the file's bytes, read once while the image streams */
  content: () => AsyncIterable<Uint8Array>;
  /** permission bits; default 0o644 */
  mode?: number;
}

export interface IsoDirectory {
  path: string;
  /** permission bits; default 0o755 (also for directories only implied by a path) */
  mode?: number;
}

export interface IsoSymlink {
  path: string;
  target: string;
}

export interface Node {
  /** POSIX name; '' for the root */
  name: string;
  /** full path without leading '/', '' for the root */
  path: string;
  /** special: a device node or fifo (a root image's; boot media have none) */
  kind: 'dir' | 'file' | 'symlink' | 'special';
  /** st_mode including the type bits */
  mode: number;
  parent: Node;
  /** ISO 9660 identifier (files end in ';1') */
  isoId: string;
  /** directories: children in directory-record order (ISO identifier order) */
  children: Node[];
  file?: IsoFile;
  target?: string;
  /** set by the layout: first sector of the extent, and its length in bytes */
  lba: number;
  size: number;
  /** A root image's attributes (boot media leave them unset: owner 0, the image's epoch, one link). */
  uid?: number;
  gid?: number;
  mtime?: number;
  /** a file's link count (hard links share its extent) */
  nlink?: number;
  /** a device node's major and minor */
  rdev?: [number, number];
}

const MAX_NAME = 255;

function splitPath(path: string): string[] {
  const parts = path.replace(/^\/+/, '').split('/');
  if (parts.length === 1 && parts[0] === '') throw new IsoError('EISOPATH', `empty path "${showName(path)}"`, path);
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..' || p.includes('\0')) {
      throw new IsoError('EISOPATH', `path "${showName(path)}" has an empty, "." or ".." component or a NUL byte`, path);
    }
    if (nameByteLength(p) > MAX_NAME) {
      throw new IsoError('EISOPATH', `path "${showName(path)}": the name "${showName(p.slice(0, 40))}..." is longer than ${MAX_NAME} bytes`, path);
    }
  }
  return parts;
}

export function newNode(name: string, path: string, kind: Node['kind'], mode: number, parent: Node | undefined): Node {
  const n = { name, path, kind, mode, isoId: '', children: [], lba: 0, size: 0 } as unknown as Node;
  n.parent = parent ?? n;
  return n;
}

export interface Tree {
  root: Node;
  /** every node by path ('' = root) */
  byPath: Map<string, Node>;
  /** directories in path-table order: by depth, then parent number, then identifier */
  dirs: Node[];
}

export function buildTree(files: IsoFile[], dirs: IsoDirectory[], links: IsoSymlink[]): Tree {
  const root = newNode('', '', 'dir', S_IFDIR | 0o755, undefined);
  const byPath = new Map<string, Node>([['', root]]);
  const childMaps = new Map<Node, Map<string, Node>>([[root, new Map()]]);

  const dirAt = (parts: string[], whole: string): Node => {
    let cur = root;
    for (let i = 0; i < parts.length; i++) {
      const path = parts.slice(0, i + 1).join('/');
      let next = byPath.get(path);
      if (!next) {
        next = newNode(parts[i], path, 'dir', S_IFDIR | 0o755, cur);
        byPath.set(path, next);
        childMaps.get(cur)!.set(parts[i], next);
        childMaps.set(next, new Map());
      } else if (next.kind !== 'dir') {
        throw new IsoError('EISOPATH', `"${showName(whole)}" needs "${showName(path)}" to be a directory, but it is a ${next.kind}`, whole);
      }
      cur = next;
    }
    return cur;
  };
  const add = (path: string, kind: Node['kind'], mode: number): Node => {
    const parts = splitPath(path);
    const parent = dirAt(parts.slice(0, -1), path);
    const full = parts.join('/');
    if (byPath.has(full)) throw new IsoError('EISOPATH', `"${showName(path)}" is given twice`, path);
    const n = newNode(parts[parts.length - 1], full, kind, mode, parent);
    byPath.set(full, n);
    childMaps.get(parent)!.set(n.name, n);
    if (kind === 'dir') childMaps.set(n, new Map());
    return n;
  };

  // directories first, so an explicit mode wins over an implied parent
  for (const d of [...dirs].sort((a, b) => a.path.length - b.path.length)) {
    const parts = splitPath(d.path);
    const n = dirAt(parts, d.path);
    n.mode = S_IFDIR | ((d.mode ?? 0o755) & 0o7777);
  }
  for (const f of files) {
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new IsoError('EISOSIZE', `"${showName(f.path)}": size ${f.size} is not a byte count`, f.path);
    if (f.size > 0xffffffff) {
      throw new IsoError('EISOSIZE', `"${showName(f.path)}" is ${f.size} bytes; files of 4 GiB and more (multi-extent) are not supported`, f.path);
    }
    add(f.path, 'file', S_IFREG | ((f.mode ?? 0o644) & 0o7777)).file = f;
  }
  for (const l of links) add(l.path, 'symlink', S_IFLNK | 0o777).target = l.target;

  for (const [d, kids] of childMaps) d.children = [...kids.values()];
  return { root, byPath, dirs: orderTree(root) };
}

/**
 * Gives every node below `root` its ISO identifier, puts each directory's children in record
 * order, and returns the directories in path-table order (breadth first). Children come in any
 * order: they are sorted by POSIX name first, so that "~N" suffixes do not depend on it.
 */
export function orderTree(root: Node): Node[] {
  const order: Node[] = [root];
  for (let i = 0; i < order.length; i++) {
    const d = order[i];
    const kids = [...d.children].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const ids = isoIdentifiers(kids.map((k) => ({ name: k.name, isDir: k.kind === 'dir' })));
    kids.forEach((k, j) => (k.isoId = ids[j]));
    d.children = kids.sort((a, b) => compareIdentifiers(a.isoId, b.isoId));
    for (const k of d.children) if (k.kind === 'dir') order.push(k);
  }
  return order;
}
