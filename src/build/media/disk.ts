// `raw-efi`, `raw-bios` and `raw`: disk images for the initramfs layout, and the disks the cloud
// and hypervisor formats wrap.
//
// raw-efi: GPT with a FAT32 ESP holding the UKI as \EFI\BOOT\BOOT*.EFI, and for the squashfs
// layout a second partition holding the squashfs root (typed as the Discoverable Partitions
// Specification's root partition of the arch; the init finds it by its superblock).
//
// raw-bios and raw: BIOS boot from a disk needs boot code in the disk: an MBR that loads a
// loader that can read the kernel. Debian ships syslinux's MBRs (mbr.bin, gptmbr.bin) but not
// the boot sector and ldlinux.sys its installer writes into a FAT volume (they are embedded in
// the `syslinux` binary, which patches ldlinux.sys with the sector list where it landed). The
// isohybrid layout needs no installer: isohdpfx.bin in the MBR loads isolinux.bin from the LBA
// the MBR records, and isolinux reads the ISO 9660 tree from a disk as well as from a CD. So
// raw-bios is the BIOS ISO written as a disk image, and raw is the hybrid ISO (BIOS + the ESP
// as an 0xEF partition and a GPT entry): one image that boots by BIOS or UEFI, from a disk or
// a CD. The partition table is an MBR with a GPT beside it, as a hybrid ISO's is.

import { ARCHES, BIOS_ARCHES } from '../../arch.js';
import { DiskSizeError, showMiB } from '../../plan/disk-size.js';
import { writeDisk, type DiskPartition } from '../../formats/disk/write.js';
import { espSource } from './esp.js';
import { isoSource } from './iso.js';
import { MediaError, subSeed, type MediaInputs, type Sized } from './sources.js';
import { slotsDiskSource } from './slots.js';
import { writeSparse } from './write.js';

export type DiskKind = 'efi' | 'bios' | 'hybrid';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface DiskSourceOptions {
  /** Round the disk's size up to a multiple of this (GCP wants whole GiB); default 1 MiB. */
  sizeAlign?: number;
}

export async function diskSource(m: MediaInputs, kind: DiskKind, opts: DiskSourceOptions = {}): Promise<Sized> {
  const align = opts.sizeAlign ?? MiB;
  const wanted = m.plan.diskSize;
  if (wanted !== undefined && wanted % align !== 0) {
    throw new DiskSizeError(`--size ${showMiB(wanted)}: this format's disk must be a whole number of ${align / MiB} MiB`, { where: '--size', hint: `give a multiple of ${showMiB(align)}` });
  }
  // a slots root: every disk format of the build writes the A/B EFI disk (plan/slots.ts allows only those)
  if (m.plan.slots) {
    const { disk, needed } = await slotsDiskSource(m, align);
    if (wanted !== undefined && needed > wanted) throw tooSmall('A/B', wanted, needed);
    return disk;
  }
  if (kind !== 'efi') {
    if (!ARCHES[m.arch].bios) throw new MediaError(`a BIOS-bootable disk is for ${BIOS_ARCHES.join(' and ')} only (isolinux is x86 code); for ${m.arch} use raw-efi`);
    if (wanted !== undefined) {
      const auto = await isoSource(m, { bios: true, efi: kind === 'hybrid' });
      if (auto.size > wanted) throw tooSmall(kind, wanted, auto.size);
      return isoSource(m, { bios: true, efi: kind === 'hybrid' }, wanted);
    }
    const iso = await isoSource(m, { bios: true, efi: kind === 'hybrid' });
    // the isohybrid writer pads to whole MiB and puts the backup GPT in the last blocks: it
    // cannot be padded further
    if (iso.size % align !== 0) throw new MediaError(`the ${kind} disk is ${iso.size} bytes, not a multiple of ${align}: only the EFI disk can be sized freely`);
    return iso;
  }
  const esp = await espSource(m, { label: 'ESP', fatType: 32, hiddenSectors: MiB / 512 });
  const parts: DiskPartition[] = [{ name: 'ESP', type: 'esp', size: esp.size, content: esp.open }];
  if (m.root) parts.push({ name: 'root', type: ARCHES[m.arch].gptRootType, size: m.root.size, content: m.root.open, attributes: { readOnly: true } });
  const seed = subSeed(m, 'disk-efi');
  const auto = writeDisk({ scheme: 'gpt', partitions: parts, seed });
  if (wanted !== undefined && auto.size > wanted) throw tooSmall(kind, wanted, auto.size);
  const size = wanted ?? Math.ceil(auto.size / align) * align;
  const disk = size === auto.size ? auto : writeDisk({ scheme: 'gpt', partitions: parts, seed, size });
  return { size: disk.size, open: disk.stream };
}

function tooSmall(kind: DiskKind | 'A/B', wanted: number, needed: number): DiskSizeError {
  return new DiskSizeError(`--size ${showMiB(wanted)} is too small for the ${kind} disk: its content needs ${showMiB(needed)} (${needed} bytes)`, {
    where: '--size',
    hint: `give --size ${showMiB(needed)} or more, or leave --size out for the smallest disk`,
  });
}

export async function writeRawDisk(m: MediaInputs, kind: DiskKind, path: string): Promise<void> {
  await writeSparse(await diskSource(m, kind), path);
}

export { GiB, MiB };
