// Output formats: one row each (name, the files it makes, what writes them), as LinuxKit's
// moby/build/output.go keeps them. Every file is written under a temporary name and renamed
// into place only when the whole format succeeded: a failed build leaves no half-written output.

import { createWriteStream } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Store } from '../oci/store.js';
import type { Descriptor } from '../oci/types.js';
import { writeCpio } from '../formats/cpio.js';
import { writeTar } from '../formats/tar-write.js';
import { gzipParallel } from '../formats/gzip.js';
import { assembleRoot } from '../rootfs/assemble.js';
import type { EntryStream } from '../formats/entry.js';
import { layerFile } from '../rootfs/layer.js';
import { cleanPath } from '../rootfs/paths.js';
import type { BuildPlan } from './plan.js';

export interface OutputContext {
  store: Store;
  plan: BuildPlan;
  /** Temporary path for each final file name (relative to the output dir). */
  tmp: (file: string) => string;
}

export interface OutputFormat {
  name: string;
  description: string;
  /** File names it makes for an output named `name`. */
  files: (name: string) => string[];
  needsKernel: boolean;
  write: (ctx: OutputContext) => Promise<void>;
}

export class OutputError extends Error {
  readonly code = 'EOUTPUT';
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

export const FORMATS: OutputFormat[] = [
  {
    name: 'kernel+initrd',
    description: 'the kernel, an initramfs (gzip cpio) holding the whole system, and the kernel command line',
    files: (n) => [`${n}-kernel`, `${n}-initrd.img`, `${n}-cmdline`],
    needsKernel: true,
    write: async ({ store, plan, tmp }) => {
      const n = plan.name;
      const k = plan.kernel!;
      await writeStream(layerFile(store, k.layer, k.binary), tmp(`${n}-kernel`));
      await writeStream(initrd(store, plan), tmp(`${n}-initrd.img`));
      await writeFile(tmp(`${n}-cmdline`), plan.cmdline);
    },
  },
  {
    name: 'tar',
    description: 'the root filesystem as a tar, with the kernel and command line under boot/',
    files: (n) => [`${n}.tar`],
    needsKernel: false,
    write: async ({ store, plan, tmp }) => {
      await writeStream(writeTar(rootWithBoot(store, plan)), tmp(`${plan.name}.tar`));
    },
  },
];

export const DEFAULT_FORMAT = 'kernel+initrd';

export function findFormat(name: string): OutputFormat {
  const f = FORMATS.find((x) => x.name === name);
  if (!f) throw new OutputError(`unknown output format ${JSON.stringify(name)}: known formats are ${FORMATS.map((x) => x.name).join(', ')}`);
  return f;
}

/** Write one format's files atomically into outDir; returns the final paths and sizes. */
export async function writeFormat(format: OutputFormat, store: Store, plan: BuildPlan, outDir: string): Promise<{ path: string; bytes: number }[]> {
  if (format.needsKernel && !plan.kernel) throw new OutputError(`format ${format.name} needs a kernel: the blueprint has no kernel.image`);
  const suffix = `.partial-${randomBytes(6).toString('hex')}`;
  const names = format.files(plan.name);
  const tmpOf = (f: string) => join(outDir, f + suffix);
  try {
    await format.write({ store, plan, tmp: tmpOf });
    const out: { path: string; bytes: number }[] = [];
    for (const f of names) {
      await rename(tmpOf(f), join(outDir, f));
      out.push({ path: join(outDir, f), bytes: (await stat(join(outDir, f))).size });
    }
    return out;
  } catch (err) {
    await Promise.all(names.map((f) => rm(tmpOf(f), { force: true })));
    throw err;
  }
}

async function writeStream(source: AsyncIterable<Uint8Array>, path: string): Promise<void> {
  await pipeline(Readable.from(source, { objectMode: false }), createWriteStream(path));
}

/** The initramfs: the microcode cpio first when there is one (the kernel reads it uncompressed, early), then the system. */
async function* initrd(store: Store, plan: BuildPlan): AsyncIterable<Uint8Array> {
  const ucode = plan.kernel?.ucode;
  if (ucode) yield* layerFile(store, ucode.layer, ucode.path);
  yield* gzipParallel(writeCpio(assembleRoot(store, plan.root)));
}

async function* rootWithBoot(store: Store, plan: BuildPlan): EntryStream {
  yield* assembleRoot(store, plan.root);
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
