// EROFS images, uncompressed, written natively: Debian 12's erofs-utils (1.5) builds only from a
// directory (tar input came in 1.7), and extracting the root to the host is what osbuild never
// does. The layout (4 KiB blocks) is the kernel's on-disk format (fs/erofs/erofs_fs.h):
//   block 0             the superblock at byte 1024
//   data blocks         each regular file's bytes as they stream in, from a block boundary
//                       (EROFS_INODE_FLAT_PLAIN), then each directory's dirent blocks
//   metadata blocks     64-byte extended inodes (32-bit ids, 64-bit times and sizes), each
//                       followed by its inline xattrs, and for a symlink its target inline
//                       (EROFS_INODE_FLAT_INLINE); the root's inode first (its nid is 16-bit)
// File contents go to the image as they arrive; only the tree's metadata stays in memory. Names
// are sorted bytewise in each directory (lookups bisect them); ids and the UUID are derived from
// the caller's seed, every time is the entry's own: the same entries give the same bytes.

import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import type { Entry, EntryStream, EntryType } from '../entry.js';
import { encodeName, showName } from '../names.js';
import { OsbuildError } from '../../errors.js';

export const EROFS_MAGIC = 0xe0f5e1e2;
/** Where the superblock is, and how many of its bytes identify the image (the init hashes them). */
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_BYTES = 128;

const BLOCK = 4096;
const INODE = 64; // erofs_inode_extended
const SLOT = 32; // nid unit
const DIRENT = 12;
const LAYOUT_PLAIN = 0;
const LAYOUT_INLINE = 2;

const FT: Record<Exclude<EntryType, 'hardlink'>, number> = { file: 1, dir: 2, char: 3, block: 4, fifo: 5, symlink: 7 };
const S_IF: Record<Exclude<EntryType, 'hardlink'>, number> = { file: 0o100000, dir: 0o040000, char: 0o020000, block: 0o060000, fifo: 0o010000, symlink: 0o120000 };
// xattr name prefixes erofs stores as an index (EROFS_XATTR_INDEX_*)
const XATTR_PREFIX: [string, number][] = [['user.', 1], ['trusted.', 4], ['security.', 6]];

export class ErofsError extends OsbuildError {
  readonly code = 'EEROFS';
}

export interface ErofsOptions {
  /** SOURCE_DATE_EPOCH: the image's build time. */
  epoch: number;
  /** What the UUID derives from (e.g. a digest of the system). */
  seed: string;
}

export interface ErofsResult {
  size: number;
  /** sha256 of the superblock: identifies this filesystem to the init that looks for it. */
  superblockSha256: string;
}

interface Node {
  entry: Entry;
  name: Buffer;
  type: Exclude<EntryType, 'hardlink'>;
  /** First data block (files with content, directories). */
  blkaddr: number;
  size: number;
  nlink: number;
  children?: Node[];
  parent?: Node;
  xattrs: Buffer;
  inline?: Buffer;
  nid: number;
  ino: number;
}

/** Write `entries` as an EROFS image at `path` (replaced if it exists). */
export async function writeErofs(entries: EntryStream, path: string, opts: ErofsOptions): Promise<ErofsResult> {
  await rm(path, { force: true });
  const fh = await open(path, 'wx');
  try {
    const root = newNode({ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: opts.epoch, size: 0 }, Buffer.alloc(0));
    root.parent = root;
    const byPath = new Map<string, Node>([['', root]]);
    const pending: { node: Node; target: string }[] = [];
    let block = 1;

    const dirOf = (path: string): Node => {
      const cut = path.lastIndexOf('/');
      const parentPath = cut < 0 ? '' : path.slice(0, cut);
      let p = byPath.get(parentPath);
      if (!p) {
        // a parent the stream did not name (the guard keeps parents first; this is a backstop)
        p = newNode({ path: parentPath, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: opts.epoch, size: 0 }, baseName(parentPath));
        attach(dirOf(parentPath), p);
        byPath.set(parentPath, p);
      }
      if (p.type !== 'dir') throw new ErofsError(`"${showName(path)}" is below "${showName(parentPath)}", which is not a directory`);
      return p;
    };

    for await (const { entry, content } of entries) {
      if (entry.path === '' || entry.path === '.') {
        if (entry.type === 'dir') Object.assign(root, { entry: { ...entry, path: '' } });
        continue;
      }
      const parent = dirOf(entry.path);
      if (entry.type === 'hardlink') {
        const node = newNode(entry, baseName(entry.path));
        pending.push({ node, target: entry.linkname ?? '' });
        attach(parent, node);
        continue;
      }
      const node = newNode(entry, baseName(entry.path));
      node.xattrs = encodeXattrs(entry);
      if (entry.type === 'file') {
        node.size = entry.size;
        node.blkaddr = entry.size > 0 ? block : 0;
        let at = block * BLOCK;
        let got = 0;
        for await (const c of content ?? []) {
          got += c.length;
          if (got > entry.size) throw new ErofsError(`"${showName(entry.path)}": its content is longer than its declared ${entry.size} bytes`);
          await fh.write(c, 0, c.length, at);
          at += c.length;
        }
        if (got !== entry.size) throw new ErofsError(`"${showName(entry.path)}": its content gave ${got} of its declared ${entry.size} bytes`);
        block += Math.ceil(entry.size / BLOCK);
      } else if (entry.type === 'symlink') {
        node.inline = encodeName(entry.linkname ?? '');
        node.size = node.inline.length;
      }
      const old = byPath.get(entry.path);
      if (old?.type === 'dir' && node.type === 'dir') {
        // a directory named after its children (made as their parent above) keeps them
        old.entry = entry;
        old.xattrs = node.xattrs;
        continue;
      }
      // a later entry for a path replaces an earlier one (the guard sends none; kept safe)
      if (old) parent.children = parent.children!.filter((c) => c !== old);
      byPath.set(entry.path, node);
      attach(parent, node);
    }

    // hard links: the name shares its target's inode
    for (const { node, target } of pending) {
      const t = byPath.get(target);
      if (!t || t.type === 'dir') throw new ErofsError(`hard link "${showName(node.entry.path)}" names "${showName(target)}", which is not a file in the image`);
      node.parent!.children = node.parent!.children!.map((c) => (c === node ? { ...t, name: node.name, shared: t } as Node : c));
      t.nlink++;
    }

    // directories' sizes and blocks
    const inodes: Node[] = [];
    const queue: Node[] = [root];
    const seen = new Set<Node>();
    while (queue.length) {
      const n = queue.shift()!;
      const real = shared(n);
      if (seen.has(real)) continue;
      seen.add(real);
      inodes.push(real);
      if (real.children) {
        real.children.sort((a, b) => Buffer.compare(a.name, b.name));
        for (const c of real.children) queue.push(c);
      }
    }
    const dirBlocks = new Map<Node, Buffer[]>();
    for (const n of inodes) {
      if (n.type !== 'dir') continue;
      n.nlink = 2 + n.children!.filter((c) => shared(c).type === 'dir').length;
    }

    // inode placement: nids follow from it, dirents need them
    let meta = 0; // bytes into the metadata area
    for (const [i, n] of inodes.entries()) {
      const body = INODE + n.xattrs.length + (n.inline?.length ?? 0);
      if (n.inline && body > BLOCK) throw new ErofsError(`"${showName(n.entry.path)}": its link target and attributes do not fit one ${BLOCK}-byte block`);
      if (n.inline && n.inline.length > 0 && (meta % BLOCK) + body > BLOCK) meta = Math.ceil(meta / BLOCK) * BLOCK;
      n.nid = meta / SLOT;
      n.ino = i + 1;
      meta += Math.ceil(body / SLOT) * SLOT;
    }
    if (root.nid !== 0) throw new ErofsError('internal: the root inode must come first');

    for (const n of inodes) {
      if (n.type !== 'dir') continue;
      const list = [
        { name: Buffer.from('.'), nid: n.nid, ft: FT.dir },
        { name: Buffer.from('..'), nid: shared(n.parent!).nid, ft: FT.dir },
        ...n.children!.map((c) => ({ name: c.name, nid: shared(c).nid, ft: FT[shared(c).type] })),
      ].sort((a, b) => Buffer.compare(a.name, b.name));
      const blocks = dirents(list, n.entry.path);
      dirBlocks.set(n, blocks.blocks);
      n.size = blocks.size;
      n.blkaddr = block;
      block += blocks.blocks.length;
    }
    const metaBlk = block;
    const total = metaBlk + Math.ceil(meta / BLOCK);

    for (const [n, blocks] of dirBlocks) for (const [i, b] of blocks.entries()) await fh.write(b, 0, b.length, (n.blkaddr + i) * BLOCK);
    const area = Buffer.alloc(Math.ceil(meta / BLOCK) * BLOCK);
    for (const n of inodes) {
      const at = n.nid * SLOT;
      encodeInode(n).copy(area, at);
      n.xattrs.copy(area, at + INODE);
      n.inline?.copy(area, at + INODE + n.xattrs.length);
    }
    await fh.write(area, 0, area.length, metaBlk * BLOCK);

    const sb = superblock({ rootNid: root.nid, inos: inodes.length, epoch: opts.epoch, blocks: total, metaBlk, seed: opts.seed });
    await fh.write(sb, 0, sb.length, SUPERBLOCK_OFFSET);
    await fh.truncate(total * BLOCK);
    return { size: total * BLOCK, superblockSha256: createHash('sha256').update(sb).digest('hex') };
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
    throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function newNode(entry: Entry, name: Buffer): Node {
  const type = entry.type === 'hardlink' ? 'file' : entry.type;
  return { entry, name, type, blkaddr: 0, size: 0, nlink: 1, xattrs: Buffer.alloc(0), nid: 0, ino: 0, ...(type === 'dir' ? { children: [] } : {}) };
}

function attach(parent: Node, child: Node): void {
  child.parent = parent;
  parent.children!.push(child);
}

function baseName(path: string): Buffer {
  return encodeName(path.slice(path.lastIndexOf('/') + 1));
}

/** A hard link's name is a copy of its target's node that points back at it. */
function shared(n: Node): Node {
  return (n as Node & { shared?: Node }).shared ?? n;
}

/** Dirent blocks: 12-byte records, then the names, never crossing a block. */
function dirents(list: { name: Buffer; nid: number; ft: number }[], where: string): { blocks: Buffer[]; size: number } {
  const blocks: Buffer[] = [];
  let size = 0;
  let i = 0;
  while (i < list.length) {
    let n = 0;
    let used = 0;
    while (i + n < list.length && used + DIRENT + list[i + n].name.length <= BLOCK) {
      if (list[i + n].name.length > 255) throw new ErofsError(`"${showName(where)}": a name longer than 255 bytes`);
      used += DIRENT + list[i + n].name.length;
      n++;
    }
    const b = Buffer.alloc(BLOCK);
    let nameoff = n * DIRENT;
    for (let k = 0; k < n; k++) {
      const d = list[i + k];
      b.writeBigUInt64LE(BigInt(d.nid), k * DIRENT);
      b.writeUInt16LE(nameoff, k * DIRENT + 8);
      b[k * DIRENT + 10] = d.ft;
      d.name.copy(b, nameoff);
      nameoff += d.name.length;
    }
    blocks.push(b);
    i += n;
    size = (blocks.length - 1) * BLOCK + used;
  }
  return { blocks, size };
}

/** Inline xattrs: a 12-byte header, then {name length, prefix index, value size, name, value} each 4-aligned. */
function encodeXattrs(e: Entry): Buffer {
  const names = Object.keys(e.xattrs ?? {}).sort();
  if (!names.length) return Buffer.alloc(0);
  const parts: Buffer[] = [Buffer.alloc(12)];
  for (const full of names) {
    const pre = XATTR_PREFIX.find(([p]) => full.startsWith(p));
    if (!pre) throw new ErofsError(`"${showName(e.path)}": extended attribute ${showName(full)} is not user., trusted. or security.: erofs images keep only those`);
    const name = Buffer.from(full.slice(pre[0].length));
    const value = e.xattrs![full];
    if (name.length > 255 || value.length > 0xffff) throw new ErofsError(`"${showName(e.path)}": extended attribute ${showName(full)} is too large`);
    const rec = Buffer.alloc(Math.ceil((4 + name.length + value.length) / 4) * 4);
    rec[0] = name.length;
    rec[1] = pre[1];
    rec.writeUInt16LE(value.length, 2);
    name.copy(rec, 4);
    value.copy(rec, 4 + name.length);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

function encodeInode(n: Node): Buffer {
  const b = Buffer.alloc(INODE);
  const e = n.entry;
  const layout = n.inline ? LAYOUT_INLINE : LAYOUT_PLAIN;
  b.writeUInt16LE((layout << 1) | 1, 0);
  b.writeUInt16LE(n.xattrs.length ? 1 + (n.xattrs.length - 12) / 4 : 0, 2);
  b.writeUInt16LE(S_IF[n.type] | (e.mode & 0o7777), 4);
  b.writeBigUInt64LE(BigInt(n.size), 8);
  if (n.type === 'char' || n.type === 'block') {
    const major = e.devmajor ?? 0;
    const minor = e.devminor ?? 0;
    b.writeUInt32LE(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, 16);
  } else b.writeUInt32LE(n.inline ? 0 : n.blkaddr, 16);
  b.writeUInt32LE(n.ino, 20);
  b.writeUInt32LE(e.uid >>> 0, 24);
  b.writeUInt32LE(e.gid >>> 0, 28);
  b.writeBigInt64LE(BigInt(e.mtime), 32);
  b.writeUInt32LE(n.nlink, 44);
  return b;
}

function superblock(s: { rootNid: number; inos: number; epoch: number; blocks: number; metaBlk: number; seed: string }): Buffer {
  const b = Buffer.alloc(SUPERBLOCK_BYTES);
  b.writeUInt32LE(EROFS_MAGIC, 0);
  b[12] = 12; // blkszbits: 4 KiB
  b.writeUInt16LE(s.rootNid, 14);
  b.writeBigUInt64LE(BigInt(s.inos), 16);
  b.writeBigUInt64LE(BigInt(Math.max(0, s.epoch)), 24);
  b.writeUInt32LE(s.blocks, 36);
  b.writeUInt32LE(s.metaBlk, 40);
  // a name-based UUID (v5 layout) from the seed
  const u = createHash('sha256').update(`osbuild-erofs:${s.seed}`).digest().subarray(0, 16);
  u[6] = (u[6] & 0x0f) | 0x50;
  u[8] = (u[8] & 0x3f) | 0x80;
  u.copy(b, 48);
  b.write('osbuild', 64, 'latin1');
  return b;
}
