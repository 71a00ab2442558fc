// The boot-media formats of the initramfs layout, built by the real pipeline from the reference
// blueprint, checked by the tools a user would trust: xorriso and isoinfo read the ISOs, sfdisk
// and sgdisk the partition tables, fsck.fat and mtools the ESPs (cut out with dd where sfdisk
// says they are), objdump the UKIs, qemu-img the qcow2/VHD/VMDK files (against the raw disk),
// tar the GCP archive. Two builds give the same bytes. Booting them is media.boot.test.ts.

import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { bootCommand } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { sha256File } from '../../src/oci/digest.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
const CMDLINE = 'console=ttyS0 console=ttyAMA0 osbuild.poweroff=1';
const AMD64 = ['uki', 'iso', 'iso-bios', 'iso-efi', 'raw-efi', 'raw-bios', 'raw', 'qcow2-bios', 'qcow2-efi', 'vhd', 'vmdk', 'aws', 'gcp', 'azure'];
const ARM64 = ['uki', 'iso', 'iso-efi', 'raw-efi', 'qcow2-efi', 'vhd', 'vmdk', 'aws', 'azure'];
const MiB = 1024 * 1024;

let cacheDir: string;
let work: string;
const dirs: Record<string, string> = {};

async function buildInto(dir: string, arch: Arch, formats: string[]) {
  const out = join(work, dir);
  await build({ files: BLUEPRINT, arch, formats, outDir: out, cacheDir, sourceDateEpoch: 1_700_000_000 });
  return out;
}

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-media-'));
  dirs.amd64 = await buildInto('amd64', 'amd64', AMD64);
  dirs.arm64 = await buildInto('arm64', 'arm64', ARM64);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { stdin: 'ignore' })).stdout;
const sha = sha256File;

/** The disk type of a VHD's footer (its last 512 bytes: "conectix", type at 60), as the spec reads it. */
async function vhdType(path: string): Promise<string> {
  const b = await readFile(path);
  const footer = b.subarray(b.length - 512);
  expect(footer.toString('latin1', 0, 8)).toBe('conectix');
  return ({ 2: 'fixed', 3: 'dynamic' } as Record<number, string>)[footer.readUInt32BE(60)] ?? 'other';
}

/** Cuts partition `index` (0-based, as sfdisk lists them) out of a raw disk with dd. */
async function partition(disk: string, index: number, out: string): Promise<{ type: string; start: number; size: number }> {
  const t = JSON.parse(await run('sfdisk', ['--json', disk])).partitiontable;
  const p = t.partitions[index];
  await run('dd', [`if=${disk}`, `of=${out}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
  return { type: p.type, start: p.start, size: p.size };
}

/** fsck.fat accepts the volume, and its only boot file equals the UKI built beside it. */
async function expectEspWithUki(fat: string, arch: Arch, uki: string) {
  await run('fsck.fat', ['-n', fat]);
  const boot = arch === 'amd64' ? 'BOOTX64.EFI' : 'BOOTAA64.EFI';
  const listing = await run('mdir', ['-b', '-i', fat, '::/EFI/BOOT']);
  expect(listing.trim().split('\n')).toEqual([`::/EFI/BOOT/${boot}`]);
  const copy = `${fat}.efi`;
  await run('mcopy', ['-n', '-i', fat, `::/EFI/BOOT/${boot}`, copy]);
  expect(await sha(copy)).toBe(await sha(uki));
}

describe('uki', () => {
  it.each(['amd64', 'arm64'] as const)('%s: the stub with .osrel .cmdline .initrd .linux sections; the cmdline is the blueprint\'s', async (arch) => {
    const f = join(dirs[arch], 'media.efi');
    const objdump = arch === 'amd64' ? 'objdump' : 'aarch64-linux-gnu-objdump';
    const h = await run(objdump, ['-h', f]);
    for (const s of ['.osrel', '.cmdline', '.initrd', '.linux']) expect(h).toMatch(new RegExp(`\\s${s.replace('.', '\\.')}\\s`));
    expect(h).toContain(arch === 'amd64' ? 'pei-x86-64' : 'pei-aarch64-little');
    const dump = await run(objdump, ['-s', '-j', '.cmdline', f]);
    const text = dump.split('\n').filter((l) => /^ [0-9a-f]{4,} /.test(l)).map((l) => l.slice(l.lastIndexOf('  ') + 2)).join('');
    expect(text).toBe(CMDLINE);
  });
});

describe('iso', () => {
  it('amd64 iso: El Torito BIOS (isolinux, boot info table) + UEFI entries, Rock Ridge tree, isolinux.cfg with the cmdline', async () => {
    const f = join(dirs.amd64, 'media.iso');
    const rep = await run('xorriso', ['-indev', f, '-report_el_torito', 'plain']);
    expect(rep).toMatch(/El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
    expect(rep).toMatch(/El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
    expect(rep).toMatch(/img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    expect(rep).toMatch(/boot-info-table/);
    const files = (await run('isoinfo', ['-R', '-f', '-i', f])).split('\n');
    expect(files).toEqual(expect.arrayContaining(['/boot/kernel', '/boot/initrd.img', '/isolinux/isolinux.bin', '/isolinux/ldlinux.c32', '/isolinux/isolinux.cfg', '/boot/efiboot.img']));
    expect(await run('isoinfo', ['-d', '-i', f])).toMatch(/Volume id: MEDIA$/m);
    const cfg = await run('isoinfo', ['-R', '-x', '/isolinux/isolinux.cfg', '-i', f]);
    expect(cfg).toContain(`APPEND initrd=/boot/initrd.img ${CMDLINE}`);
    expect(cfg).toMatch(/^SERIAL 0 115200$/m);
    // the isohybrid MBR: partition 2 is the EFI image, the ESP a USB boot finds
    const efi = join(work, 'amd64-iso-efi.img');
    const p = await partition(f, 1, efi);
    expect(p.type).toBe('ef');
    await expectEspWithUki(efi, 'amd64', join(dirs.amd64, 'media.efi'));
  });

  it('iso-bios has only the BIOS entry; iso-efi only the UEFI one, its FAT holding the UKI', async () => {
    const bios = await run('xorriso', ['-indev', join(dirs.amd64, 'media-bios.iso'), '-report_el_torito', 'plain']);
    expect(bios).toMatch(/boot img :\s+1\s+BIOS/);
    expect(bios).not.toMatch(/UEFI/);
    for (const arch of ['amd64', 'arm64'] as const) {
      const f = join(dirs[arch], 'media-efi.iso');
      const rep = await run('xorriso', ['-indev', f, '-report_el_torito', 'plain']);
      expect(rep).toMatch(/boot img :\s+1\s+UEFI/);
      expect(rep).not.toMatch(/BIOS/);
      const fat = join(work, `${arch}-efiboot.img`);
      await execa('isoinfo', ['-R', '-x', '/boot/efiboot.img', '-i', f], { stdout: { file: fat } });
      await expectEspWithUki(fat, arch, join(dirs[arch], 'media.efi'));
    }
  });

  it('arm64 iso is the EFI flavour', async () => {
    expect(await sha(join(dirs.arm64, 'media.iso'))).toBe(await sha(join(dirs.arm64, 'media-efi.iso')));
  });
});

describe('raw disks', () => {
  it.each(['amd64', 'arm64'] as const)('%s raw-efi: a valid GPT whose one partition is a FAT32 ESP holding the UKI', async (arch) => {
    const f = join(dirs[arch], 'media-efi.img');
    expect((await stat(f)).size % MiB).toBe(0);
    await run('sfdisk', ['--verify', f]);
    expect(await run('sgdisk', ['-v', f])).toMatch(/No problems found/);
    const t = JSON.parse(await run('sfdisk', ['--json', f])).partitiontable;
    expect(t.label).toBe('gpt');
    expect(t.partitions).toHaveLength(1);
    expect(t.partitions[0].type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    const esp = join(work, `${arch}-esp.img`);
    await partition(f, 0, esp);
    expect(await run('fsck.fat', ['-n', '-v', esp])).toMatch(/2 FATs, 32 bit entries/);
    await expectEspWithUki(esp, arch, join(dirs[arch], 'media.efi'));
  });

  it('raw-bios is the BIOS ISO as a disk (isohdpfx MBR code, active partition); raw the hybrid one', async () => {
    expect(await sha(join(dirs.amd64, 'media-bios.img'))).toBe(await sha(join(dirs.amd64, 'media-bios.iso')));
    expect(await sha(join(dirs.amd64, 'media.img'))).toBe(await sha(join(dirs.amd64, 'media.iso')));
    const t = JSON.parse(await run('sfdisk', ['--json', join(dirs.amd64, 'media-bios.img')])).partitiontable;
    expect(t.label).toBe('dos');
    expect(t.partitions[0].bootable).toBe(true);
    const mbr = await readFile(join(dirs.amd64, 'media-bios.img')).then((b) => b.subarray(0, 512));
    expect(mbr.subarray(0, 432).some((b) => b !== 0)).toBe(true);
  });

  it('aws is the raw-efi disk', async () => {
    for (const arch of ['amd64', 'arm64'] as const) expect(await sha(join(dirs[arch], 'media.raw'))).toBe(await sha(join(dirs[arch], 'media-efi.img')));
  });
});

describe('cloud and hypervisor images', () => {
  const compare = (raw: string, fmt: string, img: string) => run('qemu-img', ['compare', '-f', 'raw', '-F', fmt, raw, img]);

  it('qcow2-bios and qcow2-efi pass qemu-img check and hold the raw disks', async () => {
    await run('qemu-img', ['check', '-f', 'qcow2', join(dirs.amd64, 'media.qcow2')]);
    expect(await compare(join(dirs.amd64, 'media-bios.img'), 'qcow2', join(dirs.amd64, 'media.qcow2'))).toMatch(/Images are identical/);
    for (const arch of ['amd64', 'arm64'] as const) {
      await run('qemu-img', ['check', '-f', 'qcow2', join(dirs[arch], 'media-efi.qcow2')]);
      expect(await compare(join(dirs[arch], 'media-efi.img'), 'qcow2', join(dirs[arch], 'media-efi.qcow2'))).toMatch(/Images are identical/);
    }
  });

  it('vhd (fixed) and vmdk hold the raw disk (amd64: the hybrid one; arm64: raw-efi); azure the EFI disk, whole MiB', async () => {
    for (const arch of ['amd64', 'arm64'] as const) {
      const raw = join(dirs[arch], arch === 'amd64' ? 'media.img' : 'media-efi.img');
      const vhd = join(dirs[arch], 'media.vhd');
      expect((await stat(vhd)).size).toBe((await stat(raw)).size + 512);
      expect(await vhdType(vhd)).toBe('fixed');
      expect(await compare(raw, 'vpc', vhd)).toMatch(/Images are identical/);
      const vmdk = join(dirs[arch], 'media.vmdk');
      await run('qemu-img', ['check', '-f', 'vmdk', vmdk]);
      expect(await run('qemu-img', ['info', '-f', 'vmdk', vmdk])).toMatch(/streamOptimized/);
      expect(await compare(raw, 'vmdk', vmdk)).toMatch(/Images are identical/);
      const azure = join(dirs[arch], 'media-azure.vhd');
      expect(((await stat(azure)).size - 512) % MiB).toBe(0);
      expect(await compare(join(dirs[arch], 'media-efi.img'), 'vpc', azure)).toMatch(/Images are identical/);
    }
  });

  it('dynamic-vhd holds the raw disk; two builds are identical', async () => {
    const a = await buildInto('dyn-a', 'amd64', ['dynamic-vhd']);
    const b = await buildInto('dyn-b', 'amd64', ['dynamic-vhd']);
    const vhd = join(a, 'media.vhd');
    expect(await vhdType(vhd)).toBe('dynamic');
    expect(await compare(join(dirs.amd64, 'media.img'), 'vpc', vhd)).toMatch(/Images are identical/);
    expect(await sha(join(b, 'media.vhd'))).toBe(await sha(vhd));
  }, 120_000);

  it('gcp: a gzip\'d tar with one entry disk.raw, a whole GiB, a valid GPT with the ESP', async () => {
    const f = join(dirs.amd64, 'media.img.tar.gz');
    expect((await run('tar', ['-tzf', f])).split('\n')).toEqual(['disk.raw']);
    const x = join(work, 'gcp');
    await execa('mkdir', ['-p', x]);
    await run('tar', ['-xzf', f, '-C', x]);
    const disk = join(x, 'disk.raw');
    expect((await stat(disk)).size % (1024 * MiB)).toBe(0);
    await run('sfdisk', ['--verify', disk]);
    const esp = join(work, 'gcp-esp.img');
    await partition(disk, 0, esp);
    await expectEspWithUki(esp, 'amd64', join(dirs.amd64, 'media.efi'));
  }, 120_000);
});

describe('builds', () => {
  it('two builds of each format family give the same bytes; no scratch file is left behind', async () => {
    const again = await buildInto('amd64-again', 'amd64', ['uki', 'iso', 'raw-efi', 'raw-bios', 'qcow2-efi', 'vhd', 'vmdk', 'gcp', 'azure']);
    for (const f of await readdir(again)) expect(await sha(join(again, f)), f).toBe(await sha(join(dirs.amd64, f)));
    const arm = await buildInto('arm64-again', 'arm64', ['uki', 'iso-efi', 'raw-efi', 'qcow2-efi']);
    for (const f of await readdir(arm)) expect(await sha(join(arm, f)), f).toBe(await sha(join(dirs.arm64, f)));
    for (const d of [dirs.amd64, dirs.arm64, again, arm]) expect((await readdir(d)).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 300_000);

  it('refuses BIOS formats for arm64 before building anything, saying what to use', async () => {
    for (const f of ['iso-bios', 'raw-bios', 'raw', 'qcow2-bios']) {
      await expect(buildInto(`arm-${f}`, 'arm64', [f])).rejects.toThrow(new RegExp(`format ${f} is for amd64 only, not arm64`));
    }
  });

  it('refuses two formats that write the same file', async () => {
    await expect(buildInto('clash', 'amd64', ['vhd', 'dynamic-vhd'])).rejects.toThrow(/formats vhd and dynamic-vhd both write media\.vhd/);
  });
});

describe('osbuild run picks the boot path from the file', () => {
  const cmd = async (file: string, o: Record<string, unknown> = {}) => {
    const c = await bootCommand({ path: file, accel: 'tcg', ...o }, false);
    return { command: c.command, args: c.args.join(' ') };
  };

  it('amd64 ISO: an IDE CD-ROM on the pc machine, SeaBIOS (it has an x86 El Torito entry), or OVMF with --uefi', async () => {
    const iso = join(dirs.amd64, 'media.iso');
    const bios = await cmd(iso);
    expect(bios.command).toBe('qemu-system-x86_64');
    expect(bios.args).toContain('-machine pc');
    expect(bios.args).toContain(`-drive file=${iso},format=raw,media=cdrom`);
    expect(bios.args).not.toContain('-bios');
    expect((await cmd(iso, { firmware: 'uefi' })).args).toContain('-bios /usr/share/ovmf/OVMF.fd');
    // an EFI-only ISO boots by UEFI without being told
    expect((await cmd(join(dirs.amd64, 'media-efi.iso'))).args).toContain('-bios /usr/share/ovmf/OVMF.fd');
  });

  it('disks: a virtio drive in snapshot mode, in the format of the file; UEFI for EFI disks', async () => {
    const efi = await cmd(join(dirs.amd64, 'media-efi.img'));
    expect(efi.args).toContain(`-drive file=${join(dirs.amd64, 'media-efi.img')},format=raw,if=virtio,snapshot=on`);
    expect(efi.args).toContain('-bios /usr/share/ovmf/OVMF.fd');
    expect((await cmd(join(dirs.amd64, 'media.qcow2'))).args).toMatch(/format=qcow2,if=virtio,snapshot=on/);
    expect((await cmd(join(dirs.amd64, 'media.vhd'))).args).toMatch(/format=vpc,if=virtio,snapshot=on/);
    const vmdk = await cmd(join(dirs.arm64, 'media.vmdk')); // arch read through qemu-img from the compressed grains
    expect(vmdk.command).toBe('qemu-system-aarch64');
    expect(vmdk.args).toContain('-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd');
  });

  it('arm64: ISO on a virtio-scsi CD under AAVMF; a UKI handed to the firmware', async () => {
    const iso = await cmd(join(dirs.arm64, 'media.iso'));
    expect(iso.command).toBe('qemu-system-aarch64');
    expect(iso.args).toContain('-device virtio-scsi-pci');
    expect(iso.args).toContain('scsi-cd,drive=cd0');
    const uki = await cmd(join(dirs.arm64, 'media.efi'));
    expect(uki.args).toContain(`-kernel ${join(dirs.arm64, 'media.efi')}`);
    expect(uki.args).toContain('-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd');
    expect(uki.args).not.toContain('-append');
  });

  it('says why it cannot: BIOS for an EFI-only disk, UEFI for a BIOS-only one, a cmdline addition for baked-in media', async () => {
    await expect(cmd(join(dirs.amd64, 'media-efi.img'), { firmware: 'bios' })).rejects.toMatchObject({ code: 'NO_BOOT_PATH' });
    await expect(cmd(join(dirs.amd64, 'media-bios.img'), { firmware: 'uefi' })).rejects.toMatchObject({ code: 'NO_BOOT_PATH' });
    await expect(cmd(join(dirs.arm64, 'media.iso'), { firmware: 'bios' })).rejects.toThrow(/arm64 machines boot by UEFI only/);
    await expect(cmd(join(dirs.amd64, 'media.iso'), { appendCmdline: 'osbuild.poweroff=1' })).rejects.toMatchObject({ code: 'CMDLINE_FIXED' });
    await expect(cmd(join(dirs.amd64, 'media.iso'), { firmware: 'uefi', firmwarePath: '/nonexistent/OVMF.fd' })).rejects.toMatchObject({ code: 'FIRMWARE_MISSING' });
  });
});
