// GUID Partition Table structures (UEFI spec, chapter 5): the header, the partition entry
// array, GUIDs in their on-disk byte order, and name-based GUIDs so that a disk made twice from
// the same content carries the same identifiers.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const GPT_ENTRY_SIZE = 128;
export const GPT_ENTRY_COUNT = 128;
/** Sectors the entry array takes (128 entries of 128 bytes in 512-byte sectors). */
export const GPT_ENTRY_SECTORS = (GPT_ENTRY_SIZE * GPT_ENTRY_COUNT) / 512;
export const GPT_NAME_UNITS = 36;

/** Partition type GUIDs by osbuild's short names (UEFI spec; Discoverable Partitions Specification). */
export const GPT_TYPES = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  'linux-root-x86-64': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  'linux-root-arm64': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
} as const;

/** Partition attribute bits (UEFI: 0-2; Discoverable Partitions Specification: 60, 62, 63). */
export const GPT_ATTR = {
  required: 1n << 0n,
  noBlockIo: 1n << 1n,
  legacyBiosBootable: 1n << 2n,
  readOnly: 1n << 60n,
  noAuto: 1n << 63n,
} as const;

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** The 16 on-disk bytes of a GUID: the first three fields little-endian, the rest as written. */
export function guidToBytes(guid: string): Buffer {
  if (!isGuid(guid)) throw new TypeError(`not a GUID: ${JSON.stringify(guid)}`);
  const hex = Buffer.from(guid.replace(/-/g, ''), 'hex');
  const b = Buffer.from(hex);
  b.writeUInt32LE(hex.readUInt32BE(0), 0);
  b.writeUInt16LE(hex.readUInt16BE(4), 4);
  b.writeUInt16LE(hex.readUInt16BE(6), 6);
  return b;
}

export function bytesToGuid(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, 16);
  const hex = Buffer.alloc(16);
  buf.copy(hex);
  hex.writeUInt32BE(buf.readUInt32LE(0), 0);
  hex.writeUInt16BE(buf.readUInt16LE(4), 4);
  hex.writeUInt16BE(buf.readUInt16LE(6), 6);
  const h = hex.toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A name-based (version 5, SHA-1) UUID, RFC 9562 section 5.5, in uppercase. */
export function uuidV5(namespace: string, name: string | Uint8Array): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new TypeError(`not a UUID: ${JSON.stringify(namespace)}`);
  const d = createHash('sha1').update(ns).update(name).digest().subarray(0, 16);
  d[6] = (d[6] & 0x0f) | 0x50;
  d[8] = (d[8] & 0x3f) | 0x80;
  const h = d.toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface GptEntry {
  typeGuid: string;
  guid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  attributes: bigint;
  /** Up to 36 UTF-16 units. */
  name: string;
}

/** The partition entry array: `count` slots, unused ones zero. */
export function encodeGptEntries(entries: GptEntry[], count = GPT_ENTRY_COUNT): Buffer {
  if (entries.length > count) throw new RangeError(`${entries.length} partitions; the GPT holds ${count}`);
  const out = Buffer.alloc(count * GPT_ENTRY_SIZE);
  entries.forEach((e, i) => {
    const at = i * GPT_ENTRY_SIZE;
    guidToBytes(e.typeGuid).copy(out, at);
    guidToBytes(e.guid).copy(out, at + 16);
    out.writeBigUInt64LE(BigInt(e.firstLba), at + 32);
    out.writeBigUInt64LE(BigInt(e.lastLba), at + 40);
    out.writeBigUInt64LE(e.attributes, at + 48);
    if (e.name.length > GPT_NAME_UNITS) throw new RangeError(`GPT partition name ${JSON.stringify(e.name)} is longer than ${GPT_NAME_UNITS} UTF-16 units`);
    out.write(e.name, at + 56, 'utf16le');
  });
  return out;
}

export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  /** CRC32 of the entry array (entryCount * entrySize bytes). */
  entriesCrc: number;
}

/** One header sector; the header's own CRC32 covers its 92 bytes with the CRC field zero. */
export function encodeGptHeader(h: GptHeader): Buffer {
  const b = Buffer.alloc(512);
  b.write('EFI PART', 0, 'latin1');
  b.writeUInt32LE(0x00010000, 8); // revision 1.0
  b.writeUInt32LE(92, 12);
  b.writeBigUInt64LE(BigInt(h.myLba), 24);
  b.writeBigUInt64LE(BigInt(h.alternateLba), 32);
  b.writeBigUInt64LE(BigInt(h.firstUsableLba), 40);
  b.writeBigUInt64LE(BigInt(h.lastUsableLba), 48);
  guidToBytes(h.diskGuid).copy(b, 56);
  b.writeBigUInt64LE(BigInt(h.entriesLba), 72);
  b.writeUInt32LE(h.entryCount, 80);
  b.writeUInt32LE(h.entrySize, 84);
  b.writeUInt32LE(h.entriesCrc, 88);
  b.writeUInt32LE(crc32(b.subarray(0, 92)), 16);
  return b;
}

export interface GptTables {
  /** LBA 1 .. 1 + GPT_ENTRY_SECTORS: primary header, then the entry array. */
  primary: Buffer;
  /** The last GPT_ENTRY_SECTORS + 1 sectors of the disk: the entry array, then the backup header. */
  backup: Buffer;
}

/** Primary and backup GPT for a disk of `totalSectors` (the backup header in the last LBA). */
export function gptTables(totalSectors: number, diskGuid: string, entries: GptEntry[]): GptTables {
  const array = encodeGptEntries(entries);
  const entriesCrc = crc32(array);
  const last = totalSectors - 1;
  const common = {
    firstUsableLba: 2 + GPT_ENTRY_SECTORS,
    lastUsableLba: last - 1 - GPT_ENTRY_SECTORS,
    diskGuid,
    entryCount: GPT_ENTRY_COUNT,
    entrySize: GPT_ENTRY_SIZE,
    entriesCrc,
  };
  const primary = encodeGptHeader({ ...common, myLba: 1, alternateLba: last, entriesLba: 2 });
  const backup = encodeGptHeader({ ...common, myLba: last, alternateLba: 1, entriesLba: last - GPT_ENTRY_SECTORS });
  return { primary: Buffer.concat([primary, array]), backup: Buffer.concat([array, backup]) };
}
