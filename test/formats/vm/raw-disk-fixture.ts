// Raw disk fixtures for the disk-image writers (VHD, qcow2, VMDK): a sparse file with data at
// chosen offsets (the rest zeros), a GPT written by sfdisk, and a reader that streams it in
// chunks of an awkward size so that block boundaries never line up with chunk boundaries.
import { createReadStream } from 'node:fs';
import { open, truncate } from 'node:fs/promises';
import { execa } from 'execa';
import { pseudoRandom } from '../helpers.js';
import type { SizedStream } from '../../../src/formats/vm/raw-blocks.js';

export const MIB = 1024 * 1024;

/** Where the fixture puts data: [offset, length] pairs, in bytes. */
export type Extents = Array<[number, number]>;

/**
 * A raw disk of `size` bytes at `path`: a GPT (sfdisk) and pseudo-random bytes at `extents`.
 * Returns the extents actually holding data (the GPT's included), for comparing with `qemu-img map`.
 */
export async function makeRawDisk(path: string, size: number, extents: Extents): Promise<Extents> {
  await truncate(path, 0).catch(() => undefined);
  await (await open(path, 'w')).close();
  await truncate(path, size);
  await execa('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', path], {
    input: 'label: gpt\nlabel-id: 4F2C1D9A-0B7E-4C35-9D4B-2E8A6C1F0D11\nstart=2048, type=L, name="data"\n',
  });
  const fh = await open(path, 'r+');
  try {
    let seed = 1;
    for (const [off, len] of extents) await fh.write(pseudoRandom(len, seed++), 0, len, off);
  } finally {
    await fh.close();
  }
  // what sfdisk wrote: protective MBR, GPT header and the one partition entry (128 bytes), and
  // at the end the backup entries (32 sectors, the first one in use) and backup header
  return [[0, 1024 + 128], ...extents, [size - 33 * 512, 128], [size - 512, 512]];
}

/** The file as a SizedStream, read in 100,003-byte chunks (no alignment with any block size). */
export function rawStream(path: string, size: number): SizedStream {
  return { size, stream: createReadStream(path, { highWaterMark: 100_003 }) };
}

export interface MapRange {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
}

/** `qemu-img map` of an image: which guest ranges the image stores data for. */
export async function qemuMap(path: string, format: string): Promise<MapRange[]> {
  const { stdout } = await execa('qemu-img', ['map', '--output=json', '-f', format, path]);
  return JSON.parse(stdout) as MapRange[];
}

/** The guest ranges holding data according to `qemu-img map`, adjacent ones merged. */
export async function dataRanges(path: string, format: string): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  for (const r of await qemuMap(path, format)) {
    if (!r.data) continue;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === r.start) last[1] += r.length;
    else out.push([r.start, r.length]);
  }
  return out;
}

/** The `block`-aligned ranges that cover the extents (what a writer skipping zero blocks stores), merged. */
export function coveringBlocks(extents: Extents, block: number, size: number): Array<[number, number]> {
  const set = new Set<number>();
  for (const [off, len] of extents) {
    for (let b = Math.floor(off / block); b * block < off + len; b++) set.add(b);
  }
  const out: Array<[number, number]> = [];
  for (const b of [...set].sort((x, y) => x - y)) {
    const start = b * block;
    const length = Math.min(block, size - start);
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === start) last[1] += length;
    else out.push([start, length]);
  }
  return out;
}

export async function qemuInfo(path: string, format: string): Promise<{ format: string; 'virtual-size': number }> {
  const { stdout } = await execa('qemu-img', ['info', '--output=json', '-f', format, path]);
  return JSON.parse(stdout);
}

/** `qemu-img compare` exit status 0 (identical) or throws with qemu-img's message. */
export async function qemuCompare(raw: string, image: string, format: string): Promise<string> {
  const { stdout } = await execa('qemu-img', ['compare', '-f', 'raw', '-F', format, raw, image]);
  return stdout;
}
