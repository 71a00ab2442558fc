// LinuxKit's remaining outputs and its --size, built by the real pipeline from the reference
// blueprint and read back by the tools a user would trust: GNU tar and bsdtar (docker,
// tar-kernel-initrd), xorriso, isoinfo, sfdisk, fsck.fat and mtools (iso-efi-initrd), fsck.erofs,
// dump.erofs and cpio (kernel+erofs), sgdisk, sfdisk, xorriso and qemu-img (disks of a given
// --size). Two builds give the same bytes.
// Booting them is linuxkit-formats.boot.test.ts.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { parseDiskSize } from '../../src/plan/disk-size.js';
import { componentCache, REPO } from '../helpers/components.js';
import { sha256File } from '../../src/oci/digest.js';
import { makeUcodeKernelImage } from '../helpers/oci-image.js';
import { importLayout } from '../../src/oci/import.js';
import { ensureDist, MAIN } from '../helpers/dist.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
const CMDLINE = 'console=ttyS0 console=ttyAMA0 osbuild.poweroff=1';
const PLAIN = ['docker', 'tar', 'tar-kernel-initrd', 'kernel+initrd', 'iso-efi-initrd'];
const MiB = 1024 * 1024;
const EPOCH = 1_700_000_000;

let cacheDir: string;
let store: Awaited<ReturnType<typeof componentCache>>['store'];
let work: string;
const dirs: Record<string, string> = {};

async function buildInto(dir: string, arch: Arch, formats: string[], diskSize?: number) {
  const out = join(work, dir);
  await build({ files: BLUEPRINT, arch, formats, outDir: out, cacheDir, sourceDateEpoch: EPOCH, diskSize });
  return out;
}

beforeAll(async () => {
  ({ cacheDir, store } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-lk-formats-'));
  dirs.amd64 = await buildInto('amd64', 'amd64', PLAIN);
  dirs.again = await buildInto('again', 'amd64', ['docker', 'tar-kernel-initrd', 'iso-efi-initrd']);
  // kernel+erofs writes NAME-kernel and NAME-initrd.img as kernel+initrd does: a build of its own
  dirs['erofs-amd64'] = await buildInto('erofs-amd64', 'amd64', ['kernel+erofs']);
  dirs['erofs-arm64'] = await buildInto('erofs-arm64', 'arm64', ['kernel+erofs']);
  dirs['erofs-again'] = await buildInto('erofs-again', 'amd64', ['kernel+erofs']);
  dirs.arm64 = await buildInto('arm64', 'arm64', PLAIN);
  dirs.sized = await buildInto('sized', 'amd64', ['raw-efi', 'raw-bios', 'raw', 'qcow2-efi', 'vhd', 'vmdk'], 64 * MiB);
  dirs.sizedArm = await buildInto('sized-arm', 'arm64', ['raw-efi', 'qcow2-efi'], 64 * MiB);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { stdin: 'ignore' })).stdout;
const sha = sha256File;
const names = (listing: string) => listing.split('\n').filter(Boolean);

describe('docker', () => {
  it.each(['amd64', 'arm64'] as const)('%s: the tar output with LinuxKit\'s Dockerfile as its last entry (GNU tar and bsdtar)', async (arch) => {
    const f = join(dirs[arch], 'media.docker');
    const tarList = names(await run('tar', ['-tf', join(dirs[arch], 'media.tar')]));
    for (const lister of [['tar', '-tf'], ['bsdtar', '-tf']]) {
      const list = names(await run(lister[0], [lister[1], f]));
      expect(list).toEqual([...tarList, 'Dockerfile']);
    }
    expect(names(await run('tar', ['-tf', f]))).toEqual(expect.arrayContaining(['boot/kernel', 'boot/cmdline', 'init']));
    const dockerfile = await run('tar', ['-xOf', f, 'Dockerfile']);
    // LinuxKit's text (moby/build/build.go); execa drops the last newline
    expect(dockerfile).toBe('\nFROM scratch\n\nCOPY . ./\n\nENTRYPOINT ["/bin/rc.init"]');
    expect(await run('bsdtar', ['-tvf', f])).toMatch(/-rw-r--r-- +0 0 +0 +54 .* Dockerfile$/m);
    expect(await run('tar', ['-xOf', f, 'boot/cmdline'])).toBe(CMDLINE);
  });
});

describe('tar-kernel-initrd', () => {
  it.each(['amd64', 'arm64'] as const)('%s: kernel, initrd.img and cmdline, 0644, the same bytes as kernel+initrd writes', async (arch) => {
    const f = join(dirs[arch], 'media-initrd.tar');
    expect(names(await run('tar', ['-tf', f]))).toEqual(['kernel', 'initrd.img', 'cmdline']);
    const v = names(await run('bsdtar', ['-tvf', f]));
    expect(v).toHaveLength(3);
    for (const line of v) expect(line).toMatch(/^-rw-r--r-- +0 0 +0 /);
    for (const tool of ['tar', 'bsdtar']) {
      const x = join(work, `x-${arch}-${tool}`);
      await mkdir(x);
      await run(tool, ['-xf', f, '-C', x]);
      expect((await readdir(x)).sort()).toEqual(['cmdline', 'initrd.img', 'kernel']);
      expect(await sha(join(x, 'kernel'))).toBe(await sha(join(dirs[arch], 'media-kernel')));
      expect(await sha(join(x, 'initrd.img'))).toBe(await sha(join(dirs[arch], 'media-initrd.img')));
      expect(await readFile(join(x, 'cmdline'), 'utf8')).toBe(CMDLINE);
    }
    // the initrd is a gzip'd newc cpio with the init at its root
    const cpio = await execa('sh', ['-c', `tar -xOf '${f}' initrd.img | gzip -dc | cpio -it --quiet`]);
    expect(names(cpio.stdout)).toContain('init');
  });
});

describe('tar-kernel-initrd with microcode', () => {
  it('ucode.cpio beside initrd.img, not in it, whether the initrd is streamed or shared with other formats', async () => {
    const img = await makeUcodeKernelImage();
    await importLayout(store, img.layout, { ref: 'test/lk-ucode-kernel' });
    const bp = join(work, 'ucode.yml');
    await (await import('node:fs/promises')).writeFile(bp, 'kernel:\n  image: test/lk-ucode-kernel:ucode\n  tar: none\n  ucode: ucode.cpio\ninit:\n  - osbuild/busybox:0.1.0\n');
    const alone = join(work, 'ucode-alone');
    const shared = join(work, 'ucode-shared');
    await build({ files: [bp], arch: 'amd64', formats: ['tar-kernel-initrd'], outDir: alone, cacheDir, name: 'u', sourceDateEpoch: EPOCH });
    // with iso-bios the build writes one whole-system initrd (microcode first) that both read
    await build({ files: [bp], arch: 'amd64', formats: ['tar-kernel-initrd', 'kernel+initrd', 'iso-bios'], outDir: shared, cacheDir, name: 'u', sourceDateEpoch: EPOCH });
    for (const dir of [alone, shared]) {
      const f = join(dir, 'u-initrd.tar');
      expect(names(await run('tar', ['-tf', f]))).toEqual(['kernel', 'initrd.img', 'cmdline', 'ucode.cpio']);
      const ucode = await execa('sh', ['-c', `tar -xOf '${f}' ucode.cpio | cpio -it --quiet`]);
      expect(names(ucode.stdout)).toContain('kernel/x86/microcode/GenuineIntel.bin');
      const head = (await execa('sh', ['-c', `tar -xOf '${f}' initrd.img | head -c 3 | od -An -tx1`])).stdout.trim();
      expect(head).toBe('1f 8b 08');
      expect(names((await execa('sh', ['-c', `tar -xOf '${f}' initrd.img | gzip -dc | cpio -it --quiet`])).stdout)).toContain('bin/busybox');
    }
    expect(await sha(join(shared, 'u-initrd.tar'))).toBe(await sha(join(alone, 'u-initrd.tar')));
  });
});

/** The El Torito EFI image of an ISO, cut out where its hybrid MBR says it is. */
async function efiImage(iso: string, out: string): Promise<string> {
  const p = JSON.parse(await run('sfdisk', ['--json', iso])).partitiontable.partitions.find((x: { type: string }) => x.type === 'ef');
  await run('dd', [`if=${iso}`, `of=${out}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
  return out;
}

describe('iso-efi-initrd', () => {
  it.each(['amd64', 'arm64'] as const)('%s: one UEFI El Torito entry; its FAT holds systemd-boot, a loader entry, the kernel and the initrd as separate files', async (arch) => {
    const f = join(dirs[arch], 'media-efi-initrd.iso');
    const rep = await run('xorriso', ['-indev', f, '-report_el_torito', 'plain']);
    expect(rep).toMatch(/El Torito boot img :\s+1\s+UEFI\s+y\s+none/);
    expect(rep).not.toMatch(/BIOS/);
    expect(names(await run('isoinfo', ['-R', '-f', '-i', f]))).toEqual(expect.arrayContaining(['/boot/efiboot.img']));
    const fat = await efiImage(f, join(work, `efi-initrd-${arch}.img`));
    await run('fsck.fat', ['-n', fat]);
    const boot = arch === 'amd64' ? 'BOOTX64.EFI' : 'BOOTAA64.EFI';
    expect(names(await run('mdir', ['-/', '-b', '-i', fat, '::/'])).sort()).toEqual(
      ['::/EFI/', '::/EFI/BOOT/', `::/EFI/BOOT/${boot}`, '::/initrd.img', '::/kernel', '::/loader/', '::/loader/entries/', '::/loader/entries/osbuild.conf', '::/loader/loader.conf'].sort(),
    );
    const get = async (path: string) => {
      const out = join(work, `efi-initrd-${arch}-${path.replace(/\W/g, '_')}`);
      await run('mcopy', ['-n', '-i', fat, `::/${path}`, out]);
      return out;
    };
    expect(await readFile(await get('loader/entries/osbuild.conf'), 'utf8')).toBe(`title media\nlinux /kernel\ninitrd /initrd.img\noptions ${CMDLINE}\n`);
    expect(await readFile(await get('loader/loader.conf'), 'utf8')).toMatch(/^timeout 0$/m);
    expect(await sha(await get('initrd.img'))).toBe(await sha(join(dirs[arch], 'media-initrd.img')));
    // the boot file is systemd-boot, as Debian ships it for the target arch
    const loader = await get(`EFI/BOOT/${boot}`);
    const objdump = arch === 'amd64' ? 'objdump' : 'aarch64-linux-gnu-objdump';
    expect(await run(objdump, ['-f', loader])).toContain(arch === 'amd64' ? 'pei-x86-64' : 'pei-aarch64-little');
    expect((await readFile(loader)).includes(Buffer.from('systemd-boot', 'utf16le'))).toBe(true);
    // an EFI-stub kernel (a PE image), which systemd-boot starts
    expect((await readFile(await get('kernel'))).subarray(0, 2).toString('latin1')).toBe('MZ');
  });
});

describe('--size (LinuxKit\'s disk size)', () => {
  it('parses LinuxKit\'s forms: MiB bare or with M, GiB with G; anything else is a located error', () => {
    expect(parseDiskSize('1024')).toBe(1024 * MiB);
    expect(parseDiskSize('1024M')).toBe(1024 * MiB);
    expect(parseDiskSize('1G')).toBe(1024 * MiB);
    for (const bad of ['', '1.5G', '10K', '0', '-1', '1g', 'G', ' 64M']) {
      expect(() => parseDiskSize(bad)).toThrow(expect.objectContaining({ code: 'EDISKSIZE', where: '--size', message: expect.stringContaining('1024M or 1G') }));
    }
  });

  it('raw-efi (amd64, arm64): a GPT disk of exactly that size, its backup header in the last sector (sgdisk, sfdisk)', async () => {
    for (const dir of [dirs.sized, dirs.sizedArm]) {
      const f = join(dir, 'media-efi.img');
      expect((await stat(f)).size).toBe(64 * MiB);
      expect(await run('sgdisk', ['-v', f])).toMatch(/No problems found/);
      const t = JSON.parse(await run('sfdisk', ['--json', f])).partitiontable;
      expect(t.label).toBe('gpt');
      expect(t.lastlba).toBe(64 * 2048 - 34);
      const last = (await readFile(f)).subarray(64 * MiB - 512);
      expect(last.toString('latin1', 0, 8)).toBe('EFI PART');
      expect(last.readBigUInt64LE(24)).toBe(BigInt(64 * 2048 - 1)); // MyLBA: the backup header is the last sector
    }
  });

  it('raw-bios and raw: the isohybrid disk padded to that size (xorriso), raw\'s backup GPT at its end', async () => {
    for (const name of ['media-bios.img', 'media.img']) {
      const f = join(dirs.sized, name);
      expect((await stat(f)).size).toBe(64 * MiB);
      expect(await run('xorriso', ['-indev', f, '-report_system_area', 'plain'])).toMatch(/ISO image size\/512 : 131072/);
      expect(await run('isoinfo', ['-R', '-f', '-i', f])).toMatch(/\/boot\/kernel/);
    }
    // (sgdisk refuses isohybrid tables, xorriso's own too: their MBR is not protective) the
    // primary header names the last sector as its backup, and the backup header is there
    const f = await readFile(join(dirs.sized, 'media.img'));
    const last = 64 * 2048 - 1;
    expect(f.toString('latin1', 512, 520)).toBe('EFI PART');
    expect(f.readBigUInt64LE(512 + 32)).toBe(BigInt(last));
    expect(f.toString('latin1', last * 512, last * 512 + 8)).toBe('EFI PART');
    expect(f.readBigUInt64LE(last * 512 + 24)).toBe(BigInt(last));
  });

  it('qcow2-efi, vhd and vmdk wrap a disk of that size (qemu-img)', async () => {
    for (const [dir, name] of [[dirs.sized, 'media-efi.qcow2'], [dirs.sized, 'media.vhd'], [dirs.sized, 'media.vmdk'], [dirs.sizedArm, 'media-efi.qcow2']]) {
      const info = JSON.parse(await run('qemu-img', ['info', '--output=json', join(dir, name)]));
      // a fixed VHD's size is the disk's, the CHS geometry aside
      expect(info['virtual-size']).toBeGreaterThanOrEqual(64 * MiB);
      expect(info['virtual-size']).toBeLessThan(65 * MiB);
    }
    await run('qemu-img', ['check', join(dirs.sized, 'media-efi.qcow2')]);
  });

  it('too small a size names the size needed, and leaves no file behind', async () => {
    const out = join(work, 'small');
    const err = await buildInto('small', 'amd64', ['raw-efi'], 4 * MiB).catch((e) => e);
    expect(err).toMatchObject({ code: 'EDISKSIZE', where: '--size', message: expect.stringMatching(/--size 4M is too small for the efi disk: its content needs \d+M/) });
    expect(err.hint).toMatch(/give --size \d+M or more/);
    expect(await readdir(out)).toEqual([]);
    const gcp = await buildInto('gcp', 'amd64', ['gcp'], 100 * MiB).catch((e) => e);
    expect(gcp).toMatchObject({ code: 'EDISKSIZE', message: expect.stringContaining('whole number of 1024 MiB') });
    await expect(build({ files: BLUEPRINT, arch: 'amd64', formats: ['raw-efi'], outDir: join(work, 'odd'), cacheDir, diskSize: 1000 })).rejects.toMatchObject({ code: 'EDISKSIZE', where: 'diskSize' });
  });

  it('the CLI: --size in build --help with the new formats; a malformed --size is a usage error (exit 2)', async () => {
    await ensureDist();
    const help = (await execa('node', [MAIN, 'build', '--help'])).stdout;
    expect(help).toMatch(/--size SIZE .*1024M.*1G/);
    for (const f of ['docker', 'tar-kernel-initrd', 'iso-efi-initrd']) expect(help).toMatch(new RegExp(`^  ${f} +NAME`, 'm'));
    const r = await execa('node', [MAIN, 'build', '--size', '1.5G', '-o', join(work, 'cli'), ...BLUEPRINT], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--size "1.5G": expected a disk size in MiB');
  }, 180_000);
});

describe('kernel+erofs', () => {
  it.each(['amd64', 'arm64'] as const)('%s: fsck.erofs extracts the same tree GNU tar extracts from the tar output (boot/ aside)', async (arch) => {
    const img = join(dirs[`erofs-${arch}`], 'media-erofs.img');
    expect((await run('dump.erofs', ['-s', img]))).toMatch(/magic number:\s+0xE0F5E1E2/);
    const fromErofs = join(work, `x-erofs-${arch}`);
    const fromTar = join(work, `x-tar-${arch}`);
    await run('fsck.erofs', [`--extract=${fromErofs}`, img]);
    await mkdir(fromTar);
    await run('tar', ['-xf', join(dirs[arch], 'media.tar'), '-C', fromTar, '--exclude=boot']);
    await run('diff', ['-r', '--no-dereference', fromTar, fromErofs]);
    const listing = async (d: string) => (await run('sh', ['-c', `cd '${d}' && find . -printf '%p %y %m %U %G %l %s\\n' | sort`])).replace(/^\. d .*$/m, '');
    expect(await listing(fromErofs)).toBe(await listing(fromTar));
  });

  it.each(['amd64', 'arm64'] as const)('%s: the small initrd names the erofs by its superblock and loads erofs.ko', async (arch) => {
    const img = await readFile(join(dirs[`erofs-${arch}`], 'media-erofs.img'));
    const sb = createHash('sha256').update(img.subarray(1024, 1024 + 128)).digest('hex');
    const initrd = join(dirs[`erofs-${arch}`], 'media-initrd.img');
    const marker = (await execa('sh', ['-c', `gzip -dc '${initrd}' | cpio -i --quiet --to-stdout etc/osbuild/root`])).stdout;
    expect(marker).toContain(`superblock=${sb}`);
    expect(marker).toMatch(/^fstype=erofs$/m);
    expect(marker).toMatch(/^sbsize=128$/m);
    expect(marker).toMatch(/^sbskip=8$/m);
    expect(marker).toMatch(/^modules=".*\berofs\b.*"$/m);
    const files = names((await execa('sh', ['-c', `gzip -dc '${initrd}' | cpio -it --quiet`])).stdout);
    expect(files.some((f) => /\/kernel\/fs\/erofs\/erofs\.ko/.test(f))).toBe(true);
    expect(files.some((f) => /\/squashfs\.ko/.test(f))).toBe(false);
    expect(await readFile(join(dirs[`erofs-${arch}`], 'media-cmdline'), 'utf8')).toBe(CMDLINE);
  });
});

describe('deterministic', () => {
  it('two builds of docker, tar-kernel-initrd, iso-efi-initrd and kernel+erofs are byte-identical', async () => {
    for (const f of ['media.docker', 'media-initrd.tar', 'media-efi-initrd.iso']) {
      expect(await sha(join(dirs.again, f)), f).toBe(await sha(join(dirs.amd64, f)));
    }
    for (const f of ['media-erofs.img', 'media-initrd.img', 'media-kernel']) {
      expect(await sha(join(dirs['erofs-again'], f)), f).toBe(await sha(join(dirs['erofs-amd64'], f)));
    }
  });
});
