// VMDK, the streamOptimized subformat (what VMware/vSphere and OVF imports take), from a raw disk
// stream, written natively. The subformat is made for streaming: a header whose grain directory
// offset says "at the end", the embedded descriptor, then each non-zero 64 KiB grain deflated
// (zlib) behind a grain marker, each grain table after its grains, the grain directory, a footer
// (the header with the directory's real offset) and an end-of-stream marker. All-zero grains and
// grain tables are left out. Little-endian. Layout per VMware's "Virtual Disk Format 5.0".

import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { DiskImageError, fixedBlocks, isZero, OutFile, type SizedStream } from './raw-blocks.js';

export type { SizedStream } from './raw-blocks.js';

export interface VmdkOptions {
  /** Derives the descriptor's content id (CID), so that two builds give the same bytes. */
  seed: string;
  /** The extent file name recorded in the descriptor; default "disk.vmdk". */
  name?: string;
  /** The virtual disk adapter type VMware gives the disk; default lsilogic. */
  adapterType?: 'ide' | 'buslogic' | 'lsilogic' | 'legacyESX';
  /** zlib level for the grains (1-9); default 6. */
  level?: number;
}

const SECTOR = 512;
const GRAIN_SECTORS = 128;
const GRAIN = GRAIN_SECTORS * SECTOR;
const GTES_PER_GT = 512;
/** Sectors before the first grain: header and descriptor. */
const OVERHEAD = 128;
const GD_AT_END = 0xffff_ffff_ffff_ffffn;
const FLAGS = 0x1 | 0x1_0000 | 0x2_0000; // newline test valid, compressed grains, markers
const MARKER_EOS = 0;
const MARKER_GT = 1;
const MARKER_GD = 2;
const MARKER_FOOTER = 3;

function sparseHeader(capacity: number, descriptorSectors: number, gdOffset: bigint): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(3, 4); // version 3: compressed grains
  h.writeUInt32LE(FLAGS, 8);
  h.writeBigUInt64LE(BigInt(capacity), 12);
  h.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  h.writeBigUInt64LE(1n, 28); // descriptor offset
  h.writeBigUInt64LE(BigInt(descriptorSectors), 36);
  h.writeUInt32LE(GTES_PER_GT, 44);
  // 48: redundant grain directory offset: none
  h.writeBigUInt64LE(gdOffset, 56);
  h.writeBigUInt64LE(BigInt(OVERHEAD), 64);
  // 72: unclean shutdown = 0; then the characters a text-mode transfer would have mangled
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(1, 77); // deflate
  return h;
}

function metadataMarker(sectors: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return m;
}

/** The descriptor text: the disk's identity, its one extent and VMware's disk database. */
export function vmdkDescriptor(capacity: number, opts: VmdkOptions): string {
  const cid = createHash('sha256').update('osbuild-vmdk\0').update(opts.seed).digest().readUInt32BE(0);
  // the BIOS geometry VMware and qemu record: 16 heads, 63 sectors, cylinders capped at 16383
  const cylinders = Math.min(Math.floor(capacity / (16 * 63)), 16383);
  const name = (opts.name ?? 'disk.vmdk').replace(/"/g, '');
  return [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${cid.toString(16).padStart(8, '0')}`,
    'parentCID=ffffffff',
    'createType="streamOptimized"',
    '',
    '# Extent description',
    `RW ${capacity} SPARSE "${name}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    `ddb.adapterType = "${opts.adapterType ?? 'lsilogic'}"`,
    '',
  ].join('\n');
}

function padToSector(b: Buffer): Buffer {
  const rem = b.length % SECTOR;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(SECTOR - rem)]);
}

/**
 * A streamOptimized VMDK of `raw`, as a stream (its length depends on how the data compresses,
 * so it is not known up front). The raw stream is read once.
 */
export async function* vmdkStream(raw: SizedStream, opts: VmdkOptions): AsyncGenerator<Buffer> {
  if (!Number.isSafeInteger(raw.size) || raw.size <= 0 || raw.size % SECTOR !== 0) {
    throw new DiskImageError('EDISKSIZE', `VMDK: the raw disk size ${raw.size} is not a positive multiple of 512 bytes`);
  }
  const level = opts.level ?? 6;
  const capacity = raw.size / SECTOR;
  const grains = Math.ceil(capacity / GRAIN_SECTORS);
  const tables = Math.ceil(grains / GTES_PER_GT);
  const descriptor = Buffer.from(vmdkDescriptor(capacity, opts), 'utf8');
  const descriptorSectors = Math.ceil(descriptor.length / SECTOR);
  if (1 + descriptorSectors > OVERHEAD) throw new DiskImageError('EDISKSIZE', 'VMDK: descriptor too long');

  let sector = 0; // where the next yielded byte goes, in sectors
  const head = Buffer.alloc(OVERHEAD * SECTOR);
  sparseHeader(capacity, descriptorSectors, GD_AT_END).copy(head, 0);
  descriptor.copy(head, SECTOR);
  yield head;
  sector += OVERHEAD;

  const gd = Buffer.alloc(Math.ceil((tables * 4) / SECTOR) * SECTOR);
  let gt = Buffer.alloc(GTES_PER_GT * 4);
  let gtUsed = false;
  let index = 0;
  const flushTable = function* (t: number): Generator<Buffer> {
    if (gtUsed) {
      yield metadataMarker(gt.length / SECTOR, MARKER_GT);
      gd.writeUInt32LE(sector + 1, t * 4);
      yield gt;
      sector += 1 + gt.length / SECTOR;
    }
    gt = Buffer.alloc(GTES_PER_GT * 4);
    gtUsed = false;
  };
  for await (const block of fixedBlocks(raw, GRAIN, 'VMDK')) {
    if (!isZero(block)) {
      const z = deflateSync(block, { level });
      const marker = Buffer.alloc(12);
      marker.writeBigUInt64LE(BigInt(index * GRAIN_SECTORS), 0);
      marker.writeUInt32LE(z.length, 8);
      const grain = padToSector(Buffer.concat([marker, z]));
      gt.writeUInt32LE(sector, (index % GTES_PER_GT) * 4);
      gtUsed = true;
      yield grain;
      sector += grain.length / SECTOR;
    }
    index++;
    if (index % GTES_PER_GT === 0) yield* flushTable(index / GTES_PER_GT - 1);
  }
  if (index % GTES_PER_GT !== 0) yield* flushTable(Math.floor(index / GTES_PER_GT));

  yield metadataMarker(gd.length / SECTOR, MARKER_GD);
  const gdOffset = sector + 1;
  yield gd;
  sector += 1 + gd.length / SECTOR;
  yield metadataMarker(1, MARKER_FOOTER);
  yield sparseHeader(capacity, descriptorSectors, BigInt(gdOffset));
  yield metadataMarker(0, MARKER_EOS);
}

/** Writes `raw` as a streamOptimized VMDK file at `path`. Returns the file's size. */
export async function writeVmdk(raw: SizedStream, path: string, opts: VmdkOptions): Promise<{ size: number }> {
  const out = await OutFile.create(path);
  try {
    for await (const chunk of vmdkStream(raw, opts)) await out.append(chunk);
    return { size: await out.close() };
  } catch (e) {
    await out.abort();
    throw e;
  }
}
