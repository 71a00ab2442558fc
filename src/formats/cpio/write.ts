// cpio "newc" (070701) writer, the format of the Linux initramfs.
//
// Deterministic: inode numbers count up from 1 in entry order, the archive's own device
// numbers are 0. An archive can also be written in pieces that are concatenated (each piece may
// be compressed on its own: the kernel reads a sequence of compressed and plain cpio data): a
// piece gives its entries its own device number, so that inode numbers, counted from 1 in each
// piece, never meet those of another, and only the last piece ends the archive. Hard links follow what the kernel's unpacker (init/initramfs.c) does: an
// entry with nlink >= 2 is linked to an earlier entry with the same inode, so the FIRST
// occurrence carries the data and later ones are size 0. GNU cpio and libarchive read that too.

import { TYPE_BITS, type Entry, type EntryStream } from '../entry.js';
import { Batcher, ZEROS } from '../batch.js';
import { CpioError } from '../errors.js';
import { encodeName, showName } from '../names.js';

const MAX32 = 0xffffffff;
const TRAILER = 'TRAILER!!!';

interface Linked {
  ino: number;
  nlink: number;
  mode: number;
  path: string;
}

export interface NewcHeader {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  rdevmajor: number;
  rdevminor: number;
  /** Bytes of the name (encodeName: names are bytes), without the NUL. */
  name: Buffer;
  /** The archive's device number (devminor; devmajor is 0); default 0. */
  dev?: number;
}

export interface CpioOptions {
  /** The device number of this piece's entries (0..2^32-1); default 0. */
  dev?: number;
  /** Write the trailer and the padding to 512 bytes (the archive's last piece); default true. */
  end?: boolean;
  /** Bytes of the archive written before this piece (for the padding at the end); default 0. */
  offset?: number;
}

function hex8(v: number): string {
  return v.toString(16).padStart(8, '0');
}

/** The header, the NUL-terminated name and the padding to a 4-byte boundary. */
export function encodeNewc(h: NewcHeader): Buffer {
  const namesize = h.name.length + 1;
  const text =
    '070701' +
    hex8(h.ino) +
    hex8(h.mode) +
    hex8(h.uid) +
    hex8(h.gid) +
    hex8(h.nlink) +
    hex8(h.mtime) +
    hex8(h.filesize) +
    hex8(0) + // devmajor of the archive's filesystem
    hex8(h.dev ?? 0) + // devminor
    hex8(h.rdevmajor) +
    hex8(h.rdevminor) +
    hex8(namesize) +
    hex8(0); // check: only used by the 070702 (crc) variant
  const len = 110 + namesize;
  const buf = Buffer.alloc(len + pad4(len));
  buf.write(text, 0, 110, 'latin1');
  h.name.copy(buf, 110);
  return buf;
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function field(entry: Entry, what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > MAX32) {
    throw new CpioError(
      'ECPIOFIELD',
      `${showName(entry.path)}: ${what} ${v} does not fit a cpio newc header (0..4294967295)`,
      entry.path,
    );
  }
  return v;
}

/**
 * Writes entries as a cpio newc archive (async iterable of chunks), ending with the
 * TRAILER!!! entry and zero padding to a 512-byte boundary. Throws CpioError: ECPIOLINK for a
 * hard link to an entry not written before with nlink >= 2, ECPIOSIZE for files of 4 GiB or
 * more (newc has 32-bit sizes), ECPIOFIELD for other values out of range.
 */
export async function* writeCpio(entries: EntryStream, opts: CpioOptions = {}): AsyncIterable<Uint8Array> {
  const dev = opts.dev ?? 0;
  const batch = new Batcher();
  const out: Uint8Array[] = [];
  let total = 0;
  const emit = (piece: Uint8Array): void => {
    total += piece.length;
    batch.push(piece, out);
  };
  const linked = new Map<string, Linked>();
  let nextIno = 1;

  for await (const { entry, content } of entries) {
    if (entry.path === '' || entry.path.startsWith('/') || entry.path.includes('\0')) {
      throw new CpioError('ECPIONAME', `invalid initramfs path "${showName(entry.path)}"`, entry.path);
    }
    const name = encodeName(entry.path);
    const mode = TYPE_BITS[entry.type] | (entry.mode & 0o7777);
    const base = {
      uid: field(entry, 'uid', entry.uid),
      gid: field(entry, 'gid', entry.gid),
      mtime: field(entry, 'mtime', Math.floor(entry.mtime)),
      rdevmajor: 0,
      rdevminor: 0,
      name,
      dev,
    };

    switch (entry.type) {
      case 'hardlink': {
        const target = entry.linkname ?? '';
        const t = linked.get(target);
        if (!t) {
          throw new CpioError(
            'ECPIOLINK',
            `${showName(entry.path)}: hard link to ${showName(target)}, which was not written before it as a ` +
              `regular file with nlink >= 2 (set entry.nlink on the target)`,
            entry.path,
          );
        }
        emit(encodeNewc({ ...base, ino: t.ino, mode: t.mode, nlink: t.nlink, filesize: 0 }));
        break;
      }
      case 'symlink': {
        const body = encodeName(entry.linkname ?? '');
        if (body.length === 0) {
          throw new CpioError('ECPIONAME', `${showName(entry.path)}: symlink with an empty target`, entry.path);
        }
        emit(encodeNewc({ ...base, ino: nextIno++, mode, nlink: 1, filesize: body.length }));
        emit(body);
        emit(ZEROS.subarray(0, pad4(body.length)));
        break;
      }
      case 'file': {
        if (entry.size > MAX32) {
          throw new CpioError(
            'ECPIOSIZE',
            `${showName(entry.path)}: ${entry.size} bytes; cpio newc cannot hold files of 4 GiB or more`,
            entry.path,
          );
        }
        const nlink = entry.nlink ?? 1;
        const ino = nextIno++;
        if (nlink >= 2) linked.set(entry.path, { ino, nlink, mode, path: entry.path });
        emit(encodeNewc({ ...base, ino, mode, nlink, filesize: field(entry, 'size', entry.size) }));
        let written = 0;
        if (content) {
          for await (const chunk of content) {
            written += chunk.length;
            if (written > entry.size) break;
            emit(chunk);
            if (out.length) {
              yield* out;
              out.length = 0;
            }
          }
        }
        if (written !== entry.size) {
          throw new CpioError(
            'ECPIOSIZE',
            `${showName(entry.path)}: entry says ${entry.size} bytes but its content gave ` +
              `${written > entry.size ? 'more' : `only ${written}`}`,
            entry.path,
          );
        }
        emit(ZEROS.subarray(0, pad4(entry.size)));
        break;
      }
      case 'char':
      case 'block':
        emit(
          encodeNewc({
            ...base,
            ino: nextIno++,
            mode,
            nlink: 1,
            filesize: 0,
            rdevmajor: field(entry, 'devmajor', entry.devmajor ?? 0),
            rdevminor: field(entry, 'devminor', entry.devminor ?? 0),
          }),
        );
        break;
      case 'dir':
        emit(encodeNewc({ ...base, ino: nextIno++, mode, nlink: 2, filesize: 0 }));
        break;
      case 'fifo':
        emit(encodeNewc({ ...base, ino: nextIno++, mode, nlink: 1, filesize: 0 }));
        break;
    }
    if (out.length) {
      yield* out;
      out.length = 0;
    }
  }

  if (opts.end === false) {
    batch.flush(out);
    yield* out;
    return;
  }
  emit(
    encodeNewc({
      ino: 0,
      mode: 0,
      uid: 0,
      gid: 0,
      nlink: 1,
      mtime: 0,
      filesize: 0,
      rdevmajor: 0,
      rdevminor: 0,
      name: Buffer.from(TRAILER),
    }),
  );
  const rest = (total + (opts.offset ?? 0)) % 512;
  if (rest) emit(ZEROS.subarray(0, 512 - rest));
  batch.flush(out);
  yield* out;
}
