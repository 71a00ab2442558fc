// Deterministic POSIX (pax) tar writer: entries in, tar bytes out.
//
// Everything that does not fit a ustar header goes into a pax 'x' header just before the
// entry: long or non-ASCII paths and link targets, uid/gid over 262143, sizes of 8 GiB and
// more, negative or far-future mtimes, and extended attributes as binary-safe
// SCHILY.xattr.* records. uname/gname stay empty and the pax header's own fields are fixed,
// so the same entries always give the same bytes.
//
// Names are bytes (names.ts): lengths and the ustar prefix split count bytes, and a name that
// is not UTF-8 goes into pax as its raw bytes under hdrcharset=BINARY, as POSIX asks and as GNU
// tar and Python's tarfile write it, so that readers do not try to convert it from UTF-8.

import type { Entry, EntryStream, EntryType } from '../entry.js';
import { Batcher, ZEROS } from '../batch.js';
import { TarWriteError } from '../errors.js';
import { encodeName, isValidText, showName } from '../names.js';
import { encodePax } from './pax.js';
import { BLOCK, encodeHeader, FIELD, octalMax, padding } from './header.js';

export interface WriteTarOptions {
  /** Pad the archive to a multiple of this many bytes (GNU tar uses 10240). Default 512: no extra padding. */
  recordSize?: number;
}

/** ids above this go into pax records (as GNU tar and Go do for 6-digit-octal readers). */
const MAX_ID = 0o777777;
const MAX_SIZE = octalMax(FIELD.SIZE_LEN);
const MAX_DEV = octalMax(FIELD.NUM_LEN);

const TYPEFLAG: Record<EntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/**
 * Writes entries as a tar stream (an async iterable of chunks). Reads each file's content
 * fully; throws TarWriteError (ETARSIZE) when content length differs from entry.size.
 */
export async function* writeTar(
  entries: EntryStream,
  opts: WriteTarOptions = {},
): AsyncIterable<Uint8Array> {
  const batch = new Batcher();
  const out: Uint8Array[] = [];
  let total = 0;
  const emit = (piece: Uint8Array): void => {
    total += piece.length;
    batch.push(piece, out);
  };

  for await (const { entry, content } of entries) {
    for (const block of headerBlocks(entry)) emit(block);
    if (entry.type === 'file') {
      let written = 0;
      if (content) {
        for await (const chunk of content) {
          written += chunk.length;
          if (written > entry.size) sizeError(entry, written, 'more than');
          emit(chunk);
          if (out.length) {
            yield* out;
            out.length = 0;
          }
        }
      }
      if (written !== entry.size) sizeError(entry, written, 'only');
      emitZeros(emit, padding(entry.size));
    }
    if (out.length) {
      yield* out;
      out.length = 0;
    }
  }
  // End of archive: two zero blocks, then padding to the record size.
  emitZeros(emit, 2 * BLOCK);
  const record = opts.recordSize ?? BLOCK;
  const rest = total % record;
  if (rest) emitZeros(emit, record - rest);
  batch.flush(out);
  yield* out;
}

function emitZeros(emit: (b: Uint8Array) => void, n: number): void {
  while (n > 0) {
    const k = Math.min(n, ZEROS.length);
    emit(ZEROS.subarray(0, k));
    n -= k;
  }
}

function sizeError(entry: Entry, written: number, how: string): never {
  throw new TarWriteError(
    'ETARSIZE',
    `${showName(entry.path)}: entry says ${entry.size} bytes but its content gave ${how} ${written}`,
    entry.path,
  );
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(s);
}

/** Splits a ustar name into prefix/name at a '/', or returns undefined when it cannot. */
function splitName(bytes: Buffer): { prefix?: Buffer; name: Buffer } | undefined {
  if (bytes.length <= FIELD.NAME_LEN) return { name: bytes };
  const from = Math.max(0, bytes.length - FIELD.NAME_LEN - 1);
  for (let i = from; i < bytes.length - 1 && i <= FIELD.PREFIX_LEN; i++) {
    if (bytes[i] === 0x2f) {
      return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
    }
  }
  return undefined;
}

function checkField(entry: Entry, what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new TarWriteError('ETARFIELD', `${showName(entry.path)}: ${what} ${v} cannot be written to tar`, entry.path);
  }
}

/** The header block(s) of one entry: an optional pax header + body, then the ustar header. */
export function headerBlocks(entry: Entry): Buffer[] {
  const records: Array<[string, Buffer | string]> = [];
  if (entry.path === '' || entry.path.includes('\0')) {
    throw new TarWriteError('ETARNAME', `invalid entry path "${showName(entry.path)}"`, entry.path);
  }
  const tarPath = entry.type === 'dir' ? entry.path + '/' : entry.path;
  const pathBytes = encodeName(tarPath);
  // Non-ASCII names always go to pax (UTF-8 there is standard; in ustar fields it is not).
  const asciiPath = isAscii(tarPath);
  let split = asciiPath ? splitName(pathBytes) : undefined;
  if (!split) {
    records.push(['path', pathBytes]);
    split = { name: pathBytes.subarray(0, FIELD.NAME_LEN) };
  }
  let binary = !asciiPath && !isValidText(tarPath);

  let linkBytes: Buffer | undefined;
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    const link = entry.linkname ?? '';
    if (link === '' || link.includes('\0')) {
      throw new TarWriteError('ETARNAME', `${showName(entry.path)}: invalid link target "${showName(link)}"`, entry.path);
    }
    linkBytes = encodeName(link);
    const asciiLink = isAscii(link);
    if (!asciiLink || linkBytes.length > FIELD.LINKNAME_LEN) {
      records.push(['linkpath', linkBytes]);
      linkBytes = linkBytes.subarray(0, FIELD.LINKNAME_LEN);
    }
    if (!asciiLink && !isValidText(link)) binary = true;
  }
  // First, as Python's tarfile writes it: a reader applies it to the records that follow.
  if (binary) records.unshift(['hdrcharset', 'BINARY']);

  const size = entry.type === 'file' ? entry.size : 0;
  checkField(entry, 'size', size, Number.MAX_SAFE_INTEGER);
  if (size > MAX_SIZE) records.push(['size', String(size)]);
  checkField(entry, 'uid', entry.uid, 2 ** 32 - 1);
  checkField(entry, 'gid', entry.gid, 2 ** 32 - 1);
  if (entry.uid > MAX_ID) records.push(['uid', String(entry.uid)]);
  if (entry.gid > MAX_ID) records.push(['gid', String(entry.gid)]);
  const mtime = Math.floor(entry.mtime);
  const mtimeFits = mtime >= 0 && mtime <= MAX_SIZE;
  if (!mtimeFits) records.push(['mtime', String(mtime)]);

  const dev = entry.type === 'char' || entry.type === 'block';
  if (dev) {
    checkField(entry, 'devmajor', entry.devmajor ?? 0, MAX_DEV);
    checkField(entry, 'devminor', entry.devminor ?? 0, MAX_DEV);
  }

  if (entry.xattrs) {
    for (const name of Object.keys(entry.xattrs).sort()) {
      records.push([`SCHILY.xattr.${name}`, entry.xattrs[name]]);
    }
  }

  const blocks: Buffer[] = [];
  if (records.length) {
    const body = encodePax(records);
    const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
    blocks.push(
      encodeHeader({
        name: encodeName(`PaxHeaders/${base}`).subarray(0, FIELD.NAME_LEN),
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: body.length,
        mtime: mtimeFits ? mtime : 0,
        type: 'x',
      }),
      body,
    );
    const pad = padding(body.length);
    if (pad) blocks.push(ZEROS.subarray(0, pad));
  }
  blocks.push(
    encodeHeader({
      name: split.name,
      prefix: split.prefix,
      mode: entry.mode & 0o7777,
      uid: entry.uid > MAX_ID ? 0 : entry.uid,
      gid: entry.gid > MAX_ID ? 0 : entry.gid,
      size: size > MAX_SIZE ? 0 : size,
      mtime: mtimeFits ? mtime : 0,
      type: TYPEFLAG[entry.type],
      linkname: linkBytes,
      devmajor: dev ? entry.devmajor ?? 0 : 0,
      devminor: dev ? entry.devminor ?? 0 : 0,
    }),
  );
  return blocks;
}
