// zstd through the zstd command (Debian's zstd package; Node 20's zlib has no zstd), on every
// core. Deterministic: zstd's multi-threaded output does not depend on the number of threads
// (only on the level and the release), so the same input gives the same bytes on any machine with
// the same zstd release. Kernels read it when built with CONFIG_RD_ZSTD (Debian's are).

import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OsbuildError } from '../../errors.js';

export class ZstdError extends OsbuildError {
  readonly code = 'EZSTD';
}

export interface ZstdOptions {
  /** zstd level 1-19; default 3 (zstd's default). Part of the output's identity. */
  level?: number;
}

const MISSING = 'zstd not found: install it (Debian 12: apt install zstd), or leave root.initrd.compression at gzip';

// execa loads on first use: it is ~100 modules, and most builds (gzip initrds) never run zstd
const loadExeca = async () => (await import('execa')).execa;

/** The zstd release, which decides the bytes: "1.5.4". */
let version: Promise<string> | undefined;
export function zstdVersion(): Promise<string> {
  return (version ??= loadExeca().then((execa) => execa('zstd', ['-V'], { reject: false })).then((r) => {
    const m = /v(\d+\.\d+\.\d+)/.exec(r.stdout ?? '');
    if (!m) throw new ZstdError(MISSING);
    return m[1];
  }));
}

/** Compresses a byte stream to one zstd frame. */
export async function* zstdCompress(source: AsyncIterable<Uint8Array>, opts: ZstdOptions = {}): AsyncIterable<Uint8Array> {
  const level = opts.level ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new RangeError(`zstd level ${level} is not 1-19`);
  // -T with a count: multi-threaded mode, whose output is the same for every count
  const execa = await loadExeca();
  const child = execa('zstd', ['-q', '-c', `-${level}`, `-T${availableParallelism()}`], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: { stdout: false, stderr: true },
  });
  // Our side failing (a corrupt blob) is the error to report; zstd stopping first is its own.
  let feedError: unknown;
  const input = Readable.from(source, { objectMode: false });
  input.on('error', (e) => (feedError ??= e));
  const feed = pipeline(input, child.stdin!).catch(() => undefined);
  try {
    for await (const chunk of child.stdout!) yield chunk as Buffer;
  } finally {
    if (!child.stdout!.readableEnded) child.kill();
    const result = await child;
    await feed;
    if (feedError) throw feedError;
    if (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message ?? ''))) throw new ZstdError(MISSING);
    if (result.exitCode !== 0 && !result.isTerminated) throw new ZstdError(`zstd failed (exit ${result.exitCode}): ${String(result.stderr ?? '').trim().split('\n').slice(-3).join('; ')}`);
  }
}
