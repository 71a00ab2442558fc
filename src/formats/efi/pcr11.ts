// The TPM PCR 11 value a UKI's systemd-stub leaves, computed as systemd-measure does: from a PCR of
// zeros, for each UKI section the stub measures, in its fixed order, the PCR is extended with the
// digest of the section's name (with its trailing NUL), then with the digest of its contents (the
// section's VirtualSize bytes). Extending is PCR = H(PCR || digest), one hash per bank.
//
// Which sections the stub measures depends on its version: systemd 252 (Debian 12's stub, the
// one the boot-efi component ships) measures .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey
// and ignores .uname; later stubs measure the UKI specification's canonical order, which adds
// .uname and .sbat (the stub's own) after .dtb. The value is the one after the UKI's own
// measurements: systemd-pcrphase's boot phases (none run in an osbuild system) come on top.

import { createHash, type Hash } from 'node:crypto';
import type { PeSection } from './pe.js';

/** The PCR banks systemd-measure knows. */
export const PCR_BANKS = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
export type PcrBank = (typeof PCR_BANKS)[number];
export type PcrValues = Record<PcrBank, string>;

const STUB_252 = ['.linux', '.osrel', '.cmdline', '.initrd', '.splash', '.dtb', '.pcrpkey'];
const CANONICAL = ['.linux', '.osrel', '.cmdline', '.initrd', '.ucode', '.splash', '.dtb', '.uname', '.sbat', '.pcrpkey'];

/** The systemd version of a systemd-stub, from its "#### LoaderInfo: systemd-stub N... ####" marker. */
export function stubVersion(stub: Buffer): number | undefined {
  const at = stub.indexOf('#### LoaderInfo: systemd-stub ');
  if (at < 0) return undefined;
  const m = /^#### LoaderInfo: systemd-stub (\d+)/.exec(stub.toString('latin1', at, at + 64));
  return m ? Number(m[1]) : undefined;
}

/** The section names a stub of this version measures into PCR 11, in its order. */
export function measuredOrder(version: number | undefined): readonly string[] {
  return version !== undefined && version <= 252 ? STUB_252 : CANONICAL;
}

/** PCR 11 after measuring these sections (name and the digests of its contents per bank), in the order given. */
export function pcr11(sections: { name: string; digests: Record<PcrBank, Buffer> }[]): PcrValues {
  const out = {} as PcrValues;
  for (const bank of PCR_BANKS) {
    const h = (b: Buffer) => createHash(bank).update(b).digest();
    let pcr = Buffer.alloc(h(Buffer.alloc(0)).length);
    for (const s of sections) {
      pcr = h(Buffer.concat([pcr, h(Buffer.from(`${s.name}\0`, 'latin1'))]));
      pcr = h(Buffer.concat([pcr, s.digests[bank]]));
    }
    out[bank] = pcr.toString('hex');
  }
  return out;
}

/** The values as `systemd-measure calculate --json=short --phase=` prints them, one bank a key. */
export function pcr11Json(values: PcrValues): string {
  const o = Object.fromEntries(PCR_BANKS.map((b) => [b, [{ pcr: 11, hash: values[b] }]]));
  return `${JSON.stringify(o, null, 2)}\n`;
}

/** Digests of a PE file's measured sections, taken as its bytes stream by in file order. */
export class SectionMeasure {
  private readonly parts: { name: string; start: number; end: number; hashes: Record<PcrBank, Hash> }[];
  private offset = 0;

  /** `sections`: all of the file's sections (the stub's and those added); `version`: the stub's. */
  constructor(sections: readonly PeSection[], version: number | undefined) {
    const order = measuredOrder(version);
    this.parts = sections
      .filter((s) => order.includes(s.name))
      .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
      .map((s) => ({
        name: s.name,
        start: s.pointerToRawData,
        // the stub measures what is mapped: VirtualSize bytes, of which the file holds at most SizeOfRawData
        end: s.pointerToRawData + Math.min(s.virtualSize, s.sizeOfRawData),
        hashes: Object.fromEntries(PCR_BANKS.map((b) => [b, createHash(b)])) as Record<PcrBank, Hash>,
      }));
  }

  update(chunk: Uint8Array): void {
    const end = this.offset + chunk.length;
    for (const p of this.parts) {
      const from = Math.max(p.start, this.offset);
      const to = Math.min(p.end, end);
      if (to <= from) continue;
      const piece = chunk.subarray(from - this.offset, to - this.offset);
      for (const b of PCR_BANKS) p.hashes[b].update(piece);
    }
    this.offset = end;
  }

  /** The PCR 11 values, once every byte was seen. */
  values(): PcrValues {
    return pcr11(
      this.parts.map((p) => ({ name: p.name, digests: Object.fromEntries(PCR_BANKS.map((b) => [b, p.hashes[b].digest()])) as Record<PcrBank, Buffer> })),
    );
  }
}
