// Entry names are bytes. Layers may carry names that are not UTF-8, and two such names must not
// collapse into one (Node's utf8 decoder maps every bad byte to U+FFFD). Inside osbuild a name is
// a JS string in which each byte that is not part of valid UTF-8 stands as the lone surrogate
// U+DC80..U+DCFF (Python's "surrogateescape"): valid UTF-8 reads as the text it is, so blueprint
// paths compare equal to layer paths, and every name goes back out as the bytes it came in as.
//
// Names are also attacker-controlled text: showName() is the only way a name reaches a message,
// so that no escape sequence, newline or forged "error:" line gets to a terminal or a log.

const ESCAPE_BASE = 0xdc00;
const fatal = new TextDecoder('utf-8', { fatal: true });

/** Bytes (from a tar header, a pax record, a cpio name) to a name. Lossless; see encodeName. */
export function decodeName(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  try {
    return fatal.decode(bytes);
  } catch {
    return decodeSlow(bytes);
  }
}

function decodeSlow(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = sequenceLength(b, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + c);
      i++;
      continue;
    }
    out += fatal.decode(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at b[i] (a non-ASCII lead byte), or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no encoded surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A name back to its bytes: the inverse of decodeName. */
export function encodeName(name: string): Buffer {
  if (!/[\ud800-\udfff]/.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < name.length) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: ordinary UTF-8
        continue;
      }
    }
    if (u >= ESCAPE_BASE + 0x80 && u <= ESCAPE_BASE + 0xff) {
      parts.push(Buffer.from(name.slice(start, i), 'utf8'), Buffer.of(u - ESCAPE_BASE));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(name.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether a name is text: false when it holds bytes that were not UTF-8 (lone surrogates).
 * Writers whose format wants Unicode (pax without hdrcharset=BINARY, FAT's UTF-16) ask this.
 */
export function isValidText(name: string): boolean {
  return !LONE_SURROGATE.test(name);
}

/** Byte length of a name as it will be written. */
export function nameByteLength(name: string): number {
  return /[\ud800-\udfff]/.test(name) ? encodeName(name).length : Buffer.byteLength(name, 'utf8');
}

/**
 * What no printed text may carry raw, as a regex character class: C0 and C1 controls, DEL, the
 * bidirectional marks and overrides, the line and paragraph separators. Newline and tab are C0
 * controls too: the CLI's own guard (cli/progress.ts) keeps those, showName escapes them.
 */
export const CONTROL_CLASS = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069';
const CONTROL = new RegExp(`[${CONTROL_CLASS}]`);
const NEEDS_ESCAPE = new RegExp(`[${CONTROL_CLASS}\\ud800-\\udfff\\\\]`);

/**
 * A name (or any text from an image or a blueprint) made safe to print: control characters
 * (C0, DEL, C1), line and paragraph separators, bidirectional overrides and bytes that were not
 * UTF-8 are shown as escapes (\n, \t, \e, \xNN, \u{NNNN}); a backslash is doubled only when it
 * would otherwise read as one of those escapes. Printable text, UTF-8 included, is shown as is.
 */
export function showName(name: string): string {
  if (!NEEDS_ESCAPE.test(name)) return name;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < name.length) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += name[i] + name[i + 1];
        i++;
        continue;
      }
    }
    out += showUnit(u, name[i + 1]);
  }
  return out;
}

function showUnit(u: number, next: string | undefined): string {
  switch (u) {
    case 0x0a: return '\\n';
    case 0x09: return '\\t';
    case 0x0d: return '\\r';
    case 0x1b: return '\\e';
    case 0x5c: return next !== undefined && /[ntrexu\\]/.test(next) ? '\\\\' : '\\';
  }
  if (u < 0x20 || u === 0x7f) return `\\x${hex(u, 2)}`;
  if (u >= ESCAPE_BASE + 0x80 && u <= ESCAPE_BASE + 0xff) return `\\x${hex(u - ESCAPE_BASE, 2)}`;
  const c = String.fromCharCode(u);
  return CONTROL.test(c) || (u >= 0xd800 && u <= 0xdfff) ? `\\u{${hex(u, 4)}}` : c;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
