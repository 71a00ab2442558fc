// `kernel+erofs`: the read-only root layout with an EROFS root instead of a squashfs (LinuxKit's
// kernel+erofs names its files so): NAME-kernel, NAME-initrd.img (the small initrd: the init, the
// modules that reach the root, erofs among them, and /etc/osbuild/root naming this image's
// superblock and filesystem), NAME-erofs.img (attach it as a disk), NAME-cmdline. The image is
// written by formats/erofs (uncompressed: the squashfs layout's `compression` does not apply).

import { createHash } from 'node:crypto';
import type { Store } from '../oci/store.js';
import { writeErofs, type ErofsResult } from '../formats/erofs/write.js';
import { EROFS_ROOT } from '../plan/layout.js';
import type { BuildPlan } from '../plan/plan.js';
import { assembleRoot } from '../rootfs/assemble.js';
import type { RootPlan } from '../rootfs/plan.js';
import type { StreamWarnings } from './streams.js';

/** The erofs root at `path`; its UUID derives from what the system is made of. */
export function writeErofsRoot(store: Store, plan: BuildPlan, onWarning: StreamWarnings, path: string): Promise<ErofsResult> {
  const seed = createHash('sha256')
    .update(JSON.stringify(['osbuild-erofs-v1', plan.name, plan.arch, plan.images.map((i) => i.digest), plan.root.epoch]))
    .digest('hex');
  return writeErofs(assembleRoot(store, plan.root, { onWarning }), path, { epoch: plan.root.epoch, seed });
}

/** The root of the small initrd that finds and mounts the erofs root whose superblock hashes to `superblockSha256`. */
export function erofsInitramfs(plan: BuildPlan, superblockSha256: string): RootPlan {
  if (!plan.squashfs) throw new Error(`the plan of ${plan.name} has no read-only root layout`);
  return plan.squashfs.initramfs({ superblockSha256 }, EROFS_ROOT);
}
