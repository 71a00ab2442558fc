// A small DER (X.690) encoder: the few ASN.1 types an Authenticode signature is made of. Every
// function returns one whole encoded element (tag, length, contents), so structures nest by
// plain function calls. Definite lengths only, as DER requires.

/** Tag, definite length, contents. */
export function tlv(tag: number, contents: Buffer): Buffer {
  const n = contents.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, contents]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));

/** SET OF: DER orders the elements by their encodings. */
export const setOf = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));

export const nul = (): Buffer => Buffer.from([0x05, 0x00]);

export const octets = (b: Buffer): Buffer => tlv(0x04, b);

/** A BIT STRING of whole bytes (no unused bits). */
export const bits = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** [n] EXPLICIT, constructed. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);

/** [n] IMPLICIT of a primitive type. */
export const implicitPrimitive = (n: number, contents: Buffer): Buffer => tlv(0x80 | n, contents);

/** BMPString contents: UTF-16 big-endian. */
export function bmp(s: string): Buffer {
  const le = Buffer.from(s, 'utf16le');
  return Buffer.from(le).swap16();
}

/** INTEGER from a non-negative number. */
export function int(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER INTEGER: ${n} is not a non-negative integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || bytes[0] & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

/** OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`DER OID: ${dotted} is not dotted decimal`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new RangeError(`DER OID: ${dotted} has fewer than two arcs`);
  const out: number[] = [];
  const base128 = (v: bigint) => {
    const g: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) g.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...g);
  };
  base128(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) base128(a);
  return tlv(0x06, Buffer.from(out));
}

/** One element read back: its tag, where its contents are, and where it ends. For picking fields out of a certificate. */
export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the contents. */
  contentStart: number;
  end: number;
}

/** Reads the element at `at`; throws RangeError on a malformed or truncated encoding. */
export function readElement(b: Buffer, at: number): DerElement {
  if (at + 2 > b.length) throw new RangeError('DER: truncated element');
  const tag = b[at];
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: high tag numbers are not used here');
  let len = b[at + 1];
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > b.length) throw new RangeError('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i];
    p += n;
  }
  if (p + len > b.length) throw new RangeError('DER: element runs past its container');
  return { tag, start: at, contentStart: p, end: p + len };
}

/** The elements inside a constructed element, in order. */
export function children(b: Buffer, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const e = readElement(b, p);
    if (e.end > parent.end) throw new RangeError('DER: element runs past its container');
    out.push(e);
    p = e.end;
  }
  return out;
}
