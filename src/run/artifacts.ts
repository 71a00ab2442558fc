// What to boot from a path: LinuxKit's kernel+initrd output names (<prefix>-kernel,
// <prefix>-initrd.img, <prefix>-cmdline, and kernel+squashfs's <prefix>-squashfs.img) given by
// their prefix or by any one of the files, and the
// architecture, read from the kernel image itself.
import { createReadStream, existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { ARCH_NAMES, findArch, isKernelImage, type Arch } from '../arch.js';
import { RunError } from './errors.js';

export interface BootArtifacts {
  kernel: string;
  initrd: string;
  /** contents of <prefix>-cmdline, trimmed; '' when there is none */
  cmdline: string;
  /** <prefix>-squashfs.img (kernel+squashfs), <prefix>-erofs.img (kernel+erofs) or <prefix>.iso (kernel+iso): the read-only root, attached as a disk */
  squashfs?: string;
  arch: Arch;
}

const SUFFIXES = ['-kernel', '-initrd.img', '-cmdline', '-squashfs.img', '-erofs.img'] as const;

/** The prefix of a path naming one of the output files, or the path itself (already a prefix). Pure. */
export function artifactPrefix(path: string): string {
  for (const s of SUFFIXES) if (path.endsWith(s)) return path.slice(0, -s.length);
  return path;
}

/**
 * The architecture of a kernel image from its first bytes (at least 0x240, decompressed): x86
 * bzImage ("HdrS" at 0x202), arm64 Image ("ARM\x64" at 0x38), or an ELF vmlinux. Pure.
 */
export function kernelArchFromHeader(head: Buffer): Arch | undefined {
  const image = ARCH_NAMES.find((a) => isKernelImage(a, head));
  if (image) return image;
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const machine = head.readUInt16LE(18);
    return findArch((a) => a.kernel.elfMachine === machine);
  }
  return undefined;
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The first `n` bytes of a gzip file's content, decompressing no more than needed. */
async function gunzipHead(path: string, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const src = createReadStream(path);
    const gz = createGunzip();
    const done = () => {
      src.destroy();
      gz.destroy();
      resolve(Buffer.concat(chunks).subarray(0, n));
    };
    gz.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) done();
    });
    gz.on('end', done);
    gz.on('error', done); // what was decompressed so far is all we can judge
    src.on('error', done);
    src.pipe(gz);
  });
}

/** The architecture of the kernel file; a gzip'd one (arm64 Image.gz) is looked into. */
export async function detectKernelArch(path: string): Promise<Arch | undefined> {
  let head = await readHead(path, 1024);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) head = await gunzipHead(path, 1024);
  return kernelArchFromHeader(head);
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * kernel+iso's root (<prefix>.iso): an ISO 9660 volume without an El Torito boot record, unlike
 * the boot media that share its name (the iso format's <prefix>.iso boots by itself).
 */
async function isRootIso(path: string): Promise<boolean> {
  if (!(await isFile(path))) return false;
  const head = await readHead(path, 17 * 2048 + 8);
  const descriptor = (sector: number) => head.subarray(sector * 2048, sector * 2048 + 7);
  return descriptor(16).toString('latin1', 1, 6) === 'CD001' && descriptor(17).length === 7 && descriptor(17)[0] !== 0;
}

/** The output prefix of kernel+iso's root ISO given by its own path, when its kernel is beside it (else undefined: an ISO that boots by itself). */
export async function kernelIsoPrefix(path: string): Promise<string | undefined> {
  if (!path.endsWith('.iso')) return undefined;
  const prefix = path.slice(0, -'.iso'.length);
  return (await isRootIso(path)) && (await isFile(prefix + '-kernel')) ? prefix : undefined;
}

/** Find the kernel, initrd and cmdline for `path` and tell the arch (opts.arch overrides). */
export async function findArtifacts(path: string, opts: { arch?: Arch } = {}): Promise<BootArtifacts> {
  const prefix = artifactPrefix(path);
  const kernel = prefix + '-kernel';
  const initrd = prefix + '-initrd.img';
  const cmdlineFile = prefix + '-cmdline';
  if (!(await isFile(kernel))) {
    const what = existsSync(path) && path === prefix ? `${path} is not one of the -kernel/-initrd.img/-cmdline files, and ` : '';
    throw new RunError(
      'ARTIFACT_MISSING',
      `${what}no kernel at ${kernel}: pass the output prefix (e.g. out/minimal) or one of its files; build it with \`osbuild build <blueprint> -f kernel+initrd\``,
    );
  }
  if (!(await isFile(initrd))) {
    throw new RunError('ARTIFACT_MISSING', `no initramfs at ${initrd} next to ${kernel}: rebuild with \`osbuild build <blueprint> -f kernel+initrd\``);
  }
  const cmdline = (await isFile(cmdlineFile)) ? (await readFile(cmdlineFile, 'utf8')).trim() : '';
  let squashfs: string | undefined;
  for (const root of [prefix + '-squashfs.img', prefix + '-erofs.img']) if (!squashfs && (await isFile(root))) squashfs = root;
  if (!squashfs && (await isRootIso(prefix + '.iso'))) squashfs = prefix + '.iso';
  const arch = opts.arch ?? (await detectKernelArch(kernel));
  if (!arch) {
    throw new RunError('ARCH_UNKNOWN', `${kernel}: not an x86 bzImage nor an arm64 Image (plain or gzip'd); give the architecture with --arch ${ARCH_NAMES.join('|')}`);
  }
  return { kernel, initrd, cmdline, arch, squashfs };
}
