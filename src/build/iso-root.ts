// `kernel+iso`: the read-only root layout with the root as a plain ISO 9660 image (Rock Ridge,
// no boot code), for a direct kernel boot whose root is on a CD: NAME-kernel, NAME-initrd.img
// (the small initrd: the init, the modules that reach the root, isofs among them, and
// /etc/osbuild/root naming this image's primary volume descriptor), NAME.iso (LinuxKit's name:
// attach it as a CD or a disk), NAME-cmdline. The image is written by formats/iso/root.ts.

import type { Store } from '../oci/store.js';
import { writeIsoRoot, type IsoRootResult } from '../formats/iso/root.js';
import { ISO9660_ROOT } from '../plan/layout.js';
import type { BuildPlan } from '../plan/plan.js';
import { assembleRoot } from '../rootfs/assemble.js';
import type { RootPlan } from '../rootfs/plan.js';
import type { StreamWarnings } from './streams.js';

/** The root as an ISO 9660 image at `path`. */
export function writeIsoRootImage(store: Store, plan: BuildPlan, onWarning: StreamWarnings, path: string): Promise<IsoRootResult> {
  return writeIsoRoot(assembleRoot(store, plan.root, { onWarning }), path, { epoch: plan.root.epoch });
}

/** The root of the small initrd that finds and mounts the ISO whose primary volume descriptor hashes to `pvdSha256`. */
export function isoInitramfs(plan: BuildPlan, pvdSha256: string): RootPlan {
  if (!plan.squashfs) throw new Error(`the plan of ${plan.name} has no read-only root layout`);
  return plan.squashfs.initramfs({ superblockSha256: pvdSha256 }, ISO9660_ROOT);
}
