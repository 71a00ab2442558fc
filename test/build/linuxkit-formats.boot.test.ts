// LinuxKit's remaining outputs boot (amd64): the kernel and initrd a user extracts from
// tar-kernel-initrd, booted directly by QEMU; iso-efi-initrd as a CD under OVMF, where
// systemd-boot loads the kernel and the separate initrd; kernel+erofs with its erofs attached as
// a disk, which the small initrd's init finds and mounts read-only, and an onboot container
// sees as its root. Each shows the init's console lines and powers off. Three guests, one after
// the other. (Disks of a given --size are checked by tools in linuxkit-formats.test.ts.)

import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { slot } from '../helpers/slot.js';
import { readOnlyRootConsole } from '../helpers/probe.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
// not anchored: the getty shell's prompt (no newline) may come first on the same line
const EXPECT = [/osbuild: init amd64 /, /osbuild: onboot 000-hello exit 0/, /osbuild: service getty started/, /reboot: Power down/];
// the squashfs tests' probe: an onboot container that reports what its root is and what it may write
const PROBE = ['blueprints/minimal.yml', 'test/fixtures/squashfs/probe.yml'].map((f) => join(REPO, f));

let work: string | undefined;
let out: string;

beforeAll(async () => {
  const { cacheDir } = await componentCache();
  work = await mkdtemp(join(tmpdir(), 'osbuild-lk-boot-'));
  out = join(work, 'out');
  await build({ files: BLUEPRINT, arch: 'amd64', formats: ['tar-kernel-initrd', 'iso-efi-initrd'], outDir: out, cacheDir });
  await build({ files: PROBE, arch: 'amd64', formats: ['kernel+erofs'], outDir: join(work, 'erofs'), cacheDir });
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const ok = (r: Awaited<ReturnType<typeof testImage>>) => expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`).toBe(true);

describe('LinuxKit formats boot (amd64)', () => {
  it('tar-kernel-initrd: GNU tar extracts kernel, initrd.img and cmdline; QEMU boots them directly', async () => {
    const x = join(work!, 'x');
    await mkdir(x);
    await execa('tar', ['-xf', join(out, 'media-initrd.tar'), '-C', x]);
    // named as kernel+initrd's files, which is how `osbuild test` finds the three
    for (const f of ['kernel', 'initrd.img', 'cmdline']) await copyFile(join(x, f), join(x, `lk-${f}`));
    ok(await slot(() => testImage({ path: join(x, 'lk'), expect: EXPECT, timeoutSec: 180 })));
  }, 600_000);

  it('iso-efi-initrd: a CD under OVMF; systemd-boot loads the kernel and the separate initrd', async () => {
    const expect2 = [/EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID/, ...EXPECT];
    ok(await slot(() => testImage({ path: join(out, 'media-efi-initrd.iso'), expect: expect2, timeoutSec: 240 })));
  }, 600_000);

  it('kernel+erofs: the init mounts the erofs read-only, overlays make /etc /var /containers writable', async () => {
    const expect3 = readOnlyRootConsole('erofs', /osbuild: root erofs \/dev\/vda read-only, writable: \/etc \/var \/containers/);
    ok(await slot(() => testImage({ path: join(work!, 'erofs', 'squashfs'), expect: expect3, timeoutSec: 240 })));
  }, 600_000);
});
