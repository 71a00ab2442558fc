// A root filesystem as a plain ISO 9660 image with Rock Ridge (no boot code): LinuxKit's
// kernel+iso, whose root the kernel's isofs mounts read-only. Rock Ridge carries what a root
// needs: POSIX names of up to 255 bytes (NM), modes, owners and link counts (PX), times (TF),
// symlink targets (SL), device numbers (PN); hard links share their target's extent. Directories
// nest as deep as the root does: Linux reads the tree through the records, not the path tables
// (ISO 9660's limit of 8 levels is for readers without Rock Ridge).
//
// Unlike the boot media's writer (write.ts: every size known before a byte is written), the root
// arrives as a stream of entries. Its file bytes go to the image as they arrive, from sector 18;
// once the stream ends, the metadata is laid out and the file bytes move up behind it (one
// in-place copy, from the end), because readers that stream the image (libarchive, hence bsdtar)
// need every directory record and continuation area before the data it points at:
//   sectors 0-15        system area (zeros)
//   16, 17              primary volume descriptor, set terminator
//   18                  L and M path tables, directories in path-table order, Rock Ridge
//                       continuation areas
//   then                each regular file's bytes in stream order, from a sector boundary, and
//                       300 KiB of padding (as xorriso -pad)
// Only the tree's metadata stays in memory. The volume set identifier is the sha256 of what was
// written (every entry's attributes and bytes), so the primary volume descriptor, which the init
// hashes to find this root, differs between two roots whose layout happens to match.

import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { TYPE_BITS, type Entry, type EntryStream } from '../entry.js';
import { showName } from '../names.js';
import { IsoError } from './errors.js';
import { SECTOR, sectorsFor } from './fields.js';
import { pathTable, pathTableSize, primaryDescriptor, terminator } from './records.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from './rockridge.js';
import { newNode, orderTree, type Node } from './tree.js';
import { layoutDirectories, renderDirectories } from './write.js';

/** Where the primary volume descriptor is, and its size: the bytes the init hashes. */
export const PVD_OFFSET = 16 * SECTOR;
export const PVD_BYTES = SECTOR;

const FIRST_META = 18;
const MOVE_CHUNK = 4 * 1024 * 1024;
const PAD_SECTORS = 150;
/** Path table records name their parent by a 16-bit number. */
const MAX_DIRS = 0xffff;
/** Device numbers that Linux's isofs and libarchive/libisofs read alike (rockridge.ts pn). */
const MAX_MAJOR = 4095;
const MAX_MINOR = 255;

export interface IsoRootOptions {
  /** SOURCE_DATE_EPOCH: the volume's dates and those of directories the stream did not name. */
  epoch: number;
  /** default OSBUILD_ROOT */
  volumeId?: string;
}

export interface IsoRootResult {
  size: number;
  /** sha256 of the primary volume descriptor: identifies this image to the init that looks for it. */
  pvdSha256: string;
  /** sha256 of every entry written (the volume set identifier, in lower case). */
  contentSha256: string;
}

/** What to build instead when Rock Ridge (or Linux reading it) cannot hold a root's entry. */
const OTHER_ROOTS = 'build this root as kernel+squashfs or kernel+erofs';

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function withEntry(n: Node, e: Entry): Node {
  n.uid = e.uid;
  n.gid = e.gid;
  n.mtime = e.mtime;
  return n;
}

/** Moves `len` bytes at `from` up to `to` (> from) in the same file, from the end so nothing is overwritten before it is read. */
async function moveUp(fh: FileHandle, from: number, to: number, len: number): Promise<void> {
  const buf = Buffer.alloc(Math.min(MOVE_CHUNK, len));
  for (let end = len; end > 0; ) {
    const n = Math.min(buf.length, end);
    end -= n;
    const { bytesRead } = await fh.read(buf, 0, n, from + end);
    if (bytesRead !== n) throw new Error(`internal: read ${bytesRead} of ${n} bytes moving the root's data`);
    await fh.write(buf, 0, n, to + end);
  }
}

/** Write `entries` as an ISO 9660 + Rock Ridge image at `path` (replaced if it exists); nothing is left at `path` on an error. */
export async function writeIsoRoot(entries: EntryStream, path: string, opts: IsoRootOptions): Promise<IsoRootResult> {
  await rm(path, { force: true });
  const fh = await open(path, 'wx+');
  try {
    const root = withEntry(newNode('', '', 'dir', S_IFDIR | 0o755, undefined), { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: opts.epoch, size: 0 });
    const byPath = new Map<string, Node>([['', root]]);
    const hardlinks: { node: Node; target: string }[] = [];
    const content = createHash('sha256');
    // data sectors are counted from the first one; their place is known once the metadata's is
    let rel = 0;
    const files: { node: Node; rel: number }[] = [];

    const attach = (parent: Node, n: Node) => {
      const old = byPath.get(n.path);
      // a later entry for a path replaces an earlier one (the guard sends none; kept safe)
      if (old) parent.children = parent.children.filter((c) => c !== old);
      byPath.set(n.path, n);
      parent.children.push(n);
    };
    const dirOf = (path: string): Node => {
      const cut = path.lastIndexOf('/');
      const parentPath = cut < 0 ? '' : path.slice(0, cut);
      let p = byPath.get(parentPath);
      if (!p) {
        // a parent the stream did not name (the guard keeps parents first; this is a backstop)
        const up = dirOf(parentPath);
        p = withEntry(newNode(baseName(parentPath), parentPath, 'dir', S_IFDIR | 0o755, up), { path: parentPath, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: opts.epoch, size: 0 });
        attach(up, p);
      }
      if (p.kind !== 'dir') throw new IsoError('EISOPATH', `"${showName(path)}" is below "${showName(parentPath)}", which is not a directory`, path);
      return p;
    };

    for await (const { entry: e, content: bytes } of entries) {
      if (e.xattrs && Object.keys(e.xattrs).length > 0) {
        const names = Object.keys(e.xattrs).sort().map((x) => showName(x)).join(', ');
        throw new IsoError('EISOFIELD', `"${showName(e.path || '/')}" has extended attributes (${names}), which Rock Ridge cannot hold: ${OTHER_ROOTS}`, e.path, OTHER_ROOTS);
      }
      content.update(JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname ?? null, e.devmajor ?? null, e.devminor ?? null]));
      if (e.path === '' || e.path === '.') {
        if (e.type === 'dir') withEntry(root, e).mode = S_IFDIR | (e.mode & 0o7777);
        continue;
      }
      const parent = dirOf(e.path);
      const name = baseName(e.path);
      const mode = e.mode & 0o7777;
      if (e.type === 'dir') {
        const old = byPath.get(e.path);
        // a directory made as its children's parent above keeps them
        if (old?.kind === 'dir') {
          withEntry(old, e).mode = S_IFDIR | mode;
          continue;
        }
        attach(parent, withEntry(newNode(name, e.path, 'dir', S_IFDIR | mode, parent), e));
      } else if (e.type === 'file') {
        if (e.size > 0xffffffff) {
          throw new IsoError('EISOSIZE', `"${showName(e.path)}" is ${e.size} bytes; files of 4 GiB and more (multi-extent) are not supported: ${OTHER_ROOTS}`, e.path, OTHER_ROOTS);
        }
        const n = withEntry(newNode(name, e.path, 'file', S_IFREG | mode, parent), e);
        // an empty file points at the next extent: readers want a location inside the volume
        files.push({ node: n, rel });
        n.size = e.size;
        let at = (FIRST_META + rel) * SECTOR;
        let got = 0;
        for await (const c of bytes ?? []) {
          got += c.length;
          if (got > e.size) throw new IsoError('EISOSIZE', `"${showName(e.path)}": its content is longer than its declared ${e.size} bytes`, e.path);
          content.update(c);
          await fh.write(c, 0, c.length, at);
          at += c.length;
        }
        if (got !== e.size) throw new IsoError('EISOSIZE', `"${showName(e.path)}": its content gave ${got} of its declared ${e.size} bytes`, e.path);
        rel += sectorsFor(e.size);
        attach(parent, n);
      } else if (e.type === 'symlink') {
        const n = withEntry(newNode(name, e.path, 'symlink', S_IFLNK | 0o777, parent), e);
        n.target = e.linkname ?? '';
        attach(parent, n);
      } else if (e.type === 'hardlink') {
        const n = withEntry(newNode(name, e.path, 'file', S_IFREG | mode, parent), e);
        hardlinks.push({ node: n, target: e.linkname ?? '' });
        attach(parent, n);
      } else {
        const n = withEntry(newNode(name, e.path, 'special', TYPE_BITS[e.type] | mode, parent), e);
        if (e.type !== 'fifo') {
          n.rdev = [e.devmajor ?? 0, e.devminor ?? 0];
          if (n.rdev[0] > MAX_MAJOR || n.rdev[1] > MAX_MINOR) {
            throw new IsoError(
              'EISOFIELD',
              `device "${showName(e.path)}" is ${n.rdev.join(':')}; Linux reads Rock Ridge device numbers up to ${MAX_MAJOR}:${MAX_MINOR} as other readers do, and this one differently: ${OTHER_ROOTS}`,
              e.path,
              OTHER_ROOTS,
            );
          }
        }
        attach(parent, n);
      }
    }

    // hard links: the name shares its target's extent, attributes and link count
    const groups = new Map<Node, Node[]>();
    const links: { node: Node; target: Node }[] = [];
    const linked = new Set(hardlinks.map((h) => h.node));
    for (const { node, target } of hardlinks) {
      const t = byPath.get(target);
      if (!t || t.kind !== 'file' || linked.has(t)) {
        throw new IsoError('EISOPATH', `hard link "${showName(node.path)}" names "${showName(target)}", which is not a file in the image`, node.path);
      }
      Object.assign(node, { size: t.size, mode: t.mode, uid: t.uid, gid: t.gid, mtime: t.mtime });
      groups.set(t, [...(groups.get(t) ?? [t]), node]);
      links.push({ node, target: t });
    }
    for (const g of groups.values()) for (const n of g) n.nlink = g.length;

    const dirs = orderTree(root);
    if (dirs.length > MAX_DIRS) {
      throw new IsoError('EISOSIZE', `the root has ${dirs.length} directories; an ISO 9660 path table numbers at most ${MAX_DIRS}`);
    }
    const ptSize = pathTableSize(dirs);
    const lPath = FIRST_META;
    const mPath = lPath + sectorsFor(ptSize);
    const dirLayout = layoutDirectories(dirs, opts.epoch, mPath + sectorsFor(ptSize));
    const firstData = dirLayout.end;
    const total = firstData + rel + PAD_SECTORS;
    for (const f of files) f.node.lba = firstData + f.rel;
    for (const l of links) l.node.lba = l.target.lba;

    // the last file's sector filled to its end, so that the move reads whole sectors
    await fh.truncate((FIRST_META + rel) * SECTOR);
    await moveUp(fh, FIRST_META * SECTOR, firstData * SECTOR, rel * SECTOR);
    const meta = Buffer.alloc((firstData - FIRST_META) * SECTOR);
    const numbers = new Map<Node, number>(dirs.map((d, i) => [d, i + 1]));
    pathTable(dirs, numbers, false, ptSize).copy(meta, (lPath - FIRST_META) * SECTOR);
    pathTable(dirs, numbers, true, ptSize).copy(meta, (mPath - FIRST_META) * SECTOR);
    renderDirectories(dirLayout, opts.epoch, meta, FIRST_META);
    await fh.write(meta, 0, meta.length, FIRST_META * SECTOR);
    await fh.truncate(total * SECTOR);

    const contentSha256 = content.digest('hex');
    const pvd = primaryDescriptor(
      { volumeId: opts.volumeId ?? 'OSBUILD_ROOT', epoch: opts.epoch, volumeSetId: contentSha256.toUpperCase() },
      total,
      ptSize,
      lPath,
      mPath,
      root,
    );
    await fh.write(Buffer.concat([pvd, terminator()]), 0, 2 * SECTOR, PVD_OFFSET);
    await fh.close();
    return { size: total * SECTOR, pvdSha256: createHash('sha256').update(pvd).digest('hex'), contentSha256 };
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
}
