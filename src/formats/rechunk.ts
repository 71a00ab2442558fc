// Cutting a stream of arbitrary chunks into fixed-size blocks: what parallel gzip compresses one
// at a time and what the disk-image writers test for zeros and place.

export interface RechunkOptions {
  /** Zero-pad the last block to `size` rather than yield it short. */
  pad?: boolean;
  /** Yield the same buffer every time (consume it before the next one) rather than a new one. */
  reuse?: boolean;
}

/** Fixed-size blocks of `size` bytes from a stream of arbitrary chunks (copying only to fill a block). */
export async function* rechunk(
  source: AsyncIterable<Uint8Array>,
  size: number,
  opts: RechunkOptions = {},
): AsyncGenerator<Buffer> {
  let cur = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const chunk of source) {
    let off = 0;
    while (off < chunk.length) {
      const k = Math.min(size - fill, chunk.length - off);
      cur.set(chunk.subarray(off, off + k), fill);
      fill += k;
      off += k;
      if (fill === size) {
        yield cur;
        if (!opts.reuse) cur = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill === 0) return;
  if (opts.pad) {
    cur.fill(0, fill);
    yield cur;
  } else {
    yield cur.subarray(0, fill);
  }
}
