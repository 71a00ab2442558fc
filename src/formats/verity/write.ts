// A dm-verity hash tree appended to an image file: the data stays as it is (zero-padded to a
// whole 4096-byte block), then the verity superblock block, then the tree, as
// `veritysetup format IMG IMG --hash-offset=<data bytes>` lays it out. One read pass over the
// data; memory is one read buffer and a few hash blocks per level, whatever the size.
// Appended rather than a second file or partition: every medium that carries the root (a drive of
// its own, a GPT partition, a file on an ISO) then carries its tree with it, and the init finds
// both as one device.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { uuidV5 } from '../disk/gpt.js';
import { showName } from '../names.js';
import { superblockBytes, VERITY_BLOCK, VerityHasher, verityGeometry, veritySuperblock, type VerityInfo } from './tree.js';
import { VerityError } from './errors.js';

export { VERITY_BLOCK, type VerityInfo } from './tree.js';

const UUID_NAMESPACE = '5e5a1c3e-0b7d-4c0e-9a55-6f8d2b1e7a10'; // osbuild's, for verity uuids

/** The uuid recorded in the superblock: derived from the salt, so never random. */
export function verityUuid(salt: Buffer): string {
  return uuidV5(UUID_NAMESPACE, salt).toLowerCase();
}

const READ_CHUNK = 1 << 20;
/** Hash blocks gathered per level before one positioned write. */
const BATCH = 32;

/**
 * Appends the superblock and hash tree of the file at `path` (its bytes so far are the data) and
 * returns the root hash and the parameters. The salt must come from the caller's inputs.
 */
export async function appendVerityTree(path: string, opts: { salt: Buffer }): Promise<VerityInfo> {
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    if (size === 0) throw new VerityError(`${showName(path)} is empty: there is nothing for a dm-verity tree to cover`);
    const dataBlocks = Math.ceil(size / VERITY_BLOCK);
    const hashOffset = dataBlocks * VERITY_BLOCK;
    const geo = verityGeometry(dataBlocks);
    const uuid = verityUuid(opts.salt);
    const sb = veritySuperblock({ uuid: Buffer.from(uuid.replace(/-/g, ''), 'hex'), salt: opts.salt, dataBlocks });
    // the data's last block, zero-padded in the file as the hasher pads it
    if (size !== hashOffset) await fh.truncate(hashOffset);
    await fh.write(sb, 0, VERITY_BLOCK, hashOffset);

    const batches = geo.levelBlocks.map(() => ({ first: 0, blocks: [] as Buffer[] }));
    const flush = async (level: number) => {
      const b = batches[level];
      if (!b.blocks.length) return;
      const at = hashOffset + VERITY_BLOCK * (1 + geo.levelStart[level] + b.first);
      await fh.writev(b.blocks, at);
      b.first += b.blocks.length;
      b.blocks = [];
    };
    const hasher = new VerityHasher(geo, opts.salt, (level, _index, block) => batches[level].blocks.push(block));
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_CHUNK, size - pos), pos);
      if (bytesRead === 0) throw new VerityError(`${showName(path)} ended at ${pos} bytes while it was being hashed (changed under us?)`);
      hasher.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
      for (let l = 0; l < batches.length; l++) if (batches[l].blocks.length >= BATCH) await flush(l);
    }
    const root = hasher.digest();
    for (let l = 0; l < batches.length; l++) await flush(l);
    return {
      rootHash: root.toString('hex'),
      salt: opts.salt.toString('hex'),
      uuid,
      dataBlocks,
      hashOffset,
      treeBytes: VERITY_BLOCK * (1 + geo.treeBlocks),
      superblockSha256: createHash('sha256').update(superblockBytes(sb)).digest('hex'),
    };
  } finally {
    await fh.close();
  }
}
