// Plan, then do. The build plan is everything a build will do, made from the blueprint and what
// was resolved before (image digests, tables of contents, modules.dep, file sizes): which images
// it reads (the boot images of the media formats too, with their digests), where the system lives
// at run time (the layout: initramfs or squashfs), the root, the outputs with their files, and
// the files the outputs share (the whole-system initrd, the squashfs root and its small initrd).
// Pure: no disk, no network; src/build/ executes the plan.

import type { Arch } from '../arch.js';
import type { Blueprint } from '../blueprint/schema.js';
import type { Descriptor } from '../oci/types.js';
import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import type { ResolvedImage } from './images.js';
import { DiskSizeError } from './disk-size.js';
import { formatLayout, planOutputs, type FormatSpec, type OutputPlan, type SharedFiles } from './formats.js';
import { layoutRefs, layoutType, squashfsLayout, VERITY_IMAGE, type Layout, type RootType, type SquashfsLayout } from './layout.js';
import { planSlots, slotsFiles, withSlots, type SlotsPlan } from './slots.js';
import { blueprintRefs, kernelPaths, planSystem, PlanError, type SystemInputs, type SystemPlan } from './system.js';

/** What a build reads an image for. */
export type ImageUse = 'kernel' | 'init' | 'onboot' | 'onshutdown' | 'services' | 'boot';

/** An image of the build: its reference, the manifest digest it was resolved to, and its uses. */
export interface PlannedImage {
  ref: string;
  digest: string;
  uses: ImageUse[];
}

/** A boot image of the media formats (isolinux, the EFI stub), resolved once: boot files are read from these layers. */
export interface BootImage {
  ref: string;
  digest: string;
  layers: Descriptor[];
  tocs: Entry[][];
}

export interface BuildPlan extends SystemPlan {
  /** Every image the build reads, in the order of the blueprint, then the boot images. */
  images: PlannedImage[];
  /** The boot images the outputs read files from, by reference. */
  bootImages: Record<string, BootImage>;
  /** Where the system lives at run time, for the boot media of this build. */
  layout: Layout;
  /** The squashfs layout, when an output writes it (kernel+squashfs, or boot media of a squashfs build). */
  squashfs?: SquashfsLayout;
  /** The outputs, in the order they are written. */
  outputs: OutputPlan[];
  /** The files written once and read by several outputs. */
  shared: SharedFiles[];
  /** The size in bytes of the disk formats' disks (LinuxKit's --size); undefined: as small as their content allows. */
  diskSize?: number;
  /** A/B updates (root.slots): the version, slot and data sizes, trial boots. */
  slots?: SlotsPlan;
}

export interface PlanInputs extends SystemInputs {
  /** The formats to write (rows of build/outputs.ts's FORMATS); none: a plan of the system alone. */
  formats?: readonly FormatSpec[];
  /** Where the system lives at run time; overrides the blueprint's `root.type`. */
  root?: RootType;
  /** Bytes of every disk format's disk (LinuxKit's --size). */
  diskSize?: number;
}

/** Whether an output of the build writes the squashfs layout. */
export function needsSquashfs(b: Blueprint, formats: readonly FormatSpec[], root?: RootType): boolean {
  const type = layoutType(b, root);
  return formats.some((f) => formatLayout(f, type) === 'squashfs');
}

/** Every image reference a build reads: the blueprint's, then the boot images of its formats. */
export function planRefs(b: Blueprint, formats: readonly FormatSpec[], arch: Arch): string[] {
  return [...blueprintRefs(b), ...layoutRefs(b), ...formats.flatMap((f) => f.images?.(arch) ?? [])];
}

/**
 * Where the kernel's modules.dep is read from, when the plan needs it (kernel.modules names
 * modules, or the squashfs layout's small initrd loads those that find the root): the modules
 * tarball's path and the kernel image's layers that hold it, top first.
 */
export function modulesInfoSources(
  b: Blueprint,
  images: ReadonlyMap<string, ResolvedImage>,
  formats: readonly FormatSpec[] = [],
  root?: RootType,
): { tarName: string; layers: Descriptor[] } | undefined {
  const tarName = kernelPaths(b).tar;
  if (!b.kernel?.image || !(b.kernel.modules?.length || needsSquashfs(b, formats, root)) || !tarName) return undefined;
  const k = images.get(b.kernel.image);
  if (!k) throw new PlanError(`image ${showName(b.kernel.image)} was not resolved`);
  const layers: Descriptor[] = [];
  for (let l = k.layers.length - 1; l >= 0; l--) if (k.tocs[l].some((e) => e.path === tarName)) layers.push(k.layers[l]);
  return { tarName, layers };
}

/** A library caller's diskSize: whole MiB, as the CLI's --size always gives. */
function checkDiskSize(bytes: number): void {
  if (Number.isSafeInteger(bytes) && bytes > 0 && bytes % (1024 * 1024) === 0) return;
  throw new DiskSizeError(`diskSize ${bytes}: expected a positive whole number of MiB in bytes`, { where: 'diskSize', hint: 'pass parseDiskSize(\'1024M\') or a multiple of 1048576' });
}

/** The build plan. Pure. */
export function planBuild(inputs: PlanInputs): BuildPlan {
  const { images, arch, epoch } = inputs;
  // a slots root's init mounts the ESP: its modules are in the root whatever the caller passed
  const b = withSlots(inputs.blueprint);
  const formats = inputs.formats ?? [];
  if (inputs.diskSize !== undefined) checkDiskSize(inputs.diskSize);
  const slots = planSlots(b, formats, layoutType(b, inputs.root));
  const system = planSystem({ ...inputs, blueprint: b, files: [...inputs.files, ...slotsFiles(slots, epoch)] });

  const squashfs = needsSquashfs(b, formats, inputs.root) ? squashfsLayout({ blueprint: b, images, epoch, modulesInfo: inputs.modulesInfo }) : undefined;
  const layout: Layout = layoutType(b, inputs.root) === 'squashfs' && squashfs ? squashfs : { type: 'initramfs' };
  const { outputs, shared } = planOutputs(system.name, arch, formats, layout.type);

  const resolved = (ref: string) => {
    const i = images.get(ref);
    if (!i) throw new PlanError(`image ${showName(ref)} was not resolved`);
    return i;
  };
  const planned = new Map<string, PlannedImage>();
  const use = (ref: string, u: ImageUse) => {
    let p = planned.get(ref);
    if (!p) planned.set(ref, (p = { ref, digest: resolved(ref).manifestDigest, uses: [] }));
    if (!p.uses.includes(u)) p.uses.push(u);
  };
  if (b.kernel?.image) use(b.kernel.image, 'kernel');
  for (const ref of b.init ?? []) use(ref, 'init');
  for (const s of ['onboot', 'onshutdown', 'services'] as const) for (const i of b[s] ?? []) use(i.image, s);
  // the small initramfs of a verified root carries dmsetup beside the init
  if (squashfs?.verity) use(VERITY_IMAGE, 'init');
  const bootImages: Record<string, BootImage> = {};
  for (const o of outputs) {
    for (const ref of o.bootImages) {
      use(ref, 'boot');
      const i = resolved(ref);
      bootImages[ref] ??= { ref, digest: i.manifestDigest, layers: i.layers, tocs: i.tocs };
    }
  }

  return { ...system, images: [...planned.values()], bootImages, layout, ...(squashfs ? { squashfs } : {}), outputs, shared, ...(inputs.diskSize !== undefined ? { diskSize: inputs.diskSize } : {}), ...(slots ? { slots } : {}) };
}
