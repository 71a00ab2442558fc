// Signing a UKI without holding it: one pass over the bytes of the unsigned (compact) UKI gives its
// Authenticode digest, its checksum and its PCR 11 values; the signature made from them is then
// written by makeUki as the UKI streams a second time (headers first, which carry the checksum
// and the signature's place, the certificate table last).

import { createHash } from 'node:crypto';
import { authenticodeRanges, PeChecksum, RangeHash, signatureFields, signPass, type Signature } from './authenticode.js';
import { parsePe, PeError } from './pe.js';
import { SectionMeasure, stubVersion, type PcrValues } from './pcr11.js';
import type { SignerKey } from './pkcs7.js';
import { makeUki, planUki, type UkiOptions, type UkiPlan } from './uki.js';

/** The PCR 11 measurement of the UKI `plan` lays out, fed its bytes in order. */
export function ukiMeasure(plan: UkiPlan, stub: Buffer): SectionMeasure {
  return new SectionMeasure(plan.allSections, stubVersion(stub));
}

export interface SignedUki {
  signature: Signature;
  pcr11: PcrValues;
  /** Bytes of the signed UKI. */
  size: number;
}

/** Reads the UKI once and signs it; pass the same options (and `signature`) to makeUki for the signed bytes. */
export async function signUki(opts: Omit<UkiOptions, 'compact' | 'signature'>, signer: SignerKey): Promise<SignedUki> {
  const planned = planUki({ ...opts, kernelSize: opts.kernel.size, initrdSize: opts.initrd.size, compact: true });
  const pe = parsePe(planned.head, 'UKI');
  const fields = signatureFields(planned.head, pe);
  const digest = new RangeHash(authenticodeRanges(planned.head, pe, planned.size), createHash('sha256'));
  const checksum = new PeChecksum();
  const measure = ukiMeasure(planned, opts.stub);
  const uki = await makeUki({ ...opts, compact: true });
  for await (const chunk of uki.stream) {
    digest.update(chunk);
    checksum.update(chunk);
    measure.update(chunk);
  }
  if (!digest.complete || checksum.length !== planned.size) throw new PeError('EPEFORMAT', 'UKI: fewer bytes than its layout planned');
  const signature = signPass({ digest: digest.hash.digest(), checksum, size: planned.size }, signer, fields);
  return { signature, pcr11: measure.values(), size: planned.size + signature.table.length };
}
