// The read-only root layout boots from every place its root can be: a drive of its own
// (kernel+squashfs, both arches), a file on an ISO read from a CD (amd64 BIOS, arm64 UEFI) and
// from the ISO written to a disk (raw: a USB stick), and a GPT partition (raw-efi, arm64 UEFI).
// In each, an onboot container looks at the system's root from inside and reports what a user
// would check: / is a read-only squashfs, the writable paths take writes, services run.
// At most two guests run at once (the machines running this have two cores).

import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { slot } from '../helpers/slot.js';
import { readOnlyRootConsole } from '../helpers/probe.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/squashfs/probe.yml'].map((f) => join(REPO, f));
const EXPECT = (where: RegExp) => readOnlyRootConsole('squashfs', where, ['/etc', '/var', '/containers']);

const dirs: Partial<Record<Arch, string>> = {};
let work: string | undefined;

beforeAll(async () => {
  const { cacheDir } = await componentCache();
  work = await mkdtemp(join(tmpdir(), 'osbuild-squashfs-boot-'));
  dirs.amd64 = join(work, 'amd64');
  dirs.arm64 = join(work, 'arm64');
  await build({ files: BLUEPRINT, arch: 'amd64', formats: ['kernel+squashfs', 'iso', 'raw'], outDir: dirs.amd64, cacheDir });
  await build({ files: BLUEPRINT, arch: 'arm64', formats: ['kernel+squashfs', 'iso', 'raw-efi'], outDir: dirs.arm64, cacheDir });
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const CASES: { name: string; arch: Arch; file: string; where: RegExp }[] = [
  { name: 'kernel+squashfs (its own drive)', arch: 'amd64', file: 'squashfs', where: /osbuild: root squashfs \/dev\/vda read-only, writable: \/etc \/var \/containers/ },
  { name: 'kernel+squashfs (its own drive)', arch: 'arm64', file: 'squashfs', where: /osbuild: root squashfs \/dev\/vda read-only/ },
  { name: 'iso (a file on the CD, BIOS)', arch: 'amd64', file: 'squashfs.iso', where: /osbuild: root squashfs \/dev\/sr0 file \/media\/osbuild\/root\.sqfs read-only/ },
  { name: 'raw (the ISO written to a disk, BIOS)', arch: 'amd64', file: 'squashfs.img', where: /osbuild: root squashfs \/dev\/vda file \/media\/osbuild\/root\.sqfs read-only/ },
  { name: 'iso (a file on the CD, UEFI)', arch: 'arm64', file: 'squashfs.iso', where: /osbuild: root squashfs \/dev\/sr0 file \/media\/osbuild\/root\.sqfs read-only/ },
  { name: 'raw-efi (a GPT partition, UEFI)', arch: 'arm64', file: 'squashfs-efi.img', where: /osbuild: root squashfs \/dev\/vda2 read-only/ },
];

describe.concurrent('squashfs root boots', () => {
  for (const c of CASES) {
    it(`${c.arch} ${c.name}`, async () => {
      const r = await slot(() => testImage({ path: join(dirs[c.arch]!, c.file), expect: EXPECT(c.where), timeoutSec: c.arch === 'arm64' ? 240 : 150 }));
      expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`).toBe(true);
    }, 600_000);
  }

  it('amd64 without its squashfs: the init says the root is missing and what to attach', async () => {
    const lone = join(work!, 'lone');
    await mkdir(lone);
    for (const f of ['kernel', 'initrd.img', 'cmdline']) await copyFile(join(dirs.amd64!, `squashfs-${f}`), join(lone, `squashfs-${f}`));
    const r = await slot(() =>
      testImage({
        path: join(lone, 'squashfs'),
        appendCmdline: 'osbuild.rootwait=2',
        expect: [/osbuild: root not found: no squashfs with superblock sha256 [0-9a-f]{64} on any block device after 2s/, /attach the image's squashfs/, /reboot: Power down/],
        timeoutSec: 120,
      }),
    );
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`).toBe(true);
  }, 600_000);
});
