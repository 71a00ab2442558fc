// VHD (Microsoft Virtual Hard Disk, spec v1.0), fixed and dynamic, from a raw disk stream.
// Fixed: the raw bytes and a 512-byte footer, which is what Azure takes (its virtual size must be a
// whole number of MiB). Dynamic: a footer copy, the dynamic header, the block allocation table
// (BAT), the 2 MiB blocks holding data (each behind a sector bitmap), and the footer; all-zero
// blocks are left out. The BAT sits before the blocks, so it is patched in once they are written.
// All integers are big-endian.

import { createHash } from 'node:crypto';
import {
  DiskImageError,
  fixedBlocks,
  isZero,
  OutFile,
  type SizedStream,
} from './raw-blocks.js';

export type { SizedStream } from './raw-blocks.js';

export interface VhdOptions {
  type: 'fixed' | 'dynamic';
  /** Derives the footer's unique id, so that two builds of the same image give the same bytes. */
  seed: string;
  /** Seconds since 1970 for the footer's timestamp (the build's SOURCE_DATE_EPOCH); default 0. */
  sourceDateEpoch?: number;
}

const SECTOR = 512;
const MIB = 1024 * 1024;
export const VHD_BLOCK_SIZE = 2 * MIB;
/** VHD timestamps count seconds from 2000-01-01T00:00:00Z. */
const VHD_EPOCH = 946_684_800;
const FOOTER_SIZE = 512;
const DYN_HEADER_SIZE = 1024;
const UNUSED = 0xffff_ffff;

/** The CHS geometry the VHD spec's appendix computes from the size (what Hyper-V and qemu expect). */
export function vhdGeometry(size: number): { cylinders: number; heads: number; sectors: number } {
  let total = Math.floor(size / SECTOR);
  if (total > 65535 * 16 * 255) total = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectors: spt };
}

/** One's complement of the byte sum, the checksum of the footer and the dynamic header. */
function checksum(b: Buffer): number {
  let sum = 0;
  for (const x of b) sum += x;
  return ~sum >>> 0;
}

function uniqueId(seed: string): Buffer {
  const id = createHash('sha256').update('osbuild-vhd\0').update(seed).digest().subarray(0, 16);
  id[6] = (id[6] & 0x0f) | 0x50; // a name-based (v5-style) UUID
  id[8] = (id[8] & 0x3f) | 0x80;
  return id;
}

/** The 512-byte footer (also the copy at the start of a dynamic VHD). */
export function vhdFooter(size: number, opts: VhdOptions): Buffer {
  const f = Buffer.alloc(FOOTER_SIZE);
  f.write('conectix', 0, 'latin1');
  f.writeUInt32BE(2, 8); // features: "reserved" bit, always set
  f.writeUInt32BE(0x0001_0000, 12); // format version 1.0
  // data offset: the dynamic header, or none for a fixed disk
  f.writeBigUInt64BE(opts.type === 'fixed' ? 0xffff_ffff_ffff_ffffn : BigInt(FOOTER_SIZE), 16);
  f.writeUInt32BE(Math.max(0, (opts.sourceDateEpoch ?? 0) - VHD_EPOCH) >>> 0, 24);
  // Creator application "win " (as Windows/Hyper-V writes): readers such as qemu take the exact
  // current size only from creators known to mean it ("win ", "d2v ", "qem2", "CTXS"); for any
  // other they derive the size from the CHS geometry, which rounds it down (12 MiB -> 11.98 MiB).
  f.write('win ', 28, 'latin1');
  f.writeUInt32BE(0x0001_0000, 32);
  f.write('Wi2k', 36, 'latin1');
  f.writeBigUInt64BE(BigInt(size), 40); // original size
  f.writeBigUInt64BE(BigInt(size), 48); // current size
  const g = vhdGeometry(size);
  f.writeUInt16BE(g.cylinders, 56);
  f.writeUInt8(g.heads, 58);
  f.writeUInt8(g.sectors, 59);
  f.writeUInt32BE(opts.type === 'fixed' ? 2 : 3, 60);
  uniqueId(opts.seed).copy(f, 68);
  f.writeUInt32BE(checksum(f), 64);
  return f;
}

function dynamicHeader(batOffset: number, entries: number): Buffer {
  const h = Buffer.alloc(DYN_HEADER_SIZE);
  h.write('cxsparse', 0, 'latin1');
  h.writeBigUInt64BE(0xffff_ffff_ffff_ffffn, 8); // data offset: unused
  h.writeBigUInt64BE(BigInt(batOffset), 16);
  h.writeUInt32BE(0x0001_0000, 24);
  h.writeUInt32BE(entries, 28);
  h.writeUInt32BE(VHD_BLOCK_SIZE, 32);
  h.writeUInt32BE(checksum(h), 36);
  return h;
}

function checkSize(size: number, type: VhdOptions['type']): void {
  if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR !== 0) {
    throw new DiskImageError('EDISKSIZE', `VHD: the raw disk size ${size} is not a positive multiple of 512 bytes`);
  }
  if (type === 'fixed' && size % MIB !== 0) {
    throw new DiskImageError(
      'EDISKSIZE',
      `VHD (fixed): the raw disk size ${size} is not a whole number of MiB, which Azure requires; ` +
        `make the disk ${Math.ceil(size / MIB)} MiB`,
    );
  }
  if (size > 2040 * 1024 * MIB) {
    throw new DiskImageError('EDISKSIZE', `VHD: the raw disk size ${size} exceeds the format's 2040 GiB limit`);
  }
}

/** A fixed VHD as a stream: the raw bytes, then the footer. Nothing is buffered. */
export function vhdFixedStream(raw: SizedStream, opts: Omit<VhdOptions, 'type'>): SizedStream {
  checkSize(raw.size, 'fixed');
  const footer = vhdFooter(raw.size, { ...opts, type: 'fixed' });
  async function* gen(): AsyncGenerator<Uint8Array> {
    let total = 0;
    for await (const chunk of raw.stream) {
      total += chunk.length;
      if (total > raw.size) {
        throw new DiskImageError('EDISKSTREAM', `VHD: the raw stream is longer than its declared size ${raw.size}`);
      }
      yield chunk;
    }
    if (total !== raw.size) {
      throw new DiskImageError('EDISKSTREAM', `VHD: the raw stream ended after ${total} of ${raw.size} declared bytes`);
    }
    yield footer;
  }
  return { size: raw.size + FOOTER_SIZE, stream: gen() };
}

/**
 * Writes `raw` as a VHD file at `path`, reading the stream once. Returns the file's size.
 * Fixed: raw + footer. Dynamic: only blocks holding a non-zero byte take space.
 */
export async function writeVhd(raw: SizedStream, path: string, opts: VhdOptions): Promise<{ size: number }> {
  checkSize(raw.size, opts.type);
  const out = await OutFile.create(path);
  try {
    if (opts.type === 'fixed') {
      for await (const chunk of vhdFixedStream(raw, opts).stream) await out.append(chunk);
      return { size: await out.close() };
    }
    const footer = vhdFooter(raw.size, opts);
    const entries = Math.ceil(raw.size / VHD_BLOCK_SIZE);
    const batOffset = FOOTER_SIZE + DYN_HEADER_SIZE;
    const batBytes = Math.ceil((entries * 4) / SECTOR) * SECTOR;
    const bat = Buffer.alloc(batBytes, 0xff);
    await out.append(footer);
    await out.append(dynamicHeader(batOffset, entries));
    await out.append(bat); // placeholder, patched below
    // A block's sector bitmap (one bit per 512-byte sector, padded to a sector): all set, since
    // every sector of a stored block is taken from the block, zero or not.
    const bitmap = Buffer.alloc(Math.ceil(VHD_BLOCK_SIZE / SECTOR / 8 / SECTOR) * SECTOR, 0xff);
    let index = 0;
    for await (const block of fixedBlocks(raw, VHD_BLOCK_SIZE, 'VHD')) {
      if (!isZero(block)) {
        bat.writeUInt32BE(out.offset / SECTOR, index * 4);
        await out.append(bitmap);
        await out.append(block);
      }
      index++;
    }
    for (let i = entries; i < batBytes / 4; i++) bat.writeUInt32BE(UNUSED, i * 4);
    await out.writeAt(bat, batOffset);
    await out.append(footer);
    return { size: await out.close() };
  } catch (e) {
    await out.abort();
    throw e;
  }
}
