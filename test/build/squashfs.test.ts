// The read-only root layout (`root: squashfs`), built by the real pipeline from the reference
// blueprint and read back with the tools a user would trust: unsquashfs lists and unpacks the
// root, GNU cpio the small initramfs, sfdisk the EFI disk's partitions, isoinfo the ISO's files.
// Two builds give the same bytes. Booting it is squashfs.boot.test.ts.

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { writablePaths } from '../../src/plan/layout.js';
import type { Blueprint } from '../../src/blueprint/schema.js';
import { componentCache, REPO } from '../helpers/components.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/squashfs/probe.yml'].map((f) => join(REPO, f));
const EPOCH = 1_700_000_000;

let cacheDir: string;
let work: string;
let out: string;

const run = async (cmd: string, args: string[], input?: Buffer) => (await execa(cmd, args, input ? { input } : { stdin: 'ignore' })).stdout;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function buildInto(dir: string, formats: string[], extra: Partial<Parameters<typeof build>[0]> = {}) {
  const o = join(work, dir);
  await build({ files: BLUEPRINT, arch: 'amd64', formats, outDir: o, cacheDir, sourceDateEpoch: EPOCH, ...extra });
  return o;
}

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-squashfs-'));
  out = await buildInto('a', ['kernel+squashfs', 'raw-efi', 'iso']);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('kernel+squashfs', () => {
  it('writes the kernel, a small initramfs, the squashfs and the command line', async () => {
    expect((await readdir(out)).sort()).toEqual(['squashfs-cmdline', 'squashfs-efi.img', 'squashfs-initrd.img', 'squashfs-kernel', 'squashfs-squashfs.img', 'squashfs.iso', 'squashfs.spdx.json']);
    expect(await readFile(join(out, 'squashfs-cmdline'), 'utf8')).toBe('console=ttyS0 console=ttyAMA0 osbuild.poweroff=1');
  });

  it('the squashfs holds the whole system, no time after SOURCE_DATE_EPOCH (unsquashfs)', async () => {
    const list = await run('unsquashfs', ['-lln', join(out, 'squashfs-squashfs.img')]);
    for (const p of ['init', 'lib/osbuild/root', 'usr/bin/runc', 'containers/onboot/001-probe/config.json', 'containers/services/getty/rootfs/bin/busybox']) {
      expect(list).toMatch(new RegExp(` squashfs-root/${p.replaceAll('/', '\\/')}(\\s|$)`, 'm'));
    }
    const times = [...new Set([...list.matchAll(/ (\d{4}-\d\d-\d\d \d\d:\d\d) /g)].map((m) => m[1]))].sort();
    // sqfstar clamps to SOURCE_DATE_EPOCH (the root directory, osbuild's files); older stay older
    expect(times.at(-1)).toBe(new Date(EPOCH * 1000).toISOString().slice(0, 16).replace('T', ' '));
    expect(await run('unsquashfs', ['-s', join(out, 'squashfs-squashfs.img')])).toMatch(/Compression zstd/);
  });

  it('the initramfs holds the init, the modules that reach the root and the marker: nothing else', async () => {
    const cpio = await run('sh', ['-c', `zcat '${join(out, 'squashfs-initrd.img')}' | cpio -it --quiet`]);
    const files = cpio.split('\n');
    expect(files).toContain('init');
    expect(files).toContain('etc/osbuild/root');
    expect(files.some((f) => f.startsWith('containers'))).toBe(false);
    expect(files.some((f) => f.includes('runc'))).toBe(false);
    const mods = files.filter((f) => f.endsWith('.ko')).map((f) => f.slice(f.lastIndexOf('/') + 1));
    expect(mods).toEqual(expect.arrayContaining(['squashfs.ko', 'overlay.ko', 'loop.ko', 'isofs.ko', 'virtio_blk.ko', 'sr_mod.ko']));
    const initrd = (await stat(join(out, 'squashfs-initrd.img'))).size;
    const root = (await stat(join(out, 'squashfs-squashfs.img'))).size;
    expect(initrd).toBeLessThan(3 * 1024 * 1024);
    expect(initrd).toBeLessThan(root / 2);
  });

  it('the marker names the squashfs by the sha256 of its superblock', async () => {
    const marker = await run('sh', ['-c', `zcat '${join(out, 'squashfs-initrd.img')}' | cpio -i --quiet --to-stdout etc/osbuild/root`]);
    const sb = (await readFile(join(out, 'squashfs-squashfs.img'))).subarray(0, 96);
    expect(marker).toContain(`superblock=${sha256(sb)}`);
    expect(marker).toContain('writable="/etc /var /containers"');
    expect(marker).toContain('isofile=/osbuild/root.sqfs');
  });
});

describe('boot media in the squashfs layout', () => {
  it('raw-efi: the root is a second, read-only GPT partition typed as the arch\'s root (sfdisk)', async () => {
    const disk = join(out, 'squashfs-efi.img');
    const table = JSON.parse(await run('sfdisk', ['--json', disk])) as { partitiontable: { partitions: { start: number; size: number; type: string; name: string; attrs?: string }[] } };
    const [esp, root] = table.partitiontable.partitions;
    expect(esp.type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(root.type).toBe('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
    expect(root.attrs).toMatch(/GUID:60/);
    const part = await run('sh', ['-c', `dd if='${disk}' bs=512 skip=${root.start} count=${root.size} status=none | head -c 96 | sha256sum`]);
    const sb = (await readFile(join(out, 'squashfs-squashfs.img'))).subarray(0, 96);
    expect(part.split(' ')[0]).toBe(sha256(sb));
  });

  it('iso: the root is /osbuild/root.sqfs, byte for byte (isoinfo)', async () => {
    const iso = join(out, 'squashfs.iso');
    expect(await run('isoinfo', ['-R', '-f', '-i', iso])).toMatch(/^\/osbuild\/root\.sqfs$/m);
    const inIso = await execa('isoinfo', ['-R', '-i', iso, '-x', '/osbuild/root.sqfs'], { encoding: 'buffer', stripFinalNewline: false, stdin: 'ignore' });
    expect(sha256(inIso.stdout as unknown as Buffer)).toBe(sha256(await readFile(join(out, 'squashfs-squashfs.img'))));
  });

  it('two builds are byte-identical', async () => {
    const again = await buildInto('b', ['kernel+squashfs', 'raw-efi', 'iso']);
    for (const f of await readdir(out)) {
      expect(sha256(await readFile(join(again, f))), f).toBe(sha256(await readFile(join(out, f))));
    }
  }, 300_000);

  it('--root initramfs overrides the blueprint: the ISO carries no squashfs', async () => {
    const o = await buildInto('c', ['iso'], { root: 'initramfs' });
    expect(await run('isoinfo', ['-R', '-f', '-i', join(o, 'squashfs.iso')])).not.toMatch(/root\.sqfs/);
  }, 300_000);
});

describe('root.compression', () => {
  it('lz4 instead of zstd: bigger, and what unsquashfs reports', async () => {
    const { writeFile } = await import('node:fs/promises');
    const f = join(work, 'lz4.yml');
    await writeFile(f, 'root:\n  compression: lz4\n');
    const o = join(work, 'lz4');
    await build({ files: [...BLUEPRINT, f], arch: 'amd64', formats: ['kernel+squashfs'], outDir: o, cacheDir, sourceDateEpoch: EPOCH });
    expect(await run('unsquashfs', ['-s', join(o, 'squashfs-squashfs.img')])).toMatch(/Compression lz4/);
    expect((await stat(join(o, 'squashfs-squashfs.img'))).size).toBeGreaterThan((await stat(join(out, 'squashfs-squashfs.img'))).size);
  }, 300_000);
});

describe('errors', () => {
  it('writable paths must be absolute, not /, and plain', () => {
    const bp = (writable: string[]): Blueprint => ({ root: { type: 'squashfs', writable } });
    expect(writablePaths(bp(['/var/', '/etc', '/run']))).toEqual(['/var', '/etc']);
    expect(() => writablePaths(bp(['var']))).toThrow(/not an absolute path/);
    expect(() => writablePaths(bp(['/']))).toThrow(/whole root writable/);
    expect(() => writablePaths(bp(['/a b']))).toThrow(/shell characters/);
  });

  it('a blueprint with an unknown root type is a located error', async () => {
    const { writeFile } = await import('node:fs/promises');
    const f = join(work, 'bad.yml');
    await writeFile(f, 'root:\n  type: ext4\n');
    await expect(build({ files: [...BLUEPRINT, f], arch: 'amd64', outDir: join(work, 'bad'), cacheDir })).rejects.toThrow(/bad\.yml:2:\d+: root\.type: expected one of `initramfs`, `squashfs`/);
  });

  it('without sqfstar the build says what to install and leaves no file behind', async () => {
    const path = process.env.PATH;
    const o = join(work, 'nosqfs');
    process.env.PATH = '/nonexistent';
    try {
      await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['kernel+squashfs'], outDir: o, cacheDir, sourceDateEpoch: EPOCH })).rejects.toThrow(/sqfstar not found: install squashfs-tools/);
    } finally {
      process.env.PATH = path;
    }
    expect(await readdir(o)).toEqual([]);
  }, 300_000);
});
