// Every boot-media format of the initramfs layout boots under QEMU on each arch/firmware pair the
// format offers, as `osbuild run` would boot it (the boot path chosen from the file: ISO as a
// CD-ROM, disk images as virtio drives, a UKI given to the firmware), and the init's console
// lines appear. The command line (with osbuild.poweroff=1) is baked into the media, so the
// blueprint sets it: test/fixtures/media/poweroff.yml on top of blueprints/minimal.yml.
// At most two guests run at once (the machines running this have two cores).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import type { Firmware } from '../../src/run/media.js';
import { componentCache, REPO } from '../helpers/components.js';
import { slot } from '../helpers/slot.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/media/poweroff.yml'].map((f) => join(REPO, f));
// not anchored: the getty shell's prompt (no newline) may come first on the same line
const EXPECT = [/osbuild: onboot 000-hello exit 0/, /osbuild: service getty started/, /reboot: Power down/];

const dirs: Record<string, string> = {};
let work: string | undefined;

beforeAll(async () => {
  const { cacheDir } = await componentCache();
  work = await mkdtemp(join(tmpdir(), 'osbuild-media-boot-'));
  const one = async (key: string, arch: Arch, formats: string[]) => {
    dirs[key] = join(work!, key);
    await build({ files: BLUEPRINT, arch, formats, outDir: dirs[key], cacheDir });
  };
  await one('amd64', 'amd64', ['uki', 'iso', 'iso-bios', 'iso-efi', 'raw-efi', 'raw-bios', 'raw', 'qcow2-bios', 'qcow2-efi', 'vhd', 'vmdk', 'azure']);
  await one('amd64-dyn', 'amd64', ['dynamic-vhd']);
  await one('arm64', 'arm64', ['uki', 'iso', 'raw-efi', 'qcow2-efi', 'vhd', 'vmdk', 'azure']);
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

interface Case {
  format: string;
  arch: Arch;
  file: string;
  dir?: string;
  firmware?: Firmware;
}

const CASES: Case[] = [
  { format: 'iso (CD, BIOS)', arch: 'amd64', file: 'media.iso' },
  { format: 'iso (CD, UEFI)', arch: 'amd64', file: 'media.iso', firmware: 'uefi' },
  { format: 'iso-bios (CD)', arch: 'amd64', file: 'media-bios.iso' },
  { format: 'iso-efi (CD)', arch: 'amd64', file: 'media-efi.iso' },
  { format: 'raw-bios', arch: 'amd64', file: 'media-bios.img' },
  { format: 'raw (disk = the hybrid ISO as a USB stick, BIOS)', arch: 'amd64', file: 'media.img' },
  { format: 'raw (disk, UEFI)', arch: 'amd64', file: 'media.img', firmware: 'uefi' },
  { format: 'raw-efi', arch: 'amd64', file: 'media-efi.img' },
  { format: 'uki', arch: 'amd64', file: 'media.efi' },
  { format: 'qcow2-bios', arch: 'amd64', file: 'media.qcow2' },
  { format: 'qcow2-efi', arch: 'amd64', file: 'media-efi.qcow2' },
  { format: 'vhd (BIOS)', arch: 'amd64', file: 'media.vhd' },
  { format: 'dynamic-vhd (UEFI)', arch: 'amd64', file: 'media.vhd', dir: 'amd64-dyn', firmware: 'uefi' },
  { format: 'vmdk', arch: 'amd64', file: 'media.vmdk' },
  { format: 'azure', arch: 'amd64', file: 'media-azure.vhd' },
  { format: 'uki', arch: 'arm64', file: 'media.efi' },
  { format: 'iso (CD)', arch: 'arm64', file: 'media.iso' },
  { format: 'raw-efi', arch: 'arm64', file: 'media-efi.img' },
  { format: 'qcow2-efi', arch: 'arm64', file: 'media-efi.qcow2' },
  { format: 'vhd', arch: 'arm64', file: 'media.vhd' },
  { format: 'vmdk', arch: 'arm64', file: 'media.vmdk' },
  { format: 'azure', arch: 'arm64', file: 'media-azure.vhd' },
];

describe.concurrent('boot media boot', () => {
  for (const c of CASES) {
    it(`${c.arch} ${c.format}`, async () => {
      const r = await slot(() =>
        testImage({ path: join(dirs[c.dir ?? c.arch], c.file), firmware: c.firmware, expect: EXPECT, timeoutSec: c.arch === 'arm64' ? 180 : 120 }),
      );
      expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`).toBe(true);
    }, 600_000);
  }
});
