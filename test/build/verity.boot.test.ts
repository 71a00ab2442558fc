// A verified root (`root: {type: squashfs, verity: true}`) boots, and refuses to boot changed.
// kernel+squashfs on amd64 (the cheapest boot: the kernel boots directly, the squashfs with its
// dm-verity tree is a virtio disk). Unchanged: the init maps the root through dm-verity with the
// root hash from the command line and the system comes up. One bit flipped in the squashfs
// metadata block that holds the root directory's inode (read by the mount): the init says the
// root failed its verity check, names the block the kernel found corrupted, and powers off; no
// service starts.

import { copyFile, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { slot } from '../helpers/slot.js';

const BLUEPRINT = ['blueprints/minimal.yml', 'test/fixtures/verity/verity.yml'].map((f) => join(REPO, f));
const FILES = ['kernel', 'initrd.img', 'squashfs.img', 'cmdline'];

let work: string | undefined;
let good: string;
let rootHash: string;

beforeAll(async () => {
  const { cacheDir } = await componentCache(['components/dm-verity']);
  work = await mkdtemp(join(tmpdir(), 'osbuild-verity-boot-'));
  good = join(work, 'good');
  await build({ files: BLUEPRINT, arch: 'amd64', formats: ['kernel+squashfs'], outDir: good, cacheDir });
  rootHash = /osbuild\.verity=([0-9a-f]{64})/.exec(await readFile(join(good, 'verity-cmdline'), 'utf8'))![1];
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const fail = (r: { ok: boolean; reason?: string; log: string[] }) => (r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`);

describe('verified root boots', () => {
  it('amd64 kernel+squashfs, unchanged: mapped through dm-verity, the system comes up', async () => {
    const r = await slot(() =>
      testImage({
        path: join(good, 'verity'),
        expect: [
          new RegExp(`osbuild: root squashfs /dev/vda verified \\(dm-verity, root hash ${rootHash}\\) read-only, writable: /etc /var /containers`),
          /osbuild: init amd64 /,
          /osbuild: onboot 000-hello exit 0/,
          /osbuild: service getty started/,
          /reboot: Power down/,
        ],
        timeoutSec: 180,
      }),
    );
    expect(r.ok, fail(r)).toBe(true);
  }, 600_000);

  it('amd64 kernel+squashfs, one bit of the root changed: a clear verity line, poweroff, no service', async () => {
    const bad = join(work!, 'bad');
    await mkdir(bad);
    for (const f of FILES) await copyFile(join(good, `verity-${f}`), join(bad, `verity-${f}`));
    // the metadata block where the inode table starts: it holds the root directory's inode
    // (squashfs superblock: root_inode at 32, inode_table_start at 64), which mounting reads
    const fh = await open(join(bad, 'verity-squashfs.img'), 'r+');
    const sb = Buffer.alloc(96);
    await fh.read(sb, 0, 96, 0);
    const at = Number(sb.readBigUInt64LE(64) + (sb.readBigUInt64LE(32) >> 16n)) + 12;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0x01;
    await fh.write(b, 0, 1, at);
    await fh.close();

    const r = await slot(() =>
      testImage({
        path: join(bad, 'verity'),
        expect: [
          new RegExp(`osbuild: root verity check failed: /dev/vda: .*does not match root hash ${rootHash} \\(device-mapper: verity: .*block \\d+ is corrupted\\)`),
          /osbuild: root: this system boots only a root that matches its root hash: poweroff/,
          /reboot: Power down/,
        ],
        timeoutSec: 180,
      }),
    );
    expect(r.ok, fail(r)).toBe(true);
    expect(r.log.filter((l) => /osbuild: (init |onboot|service|ready)/.test(l))).toEqual([]);
  }, 600_000);
});
