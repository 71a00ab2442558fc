// The isohybrid system area: an MBR (isolinux's isohdpfx.bin code, or none), a partition table
// and a GPT, so that the same ISO written to a USB stick boots by BIOS and UEFI. The layout is
// what xorriso -isohybrid-mbr ... -isohybrid-gpt-basdat writes:
//   MBR: bytes 0-431 boot code; 432-439 LBA (512-byte blocks) of isolinux.bin as a 64-bit value
//   (isohdpfx loads it from there); 440 disk signature; partition 1 = the whole image, active,
//   type 0x17 (0x00 when an EFI partition follows); partition 2 = the El Torito EFI image, 0xEF.
//   GPT: "ISOHybrid" (whole ISO) and "ISOHybrid1" (EFI image), both Basic Data, read-only and
//   required; the backup GPT in the last 33 blocks of the padded image.
// The MBR is not protective (no 0xEE), so firmware and Linux use it and the GPT serves tools
// that want one; UEFI USB boot finds the 0xEF partition.

import { crc32 } from 'node:zlib';

const BLOCK = 512;
export const GPT_ENTRIES = 128;
const ENTRY_SIZE = 128;
/** Blocks taken by the GPT entry array. */
export const GPT_ARRAY_BLOCKS = (GPT_ENTRIES * ENTRY_SIZE) / BLOCK;

const BASIC_DATA = guidBytes('EBD0A0A2-B9E5-4433-87C0-68B6B72699C7');
const READ_ONLY_REQUIRED = (1n << 60n) | 1n;

/** A GUID string in GPT's mixed-endian byte order. */
export function guidBytes(s: string): Buffer {
  const h = s.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

export interface HybridLayout {
  /** total image size in 512-byte blocks */
  blocks: number;
  /** isohdpfx.bin (or another 432-byte MBR code); undefined = zero code (no BIOS disk boot) */
  mbrCode?: Uint8Array;
  /** LBA in 2048-byte sectors of the El Torito BIOS image, for the isohybrid pointer */
  biosImageLba?: number;
  /** the El Torito EFI image, in 512-byte blocks */
  efi?: { start: number; blocks: number };
  gpt: boolean;
  /** 4 bytes of MBR disk signature, then 16-byte GUIDs: disk, partition 1, partition 2 */
  ids: { signature: Buffer; disk: Buffer; parts: Buffer[] };
}

const HEADS = 64;
const SECTORS = 32;

/** CHS of an LBA with xorriso's 64/32 geometry, 0xFE 0xFF 0xFF beyond cylinder 1023. */
function chs(lba: number): Buffer {
  const cyl = Math.floor(lba / (HEADS * SECTORS));
  if (cyl > 1023) return Buffer.from([0xfe, 0xff, 0xff]);
  const head = Math.floor(lba / SECTORS) % HEADS;
  const sector = (lba % SECTORS) + 1;
  return Buffer.from([head, sector | ((cyl >> 2) & 0xc0), cyl & 0xff]);
}

function mbrEntry(b: Buffer, off: number, active: boolean, type: number, start: number, count: number): void {
  b[off] = active ? 0x80 : 0;
  chs(start).copy(b, off + 1);
  b[off + 4] = type;
  chs(start + count - 1).copy(b, off + 5);
  b.writeUInt32LE(start, off + 8);
  b.writeUInt32LE(count, off + 12);
}

function mbr(l: HybridLayout): Buffer {
  const b = Buffer.alloc(BLOCK);
  if (l.mbrCode) Buffer.from(l.mbrCode.buffer, l.mbrCode.byteOffset, Math.min(432, l.mbrCode.length)).copy(b, 0);
  if (l.biosImageLba !== undefined) b.writeBigUInt64LE(BigInt(l.biosImageLba) * 4n, 432);
  l.ids.signature.copy(b, 440);
  const whole = Math.min(l.blocks, 0xffffffff);
  mbrEntry(b, 446, true, l.efi ? 0x00 : 0x17, 0, whole);
  if (l.efi) mbrEntry(b, 462, false, 0xef, l.efi.start, l.efi.blocks);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

function gptArray(l: HybridLayout, lastUsable: number): Buffer {
  const a = Buffer.alloc(GPT_ENTRIES * ENTRY_SIZE);
  // the ISO partition ends on a 2048-byte boundary, as xorriso's does (tools warn otherwise)
  const isoEnd = Math.floor((lastUsable + 1) / 4) * 4 - 1;
  const parts: { start: number; end: number; name: string }[] = [{ start: 0, end: isoEnd, name: 'ISOHybrid' }];
  if (l.efi) parts.push({ start: l.efi.start, end: l.efi.start + l.efi.blocks - 1, name: 'ISOHybrid1' });
  parts.forEach((p, i) => {
    const o = i * ENTRY_SIZE;
    BASIC_DATA.copy(a, o);
    l.ids.parts[i].copy(a, o + 16);
    a.writeBigUInt64LE(BigInt(p.start), o + 32);
    a.writeBigUInt64LE(BigInt(p.end), o + 40);
    a.writeBigUInt64LE(READ_ONLY_REQUIRED, o + 48);
    a.write(p.name, o + 56, 'utf16le');
  });
  return a;
}

function gptHeader(l: HybridLayout, mine: number, other: number, arrayLba: number, arrayCrc: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write('EFI PART', 0, 'latin1');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(BigInt(mine), 24);
  h.writeBigUInt64LE(BigInt(other), 32);
  h.writeBigUInt64LE(BigInt(2 + GPT_ARRAY_BLOCKS), 40);
  h.writeBigUInt64LE(BigInt(l.blocks - 2 - GPT_ARRAY_BLOCKS), 48);
  l.ids.disk.copy(h, 56);
  h.writeBigUInt64LE(BigInt(arrayLba), 72);
  h.writeUInt32LE(GPT_ENTRIES, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(arrayCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
  return h;
}

export interface HybridAreas {
  /** bytes for the start of the image (MBR, primary GPT), shorter than the 32 KiB system area */
  head: Buffer;
  /** bytes that end the image (backup GPT array + header), empty without GPT */
  tail: Buffer;
}

export function hybridAreas(l: HybridLayout): HybridAreas {
  const m = mbr(l);
  if (!l.gpt) return { head: m, tail: Buffer.alloc(0) };
  const last = l.blocks - 1;
  const array = gptArray(l, last - 1 - GPT_ARRAY_BLOCKS);
  const arrayCrc = crc32(array);
  const primary = gptHeader(l, 1, last, 2, arrayCrc);
  const backup = gptHeader(l, last, 1, last - GPT_ARRAY_BLOCKS, arrayCrc);
  return { head: Buffer.concat([m, primary, array]), tail: Buffer.concat([array, backup]) };
}
