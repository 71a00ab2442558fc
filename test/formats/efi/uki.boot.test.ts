// The UKI boots: an ESP (made here with mkfs.vfat + mtools) holding our UKI as the removable-media
// boot file, under OVMF (x86-64) and AAVMF (arm64), with Debian's cloud kernel and a busybox
// initramfs whose /init prints the command line the stub passed from .cmdline.
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { makeUki } from '../../../src/formats/efi/uki.js';
import type { Arch } from '../../../src/arch.js';
import { debianPackage } from '../../helpers/debian-kernel.js';
import { busyboxImage, removeTempDirs, tempDir } from '../../run/fixtures.js';

afterAll(removeTempDirs);

const INIT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "UKI-MARKER arch=$(/bin/busybox uname -m) cmdline=$(/bin/busybox cat /proc/cmdline)"
/bin/busybox poweroff -f
`;

const ARCHES = {
  amd64: {
    stub: 'linuxx64.efi.stub',
    bootFile: 'BOOTX64.EFI',
    console: 'ttyS0',
    uname: 'x86_64',
    qemu: ['qemu-system-x86_64', '-m', '512', '-bios', '/usr/share/ovmf/OVMF.fd'],
  },
  arm64: {
    stub: 'linuxaa64.efi.stub',
    bootFile: 'BOOTAA64.EFI',
    console: 'ttyAMA0',
    uname: 'aarch64',
    qemu: ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'max,pauth-impdef=on', '-m', '1024', '-bios', '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd'],
  },
} as const;

describe.each(['amd64', 'arm64'] as const)('UKI boot %s', (arch: Arch) => {
  it('boots from an ESP under UEFI with the embedded cmdline and initrd', async () => {
    const a = ARCHES[arch];
    const cmdline = `console=${a.console} panic=-1 osbuild.uki=${arch}`;
    const prefix = await busyboxImage(arch, INIT);
    const stub = await readFile(join(await debianPackage(arch, 'systemd-boot-efi'), 'usr/lib/systemd/boot/efi', a.stub));
    const src = (p: string, size: number) => ({ size, stream: createReadStream(p) });
    const kernel = `${prefix}-kernel`;
    const initrd = `${prefix}-initrd.img`;
    const uki = await makeUki({
      stub,
      kernel: src(kernel, (await stat(kernel)).size),
      initrd: src(initrd, (await stat(initrd)).size),
      cmdline,
      osRelease: 'ID=osbuild\n',
    });
    const dir = await tempDir(`uki-${arch}`);
    const efi = join(dir, a.bootFile);
    const parts: Uint8Array[] = [];
    for await (const c of uki.stream) parts.push(c);
    await writeFile(efi, Buffer.concat(parts));

    const esp = join(dir, 'esp.img');
    await execa('truncate', ['-s', '64M', esp]);
    await execa('mkfs.vfat', ['-F', '32', '-n', 'ESP', esp]);
    await execa('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
    await execa('mcopy', ['-i', esp, efi, `::/EFI/BOOT/${a.bootFile}`]);

    const [cmd, ...args] = a.qemu;
    const r = await execa(cmd, [...args, '-nographic', '-no-reboot', '-drive', `file=${esp},format=raw,if=virtio`], {
      timeout: 240_000,
      reject: false,
      stdin: 'ignore',
      all: true,
    });
    const out = String(r.all ?? '');
    const m = /UKI-MARKER arch=(\S+) cmdline=(.*)/.exec(out);
    expect(m, out.split('\n').slice(-30).join('\n')).not.toBeNull();
    expect(m![1]).toBe(a.uname);
    expect(m![2].trim()).toBe(cmdline);
  }, 300_000);
});
