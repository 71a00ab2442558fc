// zstdCompress: what `zstd -d` reads back, the same bytes as a single-threaded zstd run at that
// level (so the output does not depend on the machine's cores), and clear errors.

import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { zstdCompress, zstdVersion } from '../../../src/formats/compress/zstd.js';

async function collect(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of s) parts.push(c);
  return Buffer.concat(parts);
}

async function* chunks(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

// text-like data of a few MB: several of zstd's jobs, so the threads take part
const data = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `line ${i}: value ${(i * 7919) % 10007}\n`).join(''));

describe('zstdCompress', () => {
  it('round-trips through zstd -d and equals zstd -T1 at the same level', async () => {
    const z = await collect(zstdCompress(chunks(data, 65_536)));
    expect(z.readUInt32LE(0)).toBe(0xfd2fb528);
    const back = await execa('zstd', ['-dc'], { input: z, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.from(back.stdout).equals(data)).toBe(true);
    const one = await execa('zstd', ['-q', '-c', '-3', '-T1'], { input: data, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.from(one.stdout).equals(z)).toBe(true);
    expect((await collect(zstdCompress(chunks(data, 1000)))).equals(z)).toBe(true);
    expect(await zstdVersion()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('passes on the error of its input, and refuses a bad level', async () => {
    async function* failing() {
      yield data.subarray(0, 1000);
      throw new Error('corrupt blob');
    }
    await expect(collect(zstdCompress(failing()))).rejects.toThrow('corrupt blob');
    await expect(collect(zstdCompress(chunks(data, 1000), { level: 40 }))).rejects.toThrow(/level 40/);
  });
});
