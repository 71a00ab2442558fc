// POSIX pax extended header records ("<len> <key>=<value>\n"), parsed from and encoded to raw
// bytes. Values stay bytes: SCHILY.xattr.* values are binary (security.capability), and
// decoding them as UTF-8 would corrupt them. Keys go through decodeName: an xattr name in
// SCHILY.xattr.<name> is a name too, and must not collapse with another one.

import { decodeName, encodeName } from '../names.js';

export type PaxRecords = Map<string, Buffer>;

/**
 * Parses a pax header body into `into` (later records override earlier ones).
 * Returns an error message when the body is malformed, undefined when fine.
 */
export function parsePax(body: Buffer, into: PaxRecords): string | undefined {
  let i = 0;
  while (i < body.length) {
    // Some writers pad the body with NULs.
    if (body[i] === 0) break;
    let len = 0;
    let j = i;
    while (j < body.length && body[j] >= 0x30 && body[j] <= 0x39) len = len * 10 + (body[j++] - 0x30);
    if (j === i || body[j] !== 0x20) return `record at byte ${i} has no length`;
    const end = i + len;
    if (len <= j - i + 1 || end > body.length || body[end - 1] !== 0x0a) {
      return `record at byte ${i} has a bad length ${len}`;
    }
    const eq = body.indexOf(0x3d, j + 1);
    if (eq < 0 || eq >= end) return `record at byte ${i} has no '='`;
    const key = decodeName(body.subarray(j + 1, eq));
    // Copy: the body may be a view into a large source chunk we must not keep alive.
    into.set(key, Buffer.from(body.subarray(eq + 1, end - 1)));
    i = end;
  }
  return undefined;
}

function record(key: string, value: Buffer): Buffer {
  const keyBytes = encodeName(key);
  const kv = keyBytes.length + value.length + 3; // ' ', '=', '\n'
  // The length counts its own digits: grow until stable.
  let len = kv + String(kv).length;
  while (kv + String(len).length !== len) len = kv + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `, 'latin1'), keyBytes, EQ, value, NL]);
}

const EQ = Buffer.from('=');
const NL = Buffer.from('\n');

/** Encodes records in the given order (the caller sorts for determinism). String values are names: encodeName. */
export function encodePax(records: Array<[string, Buffer | string]>): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => record(k, typeof v === 'string' ? encodeName(v) : v)),
  );
}
