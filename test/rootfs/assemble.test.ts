// Root assembly end to end on images made by real tools (GNU tar, umoci), read back by real
// tools (GNU cpio, GNU tar, getcap): whiteouts, opaque directories, hard links, symlinks,
// device nodes, file capabilities and hostile entries.

import { createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readFile, readlink, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { importLayout } from '../../src/oci/import.js';
import { writeCpio } from '../../src/formats/cpio/write.js';
import { writeTar } from '../../src/formats/tar/write.js';
import { assembleRoot } from '../../src/rootfs/assemble.js';
import { layerToc } from '../../src/rootfs/layer.js';
import { planRoot, type RootPlan } from '../../src/rootfs/plan.js';
import { makeImage } from '../helpers/oci-image.js';

const hasSetcap = (await execa('which', ['setcap'], { reject: false })).exitCode === 0;

async function stack(store: Store, ref: string) {
  const img = await store.resolveImage(ref, 'amd64');
  const tocs = [];
  for (const l of img.layers) tocs.push(await layerToc(store, l));
  return { layers: img.layers, tocs };
}

async function writeTo(source: AsyncIterable<Uint8Array>, file: string) {
  await pipeline(Readable.from(source), createWriteStream(file));
}

describe('root assembly from real images', () => {
  let store: Store;
  let plan: RootPlan;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'osbuild-assemble-'));
    store = await Store.open(join(work, 'store'));
    const base = await makeImage({
      tag: 'base',
      layers: [
        {
          script: `
            mkdir -p etc bin d/sub dev
            echo a > etc/a; echo b > etc/b; echo old > d/old; echo x > d/sub/x
            cp /bin/busybox bin/busybox; ln bin/busybox bin/sh; ln -s busybox bin/ls
            mknod dev/null c 1 3; chmod 666 dev/null
            echo ping > bin/ping; chmod 4755 bin/ping
            ${hasSetcap ? 'setcap cap_net_raw+ep bin/ping' : ''}
          `,
        },
        {
          script: `
            mkdir -p etc d
            touch etc/.wh.a d/.wh..wh..opq
            echo c > etc/c; echo new > d/new
          `,
        },
      ],
    });
    const hostile = await makeImage({
      layout: base.layout,
      tag: 'hostile',
      layers: [
        {
          raw: true,
          // Entries no directory on disk can hold: ../ names, a file below a symlink that
          // points out of the root, a device node.
          script: `
            mkdir -p stage/evilX stage/dev; echo owned > stage/evilX/passwd; echo esc > stage/escape
            ln -s /etc stage/evil; mknod stage/dev/sda b 8 0
            tar --numeric-owner -C stage -cf "$OUT" evil evilX dev
            tar --numeric-owner -C stage -rf "$OUT" --transform 's,^evilX,evil,' evilX/passwd
            tar --numeric-owner -P -C stage -rf "$OUT" --transform 's,^escape,../../../escape,' escape
          `,
        },
      ],
    });
    const refs = await importLayout(store, base.layout, { ref: 'test/image' });
    expect(refs.length).toBeGreaterThan(0);
    const init = await stack(store, 'docker.io/test/image:base');
    const hostileStack = await stack(store, 'docker.io/test/image:hostile');
    plan = planRoot({
      epoch: 0,
      init,
      containers: [{ kind: 'onboot', dirName: '000-hostile', config: Buffer.from('{}'), image: hostileStack }],
      files: [{ entry: { path: 'etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5 }, content: { kind: 'bytes', data: Buffer.from('test\n') } }],
    });
  });

  it('writes a cpio that GNU cpio reads back with whiteouts applied, links intact and hostile entries contained', async () => {
    const cpio = join(work, 'root.cpio');
    await writeTo(writeCpio(assembleRoot(store, plan)), cpio);
    const x = join(work, 'x-cpio');
    await execa('mkdir', ['-p', x]);
    await execa('sh', ['-c', `cpio -idm --quiet --no-absolute-filenames < ${cpio}`], { cwd: x });
    const names = (await execa('sh', ['-c', `cpio -it --quiet < ${cpio}`])).stdout.split('\n');

    // every parent comes before its children, as the kernel's unpacker needs
    const seen = new Set<string>();
    for (const n of names) {
      const parent = n.includes('/') ? n.slice(0, n.lastIndexOf('/')) : '';
      if (parent) expect(seen.has(parent), `${parent} before ${n}`).toBe(true);
      seen.add(n);
    }
    expect(new Set(names).size).toBe(names.length);

    await expect(stat(join(x, 'etc/a'))).rejects.toThrow();
    expect(await readFile(join(x, 'etc/b'), 'utf8')).toBe('b\n');
    expect(await readFile(join(x, 'etc/c'), 'utf8')).toBe('c\n');
    expect(await readFile(join(x, 'etc/hostname'), 'utf8')).toBe('test\n');
    expect((await readdir(join(x, 'd'))).sort()).toEqual(['new']);
    const [bb, sh] = await Promise.all([stat(join(x, 'bin/busybox')), stat(join(x, 'bin/sh'))]);
    expect(sh.ino).toBe(bb.ino);
    expect(bb.nlink).toBe(2);
    expect(await readlink(join(x, 'bin/ls'))).toBe('busybox');
    expect((await stat(join(x, 'bin/ping'))).mode & 0o7777).toBe(0o4755);
    const dev = await lstat(join(x, 'dev/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe((1 << 8) | 3);

    const c = join(x, 'containers/onboot/000-hostile');
    expect(await readFile(join(c, 'config.json'), 'utf8')).toBe('{}');
    expect(await readlink(join(c, 'rootfs/evil'))).toBe('/etc');
    // the file below the escaping symlink lands inside the container's root, where the link points
    expect(await readFile(join(c, 'rootfs/etc/passwd'), 'utf8')).toBe('owned\n');
    expect(await readFile(join(c, 'rootfs/escape'), 'utf8')).toBe('esc\n');
    await expect(stat(join(work, 'escape'))).rejects.toThrow();
    await expect(stat(join(c, 'rootfs/dev/sda'))).rejects.toThrow();
    expect(names.some((n) => n.includes('..'))).toBe(false);
  });

  it.skipIf(!hasSetcap)('keeps file capabilities (security.capability) in the tar output', async () => {
    const tar = join(work, 'root.tar');
    await writeTo(writeTar(assembleRoot(store, plan)), tar);
    const x = join(work, 'x-tar');
    await execa('mkdir', ['-p', x]);
    await execa('tar', ['--xattrs', '--xattrs-include=*', '-C', x, '-xpf', tar]);
    expect((await execa('getcap', [join(x, 'bin/ping')])).stdout).toMatch(/cap_net_raw[=+]ep/);
  });

  it('gives byte-identical output for the same inputs', async () => {
    const a = join(work, 'a.cpio');
    const b = join(work, 'b.cpio');
    await writeTo(writeCpio(assembleRoot(store, plan)), a);
    await writeTo(writeCpio(assembleRoot(store, plan)), b);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });
});
