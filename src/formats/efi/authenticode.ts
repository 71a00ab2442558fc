// Authenticode for PE32+ images, after the Microsoft PE/COFF specification ("Attribute
// Certificate Table", "Process for Generating the Authenticode PE Image Hash") and the Authenticode
// PE signature format:
// - the digest covers the headers up to SizeOfHeaders less the CheckSum field and the Certificate
//   Table data directory entry, then every section's raw data in the order of PointerToRawData,
//   then whatever follows the bytes hashed so far, up to the certificate table;
// - the signature is a WIN_CERTIFICATE (revision 2.0, type PKCS_SIGNED_DATA) holding the PKCS#7
//   SignedData, appended at the end of the file at an 8-byte boundary, padded to 8 bytes; the
//   Certificate Table data directory entry gives its file offset and padded size;
// - the CheckSum (imagehlp's algorithm) is a 16-bit one's complement sum of the whole file's
//   little-endian words, the CheckSum field counted as zero, plus the file's length.
// Pure functions over buffers, and accumulators that see a stream's bytes once.

import { createHash, type Hash } from 'node:crypto';
import { alignUp, parsePe, PeError, type PeLayout } from './pe.js';
import { authenticodeSignedData, type SignerKey } from './pkcs7.js';

/** Index of the certificate table in the data directories. */
const DIR_SECURITY = 4;
// offsets in the PE32+ optional header
const OPT_CHECKSUM = 64;
const OPT_NUMBER_OF_RVA_AND_SIZES = 108;
const OPT_DATA_DIRECTORIES = 112;

const WIN_CERT_REVISION_2_0 = 0x0200;
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

/** Where the two fields a signature changes in the headers are. */
export function signatureFields(b: Buffer, pe: PeLayout): { checksum: number; certDir: number } {
  if (b.readUInt32LE(pe.optOffset + OPT_NUMBER_OF_RVA_AND_SIZES) <= DIR_SECURITY) {
    throw new PeError('EPEFORMAT', 'PE image: its optional header has no certificate table entry; it cannot carry a signature');
  }
  return { checksum: pe.optOffset + OPT_CHECKSUM, certDir: pe.optOffset + OPT_DATA_DIRECTORIES + DIR_SECURITY * 8 };
}

export interface ByteRange {
  start: number;
  end: number;
}

/** The byte ranges of a PE file of `fileSize` bytes its Authenticode digest covers, in the order they are hashed. */
export function authenticodeRanges(head: Buffer, pe: PeLayout, fileSize: number, certTableSize = 0): ByteRange[] {
  const f = signatureFields(head, pe);
  const ranges: ByteRange[] = [
    { start: 0, end: f.checksum },
    { start: f.checksum + 4, end: f.certDir },
    { start: f.certDir + 8, end: pe.sizeOfHeaders },
  ];
  let hashed = pe.sizeOfHeaders;
  const sections = pe.sections.filter((s) => s.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData);
  for (const s of sections) {
    ranges.push({ start: s.pointerToRawData, end: s.pointerToRawData + s.sizeOfRawData });
    hashed += s.sizeOfRawData;
  }
  const dataEnd = fileSize - certTableSize;
  if (dataEnd > hashed) ranges.push({ start: hashed, end: dataEnd });
  return ranges;
}

/** The Authenticode SHA-256 digest of a whole PE file in memory (signed or not). */
export function authenticodeDigest(file: Buffer): Buffer {
  const pe = parsePe(file);
  const f = signatureFields(file, pe);
  const certSize = file.readUInt32LE(f.certDir + 4);
  const h = createHash('sha256');
  for (const r of authenticodeRanges(file, pe, file.length, certSize)) h.update(file.subarray(r.start, r.end));
  return h.digest();
}

/** Feeds the bytes of ascending, non-overlapping file ranges to a hash as a stream passes by. */
export class RangeHash {
  private offset = 0;
  private i = 0;

  constructor(
    private readonly ranges: ByteRange[],
    readonly hash: Hash,
  ) {
    for (let k = 1; k < ranges.length; k++) {
      if (ranges[k].start < ranges[k - 1].end) {
        throw new PeError('EPEFORMAT', 'PE image: its sections overlap or are out of file order; cannot hash it in one pass');
      }
    }
  }

  update(chunk: Uint8Array): void {
    const end = this.offset + chunk.length;
    while (this.i < this.ranges.length) {
      const r = this.ranges[this.i];
      if (r.start >= end) break;
      const from = Math.max(r.start, this.offset);
      const to = Math.min(r.end, end);
      if (to > from) this.hash.update(chunk.subarray(from - this.offset, to - this.offset));
      if (r.end > end) break;
      this.i++;
    }
    this.offset = end;
  }

  /** The ranges were all seen. */
  get complete(): boolean {
    return this.i === this.ranges.length;
  }
}

/** The PE CheckSum of a stream of bytes, fed in file order. */
export class PeChecksum {
  private sum = 0;
  private odd: number | undefined;
  length = 0;

  /** The next bytes of the file. */
  update(chunk: Uint8Array): void {
    let i = 0;
    let s = this.sum;
    if (this.odd !== undefined && chunk.length > 0) {
      s += this.odd | (chunk[0] << 8);
      this.odd = undefined;
      i = 1;
    }
    const n = chunk.length;
    for (; i + 1 < n; i += 2) s += chunk[i] | (chunk[i + 1] << 8);
    if (i < n) this.odd = chunk[i];
    this.length += n;
    this.sum = fold(s);
  }

  /**
   * Bytes written over zeros already seen, at an even offset: a one's complement sum does not
   * depend on the order of its words.
   */
  overwrite(bytes: Buffer): void {
    if (bytes.length % 2 !== 0) throw new RangeError('PE checksum: overwrite whole words');
    let s = this.sum;
    for (let i = 0; i < bytes.length; i += 2) s += bytes.readUInt16LE(i);
    this.sum = fold(s);
  }

  clone(): PeChecksum {
    const c = new PeChecksum();
    c.sum = this.sum;
    c.odd = this.odd;
    c.length = this.length;
    return c;
  }

  /** The CheckSum of the bytes seen, which counted the CheckSum field as it was (zero for a value to write there). */
  value(): number {
    const s = fold(this.sum + (this.odd ?? 0));
    return (s + this.length) >>> 0;
  }
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** A WIN_CERTIFICATE holding a PKCS#7 SignedData, padded to 8 bytes. */
export function winCertificate(pkcs7: Buffer): Buffer {
  const length = 8 + pkcs7.length;
  const out = Buffer.alloc(alignUp(length, 8));
  out.writeUInt32LE(length, 0);
  out.writeUInt16LE(WIN_CERT_REVISION_2_0, 4);
  out.writeUInt16LE(WIN_CERT_TYPE_PKCS_SIGNED_DATA, 6);
  pkcs7.copy(out, 8);
  return out;
}

/** What an unsigned image's one pass gave: its Authenticode digest and its checksum accumulator. */
export interface UnsignedPass {
  digest: Buffer;
  checksum: PeChecksum;
  size: number;
}

export interface Signature {
  /** The certificate table to append (at `size` of the unsigned image, which is 8-byte aligned). */
  table: Buffer;
  /** Values for the headers: the CheckSum and the Certificate Table entry. */
  checksum: number;
  certOffset: number;
}

/** Signs an unsigned image seen once: the certificate table to append and the header values to set. */
export function signPass(pass: UnsignedPass, signer: SignerKey, fields: { certDir: number }): Signature {
  if (pass.size % 8 !== 0) throw new PeError('EPEFORMAT', `PE image: its size ${pass.size} is not a multiple of 8, where the certificate table must start`);
  const table = winCertificate(authenticodeSignedData(pass.digest, signer));
  const entry = Buffer.alloc(8);
  entry.writeUInt32LE(pass.size, 0);
  entry.writeUInt32LE(table.length, 4);
  if (fields.certDir % 2 !== 0) throw new PeError('EPEFORMAT', 'PE image: its certificate table entry is at an odd offset');
  const sum = pass.checksum.clone();
  sum.overwrite(entry);
  sum.update(table);
  return { table, checksum: sum.value(), certOffset: pass.size };
}

/** The headers with the signature's CheckSum and Certificate Table entry written in. */
export function signedHead(head: Buffer, fields: { checksum: number; certDir: number }, sig: Signature): Buffer {
  const out = Buffer.from(head);
  out.writeUInt32LE(sig.checksum, fields.checksum);
  out.writeUInt32LE(sig.certOffset, fields.certDir);
  out.writeUInt32LE(sig.table.length, fields.certDir + 4);
  return out;
}

/** Signs a whole unsigned PE file in memory, padded with zeros to 8 bytes first: the signed file. */
export function signPe(file: Buffer, signer: SignerKey): Buffer {
  const pe = parsePe(file);
  const fields = signatureFields(file, pe);
  if (file.readUInt32LE(fields.certDir + 4) !== 0) throw new PeError('EPESIGNED', 'PE image: it is signed already');
  const unsigned = Buffer.alloc(alignUp(file.length, 8));
  file.copy(unsigned);
  unsigned.writeUInt32LE(0, fields.checksum);
  const checksum = new PeChecksum();
  checksum.update(unsigned);
  const sig = signPass({ digest: authenticodeDigest(unsigned), checksum, size: unsigned.length }, signer, fields);
  return Buffer.concat([signedHead(unsigned, fields, sig), sig.table]);
}
