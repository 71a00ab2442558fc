// Where the system lives at run time. `initramfs` (LinuxKit's way): the whole root in the initrd,
// unpacked into RAM by the kernel. `squashfs`: the root is a read-only squashfs on the boot
// medium (a partition, a file on an ISO, or a drive of its own), and the initrd is small: the
// init image, the kernel modules that find and mount the root, and /etc/osbuild/root, which
// tells the init which squashfs is ours and which paths to make writable (overlays on a tmpfs).
// Pure: the small initrd's plan is made from resolved images and the squashfs's fingerprint.

import type { Blueprint, SQUASHFS_COMPRESSIONS } from '../blueprint/schema.js';

export type SquashfsCompression = (typeof SQUASHFS_COMPRESSIONS)[number];
import { cleanPath } from '../rootfs/paths.js';
import { showName } from '../formats/names.js';
import { moduleName, selectModules, type KernelModulesInfo } from '../rootfs/modules.js';
import { fileEntry, planRoot, type RootPlan } from '../rootfs/plan.js';
import { kernelPaths, PlanError, topmostLayerWith } from './system.js';
import { DEFAULT_TRIES } from './slots.js';
import type { ResolvedImage } from './images.js';
import type { VerityInfo } from '../formats/verity/tree.js';

export type RootType = 'initramfs' | 'squashfs';
export const ROOT_TYPES: readonly RootType[] = ['initramfs', 'squashfs'];

/** Paths made writable by default: what the system and its services write to. */
export const DEFAULT_WRITABLE = ['/etc', '/var', '/containers'];

/** Where the squashfs is on an ISO (the init looks for this file on every ISO 9660 device). */
export const ISO_ROOT_FILE = 'osbuild/root.sqfs';

/**
 * Modules the init may need to reach the root, loaded when the kernel ships them as modules
 * (built-in or absent ones are skipped): virtio disks and CD-ROMs (QEMU, most clouds), the PC's
 * IDE CD-ROM, Hyper-V and Xen disks, ISO 9660 and loop for a root file on an ISO, squashfs and
 * overlay for the root itself. NVMe is built into the kernels we ship.
 */
export const ROOT_MODULES = [
  'virtio_pci', 'virtio_mmio', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'sr_mod', 'ata_piix', 'ata_generic',
  'nvme', 'hv_storvsc', 'xen_blkfront', 'isofs', 'loop', 'squashfs', 'overlay',
];

/**
 * A verified root (`verity: true`): the image whose dmsetup the small initramfs carries, and the
 * module that maps the root through dm-verity (it pulls dm_bufio and dm_mod).
 */
export const VERITY_IMAGE = 'osbuild/dm-verity:0.1.0';
export const VERITY_MODULES = ['dm_verity'];

/** What the small initramfs names: the squashfs (its superblock's sha256) and, verified, its tree. */
export interface RootIdentity {
  superblockSha256: string;
  verity?: VerityInfo;
}

export interface SquashfsLayout {
  type: 'squashfs';
  writable: string[];
  compression: SquashfsCompression;
  /** A dm-verity tree is appended to the squashfs, its root hash goes on the command line. */
  verity: boolean;
  /** The small initramfs for the root `root` names (default: a squashfs; kernel+erofs: an erofs). */
  initramfs: (root: RootIdentity, fs?: RootFs) => RootPlan;
}

/**
 * The filesystem of a read-only root and where the init finds the superblock bytes it hashes:
 * squashfs (the layout's own; 96 bytes at 0), erofs (kernel+erofs; 128 bytes at 1024) or
 * iso9660 (kernel+iso; the primary volume descriptor, 2048 bytes at 32768, whose volume set id
 * is the sha256 of the root's content).
 */
export interface RootFs {
  type: 'squashfs' | 'erofs' | 'iso9660';
  superblockOffset: number;
  superblockBytes: number;
  /** the kernel module of the filesystem when it is not named as the type (iso9660: isofs) */
  module?: string;
}
export const SQUASHFS_ROOT: RootFs = { type: 'squashfs', superblockOffset: 0, superblockBytes: 96 };
export const EROFS_ROOT: RootFs = { type: 'erofs', superblockOffset: 1024, superblockBytes: 128 };
export const ISO9660_ROOT: RootFs = { type: 'iso9660', superblockOffset: 32768, superblockBytes: 2048, module: 'isofs' };

/** The modules that reach a root of `fs`: ROOT_MODULES with that filesystem's driver. */
export function rootModules(fs: RootFs): string[] {
  const driver = fs.module ?? fs.type;
  return [...new Set(ROOT_MODULES.map((m) => (m === 'squashfs' ? driver : m)))];
}

export type Layout = { type: 'initramfs' } | SquashfsLayout;

export interface LayoutInputs {
  blueprint: Blueprint;
  images: Map<string, ResolvedImage>;
  epoch: number;
  modulesInfo?: KernelModulesInfo;
}

/** The writable paths a blueprint asks for, cleaned and checked. Pure. */
export function writablePaths(b: Blueprint): string[] {
  const list = b.root?.writable ?? DEFAULT_WRITABLE;
  const out: string[] = [];
  for (const p of list) {
    if (!p.startsWith('/')) throw new PlanError(`root.writable: "${showName(p)}" is not an absolute path`);
    const clean = '/' + cleanPath(p);
    if (clean === '/') throw new PlanError('root.writable: "/" would make the whole root writable: use `root: {type: initramfs}` for that');
    if (/[\s"'$`\\]/.test(clean)) throw new PlanError(`root.writable: "${showName(p)}": spaces and shell characters are not supported in a writable path`);
    if (['/proc', '/sys', '/dev', '/run', '/tmp'].includes(clean)) continue; // mounted by the init anyway
    if (!out.includes(clean)) out.push(clean);
  }
  return out;
}

/** The squashfs layout of a blueprint: what the small initrd holds. Pure. */
export function squashfsLayout(inputs: LayoutInputs): SquashfsLayout {
  const { blueprint: b, images, epoch } = inputs;
  const initRef = b.init?.[0];
  if (!initRef) throw new PlanError('root: squashfs needs an init image (the blueprint has no init section)');
  const init = images.get(initRef);
  if (!init) throw new PlanError(`image ${showName(initRef)} was not resolved`);
  if (!topmostLayerWith(init, 'lib/osbuild/root')) {
    throw new PlanError(`root: squashfs needs an init that can mount a squashfs root: ${showName(initRef)} has no /lib/osbuild/root (use osbuild/init)`);
  }
  const writable = writablePaths(b);
  const verity = b.root?.verity === true;
  // a slots root (plan/slots.ts checks it): the init finds its slot, the ESP and the booted entry
  const slots = b.root?.slots && b.root.version !== undefined ? { version: b.root.version, tries: b.root.tries ?? DEFAULT_TRIES } : undefined;
  const tools = verity ? images.get(VERITY_IMAGE) : undefined;
  if (verity && !tools) throw new PlanError(`image ${VERITY_IMAGE} was not resolved (root.verity needs it)`);
  const initImages = tools ? [init, tools] : [init];

  const kref = b.kernel?.image;
  const tarName = kernelPaths(b).tar;
  const modulesFor = (fs: RootFs): { modules: Parameters<typeof planRoot>[0]['modules']; load: string[] } => {
    if (!kref || !tarName || !inputs.modulesInfo) return { modules: undefined, load: [] };
    const k = images.get(kref);
    const layer = k && topmostLayerWith(k, tarName)?.layer;
    if (!layer) return { modules: undefined, load: [] };
    const shipped = new Set(Object.keys(inputs.modulesInfo.dep).map(moduleName));
    const load = [...rootModules(fs), ...(verity ? VERITY_MODULES : [])].filter((m) => shipped.has(m));
    if (!load.length) return { modules: undefined, load };
    const selection = selectModules(inputs.modulesInfo, load, `the modules that find the root in ${kref}`);
    return { modules: { layer, tarName, kver: inputs.modulesInfo.kver, selection }, load };
  };
  // the squashfs root's selection is checked here, as the plan is made
  const squashfsModules = modulesFor(SQUASHFS_ROOT);

  return {
    type: 'squashfs',
    writable,
    compression: b.root?.compression ?? 'zstd',
    verity,
    initramfs: (root, fs = SQUASHFS_ROOT) => {
      if (verity && !root.verity) throw new PlanError(`root.verity: the ${fs.type} root was written without its dm-verity tree (verity is for the squashfs root)`);
      const { modules, load } = fs === SQUASHFS_ROOT ? squashfsModules : modulesFor(fs);
      const marker = Buffer.from(rootMarker({ superblockSha256: root.superblockSha256, verity: root.verity, writable, modules: load, fs, slots }));
      return planRoot({
        epoch,
        modules,
        init: { layers: initImages.flatMap((i) => i.layers), tocs: initImages.flatMap((i) => i.tocs) },
        containers: [],
        files: [{ entry: fileEntry('etc/osbuild/root', marker.length, 0o644, epoch), content: { kind: 'bytes', data: marker } }],
      });
    },
  };
}

/**
 * /etc/osbuild/root: shell assignments the init's root stage sources. Pure. A verified root adds
 * where its tree is and what the dm-verity table needs besides the root hash, which the kernel
 * command line carries (osbuild.verity=): the device is found by the sha256 of its verity
 * superblock (a changed squashfs superblock then fails the check, not the search).
 */
export function rootMarker(r: { superblockSha256: string; verity?: VerityInfo; writable: string[]; modules: string[]; fs?: RootFs; slots?: { version: string; tries: number } }): string {
  const fs = r.fs ?? SQUASHFS_ROOT;
  const v = r.verity;
  return [
    '# osbuild: the read-only root this initrd boots (written by osbuild build)',
    `superblock=${r.superblockSha256}`,
    `isofile=/${ISO_ROOT_FILE}`,
    `writable="${r.writable.join(' ')}"`,
    `modules="${r.modules.join(' ')}"`,
    // a squashfs marker stays as it was; the init's defaults are squashfs's
    ...(fs.type === 'squashfs' ? [] : [`fstype=${fs.type}`, `sbsize=${fs.superblockBytes}`, `sbskip=${fs.superblockOffset / fs.superblockBytes}`]),
    ...(v
      ? [`verity=1`, `verity_superblock=${v.superblockSha256}`, `verity_offset=${v.hashOffset}`, `verity_blocks=${v.dataBlocks}`, `verity_salt=${v.salt}`]
      : []),
    // A/B slots: stage 2 of the init mounts the ESP and blesses or fails a trial boot of `version`
    ...(r.slots ? ['slots=ab', `version=${r.slots.version}`, `tries=${r.slots.tries}`] : []),
    '',
  ].join('\n');
}

/** The kernel command line that boots `root`: a verified root's hash is pinned on it. Pure. */
export function rootCmdline(cmdline: string, root?: { verity?: VerityInfo }): string {
  if (!root?.verity) return cmdline;
  return [cmdline.trim(), `osbuild.verity=${root.verity.rootHash}`].filter((s) => s !== '').join(' ');
}

/** The blueprint with `root.verity` set when asked (--verity); as it was otherwise. Pure. */
export function withVerity(b: Blueprint, verity?: boolean): Blueprint {
  return verity ? { ...b, root: { ...b.root, verity: true } } : b;
}

/** The images a blueprint's root layout reads besides its own (dmsetup for a verified root). */
export function layoutRefs(b: Blueprint): string[] {
  return b.root?.verity ? [VERITY_IMAGE] : [];
}

export function layoutType(b: Blueprint, override?: RootType): RootType {
  const type = override ?? b.root?.type ?? 'initramfs';
  if (b.root?.verity && type !== 'squashfs') {
    throw new PlanError(
      `root.verity: a dm-verity tree covers a squashfs root, and this build's layout is ${type}${override ? ' (--root)' : ''}: ` +
        'set `root: {type: squashfs, verity: true}` (or build with --root squashfs)',
    );
  }
  return type;
}
