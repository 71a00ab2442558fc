// kernel+iso, LinuxKit's kernel with its root as a plain ISO 9660 image (Rock Ridge, no boot
// code), built by the real pipeline from the reference blueprint and read back by the tools a
// user would trust: bsdtar and xorriso list and extract the root ISO as GNU tar extracts the tar
// output of the same build (names, types, modes, owners, symlink targets, contents), isoinfo
// reads its descriptors; cpio reads the small initrd, which names the ISO by the sha256 of its
// primary volume descriptor. Two builds give the same bytes. Booting it is kernel-iso.boot.test.ts.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { componentCache, REPO } from '../helpers/components.js';
import { sha256File } from '../../src/oci/digest.js';
import { findArtifacts } from '../../src/run/artifacts.js';
import { bootCommand } from '../../src/run/boot.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
const CMDLINE = 'console=ttyS0 console=ttyAMA0 osbuild.poweroff=1';
const EPOCH = 1_700_000_000;

let cacheDir: string;
let work: string;
const dirs: Record<string, string> = {};

async function buildInto(dir: string, arch: Arch, formats: string[]) {
  const out = join(work, dir);
  await build({ files: BLUEPRINT, arch, formats, outDir: out, cacheDir, sourceDateEpoch: EPOCH });
  return out;
}

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-kernel-iso-'));
  dirs.amd64 = await buildInto('amd64', 'amd64', ['kernel+iso', 'tar']);
  dirs.arm64 = await buildInto('arm64', 'arm64', ['kernel+iso', 'tar']);
  dirs.again = await buildInto('again', 'amd64', ['kernel+iso']);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const run = async (cmd: string, args: string[], cwd?: string) => (await execa(cmd, args, { stdin: 'ignore', cwd })).stdout;

/** Every entry of a tree: path, type, mode, owner, symlink target, size of files; sorted. */
async function listing(dir: string): Promise<string> {
  const out = await run('find', ['.', '-mindepth', '1', '-printf', '%p %y %m %U %G %l %s\\n'], dir);
  return out
    .split('\n')
    .map((l) => (/^\S+ [dcbp] /.test(l) ? l.replace(/ \d+$/, '') : l))
    .sort()
    .join('\n');
}

describe('kernel+iso', () => {
  it.each(['amd64', 'arm64'] as const)('%s: bsdtar and xorriso extract the same tree GNU tar extracts from the tar output (boot/ aside)', async (arch) => {
    const iso = join(dirs[arch], 'media.iso');
    const fromTar = join(work, `x-tar-${arch}`);
    await mkdir(fromTar);
    await run('tar', ['-xpf', join(dirs[arch], 'media.tar'), '-C', fromTar, '--numeric-owner', '--exclude=boot']);
    const want = await listing(fromTar);
    expect(want).toMatch(/^\.\/init f 755 0 0 {2}\d+$/m);
    const fromBsdtar = join(work, `x-bsdtar-${arch}`);
    await mkdir(fromBsdtar);
    await run('bsdtar', ['-xpf', iso, '--numeric-owner', '-C', fromBsdtar]);
    expect(await listing(fromBsdtar)).toBe(want);
    await run('diff', ['-r', '--no-dereference', fromTar, fromBsdtar]);
    const fromXorriso = join(work, `x-xorriso-${arch}`);
    await run('xorriso', ['-osirrox', 'on:device_files', '-indev', iso, '-extract', '/', fromXorriso]);
    expect(await listing(fromXorriso)).toBe(want);
    await run('diff', ['-r', '--no-dereference', fromTar, fromXorriso]);
  });

  it('bsdtar -tvf lists the ISO as it lists the tar output: modes, owners, names, symlink targets', async () => {
    const rows = (text: string) =>
      text
        .split('\n')
        .filter((l) => l && !/ boot(\/|$)/.test(l))
        // mode, owner, group, then the name and target; sizes and dates aside (a directory's size is the filesystem's)
        .map((l) => l.split(/\s+/).filter((_, i) => i !== 1 && i !== 4 && i !== 5 && i !== 6 && i !== 7).join(' '))
        .map((l) => l.replace(/ \.\//, ' ').replace(/\/$/, ''))
        // the ISO's root directory, which the tar does not list
        .filter((l) => !l.endsWith(' .'))
        .sort();
    const tar = rows(await run('bsdtar', ['-tvf', join(dirs.amd64, 'media.tar'), '--numeric-owner']));
    const iso = rows(await run('bsdtar', ['-tvf', join(dirs.amd64, 'media.iso'), '--numeric-owner']));
    expect(iso.length).toBeGreaterThan(20);
    expect(iso).toEqual(tar);
    const lsdl = await run('xorriso', ['-indev', join(dirs.amd64, 'media.iso'), '-find', '/', '-exec', 'lsdl']);
    expect(lsdl).toMatch(/^-rwxr-xr-x\s+\d+\s+0\s+0\s+\d+ .* '\/init'$/m);
    expect(lsdl).toMatch(/^lrwxrwxrwx .* '\/bin\/sh' -> 'busybox'$/m);
  });

  it.each(['amd64', 'arm64'] as const)('%s: a plain ISO (no El Torito); the small initrd names it by its primary volume descriptor and loads isofs', async (arch) => {
    const iso = join(dirs[arch], 'media.iso');
    const info = await run('isoinfo', ['-d', '-i', iso]);
    expect(info).toMatch(/^Volume id: OSBUILD_ROOT$/m);
    expect(info).toMatch(/^Volume set id: [0-9A-F]{64}$/m);
    expect(info).toMatch(/Rock Ridge signatures version 1 found/);
    expect(info).not.toMatch(/El Torito/);
    const head = await readFile(iso);
    const pvd = createHash('sha256').update(head.subarray(32768, 32768 + 2048)).digest('hex');
    const initrd = join(dirs[arch], 'media-initrd.img');
    const marker = (await execa('sh', ['-c', `gzip -dc '${initrd}' | cpio -i --quiet --to-stdout etc/osbuild/root`])).stdout;
    expect(marker).toContain(`superblock=${pvd}`);
    expect(marker).toMatch(/^fstype=iso9660$/m);
    expect(marker).toMatch(/^sbsize=2048$/m);
    expect(marker).toMatch(/^sbskip=16$/m);
    expect(marker).toMatch(/^modules=".*\bisofs\b.*"$/m);
    const files = (await execa('sh', ['-c', `gzip -dc '${initrd}' | cpio -it --quiet`])).stdout.split('\n');
    expect(files.some((f) => /\/kernel\/fs\/isofs\/isofs\.ko/.test(f))).toBe(true);
    expect(files.some((f) => /\/squashfs\.ko/.test(f))).toBe(false);
    expect(await readFile(join(dirs[arch], 'media-cmdline'), 'utf8')).toBe(CMDLINE);
    // `osbuild run out/media` (or out/media.iso) boots the kernel and attaches the ISO as the root disk
    expect((await findArtifacts(join(dirs[arch], 'media'))).squashfs).toBe(iso);
    for (const path of [join(dirs[arch], 'media'), iso]) {
      const { args } = await bootCommand({ path, accel: 'tcg' }, false);
      expect(args).toContain(join(dirs[arch], 'media-kernel'));
      expect(args).toContain(`file=${iso},format=raw,if=virtio,readonly=on`);
    }
  });

  it('two builds are byte-identical', async () => {
    for (const f of ['media.iso', 'media-initrd.img', 'media-kernel', 'media-cmdline']) {
      expect(await sha256File(join(dirs.again, f)), f).toBe(await sha256File(join(dirs.amd64, f)));
    }
  });

  it('with the iso format in one build: both write NAME.iso, a clear error before anything is written', async () => {
    const out = join(work, 'clash');
    await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['kernel+iso', 'iso'], outDir: out, cacheDir, sourceDateEpoch: EPOCH })).rejects.toThrow(
      /formats (kernel\+iso and iso|iso and kernel\+iso) both write media\.iso: build them one at a time \(or with --name\)/,
    );
  });
});
