// The `uki` format and the UKI every EFI format boots: systemd's EFI stub (from the boot-efi
// component, for the target arch) with the kernel, the initrd, the command line and an
// os-release as PE sections. Firmware runs it directly; no boot loader, no config file.
//
// With a signing key (--sign-key/--sign-cert) the UKI is signed for Secure Boot: one pass over its
// bytes makes the signature (formats/efi/uki-sign.ts), made once per build and shared by every
// format that embeds the UKI; each format then streams the signed bytes. The `uki` format also
// writes NAME.pcr11.json: the TPM PCR 11 values the UKI's stub will leave (systemd-measure's).

import { readFile, writeFile } from 'node:fs/promises';
import { ARCHES, type Arch } from '../../arch.js';
import { makeUki, planUki } from '../../formats/efi/uki.js';
import { signUki, ukiMeasure, type SignedUki } from '../../formats/efi/uki-sign.js';
import type { SectionMeasure } from '../../formats/efi/pcr11.js';
import { pcr11Json, type PcrValues } from '../../formats/efi/pcr11.js';
import { parseSigner, SignError, type SignerKey } from '../../formats/efi/signer.js';
import { showName } from '../../formats/names.js';
import { BOOT_EFI_IMAGE, type MediaInputs, type Sized } from './sources.js';
import { writeSized } from './write.js';

export function stubPath(arch: Arch): string {
  return `usr/lib/systemd/boot/efi/${ARCHES[arch].efi.stub}`;
}

/**
 * /etc/os-release of the booted system as boot menus show it: the blueprint's name; a slots root's
 * version as IMAGE_VERSION, which systemd-boot orders its UKIs by (newest first).
 */
export function osRelease(name: string, version?: string): string {
  const q = (s: string) => `"${s.replace(/[\\"$`]/g, '\\$&').replace(/[\r\n]/g, ' ')}"`;
  const id = name.toLowerCase().replace(/[^a-z0-9._-]/g, '-') || 'osbuild';
  return `NAME=${q(name)}\nID=osbuild\nIMAGE_ID=${id}\n${version !== undefined ? `IMAGE_VERSION=${version}\n` : ''}PRETTY_NAME=${q(`${name} (osbuild)`)}\n`;
}

/** The signing key and certificate files of --sign-key/--sign-cert, read and checked against each other. */
export async function loadSigner(files: { key: string; cert: string }): Promise<SignerKey> {
  const read = (path: string, what: string) =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new SignError(`${what} ${showName(path)}: cannot be read (${err.code ?? err.message})`, { where: path, hint: `check the path given to --sign-${what === 'signing key' ? 'key' : 'cert'}`, cause: err });
    });
  const [key, cert] = await Promise.all([read(files.key, 'signing key'), read(files.cert, 'signing certificate')]);
  return parseSigner({ key, keyName: files.key, cert, certName: files.cert });
}

// one signing pass per UKI of a build, whichever formats embed it (the seed names the UKI's inputs)
const signed = new WeakMap<SignerKey, Map<string, Promise<SignedUki>>>();

/** The UKI as a re-readable sized source (its size planned up front, its bytes made on each open()), with its PCR 11 values when known before writing. */
export async function ukiSource(m: MediaInputs): Promise<Sized & { pcr11?: PcrValues; measure: () => SectionMeasure }> {
  const stub = await m.bootFile(BOOT_EFI_IMAGE, stubPath(m.arch));
  const base = { stub, cmdline: m.cmdline, osRelease: osRelease(m.plan.name, m.plan.slots?.version), uname: m.plan.kernel?.kver || undefined };
  const inputs = () => ({ kernel: { size: m.kernel.size, stream: m.kernel.open() }, initrd: { size: m.initrd.size, stream: m.initrd.open() } });
  const plan = planUki({ ...base, kernelSize: m.kernel.size, initrdSize: m.initrd.size, compact: m.signer !== undefined });
  const measure = () => ukiMeasure(plan, stub);
  const signer = m.signer;
  if (!signer) {
    return {
      size: plan.size,
      measure,
      open: async function* () {
        yield* (await makeUki({ ...base, ...inputs() })).stream;
      },
    };
  }
  let byUki = signed.get(signer);
  if (!byUki) signed.set(signer, (byUki = new Map()));
  let sig = byUki.get(m.seed);
  if (!sig) byUki.set(m.seed, (sig = signUki({ ...base, ...inputs() }, signer)));
  const { signature, size, pcr11 } = await sig;
  return {
    size,
    pcr11,
    measure,
    open: async function* () {
      yield* (await makeUki({ ...base, ...inputs(), compact: true, signature })).stream;
    },
  };
}

/** `uki`: NAME.efi, and NAME.pcr11.json beside it. */
export async function writeUki(m: MediaInputs, path: string, pcrPath: string): Promise<void> {
  const uki = await ukiSource(m);
  let pcr11 = uki.pcr11;
  if (pcr11) await writeSized(uki, path);
  else {
    // measured as it is written: the kernel and initrd are read once
    const measure = uki.measure();
    await writeSized(
      {
        size: uki.size,
        open: async function* () {
          for await (const c of uki.open()) {
            measure.update(c);
            yield c;
          }
        },
      },
      path,
    );
    pcr11 = measure.values();
  }
  await writeFile(pcrPath, pcr11Json(pcr11));
}
