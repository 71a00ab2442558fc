// Helpers of the FAT and disk tests: writing an image stream to a file, content sources,
// and reading a volume back with mtools.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import type { FatFile } from '../../../src/formats/fat/write.js';

/** mtools and file print names in the locale: make it UTF-8 so non-ASCII names survive. */
export const TOOL_ENV = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

export async function toFile(stream: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  await pipeline(Readable.from(stream, { objectMode: false }), createWriteStream(path));
}

/** A file whose content is `data`, yielded in pieces of `chunk` bytes. */
export function fileOf(path: string, data: Buffer, chunk = 7_000): FatFile {
  return {
    path,
    size: data.length,
    content: async function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    },
  };
}

/** `blocks` MiB of content, each block a distinct variation of `base`; never all in memory at once. */
export function bigContent(base: Buffer, blocks: number): { size: number; content: () => AsyncIterable<Uint8Array>; sha256: () => string } {
  const block = (i: number) => {
    const b = Buffer.from(base);
    b.writeUInt32LE(i, 0);
    b.writeUInt32LE(i * 2654435761 >>> 0, b.length - 4);
    return b;
  };
  return {
    size: blocks * base.length,
    content: async function* () {
      for (let i = 0; i < blocks; i++) yield block(i);
    },
    sha256: () => {
      const h = createHash('sha256');
      for (let i = 0; i < blocks; i++) h.update(block(i));
      return h.digest('hex');
    },
  };
}

/** Every file of a host directory tree, by relative path. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(dir, p), await readFile(p));
    }
  };
  await walk(dir);
  return out;
}

/** Copies the whole volume out with mtools (`image` may carry an @@offset). */
export async function mcopyAll(image: string, dest: string): Promise<Map<string, Buffer>> {
  await execa('mcopy', ['-s', '-i', image, '::/', dest], { env: TOOL_ENV });
  return readTree(dest);
}

export async function mdir(image: string, path = '::/'): Promise<string> {
  return (await execa('mdir', ['-/', '-i', image, path], { env: TOOL_ENV })).stdout;
}

export { sha256File } from '../../../src/oci/digest.js';
