// Test fixtures for booting: initramfs images made with real tools (cpio newc + gzip) from
// directory trees built here, and Debian's cloud kernel laid out under LinuxKit's output names.
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Arch } from '../../src/arch.js';
import { debianKernel, debianPackage } from '../helpers/debian-kernel.js';

const made: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (call it in afterAll). */
export async function tempDir(tag: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `osbuild-run-${tag}-`));
  made.push(d);
  return d;
}

export async function removeTempDirs(): Promise<void> {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
}

/** cpio newc of `dir` (sorted, owner root, reproducible) compressed with gzip into `out`. */
export async function cpioGz(dir: string, out: string): Promise<void> {
  await execa('sh', [
    '-c',
    'cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --reproducible --quiet | gzip -1n >"$2"',
    'sh',
    dir,
    out,
  ]);
}

/** A static busybox for `arch`: the host's (busybox-static) on amd64, Debian's arm64 .deb otherwise. */
export async function staticBusybox(arch: Arch): Promise<string> {
  if (arch === 'amd64' && process.arch === 'x64') return '/bin/busybox';
  return join(await debianPackage(arch, 'busybox-static'), 'bin', 'busybox');
}

/**
 * out/<name>-kernel, -initrd.img, -cmdline in a fresh directory, as `osbuild build -f kernel+initrd`
 * writes them: Debian's cloud kernel for `arch`, an initramfs of a busybox and `init` (a shell
 * script run as /init). Returns the prefix.
 */
export async function busyboxImage(arch: Arch, init: string, cmdline = 'quiet'): Promise<string> {
  const dir = await tempDir(`bb-${arch}`);
  const root = join(dir, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev']) await mkdir(join(root, d));
  await copyFile(await staticBusybox(arch), join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await symlink('busybox', join(root, 'bin', 'sh'));
  await writeFile(join(root, 'init'), init, { mode: 0o755 });
  const prefix = join(dir, 'out', 'bb');
  await mkdir(dirname(prefix), { recursive: true });
  await cpioGz(root, `${prefix}-initrd.img`);
  await symlink((await debianKernel(arch)).vmlinuz, `${prefix}-kernel`);
  await writeFile(`${prefix}-cmdline`, cmdline + '\n');
  return prefix;
}
