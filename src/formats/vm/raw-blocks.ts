// What the disk-image writers (VHD, qcow2, VMDK) share: the sized byte stream they consume, a
// reader that cuts it into fixed-size blocks (so each block can be tested for zeros and skipped),
// and an output file written mostly in order. Their outputs' sizes depend on which blocks hold data,
// so they write a file (appending blocks, then patching tables at known offsets) rather than
// returning a stream of a size known up front.

import { open, type FileHandle } from 'node:fs/promises';
import { rechunk } from '../rechunk.js';
import { OsbuildError } from '../../errors.js';

/** A byte stream whose length is known before it is read (also the UKI's inputs and output). */
export interface SizedStream {
  size: number;
  stream: AsyncIterable<Uint8Array>;
}

/** An error of a disk-image writer: bad input size or a stream that lied about its size. */
export class DiskImageError extends OsbuildError {
  constructor(
    readonly code: 'EDISKSIZE' | 'EDISKSTREAM',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The stream cut into blocks of `size` bytes (the last one zero-padded to `size`), checking it
 * delivers exactly `expected` bytes. The yielded buffer is reused: consume it before the next one.
 */
export async function* fixedBlocks(
  src: SizedStream,
  size: number,
  what: string,
): AsyncGenerator<Buffer> {
  yield* rechunk(exactly(src, what), size, { pad: true, reuse: true });
}

/** The stream's chunks, checked to add up to its declared size. */
async function* exactly(src: SizedStream, what: string): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of src.stream) {
    total += chunk.length;
    if (total > src.size) {
      throw new DiskImageError('EDISKSTREAM', `${what}: the raw stream is longer than its declared size ${src.size}`);
    }
    yield chunk;
  }
  if (total !== src.size) {
    throw new DiskImageError('EDISKSTREAM', `${what}: the raw stream ended after ${total} of ${src.size} declared bytes`);
  }
}

const ZERO = Buffer.alloc(64 * 1024);

/** True when every byte is zero (compared 64 KiB at a time against a zero buffer: fast in C). */
export function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - off);
    if (!b.subarray(off, off + n).equals(n === ZERO.length ? ZERO : ZERO.subarray(0, n))) return false;
  }
  return true;
}

/** An output file written in order by `append` and patched by `writeAt`; `close` returns its size. */
export class OutFile {
  private pos = 0;
  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string): Promise<OutFile> {
    return new OutFile(await open(path, 'w'));
  }

  get offset(): number {
    return this.pos;
  }

  async append(buf: Uint8Array): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, this.pos + done);
      done += bytesWritten;
    }
    this.pos += buf.length;
  }

  async writeAt(buf: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, position + done);
      done += bytesWritten;
    }
  }

  async close(): Promise<number> {
    await this.fh.close();
    return this.pos;
  }

  /** Closes without caring for errors (after a failure). */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
