// kernel+iso boots (amd64): QEMU loads the kernel and the small initrd directly (-kernel, -initrd,
// -append) and the root ISO is a CD on the pc machine's IDE bus, as LinuxKit's kernel+iso is
// meant to run. The init finds the CD by its primary volume descriptor, mounts it read-only
// through Rock Ridge, makes /etc /var /containers writable with overlays, and an onboot container
// sees that root. One guest. (`osbuild run out/NAME` attaches the ISO as a virtio disk instead:
// the path kernel+erofs's boot test takes.)

import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { slot } from '../helpers/slot.js';
import { readOnlyRootConsole } from '../helpers/probe.js';

// the squashfs tests' probe: an onboot container that reports what its root is and what it may write
const PROBE = ['blueprints/minimal.yml', 'test/fixtures/squashfs/probe.yml'].map((f) => join(REPO, f));

let work: string | undefined;

beforeAll(async () => {
  const { cacheDir } = await componentCache();
  work = await mkdtemp(join(tmpdir(), 'osbuild-kiso-boot-'));
  await build({ files: PROBE, arch: 'amd64', formats: ['kernel+iso'], outDir: join(work, 'out'), cacheDir });
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('kernel+iso boots (amd64)', () => {
  it('the root ISO as a CD: the init mounts it read-only (iso9660, Rock Ridge), overlays make /etc /var /containers writable', async () => {
    // the kernel, initrd and command line under a prefix of their own, so that the ISO is not
    // also attached as a disk: the CD is the only root there is
    const boot = join(work!, 'boot');
    await mkdir(boot);
    for (const f of ['kernel', 'initrd.img', 'cmdline']) await copyFile(join(work!, 'out', `squashfs-${f}`), join(boot, `cd-${f}`));
    const r = await slot(() =>
      testImage({
        path: join(boot, 'cd'),
        extraArgs: ['-drive', `file=${join(work!, 'out', 'squashfs.iso')},format=raw,media=cdrom,readonly=on,if=ide,index=2`],
        expect: readOnlyRootConsole('iso9660', /osbuild: root iso9660 \/dev\/sr0 read-only, writable: \/etc \/var \/containers/),
        timeoutSec: 300,
      }),
    );
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`).toBe(true);
    expect(r.log.join('\n')).not.toMatch(/osbuild: root not found|cannot mount|Rock Ridge.*(error|corrupt)/i);
  }, 900_000);
});
