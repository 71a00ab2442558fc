// PE/COFF (PE32+) headers: just enough to read an EFI application's layout and to append sections
// to it. Offsets and field names follow the Microsoft PE format specification. Little-endian.

import { OsbuildError } from '../../errors.js';

export type PeErrorCode = 'EPEFORMAT' | 'EPEMACHINE' | 'EPEROOM' | 'EPESIGNED' | 'EPESECTION';

/** A PE file osbuild cannot use or extend. */
export class PeError extends OsbuildError {
  constructor(
    readonly code: PeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Initialized data, readable: what every section we add is. */
export const SCN_INITIALIZED_READ = 0x4000_0040;
const SECTION_HEADER_SIZE = 40;
const PE32_PLUS = 0x20b;
/** Index of the certificate table (Authenticode signature) in the data directories. */
const DIR_SECURITY = 4;

export interface PeSection {
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  characteristics: number;
}

export interface PeLayout {
  machine: number;
  /** Offset of "PE\0\0". */
  peOffset: number;
  /** Offset of the optional header. */
  optOffset: number;
  /** Offset of the section table. */
  sectionTableOffset: number;
  sectionAlignment: number;
  fileAlignment: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  sizeOfInitializedData: number;
  sections: PeSection[];
}

// Field offsets from the start of the PE32+ optional header
const OPT = {
  sizeOfInitializedData: 8,
  sectionAlignment: 32,
  fileAlignment: 36,
  sizeOfImage: 56,
  sizeOfHeaders: 60,
  checkSum: 64,
  numberOfRvaAndSizes: 108,
  dataDirectories: 112,
} as const;

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Reads the headers of a PE32+ image (an EFI application such as systemd's stub). */
export function parsePe(b: Buffer, what = 'PE file'): PeLayout {
  const fail = (msg: string): never => {
    throw new PeError('EPEFORMAT', `${what}: ${msg}`);
  };
  if (b.length < 0x40 || b.toString('latin1', 0, 2) !== 'MZ') fail('no MZ header; not a PE/EFI binary');
  const peOffset = b.readUInt32LE(0x3c);
  if (peOffset + 24 > b.length || b.toString('latin1', peOffset, peOffset + 4) !== 'PE\0\0') fail('no PE signature');
  const machine = b.readUInt16LE(peOffset + 4);
  const numberOfSections = b.readUInt16LE(peOffset + 6);
  const sizeOfOptionalHeader = b.readUInt16LE(peOffset + 20);
  const optOffset = peOffset + 24;
  if (optOffset + sizeOfOptionalHeader > b.length || sizeOfOptionalHeader < OPT.dataDirectories) fail('truncated optional header');
  if (b.readUInt16LE(optOffset) !== PE32_PLUS) fail('not PE32+ (a 64-bit EFI binary is needed)');
  const sectionTableOffset = optOffset + sizeOfOptionalHeader;
  if (sectionTableOffset + numberOfSections * SECTION_HEADER_SIZE > b.length) fail('truncated section table');
  const sections: PeSection[] = [];
  for (let i = 0; i < numberOfSections; i++) {
    const o = sectionTableOffset + i * SECTION_HEADER_SIZE;
    sections.push({
      name: b.toString('latin1', o, o + 8).replace(/\0+$/, ''),
      virtualSize: b.readUInt32LE(o + 8),
      virtualAddress: b.readUInt32LE(o + 12),
      sizeOfRawData: b.readUInt32LE(o + 16),
      pointerToRawData: b.readUInt32LE(o + 20),
      characteristics: b.readUInt32LE(o + 36),
    });
  }
  return {
    machine,
    peOffset,
    optOffset,
    sectionTableOffset,
    sectionAlignment: b.readUInt32LE(optOffset + OPT.sectionAlignment),
    fileAlignment: b.readUInt32LE(optOffset + OPT.fileAlignment),
    sizeOfImage: b.readUInt32LE(optOffset + OPT.sizeOfImage),
    sizeOfHeaders: b.readUInt32LE(optOffset + OPT.sizeOfHeaders),
    sizeOfInitializedData: b.readUInt32LE(optOffset + OPT.sizeOfInitializedData),
    sections,
  };
}

/** True when the image carries an Authenticode signature (a certificate table). */
export function isSigned(b: Buffer, pe: PeLayout): boolean {
  const n = b.readUInt32LE(pe.optOffset + OPT.numberOfRvaAndSizes);
  if (n <= DIR_SECURITY) return false;
  return b.readUInt32LE(pe.optOffset + OPT.dataDirectories + DIR_SECURITY * 8 + 4) !== 0;
}

/**
 * A copy of the image's headers and body with `added` appended to the section table and the
 * optional header's sizes updated. The checksum is zeroed (see uki.ts for why). The caller
 * has checked that the section table has room below SizeOfHeaders.
 */
export function withSections(
  b: Buffer,
  pe: PeLayout,
  added: PeSection[],
  fields: { sizeOfImage: number; sizeOfInitializedData: number },
): Buffer {
  const out = Buffer.from(b);
  out.writeUInt16LE(pe.sections.length + added.length, pe.peOffset + 6);
  out.writeUInt32LE(fields.sizeOfImage, pe.optOffset + OPT.sizeOfImage);
  out.writeUInt32LE(fields.sizeOfInitializedData, pe.optOffset + OPT.sizeOfInitializedData);
  out.writeUInt32LE(0, pe.optOffset + OPT.checkSum);
  added.forEach((s, i) => {
    const o = pe.sectionTableOffset + (pe.sections.length + i) * SECTION_HEADER_SIZE;
    out.fill(0, o, o + SECTION_HEADER_SIZE);
    out.write(s.name, o, 8, 'latin1');
    out.writeUInt32LE(s.virtualSize, o + 8);
    out.writeUInt32LE(s.virtualAddress, o + 12);
    out.writeUInt32LE(s.sizeOfRawData, o + 16);
    out.writeUInt32LE(s.pointerToRawData, o + 20);
    out.writeUInt32LE(s.characteristics, o + 36);
  });
  return out;
}

/** Room for how many more section headers between the section table and the first section's data. */
export function sectionRoom(pe: PeLayout): number {
  const end = pe.sectionTableOffset + pe.sections.length * SECTION_HEADER_SIZE;
  const firstData = Math.min(
    pe.sizeOfHeaders,
    ...pe.sections.filter((s) => s.sizeOfRawData > 0).map((s) => s.pointerToRawData),
  );
  return Math.floor((firstData - end) / SECTION_HEADER_SIZE);
}
