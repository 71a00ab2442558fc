// A zstd initrd (root.initrd.compression: zstd, or --initrd-compression) boots: Debian's kernel
// reads the sequence of zstd frames osbuild writes, one per segment of the root.

import { mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-zstd-boot-'));
}, 900_000);

describe('a zstd initrd', () => {
  it('boots minimal.yml on amd64 to its services', async () => {
    const out = join(work, 'out');
    await build({ files: [join(REPO, 'blueprints/minimal.yml')], arch: 'amd64', outDir: out, cacheDir, name: 'z', initrdCompression: 'zstd' });
    const fh = await open(join(out, 'z-initrd.img'), 'r');
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, 0);
    await fh.close();
    expect(magic.readUInt32LE(0)).toBe(0xfd2fb528); // a zstd frame, not gzip
    const r = await testImage({
      path: join(out, 'z'),
      arch: 'amd64',
      timeoutSec: 120,
      appendCmdline: 'osbuild.poweroff=1',
      expect: [/osbuild: onboot 000-hello exit 0/, /osbuild: service getty started/, /osbuild: ready/, /reboot: Power down/],
    });
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-30).join('\n')}`).toBe(true);
  }, 300_000);
});
