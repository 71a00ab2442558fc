// FAT12/16/32 image writer, for EFI system partitions and El Torito EFI images.
//
// The whole layout is planned from the file sizes before a byte is written (every file is one
// contiguous cluster run, directories first), so the image streams front to back: boot
// sector, FATs, root directory, then each file's content as it arrives, never held in memory.
// Deterministic: children sorted by name, short aliases counted per directory, one timestamp
// for every entry, a volume id derived from a seed.

import { createHash } from 'node:crypto';
import { coalesce, zeroChunks } from '../disk/write.js';
import { showName } from '../names.js';
import { chooseGeometry, SECTOR, type FatGeometry, type FatType } from './layout.js';
import {
  exactShortName,
  invalidNameReason,
  lfnChecksum,
  lfnCount,
  ShortNamer,
  writeLfnEntries,
} from './names.js';
import { OsbuildError } from '../../errors.js';

export type { FatType } from './layout.js';

export interface FatFile {
  /** Slash-separated path inside the volume ('EFI/BOOT/BOOTX64.EFI'); parent directories are implied. */
  path: string;
  /** Exact content length in bytes; the content must yield exactly this many. */
  size: number;
  /** Called once, when the image stream reaches this file. */
  content: () => AsyncIterable<Uint8Array>;
}

export interface FatOptions {
  /** Volume size in bytes (a multiple of 512), or 'auto' (default): just large enough, see sizeAlign/freeSpace. */
  size?: number | 'auto';
  /** 'auto' sizes are rounded up to this many bytes (default 1 MiB). */
  sizeAlign?: number;
  /** Extra free bytes an 'auto' volume keeps (default 0). */
  freeSpace?: number;
  /** Force a FAT type; by default it follows from the size (12 up to ~4 MiB, 16 up to 512 MiB, then 32). */
  fatType?: FatType;
  /** Force the cluster size in bytes (512 .. 32768, a power of two). */
  clusterSize?: number;
  /** Up to 11 characters; lowercase is uppercased. Without it the volume has no label ("NO NAME"). */
  label?: string;
  /** The volume serial number. Default: derived from `seed`. */
  volumeId?: number;
  /** What the volume id is derived from (e.g. the content digest). Default: the paths and sizes. */
  seed?: string | Uint8Array;
  /** Modification time of every entry, in seconds since the epoch (SOURCE_DATE_EPOCH). Clamped to 1980..2107. Default 0 (-> 1980-01-01). */
  mtime?: number;
  /** Sectors before this volume on its disk (the partition's first LBA), recorded in the boot sector. */
  hiddenSectors?: number;
  /** Empty directories to create (directories holding files are implied). */
  directories?: string[];
}

export type FatErrorCode = 'EFATNAME' | 'EFATDUP' | 'EFATSIZE' | 'EFATFULL' | 'EFATOPT' | 'EFATCONTENT';

/** A tree or option the FAT writer cannot honour, or content that breaks its promised size. */
export class FatError extends OsbuildError {
  constructor(
    readonly code: FatErrorCode,
    message: string,
    /** The path in the volume concerned, when there is one. */
    readonly path?: string,
  ) {
    super(message, path !== undefined ? { where: path } : undefined);
  }
}

export interface FatImage {
  /** Image size in bytes. */
  size: number;
  fatType: FatType;
  clusterSize: number;
  clusterCount: number;
  freeClusters: number;
  volumeId: number;
  geometry: FatGeometry;
  /** The image bytes, front to back; each call starts a new pass (calling each file's content() again). Chunks must not be modified. */
  stream: () => AsyncIterable<Uint8Array>;
}

interface FileNode {
  kind: 'file';
  name: string;
  path: string;
  size: number;
  content: () => AsyncIterable<Uint8Array>;
  short?: Buffer;
  cluster: number;
  clusters: number;
}

interface DirNode {
  kind: 'dir';
  name: string;
  path: string;
  children: Map<string, Node>;
  sorted: Node[];
  short?: Buffer;
  /** Directory entries (32 bytes each) this directory holds. */
  entryCount: number;
  cluster: number;
  clusters: number;
  parent?: DirNode;
}

type Node = FileNode | DirNode;

const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_ARCHIVE = 0x20;
const MAX_DIR_ENTRIES = 65536; // a directory may span at most 2 MiB (fatgen103)
const MIN_TIME = 315532800; // 1980-01-01T00:00:00Z
const MAX_TIME = 4354819198; // 2107-12-31T23:59:58Z

/** Plans the volume for `files` and returns its size and a stream of its bytes. */
export function writeFat(files: FatFile[], opts: FatOptions = {}): FatImage {
  const label = normalizeLabel(opts.label);
  const root = buildTree(files, opts.directories ?? []);
  const dirs: DirNode[] = [];
  const fileNodes: FileNode[] = [];
  assignNames(root, label !== undefined, dirs, fileNodes);

  const spc = opts.clusterSize === undefined ? undefined : clusterSpc(opts.clusterSize);
  const rootEntries = Math.max(512, Math.ceil(root.entryCount / 16) * 16);
  const g = planGeometry(opts, rootEntries, spc, dirs, fileNodes);
  const clusterBytes = g.sectorsPerCluster * SECTOR;

  // Allocation: root (FAT32 only), directories, then files, each a contiguous run from cluster 2.
  let next = 2;
  const runs: Array<{ start: number; count: number }> = [];
  for (const d of dirs) {
    if (d === root && g.fatType !== 32) continue;
    d.clusters = Math.max(1, Math.ceil((d.entryCount * 32) / clusterBytes));
    d.cluster = next;
    next += d.clusters;
    runs.push({ start: d.cluster, count: d.clusters });
  }
  for (const f of fileNodes) {
    f.clusters = Math.ceil(f.size / clusterBytes);
    f.cluster = f.clusters ? next : 0;
    next += f.clusters;
    if (f.clusters) runs.push({ start: f.cluster, count: f.clusters });
  }
  const used = next - 2;
  if (used > g.clusterCount) {
    throw new FatError(
      'EFATFULL',
      `FAT volume of ${g.totalSectors * SECTOR} bytes has ${g.clusterCount} clusters of ${clusterBytes} bytes; the files need ${used}: give a larger size or 'auto'`,
    );
  }

  const stamp = fatTimestamp(opts.mtime ?? 0);
  const volumeId = (opts.volumeId ?? deriveVolumeId(opts.seed, fileNodes, dirs)) >>> 0;
  const ctx: Ctx = { g, label, stamp, volumeId, root, clusterBytes, hidden: opts.hiddenSectors ?? 0, used };

  const stream = (): AsyncIterable<Uint8Array> =>
    coalesce(imageChunks(ctx, runs, dirs, fileNodes));
  return {
    size: g.totalSectors * SECTOR,
    fatType: g.fatType,
    clusterSize: clusterBytes,
    clusterCount: g.clusterCount,
    freeClusters: g.clusterCount - used,
    volumeId,
    geometry: g,
    stream,
  };
}

interface Ctx {
  g: FatGeometry;
  label: Buffer | undefined;
  stamp: { date: number; time: number; tenth: number };
  volumeId: number;
  root: DirNode;
  clusterBytes: number;
  hidden: number;
  used: number;
}

function clusterSpc(bytes: number): number {
  const spc = bytes / SECTOR;
  if (!Number.isInteger(spc) || spc < 1 || spc > 64 || (spc & (spc - 1)) !== 0) {
    throw new FatError('EFATOPT', `FAT clusterSize ${bytes} must be a power of two from 512 to 32768`);
  }
  return spc;
}

function normalizeLabel(label: string | undefined): Buffer | undefined {
  if (label === undefined) return undefined;
  const up = label.toUpperCase();
  if (up.length < 1 || up.length > 11 || up.trim() === '' || !/^[A-Z0-9 !#$%&'()\-@^_`{}~]+$/.test(up)) {
    throw new FatError(
      'EFATOPT',
      `FAT label "${showName(label)}": use 1 to 11 of A-Z, 0-9, space and !#$%&'()-@^_\`{}~`,
    );
  }
  const b = Buffer.alloc(11, 0x20);
  b.write(up, 'latin1');
  return b;
}

function newDir(name: string, path: string, parent?: DirNode): DirNode {
  return { kind: 'dir', name, path, children: new Map(), sorted: [], entryCount: 0, cluster: 0, clusters: 0, parent };
}

function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) throw new FatError('EFATNAME', `FAT path "${showName(path)}" names no file`, path);
  for (const p of parts) {
    const why = invalidNameReason(p);
    if (why) throw new FatError('EFATNAME', `FAT path "${showName(path)}": component "${showName(p)}" is invalid: ${why}`, path);
  }
  return parts;
}

/** The directory tree; names are compared case-insensitively, as FAT does. */
function buildTree(files: FatFile[], directories: string[]): DirNode {
  const root = newDir('', '');
  const dirAt = (parts: string[], full: string): DirNode => {
    let d = root;
    for (const p of parts) {
      const key = p.toUpperCase();
      const existing = d.children.get(key);
      if (existing === undefined) {
        const child = newDir(p, d.path ? `${d.path}/${p}` : p, d);
        d.children.set(key, child);
        d = child;
      } else if (existing.kind === 'dir') {
        if (existing.name !== p) throw dupError(full, existing.path);
        d = existing;
      } else {
        throw new FatError('EFATDUP', `FAT path "${showName(full)}": "${showName(existing.path)}" is a file, not a directory`, full);
      }
    }
    return d;
  };
  for (const dir of directories) dirAt(splitPath(dir), dir);
  for (const f of files) {
    if (!Number.isSafeInteger(f.size) || f.size < 0 || f.size > 0xffffffff) {
      throw new FatError('EFATSIZE', `FAT file "${showName(f.path)}": size ${f.size} is not 0 .. 4 GiB - 1`, f.path);
    }
    const parts = splitPath(f.path);
    const name = parts.pop()!;
    const d = dirAt(parts, f.path);
    const key = name.toUpperCase();
    const existing = d.children.get(key);
    if (existing) throw dupError(f.path, existing.path);
    const path = d.path ? `${d.path}/${name}` : name;
    d.children.set(key, { kind: 'file', name, path, size: f.size, content: f.content, cluster: 0, clusters: 0 });
  }
  return root;
}

function dupError(path: string, other: string): FatError {
  return new FatError(
    'EFATDUP',
    `FAT path "${showName(path)}" collides with "${showName(other)}" (FAT names ignore case)`,
    path,
  );
}

/** Sorts children, gives each a short name, counts directory entries; collects dirs and files in allocation order. */
function assignNames(root: DirNode, hasLabel: boolean, dirs: DirNode[], files: FileNode[]): void {
  const queue: DirNode[] = [root];
  while (queue.length) {
    const d = queue.shift()!;
    dirs.push(d);
    d.sorted = [...d.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const namer = new ShortNamer();
    const pending: Node[] = [];
    for (const c of d.sorted) {
      const exact = exactShortName(c.name);
      if (exact && namer.reserve(exact)) c.short = exact;
      else pending.push(c);
    }
    for (const c of pending) c.short = namer.alias(c.name);
    let count = d === root ? (hasLabel ? 1 : 0) : 2; // label entry, or "." and ".."
    for (const c of d.sorted) count += 1 + (needsLfn(c) ? lfnCount(c.name) : 0);
    if (count > MAX_DIR_ENTRIES) {
      throw new FatError('EFATFULL', `FAT directory "${showName(d.path || '/')}" needs ${count} entries; FAT allows ${MAX_DIR_ENTRIES}`, d.path);
    }
    d.entryCount = count;
    for (const c of d.sorted) if (c.kind === 'dir') queue.push(c);
  }
  const walk = (d: DirNode) => {
    for (const c of d.sorted) if (c.kind === 'file') files.push(c);
    for (const c of d.sorted) if (c.kind === 'dir') walk(c);
  };
  walk(root);
}

function needsLfn(n: Node): boolean {
  const s = n.short!;
  const base = s.toString('latin1', 0, 8).trimEnd();
  const ext = s.toString('latin1', 8, 11).trimEnd();
  return n.name !== (ext ? `${base}.${ext}` : base);
}

/** Clusters the tree needs with clusters of `clusterBytes` (the FAT32 root included). */
function clustersNeeded(clusterBytes: number, fat32: boolean, dirs: DirNode[], files: FileNode[]): number {
  let n = 0;
  for (const d of dirs) {
    if (d.parent === undefined && !fat32) continue;
    n += Math.max(1, Math.ceil((d.entryCount * 32) / clusterBytes));
  }
  for (const f of files) n += Math.ceil(f.size / clusterBytes);
  return n;
}

function planGeometry(opts: FatOptions, rootEntries: number, spc: number | undefined, dirs: DirNode[], files: FileNode[]): FatGeometry {
  const type = opts.fatType;
  if (type !== undefined && type !== 12 && type !== 16 && type !== 32) {
    throw new FatError('EFATOPT', `FAT fatType ${String(type)} must be 12, 16 or 32`);
  }
  if (opts.size !== undefined && opts.size !== 'auto') {
    const size = opts.size;
    if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR !== 0) {
      throw new FatError('EFATOPT', `FAT size ${size} must be a positive multiple of ${SECTOR} bytes`);
    }
    const g = chooseGeometry(size / SECTOR, type, rootEntries, spc);
    if (!g) {
      throw new FatError(
        'EFATOPT',
        `a FAT${type ?? ''} volume cannot be ${size} bytes${spc ? ` with ${spc * SECTOR}-byte clusters` : ''}: FAT12 needs < 4085 clusters, FAT16 4085 .. 65524, FAT32 >= 65525 (at least ~33 MiB)`,
      );
    }
    return g;
  }
  const align = opts.sizeAlign ?? 1024 * 1024;
  if (!Number.isSafeInteger(align) || align <= 0 || align % SECTOR !== 0) {
    throw new FatError('EFATOPT', `FAT sizeAlign ${align} must be a positive multiple of ${SECTOR}`);
  }
  const alignSectors = align / SECTOR;
  const freeSectors = Math.ceil((opts.freeSpace ?? 0) / SECTOR);
  const roundUp = (s: number) => Math.ceil(s / alignSectors) * alignSectors;
  // Grow until the tree fits: the cluster size, FAT size and even the type depend on the size.
  let total = roundUp(Math.max(64, clustersNeeded(SECTOR, type === 32, dirs, files) + freeSectors));
  for (let i = 0; i < 200; i++) {
    const g = chooseGeometry(total, type, rootEntries, spc);
    if (g) {
      const clusterSectors = g.sectorsPerCluster;
      const need = clustersNeeded(clusterSectors * SECTOR, g.fatType === 32, dirs, files) + Math.ceil(freeSectors / clusterSectors);
      if (need <= g.clusterCount) return g;
      total = roundUp(total + (need - g.clusterCount) * clusterSectors + g.fatSectors);
    } else {
      total = roundUp(total + Math.max(alignSectors, Math.ceil(total / 32))); // too small for the type yet
    }
  }
  throw new FatError('EFATFULL', `no FAT${type ?? ''} geometry holds these files (${files.length} files)`);
}

function deriveVolumeId(seed: string | Uint8Array | undefined, files: FileNode[], dirs: DirNode[]): number {
  const h = createHash('sha256').update('osbuild fat volume id\0');
  if (seed !== undefined) h.update(seed);
  else {
    for (const d of dirs) h.update(`d ${d.path}\0`);
    for (const f of files) h.update(`f ${f.path} ${f.size}\0`);
  }
  return h.digest().readUInt32LE(0);
}

/** FAT date and time words for `seconds` since the epoch (UTC), clamped to what FAT can hold. */
export function fatTimestamp(seconds: number): { date: number; time: number; tenth: number } {
  const s = Math.min(MAX_TIME, Math.max(MIN_TIME, Math.floor(seconds)));
  const d = new Date(s * 1000);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  // The 2-second resolution of `time` is refined by the creation time's hundredths field.
  return { date, time, tenth: (d.getUTCSeconds() & 1) * 100 };
}

function writeDirEntry(out: Buffer, at: number, short: Uint8Array, attr: number, cluster: number, size: number, ctx: Ctx): void {
  const e = out.subarray(at, at + 32);
  e.set(short, 0);
  e[11] = attr;
  e[13] = ctx.stamp.tenth;
  e.writeUInt16LE(ctx.stamp.time, 14); // creation
  e.writeUInt16LE(ctx.stamp.date, 16);
  e.writeUInt16LE(ctx.stamp.date, 18); // last access
  e.writeUInt16LE(cluster >>> 16, 20);
  e.writeUInt16LE(ctx.stamp.time, 22); // modification
  e.writeUInt16LE(ctx.stamp.date, 24);
  e.writeUInt16LE(cluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
}

const DOT = Buffer.from('.          ', 'latin1');
const DOTDOT = Buffer.from('..         ', 'latin1');

/** A directory's entries, padded to `bytes`. */
function encodeDir(d: DirNode, bytes: number, ctx: Ctx): Buffer {
  const out = Buffer.alloc(bytes);
  let at = 0;
  if (d === ctx.root) {
    if (ctx.label) {
      writeDirEntry(out, at, ctx.label, ATTR_VOLUME, 0, 0, ctx);
      at += 32;
    }
  } else {
    writeDirEntry(out, at, DOT, ATTR_DIR, d.cluster, 0, ctx);
    // ".." of a top-level directory points at cluster 0, even on FAT32 where the root has a cluster.
    const up = d.parent === ctx.root ? 0 : d.parent!.cluster;
    writeDirEntry(out, at + 32, DOTDOT, ATTR_DIR, up, 0, ctx);
    at += 64;
  }
  for (const c of d.sorted) {
    if (needsLfn(c)) at = writeLfnEntries(c.name, lfnChecksum(c.short!), out, at);
    if (c.kind === 'dir') writeDirEntry(out, at, c.short!, ATTR_DIR, c.cluster, 0, ctx);
    else writeDirEntry(out, at, c.short!, ATTR_ARCHIVE, c.cluster, c.size, ctx);
    at += 32;
  }
  return out;
}

// A tiny real-mode program at the jump target: ask the BIOS to try the next boot device
// (int 18h), and halt if it returns. This volume is not meant to be booted by a BIOS.
const BOOT_STUB = Buffer.from([0xcd, 0x18, 0xf4, 0xeb, 0xfd]);

function bootSector(ctx: Ctx): Buffer {
  const { g } = ctx;
  const b = Buffer.alloc(SECTOR);
  const fat32 = g.fatType === 32;
  const codeAt = fat32 ? 0x5a : 0x3e;
  b.set([0xeb, codeAt - 2, 0x90], 0);
  b.write('MSWIN4.1', 3, 'latin1'); // the OEM name fatgen103 recommends for compatibility
  b.writeUInt16LE(SECTOR, 11);
  b[13] = g.sectorsPerCluster;
  b.writeUInt16LE(g.reservedSectors, 14);
  b[16] = g.numFats;
  b.writeUInt16LE(g.rootEntries, 17);
  const small = !fat32 && g.totalSectors < 0x10000;
  b.writeUInt16LE(small ? g.totalSectors : 0, 19);
  b[21] = 0xf8; // media: fixed disk
  b.writeUInt16LE(fat32 ? 0 : g.fatSectors, 22);
  b.writeUInt16LE(63, 24); // sectors per track, heads: the usual LBA-translation geometry
  b.writeUInt16LE(255, 26);
  b.writeUInt32LE(ctx.hidden, 28);
  b.writeUInt32LE(small ? 0 : g.totalSectors, 32);
  let ext = 36;
  if (fat32) {
    b.writeUInt32LE(g.fatSectors, 36);
    b.writeUInt16LE(0, 40); // FATs mirrored
    b.writeUInt16LE(0, 42); // version 0.0
    b.writeUInt32LE(2, 44); // root directory cluster
    b.writeUInt16LE(1, 48); // FSInfo sector
    b.writeUInt16LE(6, 50); // backup boot sector
    ext = 64;
  }
  b[ext] = 0x80; // drive number
  b[ext + 2] = 0x29; // extended boot signature: the three fields below are present
  b.writeUInt32LE(ctx.volumeId, ext + 3);
  (ctx.label ?? Buffer.from('NO NAME    ', 'latin1')).copy(b, ext + 7);
  b.write(`FAT${g.fatType}   `, ext + 18, 'latin1');
  BOOT_STUB.copy(b, codeAt);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

function fsInfo(ctx: Ctx): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeUInt32LE(0x41615252, 0);
  b.writeUInt32LE(0x61417272, 484);
  const free = ctx.g.clusterCount - ctx.used;
  b.writeUInt32LE(free, 488);
  b.writeUInt32LE(free > 0 ? ctx.used + 2 : 0xffffffff, 492); // next free cluster hint
  b.writeUInt32LE(0xaa550000, 508);
  return b;
}

function reservedRegion(ctx: Ctx): Buffer {
  const out = Buffer.alloc(ctx.g.reservedSectors * SECTOR);
  const boot = bootSector(ctx);
  boot.copy(out, 0);
  if (ctx.g.fatType === 32) {
    const info = fsInfo(ctx);
    info.copy(out, SECTOR);
    // Sector 2 carries only the boot signature, like the third sector of Microsoft's boot record.
    out.writeUInt16LE(0xaa55, 2 * SECTOR + 510);
    boot.copy(out, 6 * SECTOR);
    info.copy(out, 7 * SECTOR);
    out.writeUInt16LE(0xaa55, 8 * SECTOR + 510);
  }
  return out;
}

const FAT_CHUNK = 1024 * 1024;

/** One FAT, in chunks: every run a chain to its end-of-chain mark, everything else free. */
function* fatChunks(g: FatGeometry, runs: Array<{ start: number; count: number }>): Generator<Buffer> {
  const total = g.fatSectors * SECTOR;
  if (g.fatType === 12) {
    const b = Buffer.alloc(total);
    const set = (n: number, v: number) => {
      const o = n + (n >> 1);
      if (n & 1) {
        b[o] = (b[o] & 0x0f) | ((v & 0x0f) << 4);
        b[o + 1] = v >> 4;
      } else {
        b[o] = v & 0xff;
        b[o + 1] = (b[o + 1] & 0xf0) | ((v >> 8) & 0x0f);
      }
    };
    set(0, 0xff8);
    set(1, 0xfff);
    for (const r of runs) for (let c = r.start; c < r.start + r.count; c++) set(c, c === r.start + r.count - 1 ? 0xfff : c + 1);
    yield b;
    return;
  }
  const width = g.fatType / 8;
  const eoc = g.fatType === 32 ? 0x0fffffff : 0xffff;
  const write = (b: Buffer, at: number, v: number) => (width === 4 ? b.writeUInt32LE(v, at) : b.writeUInt16LE(v, at));
  let run = 0;
  for (let off = 0; off < total; off += FAT_CHUNK) {
    const len = Math.min(FAT_CHUNK, total - off);
    const b = Buffer.alloc(len);
    const first = off / width;
    const end = first + len / width;
    if (first === 0) {
      write(b, 0, g.fatType === 32 ? 0x0ffffff8 : 0xfff8); // media byte in entry 0
      write(b, width, eoc); // entry 1: end of chain, "clean" flags set on FAT16
    }
    while (run < runs.length && runs[run].start < end) {
      const r = runs[run];
      const last = r.start + r.count - 1;
      const to = Math.min(last + 1, end);
      for (let c = Math.max(r.start, first); c < to; c++) write(b, (c - first) * width, c === last ? eoc : c + 1);
      if (last < end) run++;
      else break;
    }
    yield b;
  }
}

async function* fileContent(f: FileNode, clusterBytes: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of f.content()) {
    n += chunk.length;
    if (n > f.size) break;
    yield chunk;
  }
  if (n !== f.size) {
    throw new FatError(
      'EFATCONTENT',
      `FAT file "${showName(f.path)}": content ${n > f.size ? 'is longer than' : `has ${n} bytes, not`} the declared ${f.size} bytes`,
      f.path,
    );
  }
  yield* zeroChunks(f.clusters * clusterBytes - f.size);
}

async function* imageChunks(ctx: Ctx, runs: Array<{ start: number; count: number }>, dirs: DirNode[], files: FileNode[]): AsyncGenerator<Uint8Array> {
  const { g, clusterBytes } = ctx;
  yield reservedRegion(ctx);
  for (let i = 0; i < g.numFats; i++) yield* fatChunks(g, runs);
  if (g.fatType !== 32) yield encodeDir(ctx.root, g.rootDirSectors * SECTOR, ctx);
  for (const d of dirs) {
    if (d === ctx.root && g.fatType !== 32) continue;
    yield encodeDir(d, d.clusters * clusterBytes, ctx);
  }
  for (const f of files) yield* fileContent(f, clusterBytes);
  const written = g.firstDataSector * SECTOR + ctx.used * clusterBytes;
  yield* zeroChunks(g.totalSectors * SECTOR - written);
}
