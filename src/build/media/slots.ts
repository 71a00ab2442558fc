// The A/B disk of a slots root (plan/slots.ts says what slots are) and its `update` output.
//   1 ESP           FAT32: systemd-boot as \EFI\BOOT\BOOT*.EFI, \loader\loader.conf, and this
//                   build's UKI as \EFI\Linux\osbuild-<version>.efi (blessed: no boot counter).
//                   Room for three UKIs: an update writes the new one beside the running one.
//   2 root-a        this build's squashfs (and its verity tree), typed as the arch's root
//   3 root-b        the same size and type, zeros: the slot the first update writes
//   4 osbuild-data  persistent data (Linux data type), zeros; no filesystem: a blueprint's
//                   format/mount services make one
// The init and the update agent find partitions by these names. systemd-boot boots the newest
// entry that has tries left: Type #2 entries (UKIs in \EFI\Linux) sort by the os-release's
// IMAGE_ID and IMAGE_VERSION (ukiSource puts the version there), then by file name, newest first,
// and an entry with no tries left (`+0-N`) sorts last; `default osbuild-*` skips the firmware's
// own entries. The empty slot and the data partition are holes in the written file.

import { ARCHES } from '../../arch.js';
import { writeDisk, type DiskPartition } from '../../formats/disk/write.js';
import { writeFat } from '../../formats/fat/write.js';
import { showMiB } from '../../plan/disk-size.js';
import { defaultSlotSize, espSize, SLOT_PARTITIONS, ukiEntryName, type SlotsPlan } from '../../plan/slots.js';
import { BOOT_EFI_IMAGE, MediaError, streamOf, subSeed, type MediaInputs, type Sized } from './sources.js';
import { ukiSource } from './uki.js';
import { writeSized } from './write.js';

const MiB = 1024 * 1024;

/** systemd-boot's configuration: no menu, no editor, the newest osbuild entry with tries left. */
export function slotsLoaderConf(): string {
  return 'timeout 0\ndefault osbuild-*\neditor no\n';
}

function slotsOf(m: MediaInputs): SlotsPlan {
  if (!m.plan.slots) throw new MediaError('the A/B disk is for a slots root (root.slots: ab): this build has none');
  return m.plan.slots;
}

function rootOf(m: MediaInputs): Sized {
  if (!m.root) throw new MediaError('the A/B disk holds a squashfs root: this build wrote none (root.slots needs root.type squashfs)');
  return m.root;
}

/** The ESP of the A/B disk: systemd-boot, its loader.conf and the UKI of root-a. */
export async function slotsEspSource(m: MediaInputs): Promise<Sized> {
  const { version } = slotsOf(m);
  const efi = ARCHES[m.arch].efi;
  const loader = await m.bootFile(BOOT_EFI_IMAGE, `usr/lib/systemd/boot/efi/${efi.loader}`);
  const conf = Buffer.from(slotsLoaderConf());
  const uki = await ukiSource(m);
  const fat = writeFat(
    [
      { path: `EFI/BOOT/${efi.bootFile}`, size: loader.length, content: streamOf(loader) },
      { path: 'loader/loader.conf', size: conf.length, content: streamOf(conf) },
      { path: `EFI/Linux/${ukiEntryName(version)}`, size: uki.size, content: uki.open },
    ],
    { size: espSize(uki.size), fatType: 32, label: 'ESP', seed: subSeed(m, 'esp-slots'), mtime: m.epoch, hiddenSectors: MiB / 512 },
  );
  return { size: fat.size, open: fat.stream };
}

/** The partitions of the A/B disk, in order; `size` options: --size pads the disk at its end. */
export async function slotsPartitions(m: MediaInputs): Promise<DiskPartition[]> {
  const slots = slotsOf(m);
  const root = rootOf(m);
  const slotSize = slots.slotSize ?? defaultSlotSize(root.size);
  if (root.size > slotSize) {
    throw new MediaError(`root.slotSize ${showMiB(slotSize)} is too small for this build's root: its squashfs is ${showMiB(root.size)} (${root.size} bytes)`, {
      where: 'root.slotSize',
      hint: `give root.slotSize ${showMiB(root.size)} or more (devices in the field keep their slot size: leave room for updates to grow), or leave it out`,
    });
  }
  const esp = await slotsEspSource(m);
  const rootType = ARCHES[m.arch].gptRootType;
  return [
    { name: SLOT_PARTITIONS.esp, type: 'esp', size: esp.size, content: esp.open },
    { name: SLOT_PARTITIONS.a, type: rootType, size: slotSize, content: root.open },
    { name: SLOT_PARTITIONS.b, type: rootType, size: slotSize },
    { name: SLOT_PARTITIONS.data, type: 'linux', size: slots.dataSize },
  ];
}

/** The A/B disk: its partitions, as small as they allow, or `size` bytes (--size). */
export async function slotsDiskSource(m: MediaInputs, align: number): Promise<{ disk: Sized; needed: number }> {
  const parts = await slotsPartitions(m);
  const seed = subSeed(m, 'disk-slots');
  const auto = writeDisk({ scheme: 'gpt', partitions: parts, seed });
  const wanted = m.plan.diskSize;
  const size = wanted !== undefined && wanted >= auto.size ? wanted : Math.ceil(auto.size / align) * align;
  const disk = size === auto.size ? auto : writeDisk({ scheme: 'gpt', partitions: parts, seed, size });
  return { disk: { size: disk.size, open: disk.stream }, needed: auto.size };
}

/** `update`: the root a slot receives (the squashfs, as root-a holds it) and its UKI (as the ESP holds it). */
export async function writeUpdate(m: MediaInputs, rootPath: string, ukiPath: string): Promise<void> {
  slotsOf(m);
  await writeSized(rootOf(m), rootPath);
  await writeSized(await ukiSource(m), ukiPath);
}
