// Test fixture: Debian packages for an arch (the cloud kernel above all), fetched with apt using a
// private state directory (-oDir::State::Lists / -oDir::Cache), so the host's apt config and dpkg
// architecture list stay untouched, and extracted with dpkg-deb into a cache shared between runs:
// process.env.OSBUILD_TEST_CACHE ?? ~/.cache/osbuild-test. Once a package is extracted there, no
// network is needed. Several test files may ask at once (vitest forks): a lock directory serialises
// apt, and each extraction appears complete (temporary directory + rename) or not at all.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../src/arch.js';

export function testCacheDir(): string {
  return process.env.OSBUILD_TEST_CACHE ?? join(homedir(), '.cache', 'osbuild-test');
}

function archDir(arch: Arch): string {
  return join(testCacheDir(), 'debian', arch);
}

function aptOpts(arch: Arch): string[] {
  const d = archDir(arch);
  return [
    '-q',
    `-oAPT::Architecture=${arch}`,
    `-oAPT::Architectures=${arch}`,
    `-oDir::State::Lists=${join(d, 'apt', 'lists')}`,
    `-oDir::Cache=${join(d, 'apt', 'cache')}`,
    // apt's download sandbox user (_apt) could not write into a cache under $HOME
    '-oAPT::Sandbox::User=root',
  ];
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Serialise apt runs of concurrent test processes: mkdir is atomic; a lock older than 10 min is stale. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  const lock = join(dir, '.lock');
  for (let i = 0; ; i++) {
    try {
      await mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 10 * 60_000) await rm(lock, { recursive: true, force: true });
      if (i > 20 * 60 * 2) throw new Error(`debian fixture: lock ${lock} held for 20 min; remove it if stale`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function aptUpdate(arch: Arch): Promise<void> {
  const d = archDir(arch);
  await mkdir(join(d, 'apt', 'lists', 'partial'), { recursive: true });
  await mkdir(join(d, 'apt', 'cache', 'archives', 'partial'), { recursive: true });
  await execa('apt-get', [...aptOpts(arch), 'update']);
  await writeFile(join(d, 'apt', 'updated'), new Date().toISOString());
}

async function download(arch: Arch, pkg: string, into: string): Promise<string> {
  const tryOnce = async () => {
    await execa('apt-get', [...aptOpts(arch), 'download', pkg], { cwd: into });
    const deb = (await readdir(into)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new Error(`debian fixture: apt-get download ${pkg} (${arch}) left no .deb in ${into}`);
    return join(into, deb);
  };
  if (!existsSync(join(archDir(arch), 'apt', 'updated'))) await aptUpdate(arch);
  try {
    return await tryOnce();
  } catch {
    // stale lists (the mirror dropped that version): refresh once and retry
    await aptUpdate(arch);
    return await tryOnce();
  }
}

/**
 * The Debian package `pkg` for `arch`, extracted (dpkg-deb -x) into the test cache; returns the
 * directory holding its files. The first call downloads it; later calls (and runs) reuse it.
 */
export async function debianPackage(arch: Arch, pkg: string): Promise<string> {
  const d = archDir(arch);
  const dest = join(d, 'pkg', pkg);
  if (existsSync(dest)) return dest;
  return withLock(d, async () => {
    if (existsSync(dest)) return dest;
    const tmp = join(d, 'tmp', `${pkg}.${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(join(tmp, 'root'), { recursive: true });
    const deb = await download(arch, pkg, tmp);
    await execa('dpkg-deb', ['-x', deb, join(tmp, 'root')]);
    await mkdir(join(d, 'pkg'), { recursive: true });
    await rename(join(tmp, 'root'), dest);
    await rm(tmp, { recursive: true, force: true });
    return dest;
  });
}

export interface DebianKernel {
  /** the kernel image: bzImage on amd64, a gzip'd Image on arm64 */
  vmlinuz: string;
  /** `uname -r` of that kernel, e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  /** the extracted package (boot/, lib/modules/<release>/) */
  root: string;
}

/** The ABI of linux-image-cloud-<arch>: "6.1.0-56" from its dependency linux-image-6.1.0-56-cloud-<arch>. */
async function cloudAbi(arch: Arch): Promise<string> {
  const d = archDir(arch);
  const remembered = join(d, 'kernel-abi');
  if (existsSync(remembered)) return (await readFile(remembered, 'utf8')).trim();
  return withLock(d, async () => {
    if (!existsSync(join(d, 'apt', 'updated'))) await aptUpdate(arch);
    const { stdout } = await execa('apt-cache', [...aptOpts(arch), 'depends', `linux-image-cloud-${arch}`]);
    const m = new RegExp(`linux-image-([0-9][0-9.]*-[0-9]+)-cloud-${arch}$`, 'm').exec(stdout);
    if (!m) throw new Error(`debian fixture: no linux-image-*-cloud-${arch} among the dependencies of linux-image-cloud-${arch}:\n${stdout}`);
    await writeFile(remembered, m[1] + '\n');
    return m[1];
  });
}

/** Debian's cloud kernel for `arch` (linux-image-<abi>-cloud-<arch>), cached. */
export async function debianKernel(arch: Arch): Promise<DebianKernel> {
  const abi = await cloudAbi(arch);
  const release = `${abi}-cloud-${arch}`;
  const root = await debianPackage(arch, `linux-image-${release}`);
  const vmlinuz = join(root, 'boot', `vmlinuz-${release}`);
  if (!existsSync(vmlinuz)) throw new Error(`debian fixture: ${vmlinuz} missing from the extracted package ${root}`);
  return { vmlinuz, release, root };
}
