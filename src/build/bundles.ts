// LinuxKit's tar-shaped outputs beyond `tar` itself (moby/build/build.go and output.go):
//   docker             NAME.docker: the `tar` output (root + boot/kernel, boot/cmdline) with a
//                      Dockerfile at its end, a build context for `docker build - < NAME.docker`
//                      (FROM scratch, COPY . ./, ENTRYPOINT /bin/rc.init: LinuxKit's text, byte
//                      for byte, leading newline included)
//   tar-kernel-initrd  NAME-initrd.tar holding kernel, initrd.img, cmdline and, when the kernel
//                      image has microcode, ucode.cpio beside them (not inside initrd.img), as
//                      LinuxKit's outputKernelInitrdTarball writes them
// A tar header needs its entry's size first: the kernel (gzip'd for arm64) and the initrd are
// written to temporary files beside the output, then streamed into the tar.

import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EntryStream, EntryWithContent } from '../formats/entry.js';
import { writeTar } from '../formats/tar/write.js';
import { layerFile } from '../rootfs/layer.js';
import type { BuildPlan } from '../plan/plan.js';
import type { Store } from '../oci/store.js';
import { rootWithBoot, type StreamWarnings } from './streams.js';

/** LinuxKit's Dockerfile for the docker output (moby/build/build.go), exactly. */
export const DOCKERFILE = '\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT ["/bin/rc.init"]\n';

function fileEntry(path: string, size: number, epoch: number, content: AsyncIterable<Uint8Array>): EntryWithContent {
  return { entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: epoch, size }, content };
}

async function* bytes(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

/** `docker`: the root with boot/, then the Dockerfile (after the files section, as LinuxKit adds it). */
export function dockerContext(store: Store, plan: BuildPlan, onWarning: StreamWarnings): AsyncIterable<Uint8Array> {
  const dockerfile = Buffer.from(DOCKERFILE);
  async function* after(): EntryStream {
    yield fileEntry('Dockerfile', dockerfile.length, plan.root.epoch, bytes(dockerfile));
  }
  return writeTar(rootWithBoot(store, plan, onWarning, after()));
}

export interface KernelInitrdTarInputs {
  store: Store;
  plan: BuildPlan;
  onWarning: StreamWarnings;
  /** The build's whole-system initrd when another format made it (it starts with the microcode), else undefined. */
  sharedInitrd?: string;
  /** The root as a compressed cpio, without the microcode (through the build's segment cache). */
  rootInitrd: () => AsyncIterable<Uint8Array>;
  /** The direct-boot kernel file (through the build's segment cache). */
  kernel: () => AsyncIterable<Uint8Array>;
  /** Where this writer may keep its temporary files (removed when it returns). */
  scratch: (what: string) => string;
  out: string;
}

/** `tar-kernel-initrd`: kernel, initrd.img, cmdline[, ucode.cpio] in one tar. */
export async function writeKernelInitrdTar(i: KernelInitrdTarInputs): Promise<void> {
  const { store, plan } = i;
  const epoch = plan.root.epoch;
  const kernelFile = i.scratch('kernel');
  const initrdFile = i.scratch('initrd');
  try {
    await writeStreamTo(i.kernel(), kernelFile);
    const ucode = plan.kernel?.ucode ? await collect(layerFile(store, plan.kernel.ucode.layer, plan.kernel.ucode.path)) : undefined;
    let initrd: { path: string; start: number };
    if (i.sharedInitrd) initrd = { path: i.sharedInitrd, start: ucode?.length ?? 0 };
    else {
      await writeStreamTo(i.rootInitrd(), initrdFile);
      initrd = { path: initrdFile, start: 0 };
    }
    const kernelSize = (await stat(kernelFile)).size;
    const initrdSize = (await stat(initrd.path)).size - initrd.start;
    const cmdline = Buffer.from(plan.cmdline);
    async function* entries(): EntryStream {
      yield fileEntry('kernel', kernelSize, epoch, createReadStream(kernelFile));
      yield fileEntry('initrd.img', initrdSize, epoch, createReadStream(initrd.path, { start: initrd.start }));
      yield fileEntry('cmdline', cmdline.length, epoch, bytes(cmdline));
      if (ucode) yield fileEntry('ucode.cpio', ucode.length, epoch, bytes(ucode));
    }
    await writeStreamTo(writeTar(entries()), i.out);
  } finally {
    await Promise.all([rm(kernelFile, { force: true }), rm(initrdFile, { force: true })]);
  }
}

async function collect(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function writeStreamTo(source: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  await pipeline(Readable.from(source, { objectMode: false }), createWriteStream(path));
}
