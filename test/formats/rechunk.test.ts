// rechunk: the blocks hold the input's bytes in order whatever its chunking; only the last may be
// short (or zero-padded); a reused buffer is the same object every time.

import { describe, expect, it } from 'vitest';
import { rechunk } from '../../src/formats/rechunk.js';
import { pseudoRandom } from './helpers.js';

async function* pieces(b: Buffer, sizes: number[]): AsyncIterable<Uint8Array> {
  let off = 0;
  for (let i = 0; off < b.length; i++) {
    const n = sizes[i % sizes.length];
    yield b.subarray(off, off + n);
    off += n;
  }
}

async function blocksOf(source: AsyncIterable<Uint8Array>, size: number, opts = {}): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of rechunk(source, size, opts)) out.push(Buffer.from(b));
  return out;
}

describe('rechunk', () => {
  const input = pseudoRandom(10_000, 3);

  it.each([[[1]], [[7, 0, 4096]], [[1000]], [[10_000]], [[3, 20_000]]])('cuts chunks %j into whole blocks and a short last one', async (sizes) => {
    const blocks = await blocksOf(pieces(input, sizes), 1024);
    expect(blocks.map((b) => b.length)).toEqual([...Array(9).fill(1024), 10_000 - 9 * 1024]);
    expect(Buffer.concat(blocks).equals(input)).toBe(true);
  });

  it('zero-pads the last block with pad, and yields nothing for an empty stream', async () => {
    const blocks = await blocksOf(pieces(input, [777]), 4096, { pad: true });
    expect(blocks.map((b) => b.length)).toEqual([4096, 4096, 4096]);
    expect(Buffer.concat(blocks).equals(Buffer.concat([input, Buffer.alloc(3 * 4096 - input.length)]))).toBe(true);
    expect(await blocksOf(pieces(Buffer.alloc(0), [1]), 4096, { pad: true })).toEqual([]);
  });

  it('yields one buffer over and over with reuse, a new one each time without', async () => {
    for (const reuse of [true, false]) {
      const seen = new Set<Buffer>();
      let n = 0;
      for await (const b of rechunk(pieces(input, [5000]), 1000, { reuse })) {
        seen.add(b);
        n++;
      }
      expect([n, seen.size]).toEqual([10, reuse ? 1 : 10]);
    }
  });
});
