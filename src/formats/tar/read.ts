// Streaming tar reader: an uncompressed tar stream in, filesystem entries with content out.
//
// A parser of our own rather than tar-stream's extract: tar-stream decodes pax values as
// UTF-8 (corrupting binary xattrs such as security.capability), applies only path/linkpath/
// size from pax, and costs an extra stream hop per chunk. This one reads headers straight
// from the source chunks and hands file content out as views of those chunks (no copy).
//
// Reads POSIX ustar + pax (per-file 'x' and global 'g'), GNU (long names 'L'/'K', base-256
// numbers) and v7. GNU sparse files are refused (ETARSPARSE): nothing we build needs them and
// expanding them silently would be wrong.
//
// Names are bytes (names.ts): ustar fields, GNU long names and pax path/linkpath all go through
// decodeName, so a name that is not UTF-8 survives byte for byte. A pax hdrcharset=BINARY record
// (Python's tarfile and GNU tar write it for such names) therefore needs no handling: every
// name is read as raw bytes, whatever charset the archive claims.

import type { Entry, EntryStream, EntryType } from '../entry.js';
import { ByteReader, type ByteSource } from './byte-reader.js';
import { TarFormatError } from '../errors.js';
import { decodeName, showName } from '../names.js';
import { parsePax, type PaxRecords } from './pax.js';
import { BLOCK, decodeHeader, padding, type RawHeader } from './header.js';

export interface ReadTarOptions {
  /**
   * Accept a stream that ends at a header boundary without the end-of-archive blocks.
   * Off by default: such a stream is indistinguishable from one cut short.
   */
  allowMissingEnd?: boolean;
}

/** Metadata records (pax bodies, GNU long names) larger than this are refused as corrupt. */
const MAX_META = 16 * 1024 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere but on Masscomp
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  D: 'dir', // GNU dumpdir: a directory followed by a listing we skip
};

/**
 * Normalizes an archive path: strips leading './' and '/', drops trailing '/', collapses
 * '.' and empty segments. Keeps '..' segments: the root-assembly stage judges them.
 * Returns '' for the root itself.
 */
export function normalizeTarPath(p: string): string {
  const c = p.charCodeAt(0);
  if (c !== 0x2e && c !== 0x2f && !p.endsWith('/') && !p.includes('//') && !p.includes('/.')) {
    return p;
  }
  return p
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** The content of one file: views into the source chunks, up to the entry's size. */
class Content implements AsyncIterableIterator<Uint8Array> {
  live = true;
  constructor(
    private readonly r: ByteReader,
    public remaining: number,
    private readonly path: string,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (!this.live) {
      return Promise.reject(
        new Error(`tar content of ${showName(this.path)} read after the next entry was requested`),
      );
    }
    if (this.remaining === 0) return Promise.resolve({ done: true, value: undefined });
    if (this.r.available > 0) return Promise.resolve({ done: false, value: this.chunk() });
    return this.slow();
  }

  private chunk(): Buffer {
    const n = Math.min(this.r.available, this.remaining);
    this.remaining -= n;
    return this.r.take(n);
  }

  private async slow(): Promise<IteratorResult<Uint8Array>> {
    const at = this.r.offset;
    if (!(await this.r.pull())) {
      throw new TarFormatError(
        'ETARTRUNC',
        `tar stream ends at byte ${at} inside the content of ${showName(this.path)} ` +
          `(${this.remaining} bytes missing): the archive is truncated`,
        at,
        this.path,
      );
    }
    return { done: false, value: this.chunk() };
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    // Breaking out of a content loop is allowed; the reader skips the rest.
    return { done: true, value: undefined };
  }
}

/**
 * Parses an uncompressed tar stream into entries. Each file's content must be consumed (or
 * ignored) before asking for the next entry; unread content is skipped. The source is read
 * to its very end (past the end-of-archive blocks) so upstream digest checks complete.
 * Throws TarFormatError (ETARTRUNC, ETARCORRUPT, ETARSPARSE, ETARTYPE).
 */
export async function* readTar(source: ByteSource, opts: ReadTarOptions = {}): EntryStream {
  const r = new ByteReader(source);
  let finished = false;
  try {
    const globalPax: PaxRecords = new Map();
    let pax: PaxRecords | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;

    for (;;) {
      const at = r.offset;
      const block = r.available >= BLOCK ? r.take(BLOCK) : await r.read(BLOCK);
      if (block.length === 0) {
        if (opts.allowMissingEnd && !pax && longName === undefined && longLink === undefined) {
          finished = true;
          return;
        }
        throw new TarFormatError(
          'ETARTRUNC',
          `tar stream ends at byte ${at} without its end-of-archive blocks: the archive is truncated`,
          at,
        );
      }
      if (block.length < BLOCK) {
        throw new TarFormatError(
          'ETARTRUNC',
          `tar stream ends at byte ${at + block.length} inside a header: the archive is truncated`,
          at,
        );
      }
      if (block.equals(ZERO_BLOCK)) {
        // End of archive. The second zero block and record padding follow; read them away.
        await r.drain();
        finished = true;
        return;
      }
      const h = decodeHeader(block);
      if (!h) {
        throw new TarFormatError(
          'ETARCORRUPT',
          `tar header at byte ${at} has a bad checksum: the stream is corrupt or not a tar archive`,
          at,
        );
      }
      checkNumbers(h, at);

      // Metadata entries that describe the next real entry.
      switch (h.type) {
        case 'x':
        case 'g': {
          const body = await readMeta(r, h, at);
          const into = h.type === 'g' ? globalPax : (pax ??= new Map());
          const err = parsePax(body, into);
          if (err) {
            throw new TarFormatError('ETARCORRUPT', `pax header at byte ${at}: ${showName(err)}`, at, h.name);
          }
          continue;
        }
        case 'L':
          longName = cString(await readMeta(r, h, at));
          continue;
        case 'K':
          longLink = cString(await readMeta(r, h, at));
          continue;
        case 'V': // GNU volume label: not a file
          await skipBody(r, h.size, at, h.name);
          continue;
      }

      const rawPath = paxName(pax, 'path') ?? longName ?? h.name;
      if (h.type === 'S' || hasSparse(pax) || hasSparse(globalPax)) {
        // PAX sparse format 1.0 hides the real name in GNU.sparse.name.
        const sparsePath = paxName(pax, 'GNU.sparse.name') ?? rawPath;
        throw new TarFormatError(
          'ETARSPARSE',
          `${showName(sparsePath)}: GNU sparse files are not supported (tar header at byte ${at}); ` +
            `recreate the archive without --sparse`,
          at,
          sparsePath,
        );
      }
      const type = TYPES[h.type];
      if (!type) {
        throw new TarFormatError(
          'ETARTYPE',
          `${showName(rawPath)}: unsupported tar entry type '${printable(h.type)}' (header at byte ${at})`,
          at,
          rawPath,
        );
      }
      const entry = makeEntry(h, type, rawPath, pax, globalPax, longLink, at);
      pax = undefined;
      longName = longLink = undefined;

      // Like Go's archive/tar: these types never carry data, whatever the size field says.
      const dataSize = entry.type === 'file' || h.type === 'D' ? entry.size : 0;
      if (h.type === 'D') entry.size = 0;
      if (entry.path === '') {
        if (entry.type !== 'dir') {
          throw new TarFormatError('ETARCORRUPT', `tar entry at byte ${at} has an empty name`, at);
        }
        await skipBody(r, dataSize + padding(dataSize), at, rawPath);
        continue;
      }

      if (entry.type === 'file') {
        const content = new Content(r, dataSize, entry.path);
        yield { entry, content };
        content.live = false;
        await skipBody(r, content.remaining + padding(dataSize), at, entry.path);
      } else {
        yield { entry };
        if (dataSize > 0) await skipBody(r, dataSize + padding(dataSize), at, entry.path);
      }
    }
  } finally {
    if (!finished) await r.close();
  }
}

function makeEntry(
  h: RawHeader,
  type: EntryType,
  rawPath: string,
  pax: PaxRecords | undefined,
  globalPax: PaxRecords,
  longLink: string | undefined,
  at: number,
): Entry {
  // Old (v7) tars mark directories only by a trailing slash on a plain-file type.
  if (h.type === '\0' && rawPath.endsWith('/')) type = 'dir';
  const path = normalizeTarPath(rawPath);
  const num = (key: string, fallback: number, frac = false): number => {
    const v = paxString(pax, key) ?? (globalPax.size ? paxString(globalPax, key) : undefined);
    if (v === undefined || v === '') return fallback;
    const ok = frac ? /^-?\d+(\.\d*)?$/.test(v) : /^\d+$/.test(v);
    if (!ok) {
      throw new TarFormatError('ETARCORRUPT', `${showName(path)}: pax ${key}=${showName(v)} is not a number`, at, path);
    }
    return Math.floor(Number(v));
  };
  const entry: Entry = {
    path,
    type,
    mode: h.mode & 0o7777,
    uid: num('uid', h.uid),
    gid: num('gid', h.gid),
    mtime: num('mtime', h.mtime, true),
    size: type === 'file' || h.type === 'D' ? numSize(pax, h, path, at) : 0,
  };
  if (type === 'symlink' || type === 'hardlink') {
    const link = paxName(pax, 'linkpath') ?? longLink ?? h.linkname;
    if (type === 'hardlink') {
      entry.linkname = normalizeTarPath(link);
      if (entry.linkname === '') {
        throw new TarFormatError('ETARCORRUPT', `${showName(path)}: hard link with an empty target`, at, path);
      }
    } else {
      entry.linkname = link;
    }
  }
  if (type === 'char' || type === 'block') {
    entry.devmajor = h.devmajor;
    entry.devminor = h.devminor;
  }
  const xattrs = collectXattrs(globalPax, pax);
  if (xattrs) entry.xattrs = xattrs;
  return entry;
}

function numSize(pax: PaxRecords | undefined, h: RawHeader, path: string, at: number): number {
  const v = paxString(pax, 'size');
  if (v === undefined || v === '') return h.size;
  if (!/^\d+$/.test(v)) {
    throw new TarFormatError('ETARCORRUPT', `${showName(path)}: pax size=${showName(v)} is not a number`, at, path);
  }
  return Number(v);
}

const SCHILY = 'SCHILY.xattr.';
const LIBARCHIVE = 'LIBARCHIVE.xattr.';

function collectXattrs(
  globalPax: PaxRecords,
  pax: PaxRecords | undefined,
): Record<string, Buffer> | undefined {
  let out: Record<string, Buffer> | undefined;
  for (const records of [globalPax, pax]) {
    if (!records) continue;
    for (const [key, value] of records) {
      if (key.startsWith(SCHILY)) {
        (out ??= {})[key.slice(SCHILY.length)] = value;
      }
    }
    // libarchive also writes base64 values under URL-encoded names; use them only when
    // the SCHILY form of the same attribute is absent.
    for (const [key, value] of records) {
      if (!key.startsWith(LIBARCHIVE)) continue;
      let name = key.slice(LIBARCHIVE.length);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      if (out && name in out) continue;
      (out ??= {})[name] = Buffer.from(value.toString('latin1'), 'base64');
    }
  }
  return out;
}

function hasSparse(pax: PaxRecords | undefined): boolean {
  if (!pax) return false;
  for (const key of pax.keys()) if (key.startsWith('GNU.sparse.')) return true;
  return false;
}

function paxString(pax: PaxRecords | undefined, key: string): string | undefined {
  const v = pax?.get(key);
  return v === undefined ? undefined : v.toString('utf8');
}

/** A pax record that holds a name (path, linkpath): bytes, like every name. */
function paxName(pax: PaxRecords | undefined, key: string): string | undefined {
  const v = pax?.get(key);
  return v === undefined ? undefined : decodeName(v);
}

/** A GNU long name or link ('L', 'K'): bytes up to the first NUL. */
function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return decodeName(nul < 0 ? b : b.subarray(0, nul));
}

function printable(t: string): string {
  const c = t.charCodeAt(0);
  return c >= 0x20 && c < 0x7f ? t : `\\x${c.toString(16).padStart(2, '0')}`;
}

function checkNumbers(h: RawHeader, at: number): void {
  for (const k of ['mode', 'uid', 'gid', 'size', 'mtime'] as const) {
    if (Number.isNaN(h[k]) || (k === 'size' && h[k] < 0)) {
      throw new TarFormatError(
        'ETARCORRUPT',
        `tar header at byte ${at} (${showName(h.name)}): the ${k} field is not a number`,
        at,
        h.name,
      );
    }
  }
  if (h.type === '3' || h.type === '4') {
    if (Number.isNaN(h.devmajor) || Number.isNaN(h.devminor)) {
      throw new TarFormatError(
        'ETARCORRUPT',
        `tar header at byte ${at} (${showName(h.name)}): bad device numbers`,
        at,
        h.name,
      );
    }
  }
}

async function readMeta(r: ByteReader, h: RawHeader, at: number): Promise<Buffer> {
  if (h.size > MAX_META) {
    throw new TarFormatError(
      'ETARCORRUPT',
      `tar metadata entry '${printable(h.type)}' at byte ${at} claims ${h.size} bytes: corrupt`,
      at,
      h.name,
    );
  }
  const body = await r.read(h.size);
  if (body.length < h.size) truncated(r, at, h.name);
  await skipBody(r, padding(h.size), at, h.name);
  return body;
}

async function skipBody(r: ByteReader, n: number, at: number, path: string): Promise<void> {
  if (n === 0) return;
  if (r.available >= n) {
    r.take(n);
    return;
  }
  if ((await r.skip(n)) < n) truncated(r, at, path);
}

function truncated(r: ByteReader, at: number, path: string): never {
  throw new TarFormatError(
    'ETARTRUNC',
    `tar stream ends at byte ${r.offset} inside the entry ${showName(path)} (header at byte ${at}): ` +
      `the archive is truncated`,
    r.offset,
    path,
  );
}
