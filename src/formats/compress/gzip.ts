// Parallel, deterministic gzip (the pigz scheme) and a streaming gunzip.
//
// The input is cut into fixed blocks. Each block is deflated raw on libuv's threadpool with
// the previous 32 KiB of input as preset dictionary, and ends with a sync flush (an empty
// stored block), so the blocks concatenate into one valid deflate stream; the last block is
// finished. Each block's bytes depend only on its input, its dictionary and the level, never
// on which thread ran it or when, so the output is the same every time. A bounded number of
// blocks are in flight and output leaves in order, so memory stays at a few MB.
//
// Reproducibility limit: Node bundles Chromium's zlib, whose deflate hashes with the CPU's
// CRC32C instruction when present (x86 SSE4.2+PCLMUL, ARMv8 CRC). Every x86_64 and arm64
// machine we target has it, so output matches across them; a CPU without it, or another
// Node release with another zlib, may give different (equally valid) bytes.

import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { rechunk } from '../rechunk.js';

export interface GzipOptions {
  /** zlib level 0-9; default 6 (gzip's and pigz's default). */
  level?: number;
  /** Bytes of input per block; default 128 KiB (pigz's default). Part of the output's identity. */
  blockSize?: number;
  /** Blocks compressed at once; default the number of CPUs + 1 (does not change the output). */
  concurrency?: number;
}

const DICT = 32 * 1024;
const { Z_SYNC_FLUSH, Z_FINISH } = zlib.constants;

function header(level: number): Buffer {
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=3 (Unix): no name, no time, same bytes everywhere.
  const xfl = level >= 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
}

function deflateBlock(
  data: Buffer,
  dictionary: Buffer | undefined,
  level: number,
  last: boolean,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(
      data,
      {
        level,
        dictionary,
        finishFlush: last ? Z_FINISH : Z_SYNC_FLUSH,
        // One output buffer big enough for the whole block: one trip to the threadpool.
        chunkSize: Math.max(64 * 1024, data.length + (data.length >> 3) + 1024),
      },
      (err, out) => (err ? reject(err) : resolve(out)),
    );
  });
}

// Disk images are mostly zeros (a GCP disk is padded to whole GiB). A zero block deflated after a
// zero window always gives the same bytes, so it is compressed once per level and block size and
// reused: the output is byte-identical to compressing every block, in a fraction of the time.
const zeroBlocks = new Map<string, Promise<Buffer>>();
let zeros = Buffer.alloc(0);

function zeroFilled(b: Buffer): boolean {
  if (zeros.length < b.length) zeros = Buffer.alloc(b.length);
  return b.equals(zeros.subarray(0, b.length));
}

/** A promise whose settlement can be checked without awaiting, and never goes unhandled. */
interface Job {
  promise: Promise<Buffer>;
  done: boolean;
}

function job(p: Promise<Buffer>): Job {
  const j: Job = { promise: p, done: false };
  p.then(
    () => (j.done = true),
    () => (j.done = true),
  );
  return j;
}

/**
 * Compresses a byte stream to a single-member gzip, in parallel and deterministically.
 * The same input, level and blockSize give the same bytes on every run and machine
 * (with the same zlib).
 */
export async function* gzipParallel(
  source: AsyncIterable<Uint8Array>,
  opts: GzipOptions = {},
): AsyncIterable<Uint8Array> {
  const level = opts.level ?? 6;
  const blockSize = opts.blockSize ?? 128 * 1024;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level ${level} is not 0-9`);
  if (!Number.isInteger(blockSize) || blockSize < DICT) {
    throw new RangeError(`gzip blockSize ${blockSize} must be an integer >= ${DICT}`);
  }
  const concurrency = Math.max(1, opts.concurrency ?? availableParallelism() + 1);

  yield header(level);
  const queue: Job[] = [];
  let crc = 0;
  let isize = 0;
  let dict: Buffer | undefined;

  // We only know a block is the last once the next one fails to arrive: hold one back.
  let held: Buffer | undefined;
  const submit = (data: Buffer, last: boolean): void => {
    let p: Promise<Buffer>;
    if (!last && dict?.length === DICT && data.length === blockSize && zeroFilled(data) && zeroFilled(dict)) {
      const key = `${level}/${blockSize}`;
      if (!zeroBlocks.has(key)) zeroBlocks.set(key, deflateBlock(Buffer.alloc(blockSize), Buffer.alloc(DICT), level, false));
      p = zeroBlocks.get(key)!;
    } else {
      p = deflateBlock(data, dict, level, last);
    }
    queue.push(job(p));
    dict = data.length >= DICT ? data.subarray(data.length - DICT) : undefined;
  };

  for await (const block of rechunk(source, blockSize)) {
    crc = zlib.crc32(block, crc);
    isize = (isize + block.length) % 2 ** 32;
    if (held) submit(held, false);
    held = block;
    // Emit finished blocks at the head, and wait when too many are in flight.
    while (queue.length && (queue[0].done || queue.length >= concurrency)) {
      yield await queue.shift()!.promise;
    }
  }
  // Always finish with a final block (empty input, or the held-back last block).
  submit(held ?? Buffer.alloc(0), true);
  while (queue.length) yield await queue.shift()!.promise;

  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(isize >>> 0, 4);
  yield trailer;
}

/**
 * Streaming gunzip of one or more concatenated gzip members (as `gzip -d` reads them).
 * Throws zlib's error (code Z_DATA_ERROR, Z_BUF_ERROR...) on corrupt or truncated input.
 */
export async function* gunzip(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  // 64 KiB output chunks: a quarter of the hops downstream compared with the 16 KiB default.
  const gz = zlib.createGunzip({ chunkSize: 64 * 1024 });
  const feeding = pipeline(Readable.from(source, { objectMode: false }), gz).catch((err: unknown) => {
    gz.destroy(err as Error);
  });
  try {
    for await (const chunk of gz) yield chunk as Buffer;
  } finally {
    gz.destroy();
    await feeding;
  }
}

export type CompressionKind = 'gzip' | 'none';
export type Compressor = (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/** The compressor for a kind: gzip (parallel, deterministic) or the identity. */
export function compressorFor(kind: CompressionKind, opts: GzipOptions = {}): Compressor {
  switch (kind) {
    case 'gzip':
      return (source) => gzipParallel(source, opts);
    case 'none':
      return (source) => source;
  }
}
