// A/B updates (`root: {type: squashfs, slots: ab, version: "2"}`): the EFI disk gets two root
// partitions (root-a holds this build's squashfs, root-b is empty), an ESP whose systemd-boot picks
// the newest UKI that has tries left (Boot Loader Specification boot counting: a new version
// arrives as osbuild-<version>+<tries>.efi), and a persistent data partition. The init marks a
// trial boot good once every service started, and reboots one that fails: after its tries the
// entry sorts last and the previous version boots again. What the plan decides here: the checks,
// the sizes, the command line and the modules the init needs to reach the ESP. Pure.

import type { Blueprint } from '../blueprint/schema.js';
import { showName } from '../formats/names.js';
import { parseDiskSize, showMiB } from './disk-size.js';
import type { FormatSpec } from './formats.js';
import { PlanError } from './system.js';
import { fileEntry, type PlainEntry } from '../rootfs/plan.js';

const MiB = 1024 * 1024;

/** A version as systemd-boot orders them (strverscmp_improved) and as it fits an ESP file name. */
export const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z._~^-]{0,63}$/;
export const DEFAULT_TRIES = 2;
export const DEFAULT_DATA_SIZE = 16 * MiB;
/** The smallest slot: a root partition an update can grow into. */
export const MIN_SLOT_SIZE = 64 * MiB;
/** The smallest ESP: room for the running UKI and a new one beside it, FAT32-sized. */
export const MIN_ESP_SIZE = 64 * MiB;
/** A panicking trial init reboots (using up a try) instead of hanging. */
export const SLOTS_PANIC = 'panic=10';
/**
 * The modules stage 2 of the init loads to mount the ESP (vfat: Debian's kernels default to
 * codepage 437, iocharset ascii, utf8 names) and to read systemd-boot's variables (efivarfs).
 */
export const SLOT_MODULES = ['vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8', 'efivarfs'];
/** GPT partition names: the contract with the init and the update agent, which find partitions by name. */
export const SLOT_PARTITIONS = { esp: 'ESP', a: 'root-a', b: 'root-b', data: 'osbuild-data' } as const;

export interface SlotsPlan {
  kind: 'ab';
  version: string;
  /** Bytes of each root partition; undefined: from the squashfs's size (defaultSlotSize). */
  slotSize?: number;
  /** Trial boots a new version gets. */
  tries: number;
  /** Bytes of the osbuild-data partition. */
  dataSize: number;
}

/**
 * The blueprint with --image-version applied and, for a slots root whose kernel.modules is a
 * list, the modules the init needs to reach the ESP added to it. Pure; applying it twice is
 * applying it once.
 */
export function withSlots(b: Blueprint, imageVersion?: string): Blueprint {
  if (imageVersion !== undefined && !b.root?.slots) {
    throw new PlanError(`--image-version ${showName(imageVersion)}: the version is of a slots root, and this blueprint has no root.slots`, {
      where: '--image-version',
      hint: 'set `root: {type: squashfs, slots: ab, version: "1"}`, or leave --image-version out',
    });
  }
  if (!b.root?.slots) return b;
  const root = imageVersion !== undefined ? { ...b.root, version: imageVersion } : b.root;
  const modules = b.kernel?.modules;
  const kernel = b.kernel && modules ? { ...b.kernel, modules: [...modules, ...SLOT_MODULES.filter((m) => !modules.includes(m))] } : b.kernel;
  return { ...b, root, ...(kernel ? { kernel } : {}) };
}

/** The slots of a build, checked against its layout and formats; undefined for a blueprint without. Pure. */
export function planSlots(b: Blueprint, formats: readonly FormatSpec[], layout: 'initramfs' | 'squashfs'): SlotsPlan | undefined {
  const r = b.root ?? {};
  if (!r.slots) {
    const only = formats.find((f) => f.slotsOnly);
    if (only) {
      throw new PlanError(`format ${only.name} is for a slots root (root.slots: ab), and this blueprint has none`, { where: 'root.slots', hint: 'set `root: {type: squashfs, slots: ab, version: "1"}`' });
    }
    const stray = (['version', 'slotSize', 'tries', 'dataSize'] as const).filter((k) => r[k] !== undefined);
    if (stray.length) {
      throw new PlanError(`root.${stray[0]} is for a slots root, and this blueprint has no root.slots`, {
        where: `root.${stray[0]}`,
        hint: 'add `slots: ab` (A/B updates on the EFI disk formats), or remove it',
      });
    }
    return undefined;
  }
  const where = 'root.slots';
  if (layout !== 'squashfs') {
    throw new PlanError(`root.slots: ab holds a read-only root in each slot, and this build's layout is ${layout}`, { where, hint: 'set `root: {type: squashfs, slots: ab}` (and no --root initramfs)' });
  }
  const version = r.version;
  if (version === undefined) {
    throw new PlanError('root.slots: ab needs root.version: the version of this build, which updates are compared with', { where: 'root.version', hint: 'set `version: "1"` under root, or build with --image-version 1' });
  }
  if (!VERSION_RE.test(version)) {
    throw new PlanError(`root.version ${showName(version)}: expected 1 to 64 of the characters 0-9 A-Z a-z . _ ~ ^ -, starting with a letter or digit (it becomes an ESP file name)`, { where: 'root.version', hint: 'use a version such as 2, 1.4.0 or 2026.12.07' });
  }
  const others = formats.filter((f) => !f.slots).map((f) => f.name);
  if (others.length) {
    throw new PlanError(`root.slots: ab is written by the EFI disk formats and \`update\`; ${others.join(', ')} cannot hold slots`, {
      where,
      hint: 'build raw-efi (or qcow2-efi, vhd, vmdk, aws, gcp, azure) and update; build other formats from a blueprint without root.slots',
    });
  }
  const size = (key: 'slotSize' | 'dataSize') => (r[key] === undefined ? undefined : parseDiskSize(r[key], `root.${key}`));
  const slotSize = size('slotSize');
  if (slotSize !== undefined && slotSize < MIN_SLOT_SIZE) {
    throw new PlanError(`root.slotSize ${r.slotSize} is smaller than a slot can be (${showMiB(MIN_SLOT_SIZE)})`, { where: 'root.slotSize', hint: `give ${showMiB(MIN_SLOT_SIZE)} or more, or leave it out (twice the squashfs)` });
  }
  return { kind: 'ab', version, ...(slotSize !== undefined ? { slotSize } : {}), tries: r.tries ?? DEFAULT_TRIES, dataSize: size('dataSize') ?? DEFAULT_DATA_SIZE };
}

/** Where the root says its version: two versions' roots differ by it (the init finds its slot by the root's superblock), and the running system can read it. */
export const VERSION_FILE = 'etc/osbuild/version';

/** The files a slots root adds to the system: its version. Pure. */
export function slotsFiles(slots: SlotsPlan | undefined, epoch: number): PlainEntry[] {
  if (!slots) return [];
  const data = Buffer.from(`${slots.version}\n`);
  return [{ entry: fileEntry(VERSION_FILE, data.length, 0o644, epoch), content: { kind: 'bytes', data } }];
}

/** The slot size for a root of `rootBytes`: twice it (room for an update to grow), at least 64 MiB, whole MiB. */
export function defaultSlotSize(rootBytes: number): number {
  return Math.max(MIN_SLOT_SIZE, Math.ceil((2 * rootBytes) / MiB) * MiB);
}

/** The ESP for UKIs of `ukiBytes`: three of them (running, new, and one being replaced) and a quarter more, at least 64 MiB. */
export function espSize(ukiBytes: number): number {
  return Math.max(MIN_ESP_SIZE, Math.ceil((3 * ukiBytes * 1.25) / MiB + 2) * MiB);
}

/** The command line of a slots UKI: a panic reboots (and uses up a try) unless the blueprint sets panic= itself. Pure. */
export function slotsCmdline(cmdline: string, slots?: SlotsPlan): string {
  if (!slots || cmdline.split(/\s+/).some((w) => w.startsWith('panic='))) return cmdline;
  return [cmdline.trim(), SLOTS_PANIC].filter((s) => s !== '').join(' ');
}

/** The UKI's file name in \EFI\Linux: blessed (no counter), or a new version with its tries. */
export function ukiEntryName(version: string, tries?: number): string {
  return `osbuild-${version}${tries !== undefined ? `+${tries}` : ''}.efi`;
}
