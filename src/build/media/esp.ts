// The EFI system partition: a FAT volume holding the UKI as the removable-media boot file
// (\EFI\BOOT\BOOTX64.EFI or BOOTAA64.EFI), so firmware boots it with no boot entry configured.

import { writeFat, type FatType } from '../../formats/fat/write.js';
import { ARCHES } from '../../arch.js';
import { subSeed, type MediaInputs, type Sized } from './sources.js';
import { ukiSource } from './uki.js';

export interface EspOptions {
  /** FAT32 for a disk's ESP (the UEFI spec's choice for fixed disks); default: by size (El Torito images). */
  fatType?: FatType;
  label: string;
  /** Sectors before the volume on its disk, recorded in the boot sector. */
  hiddenSectors?: number;
}

export async function espSource(m: MediaInputs, opts: EspOptions): Promise<Sized> {
  const uki = await ukiSource(m);
  const fat = writeFat([{ path: `EFI/BOOT/${ARCHES[m.arch].efi.bootFile}`, size: uki.size, content: uki.open }], {
    size: 'auto',
    fatType: opts.fatType,
    label: opts.label,
    seed: subSeed(m, `esp:${opts.label}`),
    mtime: m.epoch,
    hiddenSectors: opts.hiddenSectors,
  });
  return { size: fat.size, open: fat.stream };
}
