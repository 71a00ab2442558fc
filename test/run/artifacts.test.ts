import { execa } from 'execa';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPrefix, detectKernelArch, findArtifacts, kernelArchFromHeader } from '../../src/run/artifacts.js';
import { debianKernel } from '../helpers/debian-kernel.js';
import { removeTempDirs, tempDir } from './fixtures.js';

afterAll(removeTempDirs);

let amd64: string;
let arm64: string;
let dir: string;

beforeAll(async () => {
  amd64 = (await debianKernel('amd64')).vmlinuz;
  arm64 = (await debianKernel('arm64')).vmlinuz;
  dir = await tempDir('artifacts');
}, 600_000);

async function outDir(name: string, kernel: string | null, opts: { initrd?: boolean; cmdline?: string } = {}): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  const prefix = join(d, 'minimal');
  if (kernel) await symlink(kernel, `${prefix}-kernel`);
  if (opts.initrd ?? true) await writeFile(`${prefix}-initrd.img`, 'not read here');
  if (opts.cmdline !== undefined) await writeFile(`${prefix}-cmdline`, opts.cmdline);
  return prefix;
}

describe('kernel arch detection on Debian kernels', () => {
  it('x86 bzImage is amd64, arm64 Image is arm64', async () => {
    expect(await detectKernelArch(amd64)).toBe('amd64');
    expect(await detectKernelArch(arm64)).toBe('arm64');
  });
  it("a gzip'd arm64 Image (Image.gz, as some distributions ship it) is arm64", async () => {
    const image = join(dir, 'Image');
    await copyFile(arm64, image);
    await execa('gzip', ['-1', '-f', image]);
    expect(await detectKernelArch(`${image}.gz`)).toBe('arm64');
    // and a gzip'd bzImage stays amd64 (not that anyone boots one)
    await copyFile(amd64, join(dir, 'bz'));
    await execa('gzip', ['-1', '-f', join(dir, 'bz')]);
    expect(await detectKernelArch(join(dir, 'bz.gz'))).toBe('amd64');
  });
  it('anything else is unknown', async () => {
    expect(kernelArchFromHeader(Buffer.alloc(4096))).toBeUndefined();
    expect(await detectKernelArch('/bin/sh')).toBe(process.arch === 'x64' ? 'amd64' : 'arm64'); // ELF
  });
});

describe('findArtifacts', () => {
  it('finds LinuxKit names from the prefix or any one file', async () => {
    const prefix = await outDir('a', arm64, { cmdline: 'console=ttyAMA0 quiet\n' });
    for (const p of [prefix, `${prefix}-kernel`, `${prefix}-initrd.img`, `${prefix}-cmdline`]) {
      expect(artifactPrefix(p)).toBe(prefix);
      const art = await findArtifacts(p);
      expect(art).toEqual({ kernel: `${prefix}-kernel`, initrd: `${prefix}-initrd.img`, cmdline: 'console=ttyAMA0 quiet', arch: 'arm64' });
    }
  });
  it('no cmdline file is an empty cmdline; --arch overrides detection', async () => {
    const prefix = await outDir('b', amd64);
    expect(await findArtifacts(prefix)).toMatchObject({ cmdline: '', arch: 'amd64' });
    expect((await findArtifacts(prefix, { arch: 'arm64' })).arch).toBe('arm64');
  });
  it('says what is missing', async () => {
    const noKernel = await outDir('c', null);
    await expect(findArtifacts(noKernel)).rejects.toMatchObject({ code: 'ARTIFACT_MISSING', message: expect.stringContaining(`${noKernel}-kernel`) });
    const noInitrd = await outDir('d', amd64, { initrd: false });
    await expect(findArtifacts(noInitrd)).rejects.toMatchObject({ code: 'ARTIFACT_MISSING', message: expect.stringContaining(`${noInitrd}-initrd.img`) });
    const junk = await outDir('e', null);
    await writeFile(`${junk}-kernel`, Buffer.alloc(8192, 0x55));
    await expect(findArtifacts(junk)).rejects.toMatchObject({ code: 'ARCH_UNKNOWN', message: expect.stringContaining('--arch') });
    expect((await findArtifacts(junk, { arch: 'amd64' })).arch).toBe('amd64');
  });
});
