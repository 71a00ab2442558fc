// Output formats: one row each (name, the files it makes, what writes them), as LinuxKit's
// moby/build/output.go keeps them. What a row means for the plan (files, layout, boot images,
// shared files) is plan/formats.ts's FormatSpec; the row adds the writer, which executes the
// plan's output in a build session. Every file is written under a temporary name and renamed
// into place only when the whole format succeeded: a failed build leaves no half-written output.
// Temporary names carry their writer's owner token (oci/owner.ts), so that the next build into
// the directory removes what a killed one left, and never what a running one is writing.

import { createWriteStream } from 'node:fs';
import { copyFile, link, lstat, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Store } from '../oci/store.js';
import { OWNER_TOKEN_RE, ownerState } from '../oci/owner.js';
import { diskFullError, isNoSpace } from '../oci/space.js';
import { showName } from '../formats/names.js';
import { writeTar } from '../formats/tar/write.js';
import { dockerContext, writeKernelInitrdTar } from './bundles.js';
import { erofsInitramfs, writeErofsRoot } from './erofs.js';
import { isoInitramfs, writeIsoRootImage } from './iso-root.js';
import type { BuildPlan } from '../plan/plan.js';
import type { RootPlan } from '../rootfs/plan.js';
import { rootCmdline } from '../plan/layout.js';
import { BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE, DEFAULT_FORMAT, formatLayout, type FormatLayout, type FormatSpec, type OutputPlan } from '../plan/formats.js';
import { ARCH_NAMES, ARCHES, BIOS_ARCHES, type Arch } from '../arch.js';
import { mediaInputs, type MediaInputs } from './media/sources.js';
import type { SquashfsFile } from './media/scratch.js';
import type { BuildSession } from './session.js';
import { rootWithBoot, type StreamWarnings } from './streams.js';
import { writeUki } from './media/uki.js';
import { writeIsoMedia } from './media/iso.js';
import { writeRawDisk } from './media/disk.js';
import { writeUpdate } from './media/slots.js';
import { anyFirmwareDisk, writeGcp, writeQcow2Media, writeVhdMedia, writeVmdkMedia } from './media/cloud.js';

export { DEFAULT_FORMAT, formatLayout, type FormatLayout };

export interface OutputContext {
  store: Store;
  plan: BuildPlan;
  /** Where the checks on the assembled stream report what they dropped. */
  onWarning: StreamWarnings;
  /** Temporary path for each final file name (relative to the output dir). */
  tmp: (file: string) => string;
  /** Boot-media inputs: kernel, the build's initrd (written once, shared by its formats), the squashfs root in that layout, boot files, seed. */
  media: () => Promise<MediaInputs>;
  /** The kernel file of the direct-boot formats as a stream (through the build's segment cache). */
  kernel: () => AsyncIterable<Uint8Array>;
  /** The whole-system initrd as a stream (through the build's segment cache). */
  initrd: () => AsyncIterable<Uint8Array>;
  /** The same without the microcode cpio at its start. */
  rootInitrd: () => AsyncIterable<Uint8Array>;
  /** An initrd of another root (a small initrd of the read-only root layout). */
  initrdOf: (root: RootPlan) => AsyncIterable<Uint8Array>;
  /** The build's whole-system initrd file when other formats of the build embed it too (else undefined: stream it). */
  sharedInitrd: () => Promise<string | undefined>;
  /** The squashfs layout's root and its small initrd (formats whose layout is squashfs). */
  squashfs: () => Promise<{ root: SquashfsFile; initrd: { path: string; size: number } }>;
}

/** A row of the format table: what it means for the plan, and the function that writes it. */
export interface OutputFormat extends FormatSpec {
  write: (ctx: OutputContext) => Promise<void>;
}

import { OsbuildError } from '../errors.js';
export class OutputError extends OsbuildError {
  readonly code = 'EOUTPUT';
}

export const FORMATS: OutputFormat[] = [
  {
    name: 'kernel+initrd',
    description: 'the kernel, an initramfs (gzip cpio) holding the whole system, and the kernel command line',
    files: (n) => [`${n}-kernel`, `${n}-initrd.img`, `${n}-cmdline`],
    needsKernel: true,
    sharesInitrd: true,
    write: async ({ plan, tmp, kernel, initrd, sharedInitrd }) => {
      const n = plan.name;
      await writeStream(kernel(), tmp(`${n}-kernel`));
      const shared = await sharedInitrd();
      if (shared) await linkOrCopy(shared, tmp(`${n}-initrd.img`));
      else await writeStream(initrd(), tmp(`${n}-initrd.img`));
      await writeFile(tmp(`${n}-cmdline`), plan.cmdline);
    },
  },
  {
    name: 'kernel+squashfs',
    description: 'the kernel, a small initramfs (the init and the modules that find the root), the system as a read-only squashfs, and the command line; boot the squashfs as a disk',
    files: (n) => [`${n}-kernel`, `${n}-initrd.img`, `${n}-squashfs.img`, `${n}-cmdline`],
    needsKernel: true,
    layout: 'squashfs',
    write: async ({ plan, tmp, kernel, squashfs }) => {
      const n = plan.name;
      const { root, initrd } = await squashfs();
      await writeStream(kernel(), tmp(`${n}-kernel`));
      await linkOrCopy(initrd.path, tmp(`${n}-initrd.img`));
      await linkOrCopy(root.path, tmp(`${n}-squashfs.img`));
      await writeFile(tmp(`${n}-cmdline`), rootCmdline(plan.cmdline, root));
    },
  },
  {
    name: 'tar',
    description: 'the root filesystem as a tar, with the kernel and command line under boot/',
    files: (n) => [`${n}.tar`],
    needsKernel: false,
    write: async ({ store, plan, onWarning, tmp }) => {
      await writeStream(writeTar(rootWithBoot(store, plan, onWarning)), tmp(`${plan.name}.tar`));
    },
  },
];

// ---------------------------------------------------------------- boot media (initramfs layout)

const ALL_ARCHES: Arch[] = [...ARCH_NAMES];
/** BIOS boot is x86 code: isolinux, MBR code. */
const WITH_BIOS: Arch[] = [...BIOS_ARCHES];

/** A boot-media row: the arches it supports, the boot images it reads, and its writer. */
function mediaRow(
  name: string,
  description: string,
  arches: Arch[],
  files: (n: string) => string[],
  bootImages: (arch: Arch) => string[],
  write: (m: MediaInputs, out: (file: string) => string) => Promise<void>,
): OutputFormat {
  return {
    name,
    description,
    files,
    needsKernel: true,
    arches,
    usesMedia: true,
    layout: 'build',
    images: (arch) => {
      checkArch(name, arches, arch);
      return bootImages(arch);
    },
    write: async (ctx) => write(await ctx.media(), ctx.tmp),
  };
}

const EFI = () => [BOOT_EFI_IMAGE];
const BIOS = () => [BOOT_BIOS_IMAGE];
const BIOS_EFI = (arch: Arch) => (ARCHES[arch].bios ? [BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE] : [BOOT_EFI_IMAGE]);

// File names as LinuxKit's moby/build/output.go gives them, where it has the format.
FORMATS.push(
  mediaRow('uki', 'a unified kernel image (systemd EFI stub + kernel + initrd + cmdline + os-release) that UEFI firmware boots directly, and the TPM PCR 11 values it leaves', ALL_ARCHES,
    (n) => [`${n}.efi`, `${n}.pcr11.json`], EFI, (m, out) => writeUki(m, out(`${m.plan.name}.efi`), out(`${m.plan.name}.pcr11.json`))),
  mediaRow('iso-efi', 'an ISO whose El Torito EFI image holds the UKI; isohybrid (also boots as a disk)', ALL_ARCHES,
    (n) => [`${n}-efi.iso`], EFI, (m, out) => writeIsoMedia(m, { bios: false, efi: true }, out(`${m.plan.name}-efi.iso`))),
  mediaRow('iso-bios', 'an ISO booted by isolinux (BIOS), isohybrid MBR (also boots as a disk)', WITH_BIOS,
    (n) => [`${n}-bios.iso`], BIOS, (m, out) => writeIsoMedia(m, { bios: true, efi: false }, out(`${m.plan.name}-bios.iso`))),
  mediaRow('iso', 'one hybrid ISO that boots by BIOS and UEFI, as a CD or a disk (arm64: UEFI only)', ALL_ARCHES,
    (n) => [`${n}.iso`], BIOS_EFI, (m, out) => writeIsoMedia(m, { bios: ARCHES[m.arch].bios, efi: true }, out(`${m.plan.name}.iso`))),
  mediaRow('raw-efi', 'a GPT disk image with a FAT32 ESP holding the UKI', ALL_ARCHES,
    (n) => [`${n}-efi.img`], EFI, (m, out) => writeRawDisk(m, 'efi', out(`${m.plan.name}-efi.img`))),
  mediaRow('raw-bios', 'a disk image booted by BIOS (the isohybrid layout: isohdpfx MBR + isolinux)', WITH_BIOS,
    (n) => [`${n}-bios.img`], BIOS, (m, out) => writeRawDisk(m, 'bios', out(`${m.plan.name}-bios.img`))),
  mediaRow('raw', 'a disk image that boots by BIOS and UEFI (the hybrid ISO layout)', WITH_BIOS,
    (n) => [`${n}.img`], BIOS_EFI, (m, out) => writeRawDisk(m, 'hybrid', out(`${m.plan.name}.img`))),
  mediaRow('qcow2-bios', 'the raw-bios disk as qcow2', WITH_BIOS,
    (n) => [`${n}.qcow2`], BIOS, (m, out) => writeQcow2Media(m, 'bios', out(`${m.plan.name}.qcow2`))),
  mediaRow('qcow2-efi', 'the raw-efi disk as qcow2', ALL_ARCHES,
    (n) => [`${n}-efi.qcow2`], EFI, (m, out) => writeQcow2Media(m, 'efi', out(`${m.plan.name}-efi.qcow2`))),
  mediaRow('vhd', 'a fixed VHD of the raw disk (arm64: of raw-efi)', ALL_ARCHES,
    (n) => [`${n}.vhd`], BIOS_EFI, (m, out) => writeVhdMedia(m, anyFirmwareDisk(m.arch), 'fixed', out(`${m.plan.name}.vhd`))),
  mediaRow('dynamic-vhd', 'a dynamic VHD of the raw disk (arm64: of raw-efi)', ALL_ARCHES,
    (n) => [`${n}.vhd`], BIOS_EFI, (m, out) => writeVhdMedia(m, anyFirmwareDisk(m.arch), 'dynamic', out(`${m.plan.name}.vhd`))),
  mediaRow('vmdk', 'a streamOptimized VMDK of the raw disk (arm64: of raw-efi)', ALL_ARCHES,
    (n) => [`${n}.vmdk`], BIOS_EFI, (m, out) => writeVmdkMedia(m, anyFirmwareDisk(m.arch), out(`${m.plan.name}.vmdk`), `${m.plan.name}.vmdk`)),
  mediaRow('aws', 'the raw-efi disk for an EC2 import (UEFI boot mode)', ALL_ARCHES,
    (n) => [`${n}.raw`], EFI, (m, out) => writeRawDisk(m, 'efi', out(`${m.plan.name}.raw`))),
  mediaRow('gcp', 'the raw-efi disk as disk.raw (whole GiB) in a gzip\'d tar, for a Compute Engine import', ALL_ARCHES,
    (n) => [`${n}.img.tar.gz`], EFI, (m, out) => writeGcp(m, out(`${m.plan.name}.img.tar.gz`))),
  mediaRow('azure', 'the raw-efi disk as a fixed VHD of whole MiB, for an Azure (Gen2) image', ALL_ARCHES,
    (n) => [`${n}-azure.vhd`], EFI, (m, out) => writeVhdMedia(m, 'efi', 'fixed', out(`${m.plan.name}-azure.vhd`))),
);

// LinuxKit's remaining outputs (moby/build/output.go's names)
FORMATS.push(
  mediaRow('iso-efi-initrd', 'an ISO whose El Torito EFI image holds systemd-boot, the kernel and the initrd as separate files (a Boot Loader Specification entry, no UKI); isohybrid', ALL_ARCHES,
    (n) => [`${n}-efi-initrd.iso`], EFI, (m, out) => writeIsoMedia(m, { bios: false, efi: true, loader: true }, out(`${m.plan.name}-efi-initrd.iso`))),
  {
    name: 'kernel+erofs',
    description: 'as kernel+squashfs with an EROFS root: the kernel, a small initramfs, the system as a read-only erofs (attach it as a disk), and the command line',
    files: (n) => [`${n}-kernel`, `${n}-initrd.img`, `${n}-erofs.img`, `${n}-cmdline`],
    needsKernel: true,
    // the read-only root layout (the small initrd, the writable overlays), with erofs as its filesystem
    layout: 'squashfs',
    write: async ({ store, plan, onWarning, tmp, kernel, initrdOf }) => {
      const n = plan.name;
      const root = await writeErofsRoot(store, plan, onWarning, tmp(`${n}-erofs.img`));
      await writeStream(kernel(), tmp(`${n}-kernel`));
      await writeStream(initrdOf(erofsInitramfs(plan, root.superblockSha256)), tmp(`${n}-initrd.img`));
      await writeFile(tmp(`${n}-cmdline`), plan.cmdline);
    },
  },
  {
    name: 'kernel+iso',
    description: 'as kernel+squashfs with the root as a plain ISO 9660 image (Rock Ridge, no boot code): the kernel, a small initramfs, the root ISO (attach it as a CD or a disk), and the command line',
    files: (n) => [`${n}-kernel`, `${n}-initrd.img`, `${n}.iso`, `${n}-cmdline`],
    needsKernel: true,
    // the read-only root layout (the small initrd, the writable overlays), with iso9660 as its filesystem
    layout: 'squashfs',
    write: async ({ store, plan, onWarning, tmp, initrdOf, kernel }) => {
      const n = plan.name;
      const root = await writeIsoRootImage(store, plan, onWarning, tmp(`${n}.iso`));
      await writeStream(kernel(), tmp(`${n}-kernel`));
      await writeStream(initrdOf(isoInitramfs(plan, root.pvdSha256)), tmp(`${n}-initrd.img`));
      await writeFile(tmp(`${n}-cmdline`), plan.cmdline);
    },
  },
  {
    name: 'docker',
    description: 'the tar output with LinuxKit\'s Dockerfile at its end: a build context for `docker build - < NAME.docker`',
    files: (n) => [`${n}.docker`],
    needsKernel: false,
    write: async ({ store, plan, onWarning, tmp }) => {
      await writeStream(dockerContext(store, plan, onWarning), tmp(`${plan.name}.docker`));
    },
  },
  {
    name: 'tar-kernel-initrd',
    description: 'one tar holding kernel, initrd.img and cmdline (and ucode.cpio when the kernel image has microcode)',
    files: (n) => [`${n}-initrd.tar`],
    needsKernel: true,
    sharesInitrd: true,
    write: async ({ store, plan, onWarning, tmp, kernel, sharedInitrd, rootInitrd }) => {
      // scratch names no longer than the output's own temporary name (a longest NAME fits 255 bytes)
      const out = tmp(`${plan.name}-initrd.tar`);
      await writeKernelInitrdTar({ store, plan, onWarning, kernel, sharedInitrd: await sharedInitrd(), rootInitrd, scratch: (what) => tmp(`${plan.name}-${what.slice(0, 1)}`), out });
    },
  },
);

// A/B updates (root.slots: ab, plan/slots.ts): the EFI disk formats write the A/B disk, and
// `update` the files an update of such a device is made of
FORMATS.push({
  ...mediaRow('update', 'for a slots root (root.slots: ab): the squashfs a slot receives and its UKI, the files an update of an A/B device is made of (push them with --push)', ALL_ARCHES,
    (n) => [`${n}-update-root.img`, `${n}-update.efi`], EFI, (m, out) => writeUpdate(m, out(`${m.plan.name}-update-root.img`), out(`${m.plan.name}-update.efi`))),
  slots: true,
  slotsOnly: true,
});
for (const f of FORMATS) if (['raw-efi', 'qcow2-efi', 'vhd', 'dynamic-vhd', 'vmdk', 'aws', 'gcp', 'azure'].includes(f.name)) f.slots = true;

function checkArch(format: string, arches: Arch[], arch: Arch): void {
  if (arches.includes(arch)) return;
  const alt = !ARCHES[arch].bios && format.includes('bios') ? `; ${arch} boots by UEFI: use the -efi flavour` : '';
  throw new OutputError(`format ${format} is for ${arches.join(' and ')} only, not ${arch} (BIOS boot is x86 code)${alt}`);
}

export function findFormat(name: string): OutputFormat {
  const f = FORMATS.find((x) => x.name === name);
  if (!f) throw new OutputError(`unknown output format ${JSON.stringify(name)}: known formats are ${FORMATS.map((x) => x.name).join(', ')}`);
  return f;
}

/**
 * Write one output of the plan (format `format`, planned as `output`) atomically into the
 * session's output dir; returns the final paths and sizes. The files it shares with other outputs
 * (the initrd the media formats embed, the squashfs root) are made once by the session and
 * removed after the last output that reads them, as the plan says; two outputs writing the same
 * file are refused.
 */
export async function writeFormat(format: OutputFormat, output: OutputPlan, session: BuildSession, plan: BuildPlan): Promise<{ path: string; bytes: number }[]> {
  const { store, outDir } = session;
  if (format.needsKernel && !plan.kernel) throw new OutputError(`format ${format.name} needs a kernel: the blueprint has no kernel.image`);
  if (format.arches) checkArch(format.name, format.arches, plan.arch);
  const names = output.files;
  for (const other of plan.outputs) {
    const same = other.format !== format.name && other.files.find((f) => names.includes(f));
    if (same) throw new OutputError(`formats ${format.name} and ${other.format} both write ${same}: build them one at a time (or with --name)`);
  }
  const layout = output.shared;
  const suffix = session.partialSuffix();
  const tmpOf = (f: string) => join(outDir, f + suffix);
  const scratch = layout ? session.shared(plan, layout) : undefined;
  let failed = false;
  const noScratch = () => new OutputError(`format ${format.name} reads scratch files but does not say so (usesMedia / layout)`);
  try {
    await format.write({
      store,
      plan,
      onWarning: session.onWarning,
      tmp: tmpOf,
      kernel: () => session.kernel(plan),
      initrd: () => session.initrd(plan, plan.root),
      rootInitrd: () => session.initrd(plan, plan.root, { microcode: false }),
      initrdOf: (root) => session.initrd(plan, root),
      media: async () => {
        if (!scratch) throw noScratch();
        const initrdFile = await scratch.initrd.get();
        return mediaInputs(store, plan, initrdFile, scratch.squashfs && (await scratch.squashfs.get()), session.signer);
      },
      sharedInitrd: async () => (scratch && !scratch.squashfs ? (await scratch.initrd.get()).path : undefined),
      squashfs: async () => {
        if (!scratch?.squashfs) throw noScratch();
        const initrdFile = await scratch.initrd.get();
        return { root: await scratch.squashfs.get(), initrd: initrdFile };
      },
    });
    const out: { path: string; bytes: number }[] = [];
    const removals: Promise<void>[] = [];
    for (const f of names) {
      const old = await moveAside(join(outDir, f), `${tmpOf(f)}.old`);
      await rename(tmpOf(f), join(outDir, f)).catch(async (e) => {
        if (old) await rename(old, join(outDir, f)).catch(() => {});
        throw e;
      });
      if (old) removals.push(rm(old, { force: true }));
      out.push({ path: join(outDir, f), bytes: (await stat(join(outDir, f))).size });
    }
    await Promise.all(removals);
    return out;
  } catch (err) {
    failed = true;
    // how far the writer got, for a full disk's message, before the partial files go
    const sizes = await Promise.all(names.map((f) => stat(tmpOf(f)).then((st) => st.size, () => 0)));
    await Promise.all(names.map((f) => rm(tmpOf(f), { force: true })));
    if (!isNoSpace(err)) throw err;
    if (layout) await session.release(layout).catch(() => undefined);
    const files = names.map((f) => showName(join(outDir, f))).join(', ');
    throw await diskFullError(outDir, {
      what: `format ${format.name} (${files})`,
      written: sizes.reduce((a, b) => a + b, 0),
      remedy: 'write the outputs elsewhere with -o DIR',
      cause: err,
    });
  } finally {
    if (layout && (failed || output.releasesShared)) await session.release(layout);
  }
}

/**
 * Moves the file an output replaces out of its way, to `aside` (a temporary name, removed as
 * stale if the build is killed before it does): renamed over an existing file, ext4 writes out
 * the new file's blocks inside rename(2) (auto_da_alloc: 80 ms for an 85 MB initrd); into a free
 * name, that is left to writeback. Returns where it went; a directory stays (the rename then
 * fails, as it should).
 */
async function moveAside(path: string, aside: string): Promise<string | undefined> {
  const st = await lstat(path).catch(() => undefined);
  if (!st || st.isDirectory()) return undefined;
  await rename(path, aside);
  return aside;
}

/** A hard link when the file system allows (scratch and output share a directory), else a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to));
}

async function writeStream(source: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  await pipeline(Readable.from(source, { objectMode: false }), createWriteStream(path));
}

// <file>.partial-<token>-<hex> and .<name>.scratch-<token>-<hex>-<what>, as writeFormat names them;
// .partial-<hex> and .<name>-<hex>-<what>.scratch as earlier versions did (no token: judged by age)
const TEMP_NAME = new RegExp(`(?:\\.partial-|\\.scratch-)(${OWNER_TOKEN_RE.source})-[0-9a-f]+`);
const LEGACY_TEMP_NAME = /\.partial-[0-9a-f]{12}$|^\..*-[0-9a-f]{12}-(?:initrd\.img|root\.sqfs)\.scratch$/;
const LEGACY_MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * Removes the temporary files that builds killed part way (kill -9, a crash, a power cut) left in
 * `outDir`, of any output name: those whose writer is gone, and those of unknown writers (another
 * PID namespace, an older osbuild) after a day. Files of running builds stay. Returns the names
 * removed.
 */
export async function removeStalePartials(outDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(outDir).catch(() => [] as string[])) {
    const token = TEMP_NAME.exec(name)?.[1];
    let stale: boolean;
    if (token !== undefined) {
      const owner = ownerState(token);
      stale = owner === 'dead' || (owner === 'unknown' && (await olderThan(join(outDir, name), LEGACY_MAX_AGE_MS)));
    } else if (LEGACY_TEMP_NAME.test(name)) {
      stale = await olderThan(join(outDir, name), LEGACY_MAX_AGE_MS);
    } else continue;
    if (!stale) continue;
    await rm(join(outDir, name), { force: true, recursive: true });
    removed.push(name);
  }
  return removed;
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > ms;
}
