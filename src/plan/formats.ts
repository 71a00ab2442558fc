// What an output format means for the plan: the files it makes, the layout it writes, the boot
// images it reads, and which files it shares with the other outputs of the build (the
// whole-system initrd the boot media embed, the squashfs root and its small initrd). The table of
// formats, with the function that writes each, is build/outputs.ts's FORMATS; its rows are these
// specs plus a writer. Pure.

import type { Arch } from '../arch.js';
import type { RootType } from './layout.js';

/** Boot files: isolinux and MBR code (amd64 only), systemd's EFI stub (amd64 and arm64). */
export const BOOT_BIOS_IMAGE = 'osbuild/boot-bios:0.1.0';
export const BOOT_EFI_IMAGE = 'osbuild/boot-efi:0.1.0';

export const DEFAULT_FORMAT = 'kernel+initrd';

/**
 * Which layout a format writes: always the whole system in the initrd (kernel+initrd, uki, tar),
 * always the squashfs layout (kernel+squashfs), or the build's (boot media: the blueprint's
 * `root` or --root).
 */
export type FormatLayout = RootType | 'build';

/** A row of the format table, as far as planning goes (build/outputs.ts adds the writer). */
export interface FormatSpec {
  name: string;
  description: string;
  /** File names it makes for an output named `name`. */
  files: (name: string) => string[];
  needsKernel: boolean;
  /** Target arches it supports; default both. */
  arches?: Arch[];
  /** Images it reads boot files from, for an arch (resolved with the blueprint's); throws for an unsupported arch. */
  images?: (arch: Arch) => string[];
  /** Reads the boot-media inputs (the build's shared initrd file). */
  usesMedia?: boolean;
  /** Default: initramfs. */
  layout?: FormatLayout;
  /** Writes the whole-system initrd: takes the build's shared copy when boot media formats make one. */
  sharesInitrd?: boolean;
  /** Writes the slotted EFI disk (or its update) for a root.slots blueprint (plan/slots.ts). */
  slots?: boolean;
  /** Only for a root.slots blueprint (`update`). */
  slotsOnly?: boolean;
}

/** The layout a format writes in this build. */
export function formatLayout(format: FormatSpec, buildLayout: RootType): RootType {
  const l = format.layout ?? 'initramfs';
  return l === 'build' ? buildLayout : l;
}

/**
 * The layout whose shared files (its initrd, and for squashfs the root) a format reads in a build
 * of `build`, or undefined when it streams everything itself.
 */
export function sharedLayout(f: FormatSpec, buildLayout: RootType, build: readonly FormatSpec[] = []): RootType | undefined {
  const l = formatLayout(f, buildLayout);
  if (f.usesMedia || l === 'squashfs') return l;
  // kernel+initrd shares the initrd only with a format that makes it anyway
  if (f.sharesInitrd && build.some((o) => o !== f && !o.sharesInitrd && sharedLayout(o, buildLayout) === 'initramfs')) return 'initramfs';
  return undefined;
}

/** The formats a build writes when none are named: a squashfs blueprint's kernel, small initrd and squashfs; a slots root's EFI disk. */
export function defaultFormats(root: RootType, slots = false): string[] {
  if (slots) return ['raw-efi'];
  return [root === 'squashfs' ? 'kernel+squashfs' : DEFAULT_FORMAT];
}

/** One output of the build: a format, the files it makes, and the shared files it reads. */
export interface OutputPlan {
  format: string;
  /** File names, relative to the output directory. */
  files: string[];
  /** The layout it writes. */
  layout: RootType;
  /** The layout whose shared files it reads; undefined: it streams what it writes. */
  shared?: RootType;
  /** It is the last reader of those shared files: they are removed once it is written. */
  releasesShared: boolean;
  /** The boot images it reads files from (references; their digests are in the plan's bootImages). */
  bootImages: string[];
}

/** Files written once per build and read by several outputs, removed after the last of them. */
export interface SharedFiles {
  layout: RootType;
  /** initramfs: the whole-system initrd; squashfs: the squashfs root and the small initrd that names it. */
  files: ('initrd' | 'squashfs-root')[];
  /** The formats that read them, in the order they are written. */
  readers: string[];
  /** Boot media (UKI, ISO, disks) are made from them: the boot-media inputs of the build. */
  media: boolean;
}

/** The outputs of a build of `formats` in `buildLayout`, and the files they share. Pure. */
export function planOutputs(
  name: string,
  arch: Arch,
  formats: readonly FormatSpec[],
  buildLayout: RootType,
): { outputs: OutputPlan[]; shared: SharedFiles[] } {
  const outputs = formats.map((f): OutputPlan => {
    const shared = sharedLayout(f, buildLayout, formats);
    return {
      format: f.name,
      files: f.files(name),
      layout: formatLayout(f, buildLayout),
      shared,
      releasesShared: shared !== undefined && [...formats].reverse().find((o) => sharedLayout(o, buildLayout, formats) === shared) === f,
      bootImages: f.images?.(arch) ?? [],
    };
  });
  const shared: SharedFiles[] = [];
  for (const [i, o] of outputs.entries()) {
    if (!o.shared) continue;
    let s = shared.find((x) => x.layout === o.shared);
    if (!s) shared.push((s = { layout: o.shared, files: o.shared === 'squashfs' ? ['squashfs-root', 'initrd'] : ['initrd'], readers: [], media: false }));
    s.readers.push(o.format);
    s.media ||= !!formats[i].usesMedia;
  }
  return { outputs, shared };
}
