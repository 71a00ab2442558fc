// Partitioned disk images: GPT (with a protective MBR), a plain MBR, or GPT with a hybrid MBR,
// streamed front to back: the tables, each partition's content as it arrives (zero-padded to
// the partition's size), zeros in the gaps, the backup GPT in the last sectors. Identifiers
// (disk and partition GUIDs, the MBR signature) are name-based, derived from a seed the caller
// passes (the content digest), so the same content gives the same disk.

import { createHash } from 'node:crypto';
import { GPT_ATTR, GPT_ENTRY_SECTORS, GPT_TYPES, gptTables, isGuid, uuidV5, type GptEntry } from './gpt.js';
import { encodeMbr, MBR_TYPES, protectiveMbr, type MbrPartition } from './mbr.js';
import { OsbuildError } from '../../errors.js';

export const SECTOR_SIZE = 512;
const MiB = 1024 * 1024;

export type PartitionType = keyof typeof GPT_TYPES | (string & {});
export type PartitionScheme = 'gpt' | 'mbr' | 'hybrid';

export interface DiskPartition {
  /** GPT partition name (up to 36 UTF-16 units); ignored by an MBR. */
  name?: string;
  /** A short name or a GPT type GUID. */
  type: PartitionType;
  /** Bytes; rounded up to the alignment. */
  size: number;
  /** Byte offset on the disk (a multiple of 512); default: the next aligned offset after the previous partition. */
  offset?: number;
  /** The partition's bytes; shorter content is zero-padded, longer is an error. */
  content?: () => AsyncIterable<Uint8Array>;
  attributes?: { legacyBiosBootable?: boolean; readOnly?: boolean; required?: boolean; noAuto?: boolean };
  /** The MBR "active" flag (scheme 'mbr' and mirrored 'hybrid' entries). */
  bootable?: boolean;
  /** MBR type byte; needed for a type given as a GUID in an MBR. */
  mbrType?: number;
  /** Fixed partition GUID instead of the derived one. */
  guid?: string;
}

export interface DiskOptions {
  scheme: PartitionScheme;
  partitions: DiskPartition[];
  /** Disk size in bytes, or 'auto' (default): the partitions plus the backup GPT, rounded up to a whole MiB. */
  size?: number | 'auto';
  /** Partition alignment in bytes (default 1 MiB). */
  alignment?: number;
  /** At most 440 bytes of MBR boot code (e.g. syslinux's gptmbr.bin). */
  bootCode?: Uint8Array;
  /** What GUIDs and the MBR signature derive from (e.g. the content digest). Default: the layout itself. */
  seed?: string | Uint8Array;
  /** Fixed disk GUID instead of the derived one. */
  diskGuid?: string;
  /** 'hybrid': indexes of the partitions mirrored in the MBR (at most 3; default the first three). */
  mbrPartitions?: number[];
}

export interface PlannedPartition {
  index: number;
  name: string;
  typeGuid: string;
  mbrType: number;
  guid: string;
  offset: number;
  size: number;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  bootable: boolean;
  content?: () => AsyncIterable<Uint8Array>;
}

export interface DiskLayout {
  scheme: PartitionScheme;
  size: number;
  totalSectors: number;
  diskGuid: string;
  /** MBR disk signature. */
  diskSignature: number;
  /** 'hybrid': indexes of the partitions the MBR mirrors. */
  mbrPartitions: number[];
  partitions: PlannedPartition[];
}

export interface DiskImage {
  size: number;
  layout: DiskLayout;
  /** The disk bytes front to back; each call starts a new pass. Chunks must not be modified. */
  stream: () => AsyncIterable<Uint8Array>;
}

export type DiskErrorCode = 'EDISKOPT' | 'EDISKSIZE' | 'EDISKOVERLAP' | 'EDISKCONTENT';

/** A disk layout that cannot be written, or partition content larger than its partition. */
export class DiskError extends OsbuildError {
  constructor(
    readonly code: DiskErrorCode,
    message: string,
    /** The partition concerned (0-based index), when there is one. */
    readonly partition?: number,
  ) {
    super(message);
  }
}

// Namespace of osbuild's name-based GUIDs: the UUIDv5 of "osbuild:disk" in RFC 9562's URL namespace.
const GUID_NAMESPACE = uuidV5('6BA7B811-9DAD-11D1-80B4-00C04FD430C8', 'osbuild:disk');

const MBR_OF_TYPE: Record<keyof typeof GPT_TYPES, number> = {
  esp: MBR_TYPES.esp,
  linux: MBR_TYPES.linux,
  'linux-root-x86-64': MBR_TYPES.linux,
  'linux-root-arm64': MBR_TYPES.linux,
  'bios-boot': MBR_TYPES.nonFsData,
};

function label(p: DiskPartition, i: number): string {
  return `partition ${i + 1}${p.name ? ` (${p.name})` : ''}`;
}

/** Resolves offsets, sizes, types and identifiers: everything but the bytes. Pure. */
export function planDisk(opts: DiskOptions): DiskLayout {
  const { scheme } = opts;
  if (scheme !== 'gpt' && scheme !== 'mbr' && scheme !== 'hybrid') {
    throw new DiskError('EDISKOPT', `disk scheme ${JSON.stringify(scheme)} must be 'gpt', 'mbr' or 'hybrid'`);
  }
  const align = opts.alignment ?? MiB;
  if (!Number.isSafeInteger(align) || align <= 0 || align % SECTOR_SIZE !== 0) {
    throw new DiskError('EDISKOPT', `disk alignment ${align} must be a positive multiple of ${SECTOR_SIZE}`);
  }
  const gpt = scheme !== 'mbr';
  if (scheme === 'mbr' && opts.partitions.length > 4) {
    throw new DiskError('EDISKOPT', `an MBR holds 4 partitions, not ${opts.partitions.length}: use scheme 'gpt'`);
  }
  if (opts.bootCode && opts.bootCode.length > 440) {
    throw new DiskError('EDISKOPT', `MBR boot code is ${opts.bootCode.length} bytes; at most 440 fit (use the first 440 bytes of an mbr.bin)`);
  }
  const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;
  const tableEnd = gpt ? (2 + GPT_ENTRY_SECTORS) * SECTOR_SIZE : SECTOR_SIZE;
  const seed = opts.seed ?? layoutSeed(opts);
  const derive = (what: string) => uuidV5(GUID_NAMESPACE, Buffer.concat([Buffer.from(seed), Buffer.from(`\0${what}`)]));

  let cursor = tableEnd;
  const planned: PlannedPartition[] = opts.partitions.map((p, i) => {
    const where = label(p, i);
    if (!Number.isSafeInteger(p.size) || p.size <= 0) throw new DiskError('EDISKOPT', `${where}: size ${p.size} must be a positive number of bytes`, i);
    let offset: number;
    if (p.offset !== undefined) {
      if (!Number.isSafeInteger(p.offset) || p.offset % SECTOR_SIZE !== 0) throw new DiskError('EDISKOPT', `${where}: offset ${p.offset} must be a multiple of ${SECTOR_SIZE}`, i);
      offset = p.offset;
    } else offset = roundUp(cursor, align);
    if (offset < tableEnd) throw new DiskError('EDISKOVERLAP', `${where}: offset ${offset} overlaps the partition table (ends at ${tableEnd})`, i);
    const size = roundUp(p.size, p.offset !== undefined ? SECTOR_SIZE : align);
    cursor = Math.max(cursor, offset + size);
    const { typeGuid, mbrType } = resolveType(p, i, scheme);
    if (p.guid !== undefined && !isGuid(p.guid)) throw new DiskError('EDISKOPT', `${where}: guid ${JSON.stringify(p.guid)} is not a GUID`, i);
    const name = p.name ?? '';
    if (name.length > 36) throw new DiskError('EDISKOPT', `${where}: a GPT name holds 36 UTF-16 units, not ${name.length}`, i);
    let attributes = 0n;
    if (p.attributes?.required) attributes |= GPT_ATTR.required;
    if (p.attributes?.legacyBiosBootable) attributes |= GPT_ATTR.legacyBiosBootable;
    if (p.attributes?.readOnly) attributes |= GPT_ATTR.readOnly;
    if (p.attributes?.noAuto) attributes |= GPT_ATTR.noAuto;
    return {
      index: i,
      name,
      typeGuid,
      mbrType,
      guid: (p.guid ?? derive(`partition ${i}`)).toUpperCase(),
      offset,
      size,
      firstLba: offset / SECTOR_SIZE,
      lastLba: (offset + size) / SECTOR_SIZE - 1,
      attributes,
      bootable: p.bootable ?? false,
      content: p.content,
    };
  });

  const sorted = [...planned].sort((a, b) => a.offset - b.offset);
  for (let k = 1; k < sorted.length; k++) {
    const a = sorted[k - 1];
    const b = sorted[k];
    if (b.offset < a.offset + a.size) {
      throw new DiskError('EDISKOVERLAP', `partition ${b.index + 1} (at ${b.offset}) overlaps partition ${a.index + 1} (${a.offset} .. ${a.offset + a.size})`, b.index);
    }
  }

  const trailer = gpt ? (1 + GPT_ENTRY_SECTORS) * SECTOR_SIZE : 0;
  const needed = cursor + trailer;
  let size: number;
  if (opts.size === undefined || opts.size === 'auto') size = roundUp(needed, MiB);
  else {
    size = opts.size;
    if (!Number.isSafeInteger(size) || size % SECTOR_SIZE !== 0) throw new DiskError('EDISKOPT', `disk size ${size} must be a multiple of ${SECTOR_SIZE}`);
    if (size < needed) throw new DiskError('EDISKSIZE', `disk size ${size} is too small: the partitions${gpt ? ' and the backup GPT' : ''} need ${needed} bytes`);
  }
  const totalSectors = size / SECTOR_SIZE;
  if (!gpt && totalSectors > 0x100000000) throw new DiskError('EDISKSIZE', `an MBR disk cannot exceed 2 TiB (${size} bytes): use scheme 'gpt'`);

  const mirrored = scheme === 'hybrid' ? (opts.mbrPartitions ?? planned.slice(0, 3).map((p) => p.index)) : [];
  if (scheme === 'hybrid') {
    if (mirrored.length > 3) throw new DiskError('EDISKOPT', `a hybrid MBR mirrors at most 3 partitions (the 4th entry is the GPT's), not ${mirrored.length}`);
    for (const i of mirrored) if (!planned[i]) throw new DiskError('EDISKOPT', `mbrPartitions: no partition with index ${i}`);
    if (new Set(mirrored).size !== mirrored.length) throw new DiskError('EDISKOPT', `mbrPartitions lists a partition twice: ${mirrored.join(', ')}`);
  }
  const diskSignature = createHash('sha256').update(Buffer.from(seed)).update('\0mbr signature').digest().readUInt32LE(0);
  return {
    scheme,
    size,
    totalSectors,
    diskGuid: (opts.diskGuid ?? derive('disk')).toUpperCase(),
    diskSignature: scheme === 'gpt' ? 0 : diskSignature, // a protective MBR has none (UEFI 5.2.3)
    partitions: planned,
    mbrPartitions: mirrored,
  };

  function resolveType(p: DiskPartition, i: number, s: PartitionScheme): { typeGuid: string; mbrType: number } {
    const known = (GPT_TYPES as Record<string, string>)[p.type];
    if (known) return { typeGuid: known, mbrType: p.mbrType ?? MBR_OF_TYPE[p.type as keyof typeof GPT_TYPES] };
    if (isGuid(p.type)) {
      if (p.mbrType === undefined && s !== 'gpt') {
        throw new DiskError('EDISKOPT', `${label(p, i)}: type ${p.type} has no MBR equivalent: give mbrType`, i);
      }
      return { typeGuid: p.type.toUpperCase(), mbrType: p.mbrType ?? 0 };
    }
    throw new DiskError('EDISKOPT', `${label(p, i)}: type ${JSON.stringify(p.type)} is neither ${Object.keys(GPT_TYPES).join(', ')} nor a GUID`, i);
  }
}

/** The default seed: the layout itself (types, names, sizes), never anything of the host. */
function layoutSeed(opts: DiskOptions): string {
  return JSON.stringify([opts.scheme, opts.size ?? 'auto', opts.partitions.map((p) => [p.type, p.name ?? '', p.size, p.offset ?? null])]);
}

export interface DiskTables {
  /** Bytes at offset 0: the MBR, and for GPT the primary header and entry array. */
  head: Buffer;
  /** For GPT: the backup entry array and header, at `tailOffset` (they end the disk). */
  tail?: Buffer;
  tailOffset?: number;
}

/** The partition tables of a planned disk. */
export function diskTables(layout: DiskLayout, bootCode?: Uint8Array): DiskTables {
  const { scheme, totalSectors, partitions } = layout;
  const mbrOpts = { bootCode, diskSignature: layout.diskSignature };
  const toMbr = (p: PlannedPartition): MbrPartition => ({ type: p.mbrType, firstLba: p.firstLba, sectors: p.lastLba - p.firstLba + 1, bootable: p.bootable });
  if (scheme === 'mbr') return { head: encodeMbr(partitions.map(toMbr), mbrOpts) };

  const entries: GptEntry[] = partitions.map((p) => ({
    typeGuid: p.typeGuid,
    guid: p.guid,
    firstLba: p.firstLba,
    lastLba: p.lastLba,
    attributes: p.attributes,
    name: p.name,
  }));
  const gpt = gptTables(totalSectors, layout.diskGuid, entries);
  let mbr: Buffer;
  if (scheme === 'gpt') mbr = protectiveMbr(totalSectors, mbrOpts);
  else {
    // Hybrid: the 0xEE entry first, covering the GPT up to the first mirrored partition, as
    // gdisk does when asked to put it first (GRUB and the Linux kernel expect it there).
    const mirrored = layout.mbrPartitions.map((i) => toMbr(partitions[i]));
    const firstMirrored = Math.min(...mirrored.map((m) => m.firstLba), totalSectors);
    const protective: MbrPartition = { type: MBR_TYPES.gptProtective, firstLba: 1, sectors: firstMirrored - 1 };
    mbr = encodeMbr([protective, ...mirrored.sort((a, b) => a.firstLba - b.firstLba)], mbrOpts);
  }
  return {
    head: Buffer.concat([mbr, gpt.primary]),
    tail: gpt.backup,
    tailOffset: (totalSectors - 1 - GPT_ENTRY_SECTORS) * SECTOR_SIZE,
  };
}

/** Plans the disk and returns its size, layout and a stream of its bytes. */
export function writeDisk(opts: DiskOptions): DiskImage {
  const layout = planDisk(opts);
  const tables = diskTables(layout, opts.bootCode);
  return { size: layout.size, layout, stream: () => coalesce(diskChunks(layout, tables)) };
}

async function* diskChunks(layout: DiskLayout, tables: DiskTables): AsyncGenerator<Uint8Array> {
  yield tables.head;
  let pos = tables.head.length;
  for (const p of [...layout.partitions].sort((a, b) => a.offset - b.offset)) {
    yield* zeroChunks(p.offset - pos);
    let n = 0;
    if (p.content) {
      for await (const chunk of p.content()) {
        n += chunk.length;
        if (n > p.size) {
          throw new DiskError('EDISKCONTENT', `partition ${p.index + 1}${p.name ? ` (${p.name})` : ''}: content is larger than the partition's ${p.size} bytes: give a larger size`, p.index);
        }
        yield chunk;
      }
    }
    yield* zeroChunks(p.size - n);
    pos = p.offset + p.size;
  }
  if (tables.tail) {
    yield* zeroChunks(tables.tailOffset! - pos);
    yield tables.tail;
    pos = tables.tailOffset! + tables.tail.length;
  }
  yield* zeroChunks(layout.size - pos);
}

// ---------------------------------------------------------------- stream helpers (FAT uses them too)

const ZERO = Buffer.alloc(MiB);

/** Whether a chunk is one of zeroChunks' views: a writer may leave a hole (seek) instead of writing it. */
export function isZeroChunk(c: Uint8Array): boolean {
  return c.buffer === ZERO.buffer;
}

/** `n` zero bytes as views of one shared buffer (never modify them). */
export function* zeroChunks(n: number): Generator<Uint8Array> {
  while (n > 0) {
    const k = Math.min(n, ZERO.length);
    yield ZERO.subarray(0, k);
    n -= k;
  }
}

const TARGET = MiB;
const PASS = 256 * 1024;

/** Merges small pieces into ~1 MiB chunks; large pieces pass through without a copy. */
export async function* coalesce(src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let len = 0;
  for await (const piece of src) {
    if (piece.length === 0) continue;
    if (piece.length >= PASS) {
      if (len) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, len);
      parts = [];
      len = 0;
      yield piece;
      continue;
    }
    // Held until the batch fills: sources must not reuse a chunk's memory once yielded (as with Node streams).
    parts.push(piece);
    len += piece.length;
    if (len >= TARGET) {
      yield Buffer.concat(parts, len);
      parts = [];
      len = 0;
    }
  }
  if (len) yield parts.length === 1 ? parts[0] : Buffer.concat(parts, len);
}
