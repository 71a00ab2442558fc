// Field encodings of ECMA-119: both-byte-order integers, the two date formats and
// space-padded strings. Everything here writes into a caller's buffer at an offset.

import { IsoError } from './errors.js';

export const SECTOR = 2048;

/** 16-bit both-byte orders (ECMA-119 7.2.3): little-endian then big-endian, 4 bytes. */
export function both16(b: Buffer, off: number, v: number): void {
  b.writeUInt16LE(v, off);
  b.writeUInt16BE(v, off + 2);
}

/** 32-bit both-byte orders (ECMA-119 7.3.3): 8 bytes. */
export function both32(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v, off);
  b.writeUInt32BE(v, off + 4);
}

/** ASCII text padded with spaces to `len` bytes (a- and d-character fields). */
export function padded(b: Buffer, off: number, len: number, text: string): void {
  b.fill(0x20, off, off + len);
  b.write(text.slice(0, len), off, 'latin1');
}

function utcParts(epochSec: number): number[] {
  const d = new Date(epochSec * 1000);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(epochSec) || y < 1970 || y > 2155) {
    throw new IsoError('EISOFIELD', `timestamp ${epochSec} is outside the years ISO 9660 can record (1970-2155)`);
  }
  return [y, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
}

/** The 7-byte date of directory records and Rock Ridge TF (ECMA-119 9.1.5), always UTC. */
export function recordDate(b: Buffer, off: number, epochSec: number): void {
  const [y, mo, d, h, mi, s] = utcParts(epochSec);
  b[off] = y - 1900;
  b[off + 1] = mo;
  b[off + 2] = d;
  b[off + 3] = h;
  b[off + 4] = mi;
  b[off + 5] = s;
  b[off + 6] = 0; // offset from GMT in 15-minute steps
}

/** The 17-byte date of volume descriptors (ECMA-119 8.4.26.1); undefined = "not specified". */
export function volumeDate(b: Buffer, off: number, epochSec: number | undefined): void {
  if (epochSec === undefined) {
    b.write('0000000000000000', off, 'latin1');
  } else {
    const p = utcParts(epochSec);
    const two = (n: number) => String(n).padStart(2, '0');
    b.write(String(p[0]) + p.slice(1).map(two).join('') + '00', off, 'latin1');
  }
  b[off + 16] = 0;
}

export function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / SECTOR);
}
