// El Torito (Bootable CD-ROM Format Specification 1.0, 1995): the boot record volume
// descriptor, the boot catalog, and the boot info table that isolinux (and GRUB's eltorito.img)
// expect patched into their image, as mkisofs -boot-info-table writes it.

import { SECTOR } from './fields.js';

export const PLATFORM_X86 = 0x00;
export const PLATFORM_EFI = 0xef;

/** Boot Record Volume Descriptor (type 0) pointing at the catalog. */
export function bootRecordDescriptor(catalogLba: number): Buffer {
  const b = Buffer.alloc(SECTOR);
  b[0] = 0;
  b.write('CD001', 1, 'latin1');
  b[6] = 1;
  b.write('EL TORITO SPECIFICATION', 7, 'latin1'); // zero-padded to 32 bytes
  b.writeUInt32LE(catalogLba, 0x47);
  return b;
}

export interface CatalogImage {
  platform: number;
  /** LBA (2048-byte sectors) of the image */
  lba: number;
  /** "sector count" field: 512-byte virtual sectors to load */
  loadSectors: number;
}

function bootEntry(b: Buffer, off: number, img: CatalogImage): void {
  b[off] = 0x88; // bootable
  b[off + 1] = 0; // no emulation
  b.writeUInt16LE(0, off + 2); // load segment 0 = the default 0x7C0
  b[off + 4] = 0; // system type (partition type byte; 0 for no emulation)
  b.writeUInt16LE(img.loadSectors, off + 6);
  b.writeUInt32LE(img.lba, off + 8);
}

/**
 * The boot catalog sector: a validation entry for the first image's platform, the initial
 * entry for it, then one final section (header 0x91) per further image.
 */
export function bootCatalog(images: CatalogImage[]): Buffer {
  const b = Buffer.alloc(SECTOR);
  b[0] = 1;
  b[1] = images[0].platform;
  b[30] = 0x55;
  b[31] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + b.readUInt16LE(i)) & 0xffff;
  b.writeUInt16LE((0x10000 - sum) & 0xffff, 28); // the 16-bit words of the entry sum to 0
  bootEntry(b, 32, images[0]);
  let off = 64;
  images.slice(1).forEach((img, i) => {
    b[off] = i === images.length - 2 ? 0x91 : 0x90;
    b[off + 1] = img.platform;
    b.writeUInt16LE(1, off + 2);
    bootEntry(b, off + 32, img);
    off += 64;
  });
  return b;
}

/**
 * The sector count xorriso writes for an EFI image: its size in 512-byte blocks, or 0 when that
 * does not fit the 16-bit field (firmware then reads the FAT's own size).
 */
export function efiLoadSectors(size: number): number {
  const n = Math.ceil(size / 512);
  return n <= 0xffff ? n : 0;
}

/**
 * Patches the 56-byte boot info table at offset 8 of a boot image held in memory: LBA of the
 * primary volume descriptor, LBA of the image, its length, and the 32-bit sum of its
 * little-endian words from byte 64 on (mkisofs -boot-info-table).
 */
export function patchBootInfoTable(image: Buffer, pvdLba: number, imageLba: number): void {
  let sum = 0;
  const whole = image.length & ~3;
  for (let i = 64; i < whole; i += 4) sum = (sum + image.readUInt32LE(i)) >>> 0;
  if (whole < image.length) {
    const tail = Buffer.alloc(4);
    image.copy(tail, 0, whole);
    sum = (sum + tail.readUInt32LE(0)) >>> 0;
  }
  image.writeUInt32LE(pvdLba, 8);
  image.writeUInt32LE(imageLba, 12);
  image.writeUInt32LE(image.length, 16);
  image.writeUInt32LE(sum, 20);
  image.fill(0, 24, 64);
}
