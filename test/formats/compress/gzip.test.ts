// gzipParallel: gzip -t accepts it, gunzip and pigz -d give back the input, and the bytes do
// not depend on concurrency or on how the input was chunked. gunzip reads multi-member files.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compressorFor, gunzip, gzipParallel } from '../../../src/formats/compress/gzip.js';
import { collect, pseudoRandom, run, tempDir } from '../helpers.js';

let work: string;
let input: Buffer;

async function* chunks(b: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

beforeAll(() => {
  work = tempDir();
  // ~6 MB mixing compressible text, real binaries and incompressible bytes.
  input = Buffer.concat([
    readFileSync(process.execPath).subarray(0, 3_000_000),
    Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(40_000)),
    pseudoRandom(1_000_000, 11),
    Buffer.alloc(300_000),
  ]);
});

/** gzip -t, then gunzip -c and pigz -dc must both give `want` back. */
async function checkWithTools(gz: Buffer, want: Buffer, name: string): Promise<void> {
  const p = join(work, `${name}.gz`);
  writeFileSync(p, gz);
  await run('gzip', ['-t', p]);
  const a = (await run('gunzip', ['-c', p])).stdout as Uint8Array;
  expect(Buffer.from(a).equals(want), `${name}: gunzip`).toBe(true);
  const b = (await run('pigz', ['-dc', p])).stdout as Uint8Array;
  expect(Buffer.from(b).equals(want), `${name}: pigz -d`).toBe(true);
}

describe('gzipParallel', () => {
  it('multi-MB input: valid gzip that round-trips through gunzip and pigz', async () => {
    const gz = await collect(gzipParallel(chunks(input, 65536)));
    expect(gz.length).toBeLessThan(input.length);
    await checkWithTools(gz, input, 'multi');
  });

  it('long zero runs (disk images) compress to the same valid stream, zero blocks shared or not', async () => {
    // zeros after data, zeros at a block boundary, zeros then data again, and a zero tail
    const disk = Buffer.concat([pseudoRandom(200_000, 3), Buffer.alloc(3 * 1024 * 1024 + 5), pseudoRandom(70_000, 4), Buffer.alloc(1024 * 1024)]);
    const gz = await collect(gzipParallel(chunks(disk, 100_003)));
    await checkWithTools(gz, disk, 'zeros');
    expect(gz.length).toBeLessThan(290_000);
    // whatever the chunking or concurrency, the bytes are the same
    expect((await collect(gzipParallel(chunks(disk, 4096), { concurrency: 1 }))).equals(gz)).toBe(true);
  });

  it('is byte-identical across runs, concurrency and input chunking', async () => {
    const ref = await collect(gzipParallel(chunks(input, 65536)));
    const variants = await Promise.all([
      collect(gzipParallel(chunks(input, 65536))),
      collect(gzipParallel(chunks(input, 1000), { concurrency: 1 })),
      collect(gzipParallel(chunks(input, 1_000_003), { concurrency: 8 })),
    ]);
    for (const v of variants) expect(v.equals(ref)).toBe(true);
  });

  it('header is fixed: no mtime, no name, Unix OS byte', async () => {
    const gz = await collect(gzipParallel(chunks(Buffer.from('x'), 1)));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  });

  it('empty input gives a valid gzip of nothing', async () => {
    const gz = await collect(gzipParallel(chunks(Buffer.alloc(0), 1)));
    await checkWithTools(gz, Buffer.alloc(0), 'empty');
  });

  it('input of exactly a whole number of blocks, small blocks, levels 1 and 9', async () => {
    const exact = input.subarray(0, 4 * 128 * 1024);
    await checkWithTools(await collect(gzipParallel(chunks(exact, 50_000))), exact, 'exact');
    const part = input.subarray(0, 2_000_000);
    await checkWithTools(await collect(gzipParallel(chunks(part, 50_000), { blockSize: 32 * 1024 })), part, 'small');
    for (const level of [1, 9]) {
      await checkWithTools(await collect(gzipParallel(chunks(part, 50_000), { level })), part, `level${level}`);
    }
  });

  it('uses the preceding 32 KiB as dictionary: content repeated across a block boundary compresses', async () => {
    // Each 128 KiB block is random, except that its first 16 KiB repeat the previous block's
    // last 16 KiB: only a block that sees the previous one's tail can shrink.
    const K = 1024;
    const parts: Buffer[] = [];
    let edge = pseudoRandom(16 * K, 100);
    for (let i = 0; i < 12; i++) {
      const next = pseudoRandom(16 * K, 200 + i);
      parts.push(edge, pseudoRandom(96 * K, 300 + i), next);
      edge = next;
    }
    const data = Buffer.concat(parts);
    const gz = await collect(gzipParallel(chunks(data, 65536)));
    expect(gz.length).toBeLessThan(data.length * 0.9);
    await checkWithTools(gz, data, 'dict');
  });

  it('rejects bad options', async () => {
    await expect(collect(gzipParallel(chunks(input, 10), { level: 12 }))).rejects.toThrow(RangeError);
    await expect(collect(gzipParallel(chunks(input, 10), { blockSize: 1000 }))).rejects.toThrow(RangeError);
  });
});

describe('gunzip', () => {
  it('reads our output and multi-member files written by gzip', async () => {
    const gz = await collect(gzipParallel(chunks(input, 65536)));
    expect((await collect(gunzip(chunks(gz, 4096)))).equals(input)).toBe(true);
    const a = (await run('gzip', ['-c'], { input: Buffer.from('first member\n') })).stdout as Uint8Array;
    const b = (await run('gzip', ['-c'], { input: Buffer.from('second member\n') })).stdout as Uint8Array;
    const multi = Buffer.concat([a, b]);
    expect((await collect(gunzip(chunks(multi, 7)))).toString()).toBe('first member\nsecond member\n');
  });

  it('throws on corrupt and truncated input', async () => {
    const gz = await collect(gzipParallel(chunks(input.subarray(0, 500_000), 65536)));
    await expect(collect(gunzip(chunks(gz.subarray(0, gz.length - 100), 4096)))).rejects.toThrow();
    const bad = Buffer.from(gz);
    bad[5000] ^= 0xff;
    await expect(collect(gunzip(chunks(bad, 4096)))).rejects.toThrow();
  });

  it('stops cleanly when the consumer stops early', async () => {
    const gz = await collect(gzipParallel(chunks(input, 65536)));
    for await (const c of gunzip(chunks(gz, 4096))) {
      expect(c.length).toBeGreaterThan(0);
      break;
    }
  });
});

describe('compressorFor', () => {
  it('gzip compresses, none passes bytes through', async () => {
    const data = input.subarray(0, 300_000);
    const gz = await collect(compressorFor('gzip')(chunks(data, 10_000)));
    await checkWithTools(gz, data, 'compressor');
    expect((await collect(compressorFor('none')(chunks(data, 10_000)))).equals(data)).toBe(true);
  });
});
