// ISO 9660 image writer (ECMA-119) with Rock Ridge names, El Torito boot entries (BIOS with a
// boot info table, EFI) and an isohybrid MBR/GPT, as `xorriso -as mkisofs -R -b ... -e ...
// -isohybrid-mbr ... -isohybrid-gpt-basdat` makes it.
//
// Every size is known before a byte is written (files declare theirs), so the whole layout is
// planned first and the image then streams front to back: file contents pass through in their
// chunks, only the BIOS boot image (a few KiB) is held to patch its boot info table. Dates are
// all `epoch` (SOURCE_DATE_EPOCH); disk signature and GUIDs derive from the layout.
//
// Layout (2048-byte sectors): 0-15 system area (MBR, GPT) | 16 PVD | 17 El Torito boot record |
// terminator | L and M path tables | directories in path-table order | Rock Ridge continuation
// areas | boot catalog, BIOS image, EFI image | other files by path | 300 KiB of padding
// (xorriso's default, for readers that read ahead), for isohybrid up to a whole MiB, with the
// backup GPT in its last 33 blocks.

import { createHash } from 'node:crypto';
import { Batcher } from '../batch.js';
import {
  PLATFORM_EFI,
  PLATFORM_X86,
  bootCatalog,
  bootRecordDescriptor,
  efiLoadSectors,
  patchBootInfoTable,
  type CatalogImage,
} from './eltorito.js';
import { IsoError } from './errors.js';
import { encodeName, showName } from '../names.js';
import { SECTOR, sectorsFor } from './fields.js';
import { dirRecord, pathTable, pathTableSize, primaryDescriptor, terminator, type RecordInput } from './records.js';
import { hybridAreas, type HybridAreas } from './hybrid.js';
import { ce, er, nm, placeRecordEntries, pn, px, sl, sp, tf } from './rockridge.js';
import { buildTree, type IsoDirectory, type IsoFile, type IsoSymlink, type Node, type Tree } from './tree.js';

export type { IsoDirectory, IsoFile, IsoSymlink } from './tree.js';
export { IsoError, type IsoErrorCode } from './errors.js';

export interface IsoBoot {
  /** path of the boot catalog in the image, e.g. 'isolinux/boot.cat' (created by the writer) */
  catalog: string;
  /** BIOS no-emulation entry: a file of `files`, e.g. 'isolinux/isolinux.bin' */
  bios?: {
    image: string;
    /** 512-byte sectors the BIOS loads; default 4 (isolinux, GRUB's eltorito.img) */
    loadSectors?: number;
    /** patch the 56-byte boot info table at offset 8 (isolinux needs it); default true */
    bootInfoTable?: boolean;
  };
  /** EFI no-emulation entry: a FAT image among `files`, e.g. 'efiboot.img' */
  efi?: { image: string };
}

export interface IsoHybrid {
  /** isolinux's isohdpfx.bin (432 bytes); without it the MBR has no code (UEFI-only disks) */
  mbrCode?: Uint8Array;
  /** GPT besides the MBR (xorriso -isohybrid-gpt-basdat); default: when there is an EFI entry */
  gpt?: boolean;
  /** The disk's size in bytes (a multiple of 1 MiB), zero-padded past the ISO, the backup GPT at its end; default: the ISO rounded up to 1 MiB */
  diskSize?: number;
}

export interface IsoOptions {
  /** volume identifier: up to 32 of A-Z 0-9 _ (and space . - as many tools allow) */
  volumeId: string;
  /** SOURCE_DATE_EPOCH, seconds: every date in the image */
  epoch: number;
  files: IsoFile[];
  /** directories with explicit modes; parents of every path are implied */
  directories?: IsoDirectory[];
  symlinks?: IsoSymlink[];
  boot?: IsoBoot;
  /** write an MBR (+ GPT) so the image also boots as a disk (USB stick) */
  hybrid?: IsoHybrid;
  /** PVD application identifier; default 'OSBUILD' */
  applicationId?: string;
}

export interface IsoImage {
  /** total bytes the stream yields */
  size: number;
  stream: AsyncIterable<Uint8Array>;
}

const PVD_LBA = 16;
const PAD_SECTORS = 150; // 300 KiB, as xorriso -pad
const HYBRID_ALIGN = 512; // sectors: 1 MiB = one cylinder of 64 heads x 32 sectors
const MAX_BIOS_IMAGE = 32 * 1024 * 1024;
const VOLUME_ID = /^[A-Z0-9_ .-]{1,32}$/;

interface Rec extends RecordInput {
  spill: Buffer[];
  spillLen: number;
  /** continuation area, once placed: index of the CE sector and offset in it */
  ceSector: number;
  ceOffset: number;
  /** offset of the record in its directory's extent */
  at: number;
}

interface DirPlan {
  node: Node;
  recs: Rec[];
  sectors: number;
}

function suFor(n: Node, isDot: boolean, isRoot: boolean, epoch: number): Buffer[] {
  const nlink = n.kind === 'dir' ? 2 + n.children.filter((c) => c.kind === 'dir').length : (n.nlink ?? 1);
  const base = [px(n.mode, nlink, n.uid, n.gid), tf(n.mtime ?? epoch)];
  if (isDot) return isRoot ? [sp(), ...base, er()] : base;
  const out = [...base, ...nm(n.name)];
  if (n.kind === 'symlink') out.push(...sl(n.target!, n.path));
  if (n.rdev) out.push(pn(...n.rdev));
  return out;
}

function planDirectory(d: Node, epoch: number): DirPlan {
  const entries: { node: Node; id: Buffer; su: Buffer[] }[] = [
    { node: d, id: Buffer.from([0]), su: suFor(d, true, d === d.parent, epoch) },
    { node: d.parent, id: Buffer.from([1]), su: suFor(d.parent, true, false, epoch) },
    ...d.children.map((c) => ({ node: c, id: Buffer.from(c.isoId, 'latin1'), su: suFor(c, false, false, epoch) })),
  ];
  let at = 0;
  const recs = entries.map(({ node, id, su }) => {
    const base = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
    // 254: the longest even record length
    const placed = placeRecordEntries(su, 254 - base);
    const len = base + placed.inlineLen + (placed.inlineLen % 2);
    if (at % SECTOR + len > SECTOR) at += SECTOR - (at % SECTOR); // records never cross sectors
    const r: Rec = {
      node,
      id,
      isDir: node.kind === 'dir',
      inline: placed.inline,
      spill: placed.spill,
      spillLen: placed.spillLen,
      ceSector: -1,
      ceOffset: 0,
      len,
      at,
    };
    at += len;
    return r;
  });
  return { node: d, recs, sectors: sectorsFor(at) };
}

/** Directories placed from a sector on, then their Rock Ridge continuation areas. */
export interface DirectoryLayout {
  dirPlans: DirPlan[];
  ceAreas: Rec[];
  ceBase: number;
  /** the first sector after them */
  end: number;
}

/**
 * Lays out `dirs` (path-table order) from sector `lba`: each directory's records, and the
 * continuation areas of the records whose Rock Ridge entries do not fit (packed, each within one
 * sector) after the last directory. Sets each directory node's lba and size.
 */
export function layoutDirectories(dirs: Node[], epoch: number, lba: number): DirectoryLayout {
  const dirPlans = dirs.map((d) => planDirectory(d, epoch));
  const ceAreas: Rec[] = [];
  let ceSectors = 0;
  let ceOff = SECTOR;
  for (const dp of dirPlans) {
    for (const r of dp.recs) {
      if (r.spill.length === 0) continue;
      if (r.spillLen > SECTOR) {
        throw new IsoError('EISOPATH', `"${showName(r.node.path)}": its Rock Ridge entries (${r.spillLen} bytes) exceed one continuation sector`, r.node.path);
      }
      if (ceOff + r.spillLen > SECTOR) {
        ceSectors++;
        ceOff = 0;
      }
      r.ceSector = ceSectors - 1;
      r.ceOffset = ceOff;
      ceOff += r.spillLen;
      ceAreas.push(r);
    }
  }
  for (const dp of dirPlans) {
    dp.node.lba = lba;
    dp.node.size = dp.sectors * SECTOR;
    lba += dp.sectors;
  }
  return { dirPlans, ceAreas, ceBase: lba, end: lba + ceSectors };
}

/** Writes the directories and continuation areas of `l` into `buf`, whose first byte is sector `bufLba`'s. Every node's extent must be placed. */
export function renderDirectories(l: DirectoryLayout, epoch: number, buf: Buffer, bufLba: number): void {
  const at = (lba: number) => (lba - bufLba) * SECTOR;
  for (const dp of l.dirPlans) {
    for (const r of dp.recs) {
      const ceEntry = r.spill.length ? ce(l.ceBase + r.ceSector, r.ceOffset, r.spillLen) : undefined;
      dirRecord(r, epoch, ceEntry).copy(buf, at(dp.node.lba) + r.at);
    }
  }
  for (const r of l.ceAreas) {
    let off = at(l.ceBase + r.ceSector) + r.ceOffset;
    for (const e of r.spill) off += e.copy(buf, off);
  }
}

/** 4-byte signature and GUIDs derived from what determines the image, never from the host or clock. */
function derivedIds(o: IsoOptions, tree: Tree) {
  const h = createHash('sha256');
  h.update(`osbuild-iso\0${o.volumeId}\0${o.epoch}\0`);
  for (const [p, n] of [...tree.byPath].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // names as their bytes: two names that differ only in bytes that are not UTF-8 differ here too
    h.update(encodeName(`${p}\0${n.mode}\0${n.file?.size ?? ''}\0${n.target ?? ''}\0`));
  }
  const seed = h.digest();
  const guid = (i: number) => {
    const g = createHash('sha256').update(seed).update(String(i)).digest().subarray(0, 16);
    g[7] = (g[7] & 0x0f) | 0x40; // version 4 (stored little-endian: high byte of the third field)
    g[8] = (g[8] & 0x3f) | 0x80;
    return g;
  };
  return { signature: seed.subarray(0, 4), disk: guid(0), parts: [guid(1), guid(2)] };
}

function checkOptions(o: IsoOptions): void {
  if (!VOLUME_ID.test(o.volumeId)) {
    throw new IsoError('EISOFIELD', `volume id "${o.volumeId}": use 1-32 characters of A-Z 0-9 _ (space . - allowed), e.g. "OSBUILD"`);
  }
  if (!Number.isSafeInteger(o.epoch) || o.epoch < 0) throw new IsoError('EISOFIELD', `epoch ${o.epoch}: give SOURCE_DATE_EPOCH in whole seconds`);
  const b = o.boot;
  if (b && !b.bios && !b.efi) throw new IsoError('EISOBOOT', 'boot: give a bios or an efi image (or no boot at all)');
  if (o.hybrid?.mbrCode) {
    if (!b?.bios) throw new IsoError('EISOBOOT', 'hybrid.mbrCode needs boot.bios: isohdpfx.bin loads the El Torito BIOS image');
    if (o.hybrid.mbrCode.length > 512) throw new IsoError('EISOBOOT', `hybrid.mbrCode is ${o.hybrid.mbrCode.length} bytes; give isohdpfx.bin (432 bytes)`);
  }
  if (o.hybrid?.gpt && !b?.efi) throw new IsoError('EISOBOOT', 'hybrid.gpt marks the EFI image as a partition: it needs boot.efi');
}

interface Plan {
  total: number;
  meta: Buffer;
  /** files in LBA order (the boot catalog included) */
  files: Node[];
  bios?: { node: Node; patch: boolean };
  catalog?: { node: Node; bytes: Buffer };
  hybrid?: HybridAreas;
  firstFileLba: number;
}

function plan(o: IsoOptions): Plan {
  checkOptions(o);
  const catalogFile: IsoFile | undefined = o.boot
    ? { path: o.boot.catalog, size: SECTOR, mode: 0o444, content: async function* () {} }
    : undefined;
  const tree = buildTree(catalogFile ? [...o.files, catalogFile] : o.files, o.directories ?? [], o.symlinks ?? []);
  const fileNode = (path: string, what: string): Node => {
    const n = tree.byPath.get(path.replace(/^\/+/, ''));
    if (!n || n.kind !== 'file') throw new IsoError('EISOBOOT', `${what} "${showName(path)}" is not a file of the image: add it to files`, path);
    return n;
  };
  const biosNode = o.boot?.bios ? fileNode(o.boot.bios.image, 'boot.bios.image') : undefined;
  const efiNode = o.boot?.efi ? fileNode(o.boot.efi.image, 'boot.efi.image') : undefined;
  const catNode = catalogFile ? fileNode(catalogFile.path, 'boot.catalog') : undefined;
  if (biosNode && biosNode.file!.size > MAX_BIOS_IMAGE) {
    throw new IsoError('EISOBOOT', `BIOS boot image "${showName(biosNode.path)}" is ${biosNode.file!.size} bytes; isolinux.bin is ~40 KiB`, biosNode.path);
  }
  if (efiNode && efiNode.file!.size === 0) throw new IsoError('EISOBOOT', `EFI boot image "${showName(efiNode.path)}" is empty`, efiNode.path);

  const numbers = new Map<Node, number>(tree.dirs.map((d, i) => [d, i + 1]));

  // sector numbers
  let lba = PVD_LBA;
  const pvdLba = lba++;
  const brLba = o.boot ? lba++ : -1;
  lba++; // terminator
  const ptSize = pathTableSize(tree.dirs);
  const lPath = lba;
  lba += sectorsFor(ptSize);
  const mPath = lba;
  lba += sectorsFor(ptSize);
  const dirLayout = layoutDirectories(tree.dirs, o.epoch, lba);
  lba = dirLayout.end;
  const firstFileLba = lba;
  const special = [catNode, biosNode, efiNode].filter((n): n is Node => n !== undefined);
  const rest = [...tree.byPath.values()]
    .filter((n) => n.kind === 'file' && !special.includes(n))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = [...special, ...rest];
  for (const f of files) {
    f.size = f.file!.size;
    // an empty file shares the next extent's sector: readers want a location inside the volume
    f.lba = lba;
    lba += sectorsFor(f.size);
  }
  let total = lba + PAD_SECTORS;
  if (o.hybrid) total = Math.ceil(total / HYBRID_ALIGN) * HYBRID_ALIGN;
  const disk = o.hybrid?.diskSize;
  if (disk !== undefined) {
    if (!Number.isSafeInteger(disk) || disk % (HYBRID_ALIGN * SECTOR) !== 0) throw new IsoError('EISOSIZE', `hybrid.diskSize ${disk} is not a whole number of MiB`);
    if (disk < total * SECTOR) throw new IsoError('EISOSIZE', `hybrid.diskSize ${disk} is too small: the ISO needs ${total * SECTOR} bytes`);
    total = disk / SECTOR;
  }
  if (total * 4 > 0xffffffff) throw new IsoError('EISOSIZE', `the image would be ${total * SECTOR} bytes; an MBR cannot describe more than 2 TiB`);

  // the metadata region: everything before the first file
  const meta = Buffer.alloc(firstFileLba * SECTOR);
  let hybrid: HybridAreas | undefined;
  if (o.hybrid) {
    hybrid = hybridAreas({
      blocks: total * 4,
      mbrCode: o.hybrid.mbrCode,
      biosImageLba: o.hybrid.mbrCode ? biosNode!.lba : undefined,
      efi: efiNode ? { start: efiNode.lba * 4, blocks: Math.ceil(efiNode.size / 512) } : undefined,
      gpt: o.hybrid.gpt ?? efiNode !== undefined,
      ids: derivedIds(o, tree),
    });
    hybrid.head.copy(meta, 0);
  }
  primaryDescriptor(o, total, ptSize, lPath, mPath, tree.root).copy(meta, pvdLba * SECTOR);
  let catalogBytes: Buffer | undefined;
  if (o.boot) {
    bootRecordDescriptor(catNode!.lba).copy(meta, brLba * SECTOR);
    const images: CatalogImage[] = [];
    if (biosNode) images.push({ platform: PLATFORM_X86, lba: biosNode.lba, loadSectors: o.boot.bios!.loadSectors ?? 4 });
    if (efiNode) images.push({ platform: PLATFORM_EFI, lba: efiNode.lba, loadSectors: efiLoadSectors(efiNode.size) });
    catalogBytes = bootCatalog(images);
  }
  terminator().copy(meta, (o.boot ? brLba + 1 : pvdLba + 1) * SECTOR);
  pathTable(tree.dirs, numbers, false, ptSize).copy(meta, lPath * SECTOR);
  pathTable(tree.dirs, numbers, true, ptSize).copy(meta, mPath * SECTOR);
  renderDirectories(dirLayout, o.epoch, meta, 0);
  return {
    total,
    meta,
    files,
    bios: biosNode ? { node: biosNode, patch: o.boot!.bios!.bootInfoTable ?? true } : undefined,
    catalog: catNode && catalogBytes ? { node: catNode, bytes: catalogBytes } : undefined,
    hybrid,
    firstFileLba,
  };
}

const PAD = Buffer.alloc(SECTOR);

async function* fileBytes(n: Node): AsyncGenerator<Uint8Array> {
  let got = 0;
  for await (const chunk of n.file!.content()) {
    got += chunk.length;
    if (got > n.size) break;
    yield chunk;
  }
  if (got !== n.size) {
    throw new IsoError('EISOSIZE', `"${showName(n.path)}" was declared as ${n.size} bytes but its content gave ${got > n.size ? 'more' : got}`, n.path);
  }
}

async function* emit(p: Plan, pvdLba: number): AsyncGenerator<Uint8Array> {
  const batch = new Batcher();
  const out: Uint8Array[] = [];
  function* drain() {
    yield* out.splice(0);
  }
  batch.push(p.meta, out);
  yield* drain();
  let lba = p.firstFileLba;
  for (const f of p.files) {
    if (f.lba !== lba) throw new Error(`internal: ${showName(f.path)} at ${lba}, planned at ${f.lba}`);
    if (p.catalog && f === p.catalog.node) {
      batch.push(p.catalog.bytes, out);
    } else if (p.bios && f === p.bios.node) {
      const parts: Uint8Array[] = [];
      for await (const c of fileBytes(f)) parts.push(c);
      const img = Buffer.concat(parts);
      if (p.bios.patch) {
        if (img.length < 64) throw new IsoError('EISOBOOT', `BIOS boot image "${showName(f.path)}" is too short for a boot info table`, f.path);
        patchBootInfoTable(img, pvdLba, f.lba);
      }
      batch.push(img, out);
    } else {
      for await (const c of fileBytes(f)) {
        batch.push(c, out);
        yield* drain();
      }
    }
    const tail = f.size % SECTOR;
    if (tail) batch.push(PAD.subarray(0, SECTOR - tail), out);
    lba += sectorsFor(f.size);
    yield* drain();
  }
  // padding, with the backup GPT at its very end
  const padBytes = (p.total - lba) * SECTOR;
  const gptTail = p.hybrid?.tail ?? Buffer.alloc(0);
  let zeros = padBytes - gptTail.length;
  while (zeros > 0) {
    const n = Math.min(zeros, SECTOR);
    batch.push(PAD.subarray(0, n), out);
    zeros -= n;
    yield* drain();
  }
  batch.push(gptTail, out);
  batch.flush(out);
  yield* drain();
}

/**
 * Plans an ISO image and returns its size and a stream of its bytes. Errors in the options
 * (paths, boot entries) throw here; a file whose content does not match its size throws from
 * the stream. The stream reads each file's content() once, in image order.
 */
export function writeIso(opts: IsoOptions): IsoImage {
  const p = plan(opts);
  // each iteration streams the image anew (and reads the contents again)
  return { size: p.total * SECTOR, stream: { [Symbol.asyncIterator]: () => emit(p, PVD_LBA) } };
}
