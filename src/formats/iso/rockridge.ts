// Rock Ridge (RRIP 1.10, "RRIP_1991A", as xorriso and mkisofs write it) on top of SUSP 1.12:
// the System Use entries that give Linux, GRUB and isolinux POSIX names, modes, times and
// symlink targets. Each builder returns one complete entry (signature, length, version, data).
// Entries that do not fit in a directory record (at most 255 bytes) move to a continuation
// area pointed at by a CE entry; placeRecordEntries decides the split.

import { both32, recordDate } from './fields.js';
import { IsoError } from './errors.js';
import { encodeName, showName } from '../names.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** Size of a CE entry (SUSP 5.1). */
export const CE_LEN = 28;

function entry(sig: string, data: Buffer): Buffer {
  if (data.length + 4 > 255) throw new Error(`internal: SUSP ${sig} entry of ${data.length + 4} bytes`);
  return Buffer.concat([Buffer.from([sig.charCodeAt(0), sig.charCodeAt(1), data.length + 4, 1]), data]);
}

/** SP: marks SUSP in use; first entry of the root's "." record (SUSP 5.3). */
export function sp(): Buffer {
  return entry('SP', Buffer.from([0xbe, 0xef, 0]));
}

const ER_ID = 'RRIP_1991A';
const ER_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const ER_SRC =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** ER: names the extension in use (SUSP 5.5), in the root's "." record. */
export function er(): Buffer {
  const head = Buffer.from([ER_ID.length, ER_DES.length, ER_SRC.length, 1]);
  return entry('ER', Buffer.concat([head, Buffer.from(ER_ID + ER_DES + ER_SRC, 'latin1')]));
}

/** PX: mode, link count, uid, gid (RRIP 1.10 form, 36 bytes: no serial number). */
export function px(mode: number, nlink: number, uid = 0, gid = 0): Buffer {
  const d = Buffer.alloc(32);
  both32(d, 0, mode);
  both32(d, 8, nlink);
  both32(d, 16, uid);
  both32(d, 24, gid);
  return entry('PX', d);
}

/**
 * PN: a device node's number (RRIP 4.1.2): the high and low 32 bits of the dev_t, as mkisofs and
 * xorriso write it and libarchive and libisofs read it (glibc's encoding of major and minor).
 * Linux's isofs reads a high half of 0 as an old 16-bit dev_t: the two agree while the major is
 * below 4096 and the minor below 256 (the caller checks).
 */
export function pn(major: number, minor: number): Buffer {
  const M = BigInt(major);
  const m = BigInt(minor);
  const dev = ((M & 0xfffff000n) << 32n) | ((M & 0xfffn) << 8n) | ((m & 0xffffff00n) << 12n) | (m & 0xffn);
  const d = Buffer.alloc(16);
  both32(d, 0, Number(dev >> 32n));
  both32(d, 8, Number(dev & 0xffffffffn));
  return entry('PN', d);
}

/** TF: modification, access and attribute-change times, all `mtime` (7-byte form). */
export function tf(mtime: number): Buffer {
  const d = Buffer.alloc(1 + 3 * 7);
  d[0] = 0x0e;
  for (let i = 0; i < 3; i++) recordDate(d, 1 + i * 7, mtime);
  return entry('TF', d);
}

/** NM entries for a POSIX name (its bytes: names.ts): split with the CONTINUE flag when longer than one entry holds. */
export function nm(name: string): Buffer[] {
  const bytes = encodeName(name);
  const out: Buffer[] = [];
  const MAX = 250;
  for (let i = 0; i < bytes.length; i += MAX) {
    const part = bytes.subarray(i, i + MAX);
    const more = i + MAX < bytes.length;
    out.push(entry('NM', Buffer.concat([Buffer.from([more ? 1 : 0]), part])));
  }
  return out;
}

/**
 * SL entries for a symlink target (RRIP 4.1.3). Like xorriso, entries are filled to the brim and
 * a name is split (component CONTINUE flag) across the entry boundary: libarchive drops the '/'
 * between two complete components that sit in different SL entries.
 */
export function sl(target: string, path: string): Buffer[] {
  if (target === '') throw new IsoError('EISOPATH', `symlink ${showName(path)} has an empty target`, path);
  const comps: { flags: number; name?: Buffer }[] = [];
  if (target.startsWith('/')) comps.push({ flags: 0x08 });
  for (const p of target.split('/')) {
    if (p === '') continue;
    if (p === '.') comps.push({ flags: 0x02 });
    else if (p === '..') comps.push({ flags: 0x04 });
    else comps.push({ flags: 0, name: encodeName(p) });
  }
  const CAP = 250; // component bytes in one SL entry (255 - 5)
  const entries: Buffer[][] = [[]];
  let used = 0;
  const close = () => {
    // an entry that ends with a whole name while more follows: the name is marked continued and
    // the next entry begins with an empty component, which ends it (the '/' then survives libarchive)
    const cur = entries[entries.length - 1];
    const tail = cur[cur.length - 1];
    const split = tail !== undefined && tail[0] === 0 && tail[1] > 0;
    if (split) tail[0] = 0x01;
    entries.push(split ? [Buffer.from([0, 0])] : []);
    used = split ? 2 : 0;
  };
  comps.forEach((c, i) => {
    const last = i === comps.length - 1;
    if (!c.name) {
      if (CAP - used < 2) close();
      entries[entries.length - 1].push(Buffer.from([c.flags, 0]));
      used += 2;
      return;
    }
    let rest = c.name;
    while (rest.length > 0) {
      if (CAP - used < 3) close();
      let take = Math.min(rest.length, CAP - used - 2);
      // do not end an entry exactly at the end of a name when more follows (see above)
      const atBoundary = take === rest.length && used + 2 + take === CAP && !last;
      if (atBoundary && take > 1) take--;
      const more = take < rest.length;
      // a one-byte name cannot be split: close() continues it with an empty component
      const continued = more || atBoundary;
      entries[entries.length - 1].push(Buffer.concat([Buffer.from([more ? 0x01 : 0, take]), rest.subarray(0, take)]));
      used += 2 + take;
      rest = rest.subarray(take);
      if (continued && !more) close();
    }
  });
  const full = entries.filter((e) => e.length > 0);
  return full.map((g, i) => entry('SL', Buffer.concat([Buffer.from([i < full.length - 1 ? 1 : 0]), ...g])));
}

/** CE: where the rest of this record's System Use entries continue. */
export function ce(lba: number, offset: number, length: number): Buffer {
  const d = Buffer.alloc(24);
  both32(d, 0, lba);
  both32(d, 8, offset);
  both32(d, 16, length);
  return entry('CE', d);
}

export interface PlacedEntries {
  /** entries written in the record itself (a CE entry is appended at write time if `spill` is non-empty) */
  inline: Buffer[];
  /** entries moved to a continuation area */
  spill: Buffer[];
  /** bytes of System Use in the record, including the CE entry */
  inlineLen: number;
  spillLen: number;
}

/**
 * Splits `entries` between a directory record with `room` bytes of System Use and a continuation
 * area. Order is kept (SP stays first); once one entry spills, the rest follow it.
 */
export function placeRecordEntries(entries: Buffer[], room: number): PlacedEntries {
  const total = entries.reduce((n, e) => n + e.length, 0);
  if (total <= room) return { inline: entries, spill: [], inlineLen: total, spillLen: 0 };
  const inline: Buffer[] = [];
  let used = 0;
  let i = 0;
  for (; i < entries.length && used + entries[i].length + CE_LEN <= room; i++) {
    inline.push(entries[i]);
    used += entries[i].length;
  }
  const spill = entries.slice(i);
  return { inline, spill, inlineLen: used + CE_LEN, spillLen: spill.reduce((n, e) => n + e.length, 0) };
}
