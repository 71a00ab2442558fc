// `iso-bios`, `iso-efi` and `iso`: ISO 9660 images for the initramfs layout, written as CDs and
// as disks at once (isohybrid), so the same file boots from a CD drive or a USB stick.
//   BIOS: El Torito no-emulation isolinux.bin (boot info table patched in) reads isolinux.cfg,
//         then /boot/kernel and /boot/initrd.img from the ISO 9660 tree; as a disk, isohdpfx's
//         MBR code finds isolinux.bin through the LBA the hybrid MBR records.
//   EFI:  El Torito EFI entry = a FAT image holding the UKI as \EFI\BOOT\BOOT*.EFI; as a disk,
//         the same image is the 0xEF MBR partition (and a GPT entry) firmware boots from.
// Initramfs layout: the system needs no CD or filesystem driver, the boot loader loads all of it
// into RAM. Squashfs layout: the root is the file /osbuild/root.sqfs, which the init finds on
// the CD (or on the disk the ISO was written to) and loop-mounts.

import { ARCHES, BIOS_ARCHES } from '../../arch.js';
import { writeIso, type IsoFile } from '../../formats/iso/write.js';
import { espSource } from './esp.js';
import { loaderEspSource } from './loader-esp.js';
import { ISO_ROOT_FILE } from '../../plan/layout.js';
import { BOOT_BIOS_IMAGE, MediaError, streamOf, volumeId, type MediaInputs, type Sized } from './sources.js';
import { writeSized } from './write.js';

export interface IsoFlavour {
  bios: boolean;
  efi: boolean;
  /** The EFI image boots the kernel and a separate initrd through systemd-boot, not a UKI (iso-efi-initrd). */
  loader?: boolean;
}

const SYSLINUX = {
  isolinux: 'usr/lib/ISOLINUX/isolinux.bin',
  isohdpfx: 'usr/lib/ISOLINUX/isohdpfx.bin',
  ldlinux: 'usr/lib/syslinux/modules/bios/ldlinux.c32',
};

/** isolinux.cfg: serial console first (a headless VM shows it), boot at once, no menu. */
export function isolinuxConfig(cmdline: string): string {
  const append = ['initrd=/boot/initrd.img', cmdline.trim()].filter((s) => s !== '').join(' ');
  return ['SERIAL 0 115200', 'DEFAULT linux', 'PROMPT 0', 'TIMEOUT 0', 'LABEL linux', '  KERNEL /boot/kernel', `  APPEND ${append}`, ''].join('\n');
}

/** `diskSize`: the ISO written as a disk of that many bytes (raw, raw-bios and their wrappers with --size). */
export async function isoSource(m: MediaInputs, f: IsoFlavour, diskSize?: number): Promise<Sized> {
  if (f.bios && !ARCHES[m.arch].bios) throw new MediaError(`a BIOS-bootable ISO is for ${BIOS_ARCHES.join(' and ')} only (isolinux is x86 code); for ${m.arch} use iso-efi`);
  const files: IsoFile[] = [];
  let mbrCode: Buffer | undefined;
  if (f.bios) {
    const file = (path: string, b: Buffer): IsoFile => ({ path, size: b.length, content: streamOf(b) });
    files.push(
      file('isolinux/isolinux.bin', await m.bootFile(BOOT_BIOS_IMAGE, SYSLINUX.isolinux)),
      file('isolinux/ldlinux.c32', await m.bootFile(BOOT_BIOS_IMAGE, SYSLINUX.ldlinux)),
      file('isolinux/isolinux.cfg', Buffer.from(isolinuxConfig(m.cmdline))),
      { path: 'boot/kernel', size: m.kernel.size, content: m.kernel.open },
      { path: 'boot/initrd.img', size: m.initrd.size, content: m.initrd.open },
    );
    mbrCode = await m.bootFile(BOOT_BIOS_IMAGE, SYSLINUX.isohdpfx);
  }
  if (m.root) files.push({ path: ISO_ROOT_FILE, size: m.root.size, content: m.root.open });
  if (f.efi) {
    const esp = f.loader ? await loaderEspSource(m, 'EFIBOOT') : await espSource(m, { label: 'EFIBOOT' });
    files.push({ path: 'boot/efiboot.img', size: esp.size, content: esp.open });
  }
  const iso = writeIso({
    volumeId: volumeId(m.plan.name),
    epoch: m.epoch,
    files,
    boot: {
      catalog: 'boot/boot.cat',
      bios: f.bios ? { image: 'isolinux/isolinux.bin' } : undefined,
      efi: f.efi ? { image: 'boot/efiboot.img' } : undefined,
    },
    hybrid: { mbrCode, gpt: f.efi, diskSize },
  });
  return { size: iso.size, open: () => iso.stream };
}

export async function writeIsoMedia(m: MediaInputs, f: IsoFlavour, path: string): Promise<void> {
  await writeSized(await isoSource(m, f), path);
}
