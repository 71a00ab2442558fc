// squashfs images, by squashfs-tools' sqfstar (≥ 4.5): it reads a tar on stdin and runs as an
// ordinary user, so the root is never extracted to the host. The tar is our own (pax headers:
// long names, xattrs such as file capabilities, which squashfs keeps and cpio cannot).
// sqfstar's output is reproducible; no time in it is later than SOURCE_DATE_EPOCH.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EntryStream } from '../entry.js';
import { showName } from '../names.js';
import { writeTar } from '../tar/write.js';
import { OsbuildError } from '../../errors.js';

/** The fixed-size superblock at the start of every squashfs (squashfs_fs.h: 96 bytes). */
export const SUPERBLOCK_BYTES = 96;
const MAGIC = 0x73717368; // "hsqs" little-endian

export class SquashfsError extends OsbuildError {
  readonly code = 'ESQUASHFS';
}

export interface SquashfsOptions {
  /** SOURCE_DATE_EPOCH: the filesystem's creation time; later inode times are clamped to it. */
  epoch: number;
  /** sqfstar's compressor (the kernel must have it: Debian's has all); default zstd. */
  compression?: 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzo';
  /** Threads sqfstar may use; default all. */
  processors?: number;
  /** sqfstar's cache; it defaults to a quarter of RAM, far more than a streamed tar needs. */
  memory?: string;
}

export interface SquashfsResult {
  size: number;
  /** sha256 of the superblock: identifies this filesystem to the init that looks for it. */
  superblockSha256: string;
}

/** Write `entries` as a squashfs image at `path` (which must not exist). */
export async function writeSquashfs(entries: EntryStream, path: string, opts: SquashfsOptions): Promise<SquashfsResult> {
  const args = [
    '-comp', opts.compression ?? 'zstd',
    '-root-mode', '0755', '-root-uid', '0', '-root-gid', '0',
    '-processors', String(opts.processors ?? availableParallelism()),
    '-mem', opts.memory ?? '128M',
    '-reproducible', '-exit-on-error', '-quiet', '-no-progress',
    path,
  ];
  // SOURCE_DATE_EPOCH rather than -mkfs-time/-root-time: sqfstar 4.5 ignores -root-time and
  // stamps the root directory with the current time; the variable clamps every time, root included
  const env = { SOURCE_DATE_EPOCH: String(opts.epoch) };
  const { execa } = await import('execa'); // loaded here: builds without a squashfs never pay for it
  const child = execa('sqfstar', args, { env, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  // The tar streams into sqfstar's stdin. If our side fails (a corrupt blob), sqfstar sees a
  // short tar and fails too: our error is the one to report. If sqfstar stops reading (it
  // failed, or is missing), the pipe breaks: its own error is the one to report.
  let tarError: unknown;
  const tar = Readable.from(writeTar(entries), { objectMode: false });
  tar.on('error', (e) => (tarError ??= e));
  const feed = pipeline(tar, child.stdin!).catch(() => undefined);
  const result = await child;
  if (!result.exitCode) await feed;
  else tar.destroy();
  if (tarError) throw tarError;
  if (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message ?? ""))) {
    throw new SquashfsError('sqfstar not found: install squashfs-tools ≥ 4.5 (Debian 12: apt install squashfs-tools)');
  }
  if (result.exitCode !== 0) {
    // sqfstar's complaints quote the tar's names, which come from layers: shown escaped
    const why = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-5).map(showName).join('\n');
    throw new SquashfsError(`sqfstar failed (exit ${result.exitCode ?? result.signal}) writing ${showName(path)}: ${why}`);
  }
  return readSquashfsInfo(path);
}

/** Size and superblock hash of a squashfs image; checks the magic. */
export async function readSquashfsInfo(path: string): Promise<SquashfsResult> {
  const fh = await open(path, 'r');
  try {
    const sb = Buffer.alloc(SUPERBLOCK_BYTES);
    const { bytesRead } = await fh.read(sb, 0, SUPERBLOCK_BYTES, 0);
    if (bytesRead < SUPERBLOCK_BYTES || sb.readUInt32LE(0) !== MAGIC) throw new SquashfsError(`${showName(path)} is not a squashfs image (no hsqs superblock)`);
    const { size } = await fh.stat();
    return { size, superblockSha256: createHash('sha256').update(sb).digest('hex') };
  } finally {
    await fh.close();
  }
}
