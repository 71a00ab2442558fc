// Boots ISOs written by our ISO 9660 writer under QEMU (TCG): Debian's isolinux through
// El Torito under SeaBIOS, as a CD-ROM and as a disk (isohybrid MBR), and a UKI on the
// El Torito EFI image under OVMF, as a CD-ROM and as a disk (the MBR's 0xEF partition). The
// EFI-only variant (arm64's layout, no isolinux) boots as a disk under OVMF too. Each guest's
// /init prints a marker with the boot path from the kernel command line, then powers off.

import { execa } from 'execa';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeIso, type IsoFile, type IsoOptions } from '../../../src/formats/iso/write.js';
import { debianKernel } from '../../helpers/debian-kernel.js';
import { cpioGz, removeTempDirs, staticBusybox, tempDir } from '../../run/fixtures.js';

const ISOLINUX = '/usr/lib/ISOLINUX';
const LDLINUX = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
const OVMF = '/usr/share/ovmf/OVMF.fd';
const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const EPOCH = 1_700_000_000;
const TIMEOUT_S = 240;

const INIT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "ISO-BOOT-OK $(/bin/busybox grep -o 'osbuild.path=[a-z-]*' /proc/cmdline)"
/bin/busybox poweroff -f
`;

let work: string;
let bios: string; // hybrid BIOS + EFI ISO
let efiOnly: string; // EFI entry only, hybrid without MBR code

function fileOf(path: string, host: string): IsoFile {
  return { path, size: statSync(host).size, content: () => createReadStream(host) };
}

async function writeTo(opts: IsoOptions, out: string): Promise<void> {
  await pipeline(Readable.from(writeIso(opts).stream), createWriteStream(out));
}

/** A FAT image holding a UKI (systemd's stub + kernel + initrd + cmdline, joined by objcopy). */
async function efiImage(kernel: string, initrd: string, path: string): Promise<string> {
  const d = join(work, path);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'cmdline'), `console=ttyS0 panic=-1 osbuild.path=${path}`);
  await writeFile(join(d, 'osrel'), 'NAME=osbuild-test\n');
  const uki = join(d, 'uki.efi');
  // the VMAs a systemd 252 stub wants, as in shared/reference/boot-recipes.sh
  await execa('objcopy', [
    '--add-section', `.osrel=${join(d, 'osrel')}`, '--change-section-vma', '.osrel=0x20000',
    '--add-section', `.cmdline=${join(d, 'cmdline')}`, '--change-section-vma', '.cmdline=0x30000',
    '--add-section', `.linux=${kernel}`, '--change-section-vma', '.linux=0x2000000',
    '--add-section', `.initrd=${initrd}`, '--change-section-vma', '.initrd=0x4000000',
    STUB, uki,
  ]);
  const img = join(d, 'efiboot.img');
  const mib = Math.ceil(statSync(uki).size / (1 << 20)) + 4;
  await execa('truncate', ['-s', `${mib}M`, img]);
  await execa('mkfs.vfat', ['-n', 'EFIBOOT', img]);
  await execa('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT']);
  await execa('mcopy', ['-i', img, uki, '::/EFI/BOOT/BOOTX64.EFI']);
  return img;
}

beforeAll(async () => {
  work = await tempDir('iso-boot');
  const kernel = (await debianKernel('amd64')).vmlinuz;
  const root = join(work, 'initramfs');
  for (const d of ['bin', 'proc', 'sys', 'dev']) await mkdir(join(root, d), { recursive: true });
  await copyFile(await staticBusybox('amd64'), join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await symlink('busybox', join(root, 'bin', 'sh'));
  await writeFile(join(root, 'init'), INIT, { mode: 0o755 });
  const initrd = join(work, 'initrd.gz');
  await cpioGz(root, initrd);

  const cfg = join(work, 'isolinux.cfg');
  await writeFile(
    cfg,
    'SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /boot/vmlinuz\n' +
      '  APPEND initrd=/boot/initrd.gz console=ttyS0 panic=-1 osbuild.path=isolinux\n',
  );
  bios = join(work, 'hybrid.iso');
  await writeTo(
    {
      volumeId: 'OSBUILD',
      epoch: EPOCH,
      files: [
        fileOf('boot/vmlinuz', kernel),
        fileOf('boot/initrd.gz', initrd),
        fileOf('isolinux/isolinux.bin', join(ISOLINUX, 'isolinux.bin')),
        fileOf('isolinux/ldlinux.c32', LDLINUX),
        fileOf('isolinux/isolinux.cfg', cfg),
        fileOf('efiboot.img', await efiImage(kernel, initrd, 'uki')),
      ],
      boot: { catalog: 'isolinux/boot.cat', bios: { image: 'isolinux/isolinux.bin' }, efi: { image: 'efiboot.img' } },
      hybrid: { mbrCode: await readFile(join(ISOLINUX, 'isohdpfx.bin')) },
    },
    bios,
  );
  efiOnly = join(work, 'efi-only.iso');
  await writeTo(
    {
      volumeId: 'OSBUILD',
      epoch: EPOCH,
      files: [fileOf('efiboot.img', await efiImage(kernel, initrd, 'uki-efi-only'))],
      boot: { catalog: 'boot.catalog', efi: { image: 'efiboot.img' } },
      hybrid: {},
    },
    efiOnly,
  );
}, 600_000);

afterAll(removeTempDirs);

/** Boots QEMU with `args`; resolves with the console once the guest powers off (or the timeout hits). */
async function boot(args: string[]): Promise<string> {
  const r = await execa('qemu-system-x86_64', ['-machine', 'pc', '-m', '512', '-nographic', '-no-reboot', '-accel', 'tcg', ...args], {
    timeout: TIMEOUT_S * 1000,
    reject: false,
    stdin: 'ignore',
    all: true,
  });
  return r.all ?? '';
}

const cdrom = (iso: string) => ['-cdrom', iso];
const disk = (iso: string) => ['-drive', `file=${iso},format=raw,if=virtio,readonly=on`];

describe('ISO boots', () => {
  test('SeaBIOS, CD-ROM: El Torito BIOS entry -> isolinux -> kernel', async () => {
    const log = await boot(cdrom(bios));
    expect(log).toMatch(/ISOLINUX 6\.\d+/);
    expect(log).toContain('ISO-BOOT-OK osbuild.path=isolinux');
  }, TIMEOUT_S * 1000 + 10_000);

  test('SeaBIOS, disk: isohybrid MBR -> isolinux (EHDD) -> kernel', async () => {
    const log = await boot(disk(bios));
    expect(log).toMatch(/ISOLINUX 6\.\d+ \S+ EHDD/); // isolinux says it came from a hard disk
    expect(log).toContain('ISO-BOOT-OK osbuild.path=isolinux');
  }, TIMEOUT_S * 1000 + 10_000);

  test('OVMF, CD-ROM: El Torito EFI entry -> UKI', async () => {
    const log = await boot(['-bios', OVMF, ...cdrom(bios)]);
    expect(log).toContain('ISO-BOOT-OK osbuild.path=uki');
  }, TIMEOUT_S * 1000 + 10_000);

  test('OVMF, disk (USB stick layout): hybrid MBR, FAT image as partition 2 -> UKI', async () => {
    const log = await boot(['-bios', OVMF, ...disk(bios)]);
    expect(log).toContain('ISO-BOOT-OK osbuild.path=uki');
  }, TIMEOUT_S * 1000 + 10_000);

  test('OVMF, disk: the EFI-only hybrid (no isolinux, no MBR code)', async () => {
    const log = await boot(['-bios', OVMF, ...disk(efiOnly)]);
    expect(log).toContain('ISO-BOOT-OK osbuild.path=uki-efi-only');
  }, TIMEOUT_S * 1000 + 10_000);
});
