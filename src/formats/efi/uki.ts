// Unified kernel image (UKI): systemd's EFI stub (linuxx64.efi.stub / linuxaa64.efi.stub) with
// the kernel, initrd, command line and os-release added as PE sections, one EFI binary that
// firmware boots directly. The stub finds its payload by section name in its own loaded image:
// each section's VirtualSize is its payload's exact length, and every section is mapped (a
// VirtualAddress beyond the stub's image, aligned to the page size).
//
// Choices, after systemd's ukify and the UKI specification:
// - Order .osrel, .cmdline, .uname, .initrd, .linux: .linux last, as ukify does, so that a kernel
//   decompressing or growing in place (the EFI handover path) runs into free memory, not into
//   the initrd.
// - Sections are appended after the whole stub file (its COFF symbol table and any trailing bytes
//   stay where they were), at FileAlignment; addresses are page aligned (4 KiB at least).
// - CheckSum is set to 0 ("not computed"): UEFI loaders do not check it, Authenticode signing
//   leaves it out of the hash, and computing it would need the kernel and initrd read before the
//   header is written, that is, read twice. A signed UKI is read twice anyway (uki-sign.ts), and
//   gets its CheckSum, as signing tools write it.
// - A signed UKI is compact: the stub's bytes after its last section are left out, so that its
//   sections are contiguous and the signature covers every byte (see planUki).
// - The stub's section table must have room below SizeOfHeaders for the new headers (Debian's
//   systemd 252 stubs have room for 7 on x86-64 and 94 on arm64, the latter padded with NOPs);
//   without room we refuse rather
//   than move the stub's sections, which would break its relocations.
//
// The kernel and initrd are streamed: nothing but the stub is held in memory.

import { ARCHES } from '../../arch.js';
import {
  alignUp,
  isSigned,
  parsePe,
  PeError,
  SCN_INITIALIZED_READ,
  sectionRoom,
  withSections,
  type PeLayout,
  type PeSection,
} from './pe.js';
import { signatureFields, signedHead, type Signature } from './authenticode.js';
import type { SizedStream } from '../vm/raw-blocks.js';
import { showName } from '../names.js';
import { OsbuildError } from '../../errors.js';

export { PeError } from './pe.js';

export type { SizedStream } from '../vm/raw-blocks.js';

export interface UkiOptions {
  /** systemd's EFI stub, e.g. /usr/lib/systemd/boot/efi/linuxx64.efi.stub (systemd-boot-efi). */
  stub: Buffer;
  /** The kernel with its EFI stub: bzImage on x86-64, the uncompressed Image on arm64. */
  kernel: SizedStream;
  /** The initramfs (cpio, compressed or not), possibly several concatenated. */
  initrd: SizedStream;
  cmdline: string;
  /** The contents of the booted system's /etc/os-release (shown by boot menus). */
  osRelease: string;
  /** `uname -r` of the kernel (systemd ≥ 252 reads .uname). */
  uname?: string;
  /** Leave out the stub's bytes after its last section (see planUki): the layout a signature needs. */
  compact?: boolean;
  /** An Authenticode signature of this UKI (compact), from signing a first pass over its bytes. */
  signature?: Signature;
}

export type UkiErrorCode = 'EUKISIZE' | 'EUKIKERNEL';

export class UkiError extends OsbuildError {
  constructor(
    readonly code: UkiErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface UkiSectionPlan extends PeSection {
  /** The bytes of small sections; undefined for the streamed .initrd and .linux. */
  data?: Buffer;
}

export interface UkiPlan {
  /** The stub's PE machine type (one of the arch table's efi.peMachine). */
  machine: number;
  /** The stub with its headers updated. */
  head: Buffer;
  /** Zero bytes between the stub's end and the first added section's data. */
  headPad: number;
  /** All sections, the stub's and the added ones, as the headers list them. */
  allSections: PeSection[];
  sections: UkiSectionPlan[];
  size: number;
}

const PAGE = 4096;
/** PE machine type -> its name, for the architectures osbuild knows. */
const MACHINES: Record<number, string> = Object.fromEntries(Object.values(ARCHES).map((a) => [a.efi.peMachine, a.efi.peName]));

/**
 * True for bytes that are free to overwrite with section headers: zeros, or the AArch64 NOPs
 * (d503201f) that gnu-efi style stubs (Debian's linuxaa64.efi.stub) pad their header page with.
 * That region belongs to no section and is not the entry point, so nothing runs or reads it.
 */
function isFiller(b: Buffer): boolean {
  if (b.every((x) => x === 0)) return true;
  if (b.length % 4 !== 0) return false;
  for (let i = 0; i < b.length; i += 4) if (b.readUInt32LE(i) !== 0xd503_201f) return false;
  return true;
}

/** The UKI's layout: where each section goes, the updated stub headers, the total size. Pure. */
export function planUki(opts: {
  stub: Buffer;
  kernelSize: number;
  initrdSize: number;
  cmdline: string;
  osRelease: string;
  uname?: string;
  /**
   * Leave out the stub's bytes after its last section (a COFF symbol table, unmapped data): the
   * sections are then contiguous, so that an Authenticode digest, which skips what lies between
   * sections, covers every byte but the signature, and every verifier reads the same ranges.
   */
  compact?: boolean;
}): UkiPlan {
  const pe = parsePe(opts.stub, 'UKI stub');
  if (!MACHINES[pe.machine]) {
    throw new PeError('EPEFORMAT', `UKI stub: machine 0x${pe.machine.toString(16)} is neither ${Object.values(MACHINES).join(' nor ')}`);
  }
  if (isSigned(opts.stub, pe)) {
    throw new PeError('EPESIGNED', 'UKI stub: it is signed; adding sections would void the signature. Use the unsigned stub and sign the UKI');
  }
  const names = ['.osrel', '.cmdline', '.uname', '.initrd', '.linux'];
  const clash = pe.sections.find((s) => names.includes(s.name));
  if (clash) throw new PeError('EPESECTION', `UKI stub: it already has a ${showName(clash.name)} section; give the bare stub`);

  const small: Array<[string, string | undefined]> = [
    ['.osrel', opts.osRelease],
    ['.cmdline', opts.cmdline],
    ['.uname', opts.uname],
  ];
  const wanted: Array<{ name: string; size: number; data?: Buffer }> = [];
  for (const [name, text] of small) {
    // an empty section would have a VirtualSize of 0, which some loaders reject: leave it out
    if (text) wanted.push({ name, size: Buffer.byteLength(text), data: Buffer.from(text, 'utf8') });
  }
  if (opts.initrdSize > 0) wanted.push({ name: '.initrd', size: opts.initrdSize });
  wanted.push({ name: '.linux', size: opts.kernelSize });
  for (const w of wanted) {
    if (!Number.isSafeInteger(w.size) || w.size < 0 || w.size >= 2 ** 32) {
      throw new UkiError('EUKISIZE', `UKI: ${w.name} of ${w.size} bytes does not fit a PE section (4 GiB)`);
    }
  }

  const room = sectionRoom(pe);
  if (room < wanted.length) {
    throw new PeError(
      'EPEROOM',
      `UKI stub: its headers have room for ${room} more section headers, ${wanted.length} are needed; ` +
        'use a stub built with room (systemd-boot-efi from Debian 12 or later)',
    );
  }
  const tableEnd = pe.sectionTableOffset + pe.sections.length * 40;
  if (!isFiller(opts.stub.subarray(tableEnd, tableEnd + wanted.length * 40))) {
    throw new PeError('EPEROOM', 'UKI stub: the bytes after its section table are in use; cannot add section headers there');
  }

  const fileAlign = pe.fileAlignment || 512;
  const vaAlign = Math.max(pe.sectionAlignment, PAGE);
  if (vaAlign % pe.sectionAlignment !== 0) {
    throw new PeError('EPEFORMAT', `UKI stub: SectionAlignment ${pe.sectionAlignment} is not a power of two`);
  }
  const imageEnd = Math.max(pe.sizeOfImage, ...pe.sections.map((s) => s.virtualAddress + s.virtualSize));
  let va = alignUp(imageEnd, vaAlign);
  const stub = opts.compact ? compactStub(opts.stub, pe) : opts.stub;
  let raw = alignUp(stub.length, fileAlign);
  const sections: UkiSectionPlan[] = [];
  for (const w of wanted) {
    const sizeOfRawData = alignUp(w.size, fileAlign);
    sections.push({
      name: w.name,
      virtualSize: w.size,
      virtualAddress: va,
      sizeOfRawData,
      pointerToRawData: raw,
      characteristics: SCN_INITIALIZED_READ,
      data: w.data,
    });
    va = alignUp(va + w.size, vaAlign);
    raw += sizeOfRawData;
  }
  const last = sections[sections.length - 1];
  const sizeOfImage = alignUp(last.virtualAddress + last.virtualSize, pe.sectionAlignment);
  if (sizeOfImage >= 2 ** 32 || raw >= 2 ** 32) throw new UkiError('EUKISIZE', `UKI: the image would exceed 4 GiB`);
  const addedData = sections.reduce((n, s) => n + s.sizeOfRawData, 0);
  const head = withSections(stub, pe, sections, {
    sizeOfImage,
    sizeOfInitializedData: Math.min(pe.sizeOfInitializedData + addedData, 0xffff_ffff),
  });
  const allSections = [...pe.sections, ...sections.map(({ data: _, ...s }) => s)];
  return { machine: pe.machine, head, headPad: alignUp(stub.length, fileAlign) - stub.length, sections, allSections, size: raw };
}

/** The stub up to the end of its last section's data, its COFF symbol table pointer cleared when that was cut off. */
function compactStub(stub: Buffer, pe: PeLayout): Buffer {
  const end = Math.max(pe.sizeOfHeaders, ...pe.sections.map((s) => s.pointerToRawData + s.sizeOfRawData));
  if (end >= stub.length) return stub;
  const out = Buffer.from(stub.subarray(0, end));
  if (out.readUInt32LE(pe.peOffset + 12) >= end) {
    out.writeUInt32LE(0, pe.peOffset + 12); // PointerToSymbolTable
    out.writeUInt32LE(0, pe.peOffset + 16); // NumberOfSymbols
  }
  return out;
}

/** The first bytes of a stream and a stream of all its bytes (nothing read twice). */
async function peek(src: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Buffer; stream: AsyncIterable<Uint8Array> }> {
  const it = src[Symbol.asyncIterator]();
  const got: Uint8Array[] = [];
  let len = 0;
  while (len < n) {
    const r = await it.next();
    if (r.done) break;
    got.push(r.value);
    len += r.value.length;
  }
  async function* all(): AsyncGenerator<Uint8Array> {
    yield* got;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head: Buffer.concat(got), stream: all() };
}

function checkKernel(head: Buffer, machine: number): void {
  if (head[0] === 0x1f && head[1] === 0x8b) {
    throw new UkiError(
      'EUKIKERNEL',
      'UKI: the kernel is gzip-compressed (Image.gz); systemd-stub starts the kernel through its EFI stub, which needs the plain Image: decompress it first',
    );
  }
  let kpe;
  try {
    kpe = parsePe(head, 'kernel');
  } catch {
    throw new UkiError('EUKIKERNEL', 'UKI: the kernel is not an EFI-stub kernel (no PE header); build it with CONFIG_EFI_STUB');
  }
  // an x86-64 bzImage may declare i386 in its PE header on old kernels: only refuse a clear mismatch
  if (MACHINES[kpe.machine] && kpe.machine !== machine) {
    throw new UkiError('EUKIKERNEL', `UKI: the kernel is for ${MACHINES[kpe.machine]} but the stub for ${MACHINES[machine]}`);
  }
}

async function* exactly(src: AsyncIterable<Uint8Array>, size: number, what: string): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of src) {
    n += chunk.length;
    if (n > size) throw new UkiError('EUKISIZE', `UKI: ${what} is longer than its declared ${size} bytes`);
    yield chunk;
  }
  if (n !== size) throw new UkiError('EUKISIZE', `UKI: ${what} ended after ${n} of its declared ${size} bytes`);
}

/**
 * Builds a UKI. Returns its size and a stream of its bytes; the kernel and initrd streams are
 * read once, in order (initrd, then kernel), while the result is read. Throws PeError when the
 * stub cannot be used, UkiError when the kernel is unsuitable or a stream's length differs.
 */
export async function makeUki(opts: UkiOptions): Promise<SizedStream> {
  const plan = planUki({
    stub: opts.stub,
    kernelSize: opts.kernel.size,
    initrdSize: opts.initrd.size,
    cmdline: opts.cmdline,
    osRelease: opts.osRelease,
    uname: opts.uname,
    compact: opts.compact,
  });
  const kernel = await peek(opts.kernel.stream, 4096);
  checkKernel(kernel.head, plan.machine);
  const sig = opts.signature;
  if (sig && (!opts.compact || sig.certOffset !== plan.size)) throw new PeError('EPEFORMAT', 'UKI: the signature was made for another layout of this UKI');
  async function* gen(): AsyncGenerator<Uint8Array> {
    yield sig ? signedHead(plan.head, signatureFields(plan.head, parsePe(plan.head, 'UKI')), sig) : plan.head;
    if (plan.headPad) yield Buffer.alloc(plan.headPad);
    for (const s of plan.sections) {
      if (s.data) yield s.data;
      else if (s.name === '.initrd') yield* exactly(opts.initrd.stream, s.virtualSize, 'the initrd');
      else yield* exactly(kernel.stream, s.virtualSize, 'the kernel');
      const pad = s.sizeOfRawData - s.virtualSize;
      if (pad) yield Buffer.alloc(pad);
    }
    if (sig) yield sig.table;
  }
  return { size: plan.size + (sig?.table.length ?? 0), stream: gen() };
}
