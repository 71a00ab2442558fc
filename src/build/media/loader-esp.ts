// The EFI image of `iso-efi-initrd`: the kernel and the initrd as separate files, not one UKI.
// LinuxKit's mkimage-iso-efi-initrd puts GRUB in the El Torito image and the kernel and initrd in
// the ISO 9660 tree, which GRUB's own iso9660 driver reads. UEFI firmware reads only FAT, and our
// boot files come from Debian's systemd-boot-efi (the stub every other EFI format uses; no GRUB),
// whose loader, systemd-boot, reads the volume it was started from. So the FAT image holds it all:
//   \EFI\BOOT\BOOT{X64,AA64}.EFI    systemd-boot, the removable-media boot file
//   \loader\loader.conf             boot the one entry at once (timeout 0), no editor
//   \loader\entries\osbuild.conf    a Boot Loader Specification Type #1 entry: linux, initrd, options
//   \kernel, \initrd.img            as LinuxKit names them; the kernel is an EFI-stub kernel
// systemd-boot hands the initrd to the kernel through the LINUX_INITRD_MEDIA protocol.

import { ARCHES } from '../../arch.js';
import { writeFat } from '../../formats/fat/write.js';
import { BOOT_EFI_IMAGE, subSeed, streamOf, type MediaInputs, type Sized } from './sources.js';

export function loaderConf(): string {
  return 'timeout 0\ndefault osbuild.conf\neditor no\n';
}

/** The entry: the system's name as its title, LinuxKit's file names, the blueprint's command line. */
export function loaderEntry(title: string, cmdline: string): string {
  const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();
  return [`title ${oneLine(title) || 'osbuild'}`, 'linux /kernel', 'initrd /initrd.img', `options ${oneLine(cmdline)}`, ''].join('\n');
}

export async function loaderEspSource(m: MediaInputs, label: string): Promise<Sized> {
  const efi = ARCHES[m.arch].efi;
  const loader = await m.bootFile(BOOT_EFI_IMAGE, `usr/lib/systemd/boot/efi/${efi.loader}`);
  const text = (path: string, s: string) => {
    const b = Buffer.from(s);
    return { path, size: b.length, content: streamOf(b) };
  };
  const fat = writeFat(
    [
      { path: `EFI/BOOT/${efi.bootFile}`, size: loader.length, content: streamOf(loader) },
      text('loader/loader.conf', loaderConf()),
      text('loader/entries/osbuild.conf', loaderEntry(m.plan.name, m.cmdline)),
      { path: 'kernel', size: m.kernel.size, content: m.kernel.open },
      { path: 'initrd.img', size: m.initrd.size, content: m.initrd.open },
    ],
    { size: 'auto', label, seed: subSeed(m, `esp-loader:${label}`), mtime: m.epoch },
  );
  return { size: fat.size, open: fat.stream };
}
