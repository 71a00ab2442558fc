// The byte streams the outputs are made of, read from the store as the plan says: the
// initramfs (microcode, then the root as a gzip'd cpio), the direct-boot kernel, and the root
// with the kernel and command line under boot/ (the tar format).

import { createHash } from 'node:crypto';
import type { Store } from '../oci/store.js';
import { gzipParallel } from '../formats/compress/gzip.js';
import { zstdCompress, zstdVersion } from '../formats/compress/zstd.js';
import type { EntryStream } from '../formats/entry.js';
import { assembleRoot } from '../rootfs/assemble.js';
import type { FlattenWarning } from '../rootfs/flatten.js';
import { layerFile } from '../rootfs/layer.js';
import type { RootPlan } from '../rootfs/plan.js';
import { ARCHES, isKernelImage } from '../arch.js';
import type { SystemPlan } from '../plan/system.js';
import { initramfs } from './initramfs.js';
import { throughCache, type SegmentCache } from './segment-cache.js';

/** Where the checks on the assembled stream report what they dropped (rootfs/guard.ts). */
export type StreamWarnings = ((w: FlattenWarning) => void) | undefined;

export interface InitrdOptions {
  onWarning: StreamWarnings;
  /** Compressed pieces of earlier builds to reuse, and to keep this build's in. */
  cache?: SegmentCache;
  /** Told the segment keys this initrd used. */
  onKeys?: (keys: string[]) => void;
}

/** An initramfs: the microcode cpio first when there is one (the kernel reads it uncompressed, early), then `root`. */
export async function* initrd(store: Store, plan: SystemPlan, root: RootPlan, opts: InitrdOptions): AsyncIterable<Uint8Array> {
  const ucode = plan.kernel?.ucode;
  if (ucode) yield* layerFile(store, ucode.layer, ucode.path);
  yield* rootInitrd(store, plan, root, opts);
}

/** The root as a compressed cpio, without microcode (tar-kernel-initrd carries that beside it, as LinuxKit does). */
export async function* rootInitrd(store: Store, plan: SystemPlan, root: RootPlan, opts: InitrdOptions): AsyncIterable<Uint8Array> {
  const c = plan.initrdCompression === 'zstd'
    ? { compress: (s: AsyncIterable<Uint8Array>) => zstdCompress(s), compressId: `zstd-3-${await zstdVersion()}` }
    : { compress: (s: AsyncIterable<Uint8Array>) => gzipParallel(s), compressId: `gzip-6-131072-zlib-${process.versions.zlib}` };
  yield* initramfs(store, root, { ...opts, ...c });
}

/**
 * The kernel file of the direct-boot formats. An uncompressed arm64 Image (what EFI firmware
 * needs, so the kernel image carries it that way) is gzip'd here, as LinuxKit's arm64 kernels
 * are: half the size, and QEMU and GRUB load Image.gz as it is.
 *
 * With a cache, the bytes are kept there, keyed by what they are made of (the layer's digest, the
 * path, the arch): a later build copies them, verified, instead of reading the whole kernel layer
 * again (its modules tree included, to check its digest) for a file that cannot have changed.
 */
export async function* directBootKernel(store: Store, plan: SystemPlan, cache?: KernelCache): AsyncIterable<Uint8Array> {
  if (!cache) return yield* extractKernel(store, plan);
  const k = plan.kernel!;
  const key = createHash('sha256').update(`direct-boot kernel\n${KERNEL_FORMAT}\n${k.layer.digest}\n${k.binary}\n${plan.arch}`).digest('hex');
  cache.onKey?.(key);
  yield* throughCache(cache.cache, key, await cache.cache.getFile(key), {
    make: () => extractKernel(store, plan),
    keep: async (w) => (await w.commitFile(), true),
    what: 'the kernel',
  });
}

/** Version of the bytes a direct-boot kernel key stands for: bump when how they are made changes. */
const KERNEL_FORMAT = 1;

/** Where directBootKernel keeps its bytes, and whom it tells the key it used (the cache keeps it when it trims). */
export interface KernelCache {
  cache: SegmentCache;
  onKey?: (key: string) => void;
}

async function* extractKernel(store: Store, plan: SystemPlan): AsyncIterable<Uint8Array> {
  const k = plan.kernel!;
  const src = layerFile(store, k.layer, k.binary)[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < 0x40) {
    const r = await src.next();
    if (r.done) break;
    chunks.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(chunks);
  async function* all() {
    yield* chunks;
    for (let r = await src.next(); !r.done; r = await src.next()) yield r.value;
  }
  if (ARCHES[plan.arch].kernel.gzipForDirectBoot && isKernelImage(plan.arch, head)) yield* gzipParallel(all());
  else yield* all();
}

export function rootWithBoot(store: Store, plan: SystemPlan, onWarning: StreamWarnings, after?: EntryStream): EntryStream {
  // boot/ goes through the root's checks too: an init's own boot symlink must not lead it astray
  return assembleRoot(store, plan.root, { extra: bootEntries(store, plan, after), onWarning });
}

async function* bootEntries(store: Store, plan: SystemPlan, after?: EntryStream): EntryStream {
  yield* kernelEntries(store, plan);
  if (after) yield* after;
}

async function* kernelEntries(store: Store, plan: SystemPlan): EntryStream {
  const k = plan.kernel;
  if (!k) return;
  const epoch = plan.root.epoch;
  const cmdline = Buffer.from(plan.cmdline);
  yield { entry: { path: 'boot', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: epoch, size: 0 } };
  yield { entry: { path: 'boot/kernel', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, size: k.size }, content: layerFile(store, k.layer, k.binary) };
  yield { entry: { path: 'boot/cmdline', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, size: cmdline.length }, content: once(cmdline) };
}

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}
