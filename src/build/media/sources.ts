// What every boot-media writer reads: the kernel (streamed from its layer), the initrd (written
// once per build to a scratch file, because the media writers plan their layout from sizes),
// boot files from the boot component images (resolved once, by the plan), and one seed from which every identifier on the
// media (GUIDs, serials, volume ids) is derived, so two builds of the same system are identical.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Arch } from '../../arch.js';
import type { Store } from '../../oci/store.js';
import { layerFile } from '../../rootfs/layer.js';
import { cleanPath } from '../../rootfs/paths.js';
import type { BootImage, BuildPlan } from '../../plan/plan.js';
import { rootCmdline } from '../../plan/layout.js';
import { slotsCmdline } from '../../plan/slots.js';
import type { VerityInfo } from '../../formats/verity/tree.js';
import type { SignerKey } from '../../formats/efi/signer.js';
export { BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE } from '../../plan/formats.js';

/** A byte source of known length that can be read again (each open() starts a new pass). */
export interface Sized {
  size: number;
  open: () => AsyncIterable<Uint8Array>;
}

export interface MediaInputs {
  plan: BuildPlan;
  arch: Arch;
  kernel: Sized;
  initrd: Sized;
  /** The read-only root (squashfs layout): a partition on disks, a file on ISOs. */
  root?: Sized;
  cmdline: string;
  /** hex sha256 of what the system is: name, arch, cmdline, kernel layer, initrd bytes. */
  seed: string;
  /** SOURCE_DATE_EPOCH: every date on the media. */
  epoch: number;
  /** A file of a boot component image for the plan's arch, whole (boot files are small). */
  bootFile: (ref: string, path: string) => Promise<Buffer>;
  /** The Secure Boot signer of the EFI binaries (--sign-key/--sign-cert); none: unsigned. */
  signer?: SignerKey;
}

import { OsbuildError } from '../../errors.js';
export class MediaError extends OsbuildError {
  readonly code = 'EMEDIA';
}

/** The initrd written to a scratch file, and the sha256 of its bytes. */
export interface InitrdFile {
  path: string;
  size: number;
  sha256: string;
}

export function mediaInputs(store: Store, plan: BuildPlan, initrd: InitrdFile, root?: { path: string; size: number; verity?: VerityInfo }, signer?: SignerKey): MediaInputs {
  const k = plan.kernel;
  if (!k) throw new MediaError(`boot media need a kernel: the blueprint has no kernel.image`);
  // a verified root's hash is on the command line (inside the UKI, where EFI formats boot it)
  // a slots UKI reboots on a panic: a trial boot that panics uses up a try (plan/slots.ts)
  const cmdline = slotsCmdline(rootCmdline(plan.cmdline, root), plan.slots);
  const seed = createHash('sha256')
    .update(JSON.stringify(['osbuild-media-v1', plan.name, plan.arch, cmdline, k.layer.digest, k.binary, initrd.sha256]))
    .digest('hex');
  return {
    plan,
    arch: plan.arch,
    kernel: { size: k.size, open: () => layerFile(store, k.layer, k.binary) },
    initrd: { size: initrd.size, open: () => createReadStream(initrd.path) },
    // the initrd names the root's superblock, so the seed above already covers the root
    root: root && { size: root.size, open: () => createReadStream(root.path) },
    cmdline,
    seed,
    epoch: plan.root.epoch,
    bootFile: (ref, path) => readBootFile(store, plan.bootImages[ref], ref, plan.arch, path),
    signer,
  };
}

/** A boot file from the layers of a boot image the plan resolved (the topmost layer holding it). */
async function readBootFile(store: Store, img: BootImage | undefined, ref: string, arch: Arch, path: string): Promise<Buffer> {
  if (!img) throw new MediaError(`boot image ${ref} is not in the build plan: a format reads it without saying so (images)`);
  const want = cleanPath(path);
  for (let l = img.layers.length - 1; l >= 0; l--) {
    if (!img.tocs[l].some((e) => cleanPath(e.path) === want && e.type === 'file')) continue;
    const parts: Buffer[] = [];
    for await (const c of layerFile(store, img.layers[l], want)) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }
  throw new MediaError(`boot image ${ref} (${arch}) has no ${want}: rebuild it from components/ (\`osbuild pkg build\`)`);
}

/** A name-derived sub-seed, so each format family's identifiers differ from the others'. */
export function subSeed(m: MediaInputs, what: string): string {
  return createHash('sha256').update(`${m.seed}:${what}`).digest('hex');
}

/** An ISO 9660 volume id from the system's name: A-Z 0-9 _, at most 32 characters. */
export function volumeId(name: string): string {
  const v = name.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 32);
  return v || 'OSBUILD';
}

export function streamOf(b: Buffer): () => AsyncIterable<Uint8Array> {
  return async function* () {
    yield b;
  };
}
