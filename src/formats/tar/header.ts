// The 512-byte tar header block (POSIX ustar, with the GNU and v7 variants a reader meets),
// decoded from and encoded to raw bytes. Pure functions: no streams here.

import { decodeName } from '../names.js';

export const BLOCK = 512;

/** Bytes of padding after `size` bytes of data to reach the next block boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

// Field offsets and lengths (POSIX.1-2001 ustar).
const NAME = 0, NAME_LEN = 100;
const MODE = 100;
const UID = 108;
const GID = 116;
const SIZE = 124, SIZE_LEN = 12;
const MTIME = 136, MTIME_LEN = 12;
const CHKSUM = 148, CHKSUM_LEN = 8;
const TYPEFLAG = 156;
const LINKNAME = 157, LINKNAME_LEN = 100;
const MAGIC = 257;
const DEVMAJOR = 329;
const DEVMINOR = 337;
const PREFIX = 345, PREFIX_LEN = 155;
const NUM_LEN = 8;

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** The typeflag character ('0', '5', 'x', 'L', ...; '\0' for old regular files). */
  type: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** Sum of the header bytes with the checksum field counted as spaces (unsigned, as POSIX says). */
function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let u = 0;
  let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= CHKSUM && i < CHKSUM + CHKSUM_LEN ? 0x20 : block[i];
    u += b;
    s += b > 127 ? b - 256 : b;
  }
  return { unsigned: u, signed: s };
}

/**
 * A numeric field: octal digits (leading spaces, ended by NUL or space), or GNU base-256
 * (first byte 0x80 positive, 0xff negative) for values too large for octal.
 * Returns NaN when the field holds anything else.
 */
export function parseNumeric(block: Uint8Array, off: number, len: number): number {
  const first = block[off];
  if (first === 0x80 || first === 0xff) {
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + block[off + i];
    if (first === 0xff) v -= 2 ** (8 * (len - 1));
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && block[i] === 0x20) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c >= 0x30 && c <= 0x37) {
      v = v * 8 + (c - 0x30);
    } else if (c === 0 || c === 0x20) {
      break;
    } else {
      return NaN;
    }
  }
  // A field of NULs or spaces alone (some writers) means zero.
  return v;
}

/** A NUL-terminated (or full-width) name field. Names are bytes: see names.ts. */
function parseString(block: Buffer, off: number, len: number): string {
  let end = off;
  const max = off + len;
  let high = 0;
  for (let c; end < max && (c = block[end]) !== 0; end++) high |= c;
  if (end === off) return '';
  // ASCII (nearly every name) straight from the block: no view to allocate, nothing to validate
  return high < 0x80 ? block.toString('latin1', off, end) : decodeName(block.subarray(off, end));
}

function isUstar(block: Uint8Array): boolean {
  // POSIX "ustar\0"; GNU writes "ustar  \0", whose bytes 345.. hold atime/ctime, not a prefix.
  return (
    block[MAGIC] === 0x75 && block[MAGIC + 1] === 0x73 && block[MAGIC + 2] === 0x74 &&
    block[MAGIC + 3] === 0x61 && block[MAGIC + 4] === 0x72 && block[MAGIC + 5] === 0
  );
}

/**
 * Decodes one header block. Returns undefined when the checksum does not match (the
 * block is not a tar header); the caller decides how to report it.
 */
export function decodeHeader(block: Buffer): RawHeader | undefined {
  const stored = parseNumeric(block, CHKSUM, CHKSUM_LEN);
  const sums = checksums(block);
  if (stored !== sums.unsigned && stored !== sums.signed) return undefined;
  let name = parseString(block, NAME, NAME_LEN);
  if (isUstar(block) && block[PREFIX] !== 0) {
    name = parseString(block, PREFIX, PREFIX_LEN) + '/' + name;
  }
  const type = String.fromCharCode(block[TYPEFLAG]);
  return {
    name,
    mode: parseNumeric(block, MODE, NUM_LEN),
    uid: parseNumeric(block, UID, NUM_LEN),
    gid: parseNumeric(block, GID, NUM_LEN),
    size: parseNumeric(block, SIZE, SIZE_LEN),
    mtime: parseNumeric(block, MTIME, MTIME_LEN),
    type,
    linkname: parseString(block, LINKNAME, LINKNAME_LEN),
    devmajor: parseNumeric(block, DEVMAJOR, NUM_LEN),
    devminor: parseNumeric(block, DEVMINOR, NUM_LEN),
  };
}

// ---- encoding (writer side) ----

export interface HeaderFields {
  /** Bytes of the name (encodeName); at most 100, or split with prefix by the caller. */
  name: Buffer;
  prefix?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
}

/** Largest value an octal field of `len` bytes holds (len-1 digits and a NUL). */
export function octalMax(len: number): number {
  return 8 ** (len - 1) - 1;
}

function writeOctal(block: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  block.write(s, off, len - 1, 'latin1');
  block[off + len - 1] = 0;
}

/** Encodes a ustar header; the caller guarantees every value fits its field. */
export function encodeHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  h.name.copy(block, NAME, 0, Math.min(h.name.length, NAME_LEN));
  writeOctal(block, MODE, NUM_LEN, h.mode);
  writeOctal(block, UID, NUM_LEN, h.uid);
  writeOctal(block, GID, NUM_LEN, h.gid);
  writeOctal(block, SIZE, SIZE_LEN, h.size);
  writeOctal(block, MTIME, MTIME_LEN, h.mtime);
  block[TYPEFLAG] = h.type.charCodeAt(0);
  if (h.linkname) h.linkname.copy(block, LINKNAME, 0, Math.min(h.linkname.length, LINKNAME_LEN));
  block.write('ustar\u000000', MAGIC, 8, 'latin1');
  writeOctal(block, DEVMAJOR, NUM_LEN, h.devmajor ?? 0);
  writeOctal(block, DEVMINOR, NUM_LEN, h.devminor ?? 0);
  if (h.prefix) h.prefix.copy(block, PREFIX, 0, Math.min(h.prefix.length, PREFIX_LEN));
  block.fill(0x20, CHKSUM, CHKSUM + CHKSUM_LEN);
  const sum = checksums(block).unsigned;
  // Conventional form: six octal digits, NUL, space.
  block.write(sum.toString(8).padStart(6, '0'), CHKSUM, 6, 'latin1');
  block[CHKSUM + 6] = 0;
  block[CHKSUM + 7] = 0x20;
  return block;
}

export const FIELD = { NAME_LEN, LINKNAME_LEN, PREFIX_LEN, NUM_LEN, SIZE_LEN, MTIME_LEN } as const;
