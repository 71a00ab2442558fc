// The dm-verity hash tree, as the kernel's dm-verity target reads it and as `veritysetup format`
// writes it (format version 1): sha256, 4096-byte data and hash blocks. Every data block is hashed
// as sha256(salt ‖ block); 128 digests fill a hash block (zero-padded); the blocks of one level are
// hashed the same way into the level above, until one block remains, whose salted hash is the root
// hash. On disk the levels are stored top first (the single top block, then the level below, ...,
// the level of the data blocks' digests last), right after a 4096-byte block that holds the
// 512-byte verity superblock (so `veritysetup verify/open` needs only the root hash).
// Pure: the hasher takes the data in chunks and hands out each hash block with its place, so a
// caller holds one partial block per level, never a level.

import { createHash } from 'node:crypto';
import { VerityError } from './errors.js';

export const VERITY_BLOCK = 4096;
const DIGEST = 32;
/** Digests per hash block (4096 / 32: a power of two, so no per-digest padding in version 1). */
const FANOUT = VERITY_BLOCK / DIGEST;
const SUPERBLOCK_BYTES = 512;

/** What the kernel's dm-verity target and the init need to open the root. */
export interface VerityInfo {
  /** hex sha256: the root of the tree, what the command line pins. */
  rootHash: string;
  /** hex */
  salt: string;
  uuid: string;
  dataBlocks: number;
  /** Where the superblock block starts, in bytes (= dataBlocks * 4096). */
  hashOffset: number;
  /** Bytes after the data: the superblock block and the tree. */
  treeBytes: number;
  /** hex sha256 of the 512-byte verity superblock: identifies this image's tree. */
  superblockSha256: string;
}

export interface VerityGeometry {
  dataBlocks: number;
  /** Blocks of each level, bottom (the data blocks' digests) first. */
  levelBlocks: number[];
  /** Where each level starts, in blocks from the start of the tree (after the superblock block). */
  levelStart: number[];
  /** Blocks of the whole tree (without the superblock block). */
  treeBlocks: number;
}

/** The shape of the tree over `dataBlocks` blocks (cryptsetup's hash_levels, the kernel's verity_ctr). */
export function verityGeometry(dataBlocks: number): VerityGeometry {
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 1) throw new VerityError(`a dm-verity tree needs at least one data block, not ${dataBlocks}`);
  const levelBlocks: number[] = [];
  for (let n = dataBlocks; n > 1; ) levelBlocks.push((n = Math.ceil(n / FANOUT)));
  const levelStart = new Array<number>(levelBlocks.length);
  let at = 0;
  for (let l = levelBlocks.length - 1; l >= 0; l--) {
    levelStart[l] = at;
    at += levelBlocks[l];
  }
  return { dataBlocks, levelBlocks, levelStart, treeBlocks: at };
}

export interface VeritySuperblockFields {
  /** 16 bytes, as veritysetup's --uuid (big-endian, as written). */
  uuid: Buffer;
  salt: Buffer;
  dataBlocks: number;
}

/**
 * The 4096-byte block at the hash offset: cryptsetup's struct verity_sb (512 bytes: "verity\0\0",
 * version 1, hash type 1, uuid, "sha256", block sizes, data blocks, salt), zero-padded.
 */
export function veritySuperblock(f: VeritySuperblockFields): Buffer {
  if (f.uuid.length !== 16) throw new VerityError(`a verity uuid is 16 bytes, not ${f.uuid.length}`);
  if (f.salt.length > 256) throw new VerityError(`a verity salt is at most 256 bytes, not ${f.salt.length}`);
  const b = Buffer.alloc(VERITY_BLOCK);
  b.write('verity', 0, 'latin1');
  b.writeUInt32LE(1, 8); // superblock version
  b.writeUInt32LE(1, 12); // hash type: 1 = normal (0 is Chrome OS's)
  f.uuid.copy(b, 16);
  b.write('sha256', 32, 'latin1');
  b.writeUInt32LE(VERITY_BLOCK, 64);
  b.writeUInt32LE(VERITY_BLOCK, 68);
  b.writeBigUInt64LE(BigInt(f.dataBlocks), 72);
  b.writeUInt16LE(f.salt.length, 80);
  f.salt.copy(b, 88);
  return b;
}

/** The superblock's own bytes (what the init fingerprints to find the device). */
export function superblockBytes(block: Buffer): Buffer {
  return block.subarray(0, SUPERBLOCK_BYTES);
}

/** A finished hash block: its level (0: the data blocks' digests) and index within the level. */
export type HashBlockSink = (level: number, index: number, block: Buffer) => void;

/** Builds the tree over data fed in chunks of any size; each hash block goes to `sink` once complete. */
export class VerityHasher {
  private readonly levels: number;
  private readonly open: Buffer[];
  private readonly fill: number[];
  private readonly emitted: number[];
  private readonly partial = Buffer.alloc(VERITY_BLOCK);
  private partialFill = 0;
  private fed = 0;
  private root?: Buffer;

  constructor(
    private readonly geometry: VerityGeometry,
    private readonly salt: Buffer,
    private readonly sink: HashBlockSink,
  ) {
    this.levels = geometry.levelBlocks.length;
    this.open = geometry.levelBlocks.map(() => Buffer.alloc(VERITY_BLOCK));
    this.fill = geometry.levelBlocks.map(() => 0);
    this.emitted = geometry.levelBlocks.map(() => 0);
  }

  update(chunk: Uint8Array): void {
    let off = 0;
    if (this.partialFill) {
      const k = Math.min(VERITY_BLOCK - this.partialFill, chunk.length);
      this.partial.set(chunk.subarray(0, k), this.partialFill);
      this.partialFill += k;
      off = k;
      if (this.partialFill < VERITY_BLOCK) return;
      this.dataBlock(this.partial);
      this.partialFill = 0;
    }
    for (; off + VERITY_BLOCK <= chunk.length; off += VERITY_BLOCK) this.dataBlock(chunk.subarray(off, off + VERITY_BLOCK));
    if (off < chunk.length) {
      this.partial.set(chunk.subarray(off), 0);
      this.partialFill = chunk.length - off;
    }
  }

  /** Ends the data (a short last block is zero-padded) and returns the root hash. */
  digest(): Buffer {
    if (this.partialFill) {
      this.partial.fill(0, this.partialFill);
      this.dataBlock(this.partial);
      this.partialFill = 0;
    }
    if (this.fed !== this.geometry.dataBlocks) throw new VerityError(`the data had ${this.fed} blocks where ${this.geometry.dataBlocks} were planned`);
    for (let l = 0; l < this.levels; l++) if (this.fill[l]) this.close(l);
    return this.root!;
  }

  private hash(block: Uint8Array): Buffer {
    return createHash('sha256').update(this.salt).update(block).digest();
  }

  private dataBlock(block: Uint8Array): void {
    if (++this.fed > this.geometry.dataBlocks) throw new VerityError(`the data has more than the ${this.geometry.dataBlocks} blocks planned`);
    this.add(0, this.hash(block));
  }

  private add(level: number, digest: Buffer): void {
    if (level === this.levels) {
      this.root = digest;
      return;
    }
    digest.copy(this.open[level], this.fill[level] * DIGEST);
    if (++this.fill[level] === FANOUT) this.close(level);
  }

  private close(level: number): void {
    const block = this.open[level];
    this.open[level] = Buffer.alloc(VERITY_BLOCK);
    this.fill[level] = 0;
    this.sink(level, this.emitted[level]++, block);
    this.add(level + 1, this.hash(block));
  }
}
