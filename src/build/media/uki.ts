// The `uki` format and the UKI every EFI format boots: systemd's EFI stub (from the boot-efi
// component, for the target arch) with the kernel, the initrd, the command line and an
// os-release as PE sections. Firmware runs it directly; no boot loader, no config file.

import { ARCHES, type Arch } from '../../arch.js';
import { makeUki, planUki } from '../../formats/efi/uki.js';
import { BOOT_EFI_IMAGE, type MediaInputs, type Sized } from './sources.js';
import { writeSized } from './write.js';

export function stubPath(arch: Arch): string {
  return `usr/lib/systemd/boot/efi/${ARCHES[arch].efi.stub}`;
}

/** /etc/os-release of the booted system as boot menus show it: the blueprint's name. */
export function osRelease(name: string): string {
  const q = (s: string) => `"${s.replace(/[\\"$`]/g, '\\$&').replace(/[\r\n]/g, ' ')}"`;
  const id = name.toLowerCase().replace(/[^a-z0-9._-]/g, '-') || 'osbuild';
  return `NAME=${q(name)}\nID=osbuild\nIMAGE_ID=${id}\nPRETTY_NAME=${q(`${name} (osbuild)`)}\n`;
}

/** The UKI as a re-readable sized source: its size is planned up front, its bytes made on each open(). */
export async function ukiSource(m: MediaInputs): Promise<Sized> {
  const stub = await m.bootFile(BOOT_EFI_IMAGE, stubPath(m.arch));
  const base = { stub, cmdline: m.cmdline, osRelease: osRelease(m.plan.name), uname: m.plan.kernel?.kver || undefined };
  const { size } = planUki({ ...base, kernelSize: m.kernel.size, initrdSize: m.initrd.size });
  return {
    size,
    open: async function* () {
      const uki = await makeUki({ ...base, kernel: { size: m.kernel.size, stream: m.kernel.open() }, initrd: { size: m.initrd.size, stream: m.initrd.open() } });
      yield* uki.stream;
    },
  };
}

/** `uki`: NAME.efi. */
export async function writeUki(m: MediaInputs, path: string): Promise<void> {
  await writeSized(await ukiSource(m), path);
}
