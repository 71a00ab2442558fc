// Boot media (outputs other than kernel+initrd): what a path is, by its extension as LinuxKit's
// `run qemu` tells them, and what is on it, read from its first MiBs: the architecture (the
// removable-media EFI boot file's name in the ESP, a PE machine type, isolinux's x86 MBR code)
// and which firmware boots it (El Torito entries of an ISO, MBR boot code, an ESP).
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCH_NAMES, ARCHES, BIOS_ARCHES, findArch, type Arch } from '../arch.js';
import { exactShortName } from '../formats/fat/names.js';
import { readHead } from './artifacts.js';
import { RunError } from './errors.js';

export type MediaKind = 'cdrom' | 'disk' | 'uki';
/** QEMU's block driver names. */
export type DiskFormat = 'raw' | 'qcow2' | 'vpc' | 'vmdk';
export type Firmware = 'bios' | 'uefi';

export interface MediaType {
  kind: MediaKind;
  format: DiskFormat;
}

const BY_EXTENSION: Record<string, MediaType> = {
  '.iso': { kind: 'cdrom', format: 'raw' },
  '.img': { kind: 'disk', format: 'raw' },
  '.raw': { kind: 'disk', format: 'raw' },
  '.qcow2': { kind: 'disk', format: 'qcow2' },
  '.vhd': { kind: 'disk', format: 'vpc' },
  '.vmdk': { kind: 'disk', format: 'vmdk' },
  '.efi': { kind: 'uki', format: 'raw' },
};

/** The media type of a path by its extension; undefined for kernel+initrd outputs. Pure. */
export function mediaType(path: string): MediaType | undefined {
  // kernel+initrd's initramfs and kernel+squashfs's root are booted with their kernel, not as disks
  if (path.endsWith('-initrd.img') || path.endsWith('-squashfs.img') || path.endsWith('-erofs.img')) return undefined;
  const m = /\.[a-z0-9]+$/i.exec(path);
  return m ? BY_EXTENSION[m[0].toLowerCase()] : undefined;
}

export interface MediaProbe {
  arch?: Arch;
  /** boots by legacy BIOS: an El Torito x86 entry, or MBR boot code */
  bios: boolean;
  /** boots by UEFI: an El Torito EFI entry, an ESP with the removable-media boot file, a UKI */
  uefi: boolean;
}

/** What a UKI (a PE file) is for, from its COFF header. Pure. */
export function probePe(head: Buffer): MediaProbe {
  if (head.length < 0x40 || head.toString('latin1', 0, 2) !== 'MZ') return { bios: false, uefi: false };
  const pe = head.readUInt32LE(0x3c);
  if (pe + 6 > head.length || head.toString('latin1', pe, pe + 4) !== 'PE\0\0') return { bios: false, uefi: false };
  const machine = head.readUInt16LE(pe + 4);
  const arch = findArch((a) => a.efi.peMachine === machine);
  return { arch, bios: false, uefi: arch !== undefined };
}

const ISO_SECTOR = 2048;

/** El Torito platforms of an ISO image's boot catalog (0 = x86 BIOS, 0xEF = EFI). Pure. */
export function elToritoPlatforms(head: Buffer): number[] {
  const br = 17 * ISO_SECTOR;
  if (head.length < br + ISO_SECTOR || head.toString('latin1', br + 7, br + 30) !== 'EL TORITO SPECIFICATION') return [];
  const cat = head.readUInt32LE(br + 0x47) * ISO_SECTOR;
  if (cat + ISO_SECTOR > head.length || head[cat] !== 1) return [];
  const platforms: number[] = [];
  if (head[cat + 32] === 0x88) platforms.push(head[cat + 1]); // the default entry, for the validation entry's platform
  for (let off = cat + 64; off + 32 <= cat + ISO_SECTOR; ) {
    const type = head[off];
    if (type !== 0x90 && type !== 0x91) break;
    const platform = head[off + 1];
    const count = head.readUInt16LE(off + 2);
    for (let i = 1; i <= count; i++) if (head[off + 32 * i] === 0x88) platforms.push(platform);
    off += 32 * (count + 1);
    if (type === 0x91) break;
  }
  return platforms;
}

// Each arch's removable-media boot file as its FAT directory entry spells it ("BOOTX64 EFI").
const EFI_BOOT_ENTRIES = ARCH_NAMES.map((arch) => ({ arch, entry: exactShortName(ARCHES[arch].efi.bootFile)! }));

/**
 * Architecture and firmware of an ISO or disk image from its first bytes (raw). The arch is the
 * first (in the table's order) whose EFI boot file is there, else the BIOS arch if there is BIOS
 * boot code. Pure.
 */
export function probeImage(head: Buffer): MediaProbe {
  const efiArches = EFI_BOOT_ENTRIES.filter((e) => head.includes(e.entry)).map((e) => e.arch);
  const platforms = elToritoPlatforms(head);
  const mbrCode = head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa && head.subarray(0, 440).some((b) => b !== 0);
  const bios = platforms.includes(0) || mbrCode;
  const uefi = platforms.includes(0xef) || efiArches.length > 0;
  const arch: Arch | undefined = efiArches[0] ?? (bios ? BIOS_ARCHES[0] : undefined);
  return { arch, bios, uefi };
}

/** How much of an image the probe reads: the tables, the boot catalog, the ESP's directories. */
const PROBE_BYTES = 16 * 1024 * 1024;

/** The first raw bytes of the virtual disk inside a qcow2/VHD/VMDK file, by `qemu-img dd`. */
async function virtualHead(path: string, format: DiskFormat): Promise<Buffer> {
  if (format === 'raw') return readHead(path, PROBE_BYTES);
  const dir = await mkdtemp(join(tmpdir(), 'osbuild-probe-'));
  try {
    const out = join(dir, 'head.raw');
    await execa('qemu-img', ['dd', '-f', format, '-O', 'raw', `bs=${1024 * 1024}`, `count=${PROBE_BYTES / (1024 * 1024)}`, `if=${path}`, `of=${out}`]).catch((e: unknown) => {
      throw new RunError('ARTIFACT_MISSING', `${path}: qemu-img cannot read it as ${format}: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
    });
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function probeMedia(path: string, type: MediaType): Promise<MediaProbe> {
  if (type.kind === 'uki') return probePe(await readHead(path, 4096));
  return probeImage(await virtualHead(path, type.format));
}

/** The firmware to boot with: the one asked for, else BIOS when the image boots that way (faster under TCG), else UEFI. Pure. */
export function chooseFirmware(path: string, arch: Arch, probe: MediaProbe, wanted?: Firmware): Firmware {
  if (wanted === 'bios') {
    if (!ARCHES[arch].bios) throw new RunError('NO_BOOT_PATH', `${path}: ${arch} machines boot by UEFI only; drop --bios`);
    if (!probe.bios) throw new RunError('NO_BOOT_PATH', `${path} has no BIOS boot code (no El Torito x86 entry, no MBR code): boot it with --uefi, or build a -bios format`);
    return 'bios';
  }
  if (wanted === 'uefi') {
    if (!probe.uefi) throw new RunError('NO_BOOT_PATH', `${path} has no UEFI boot path (no EFI El Torito entry, no \\EFI\\BOOT\\BOOT*.EFI): boot it with --bios, or build an -efi format`);
    return 'uefi';
  }
  if (probe.bios && ARCHES[arch].bios) return 'bios';
  if (probe.uefi) return 'uefi';
  throw new RunError('NO_BOOT_PATH', `${path}: found neither BIOS boot code nor an EFI boot file for ${arch}: is it an osbuild image?`);
}
