// FAT directory names: the 8.3 short name every entry has, and the VFAT long-name (LFN)
// entries that precede it when the real name is not exactly an uppercase 8.3 name.
//
// Short names are made as fatgen103's "basis-name generation" describes (uppercase, characters a
// short name cannot hold become '_', a numeric tail ~N when the name was shortened or altered),
// with the tail counted up per directory in name order, so the same tree always gets the same
// aliases. A name that differs from its alias only by case keeps the alias without a tail
// ("readme.txt" -> README.TXT), as Windows does.
//
// Long names are UTF-16. A name holding bytes that are not UTF-8 (names.ts: lone surrogates)
// has no UTF-16 form: writing the surrogates would give a name that Linux's vfat, Windows and
// mtools each read differently, so such a name is refused (EFATNAME) rather than guessed at.
// FAT holds only what osbuild puts on an ESP (boot files with ASCII names), so this never
// costs a layer's file.

import { isValidText, showName } from '../names.js';

/** Characters a short name may hold besides A-Z and 0-9 (fatgen103, "FAT Directory Structure"). */
const SHORT_PUNCT = "!#$%&'()-@^_`{}~";
/** Characters a long name may not hold (besides controls below 0x20 and DEL). */
const LONG_FORBIDDEN = '"*/:<>?\\|';

export const LFN_CHARS = 13;
export const MAX_LONG_NAME = 255;

function isShortChar(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || SHORT_PUNCT.includes(c);
}

/** Why `name` cannot be a FAT directory entry name, or undefined when it can. */
export function invalidNameReason(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'empty, "." or ".." component';
  if (name.length > MAX_LONG_NAME) return `longer than ${MAX_LONG_NAME} UTF-16 units`;
  if (!isValidText(name)) return 'holds bytes that are not UTF-8, which FAT long names (UTF-16) cannot hold';
  for (const c of name) {
    const code = c.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f || LONG_FORBIDDEN.includes(c)) {
      return `contains "${showName(c)}", which FAT names cannot hold`;
    }
  }
  // Windows and Linux strip trailing dots and spaces when they look a name up: such a name
  // could never be opened again.
  if (/[. ]$/.test(name)) return 'ends with a dot or a space';
  return undefined;
}

/** The 11-byte on-disk form ("BOOTX64 EFI") of an uppercase 8.3 name ("BOOTX64.EFI"), if it is one. */
export function exactShortName(name: string): Buffer | undefined {
  const dot = name.indexOf('.');
  const base = dot < 0 ? name : name.slice(0, dot);
  const ext = dot < 0 ? '' : name.slice(dot + 1);
  if (base.length < 1 || base.length > 8 || ext.length > 3) return undefined;
  if (dot >= 0 && ext.length === 0) return undefined;
  for (const c of base + ext) if (!isShortChar(c)) return undefined;
  return pack(base, ext);
}

function pack(base: string, ext: string): Buffer {
  const b = Buffer.alloc(11, 0x20);
  b.write(base, 0, 'latin1');
  b.write(ext, 8, 'latin1');
  return b;
}

/** Hands out unique short names within one directory. */
export class ShortNamer {
  private used = new Set<string>();
  private tails = new Map<string, number>();

  /** Reserves a name that is already an exact short name; false if taken. */
  reserve(short: Buffer): boolean {
    const key = short.toString('latin1');
    if (this.used.has(key)) return false;
    this.used.add(key);
    return true;
  }

  /** A unique short alias for a long name (call reserve() for every exact short name first). */
  alias(name: string): Buffer {
    let lossy = false;
    const convert = (s: string): string => {
      let out = '';
      for (const ch of s.toUpperCase()) {
        if (ch === ' ' || ch === '.') {
          lossy = true; // embedded spaces and extra dots are dropped
          continue;
        }
        if (isShortChar(ch)) out += ch;
        else {
          out += '_';
          lossy = true;
        }
      }
      return out;
    };
    const stripped = name.replace(/^[. ]+/, '');
    if (stripped !== name) lossy = true;
    const lastDot = stripped.lastIndexOf('.');
    const hasExt = lastDot > 0;
    const baseFull = convert(hasExt ? stripped.slice(0, lastDot) : stripped);
    const extFull = hasExt ? convert(stripped.slice(lastDot + 1)) : '';
    const fits = baseFull.length >= 1 && baseFull.length <= 8 && extFull.length <= 3;
    const base = baseFull.slice(0, 8) || '_';
    const ext = extFull.slice(0, 3);
    if (!lossy && fits) {
      const plain = pack(base, ext);
      if (this.reserve(plain)) return plain;
    }
    const key = `${base.slice(0, 6)}.${ext}`;
    for (let n = this.tails.get(key) ?? 1; n < 1_000_000; n++) {
      const tail = `~${n}`;
      const cand = pack(base.slice(0, 8 - tail.length) + tail, ext);
      if (this.reserve(cand)) {
        this.tails.set(key, n + 1);
        return cand;
      }
    }
    throw new RangeError(`no free short name for "${showName(name)}"`);
  }
}

/** The checksum of an 11-byte short name that every LFN entry of that name carries. */
export function lfnChecksum(short: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]) & 0xff;
  return sum;
}

/** The number of LFN entries `name` needs. */
export function lfnCount(name: string): number {
  return Math.ceil(name.length / LFN_CHARS);
}

/** Where the 13 UTF-16 units of an LFN entry sit in its 32 bytes. */
const LFN_SLOTS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/** The LFN entries for `name`, in on-disk order (last part first), written into `out` at `at`. */
export function writeLfnEntries(name: string, checksum: number, out: Buffer, at: number): number {
  const count = lfnCount(name);
  for (let k = count; k >= 1; k--) {
    const e = out.subarray(at, at + 32);
    e[0] = k | (k === count ? 0x40 : 0);
    e[11] = 0x0f; // attribute: read-only|hidden|system|volume = long-name entry
    e[12] = 0;
    e[13] = checksum;
    e.writeUInt16LE(0, 26); // first cluster: always 0
    const part = (k - 1) * LFN_CHARS;
    for (let i = 0; i < LFN_CHARS; i++) {
      const j = part + i;
      const unit = j < name.length ? name.charCodeAt(j) : j === name.length ? 0 : 0xffff;
      e.writeUInt16LE(unit, LFN_SLOTS[i]);
    }
    at += 32;
  }
  return at;
}
