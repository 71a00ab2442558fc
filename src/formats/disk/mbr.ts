// The Master Boot Record in sector 0: up to 440 bytes of boot code, the disk signature and
// four partition entries. Used plain (raw-bios), as GPT's protective MBR (one 0xEE entry
// covering the disk) and as a hybrid MBR (0xEE plus entries mirroring GPT partitions, so a BIOS
// boot loader that only reads the MBR finds its partition).

export const MBR_BOOT_CODE_MAX = 440;

/** MBR partition type bytes osbuild uses. */
export const MBR_TYPES = {
  empty: 0x00,
  fat32Lba: 0x0c,
  linux: 0x83,
  gptProtective: 0xee,
  esp: 0xef,
  nonFsData: 0xda,
} as const;

export interface MbrPartition {
  type: number;
  firstLba: number;
  sectors: number;
  /** The "active" flag a classic MBR boot program boots from. */
  bootable?: boolean;
}

export interface MbrOptions {
  /** Put at offset 0 (at most 440 bytes, e.g. syslinux's mbr.bin or gptmbr.bin). */
  bootCode?: Uint8Array;
  /** The 32-bit disk signature at offset 440 (Linux shows it as the disk identifier). */
  diskSignature?: number;
}

/**
 * Cylinder/head/sector of an LBA in the 255-head, 63-sector translation every BIOS and
 * partitioning tool uses today; LBAs past cylinder 1023 get the conventional "max" marker.
 */
export function chs(lba: number): [number, number, number] {
  const heads = 255;
  const spt = 63;
  const c = Math.floor(lba / (heads * spt));
  if (c > 1023) return [0xfe, 0xff, 0xff];
  const h = Math.floor(lba / spt) % heads;
  const s = (lba % spt) + 1;
  return [h, s | ((c >> 2) & 0xc0), c & 0xff];
}

/** One 512-byte MBR sector. */
export function encodeMbr(parts: MbrPartition[], opts: MbrOptions = {}): Buffer {
  if (parts.length > 4) throw new RangeError(`${parts.length} MBR partitions; an MBR holds 4`);
  const b = Buffer.alloc(512);
  if (opts.bootCode) {
    if (opts.bootCode.length > MBR_BOOT_CODE_MAX) {
      throw new RangeError(`MBR boot code is ${opts.bootCode.length} bytes; at most ${MBR_BOOT_CODE_MAX} fit`);
    }
    b.set(opts.bootCode, 0);
  }
  b.writeUInt32LE((opts.diskSignature ?? 0) >>> 0, 440);
  parts.forEach((p, i) => {
    if (p.firstLba > 0xffffffff || p.sectors > 0xffffffff || p.firstLba + p.sectors > 0x100000000) {
      throw new RangeError(`MBR partition ${i + 1} (LBA ${p.firstLba}, ${p.sectors} sectors) lies beyond 2 TiB, which an MBR cannot address`);
    }
    const at = 446 + i * 16;
    b[at] = p.bootable ? 0x80 : 0;
    b.set(chs(p.firstLba), at + 1);
    b[at + 4] = p.type;
    b.set(chs(p.firstLba + p.sectors - 1), at + 5);
    b.writeUInt32LE(p.firstLba, at + 8);
    b.writeUInt32LE(p.sectors, at + 12);
  });
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** The protective MBR of a GPT disk: one 0xEE entry from LBA 1 to the end (capped at 2 TiB). */
export function protectiveMbr(totalSectors: number, opts: MbrOptions = {}): Buffer {
  return encodeMbr(
    [{ type: MBR_TYPES.gptProtective, firstLba: 1, sectors: Math.min(totalSectors - 1, 0xffffffff) }],
    opts,
  );
}
