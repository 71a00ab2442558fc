// writeCpio: GNU cpio and bsdtar list and extract what we write (hard links stay links,
// devices stay devices, non-ASCII names survive), cpio-stream parses it, bytes are stable.

import { readFileSync, writeFileSync } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as cpioStream from 'cpio-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/formats/entry.js';
import { writeCpio } from '../../../src/formats/cpio/write.js';
import { collect, devParts, pseudoRandom, run, runText, streamOf, tempDir, type Item } from '../helpers.js';

const T = 1_700_000_000;
let work: string;
let items: Item[];
let archive: string;

function e(path: string, type: Entry['type'], extra: Partial<Entry> = {}): Entry {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: T, size: 0, ...extra };
}
function file(path: string, data: Buffer, extra: Partial<Entry> = {}): Item {
  return { entry: e(path, 'file', { size: data.length, ...extra }), data };
}

beforeAll(async () => {
  work = tempDir();
  items = [
    { entry: e('bin', 'dir') },
    // busybox-style: one binary, three names; the first occurrence carries the data.
    file('bin/busybox', pseudoRandom(70_001, 9), { mode: 0o755, nlink: 3 }),
    { entry: e('bin/sh', 'hardlink', { linkname: 'bin/busybox', mode: 0o755 }) },
    { entry: e('sbin', 'dir', { mtime: T - 5 }) },
    { entry: e('sbin/init', 'hardlink', { linkname: 'bin/busybox', mode: 0o755 }) },
    { entry: e('dev', 'dir') },
    { entry: e('dev/console', 'char', { devmajor: 5, devminor: 1, mode: 0o600 }) },
    { entry: e('dev/vda', 'block', { devmajor: 254, devminor: 0, mode: 0o660, gid: 6 }) },
    { entry: e('dev/initctl', 'fifo', { mode: 0o600 }) },
    { entry: e('etc', 'dir') },
    file('etc/hostname', Buffer.from('osbuild\n'), { uid: 1000, gid: 1001, mtime: 1234567890 }),
    file('etc/empty', Buffer.alloc(0)),
    file('etc/three', Buffer.from('abc'), { mode: 0o4711 }),
    { entry: e('init', 'symlink', { linkname: '/bin/busybox', mode: 0o777 }) },
    { entry: e('données', 'dir') },
    file('données/ça été.txt', Buffer.from('ünïcödé\n')),
    { entry: e('tmp', 'dir', { mode: 0o1777 }) },
  ];
  archive = join(work, 'initramfs.cpio');
  writeFileSync(archive, await collect(writeCpio(streamOf(items))));
});

async function checkExtracted(dir: string, tool: string): Promise<void> {
  for (const { entry, data } of items) {
    const p = join(dir, entry.path);
    const ctx = `${tool}: ${entry.path}`;
    const st = await lstat(p);
    expect(st.mode & 0o7777, ctx).toBe(entry.mode);
    expect([st.uid, st.gid], ctx).toEqual([entry.uid, entry.gid]);
    if (entry.type === 'file' || entry.type === 'hardlink') {
      expect(Math.floor(st.mtimeMs / 1000), ctx).toBe(entry.mtime);
    }
    switch (entry.type) {
      case 'file':
        expect(st.isFile(), ctx).toBe(true);
        expect((await readFile(p)).equals(data!), ctx).toBe(true);
        expect(st.nlink, ctx).toBe(entry.nlink ?? 1);
        break;
      case 'hardlink':
        expect(st.ino, ctx).toBe((await lstat(join(dir, entry.linkname!))).ino);
        expect(st.nlink, ctx).toBe(3);
        break;
      case 'symlink':
        expect(await readlink(p), ctx).toBe(entry.linkname);
        break;
      case 'dir':
        expect(st.isDirectory(), ctx).toBe(true);
        break;
      case 'char':
      case 'block':
        expect(entry.type === 'char' ? st.isCharacterDevice() : st.isBlockDevice(), ctx).toBe(true);
        expect(devParts(st.rdev), ctx).toEqual({ major: entry.devmajor, minor: entry.devminor });
        break;
      case 'fifo':
        expect(st.isFIFO(), ctx).toBe(true);
        break;
    }
  }
}

describe('writeCpio', () => {
  it('GNU cpio lists our entries with their types and sizes', async () => {
    expect((await runText('cpio', ['-it', '--quiet', '-F', archive])).split('\n')).toEqual(
      items.map((i) => i.entry.path),
    );
    const v = (await runText('cpio', ['-itv', '--quiet', '-F', archive])).split('\n');
    expect(v[1]).toMatch(/^-rwxr-xr-x +3 root +root +70001 .* bin\/busybox$/);
    expect(v[6]).toMatch(/^crw------- +1 root +root +5, +1 .* dev\/console$/);
    expect(v[13]).toMatch(/^lrwxrwxrwx .* init -> \/bin\/busybox$/);
  });

  it('GNU cpio -idm extracts files, modes, owners, links, devices and non-ASCII names', async () => {
    const dir = tempDir();
    await run('cpio', ['-idm', '--quiet', '-F', archive], { cwd: dir });
    await checkExtracted(dir, 'gnu cpio');
  });

  it('bsdtar extracts it with the hard links intact', async () => {
    const dir = tempDir();
    await run('bsdtar', ['-xpf', archive, '-C', dir]);
    await checkExtracted(dir, 'bsdtar');
  });

  it('cpio-stream parses it: sequential inodes from 1, shared inode and nlink for links', async () => {
    const seen: Array<{ name: string; ino: number; nlink: number; size: number; body: Buffer }> = [];
    const ex = cpioStream.extract();
    ex.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: Buffer) => parts.push(c));
      stream.on('end', () => {
        const x = h as unknown as { ino: number; nlink: number };
        seen.push({ name: h.name, ino: x.ino, nlink: x.nlink, size: h.size, body: Buffer.concat(parts) });
        next();
      });
      stream.resume();
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', () => resolve());
      ex.on('error', reject);
      Readable.from([readFileSync(archive)]).pipe(ex);
    });
    // cpio-stream decodes names as ASCII, so compare against the same decoding.
    expect(seen.map((s) => s.name)).toEqual(items.map((i) => Buffer.from(i.entry.path).toString('ascii')));
    const byName = new Map(seen.map((s) => [s.name, s]));
    expect(byName.get('bin/busybox')).toMatchObject({ ino: 2, nlink: 3, size: 70001 });
    expect(byName.get('bin/sh')).toMatchObject({ ino: 2, nlink: 3, size: 0 });
    expect(byName.get('sbin/init')).toMatchObject({ ino: 2, nlink: 3, size: 0 });
    expect(byName.get('bin/busybox')!.body.equals(items[1].data!)).toBe(true);
    // Inodes count up from 1 for every entry that is not a link.
    const own = seen.filter((s) => s.name !== 'bin/sh' && s.name !== 'sbin/init').map((s) => s.ino);
    expect(own).toEqual(own.map((_, i) => i + 1));
  });

  it('is deterministic and padded to 512 bytes', async () => {
    const a = await collect(writeCpio(streamOf(items, 999)));
    expect(a.equals(await readFile(archive))).toBe(true);
    expect(a.length % 512).toBe(0);
    expect(a.indexOf('TRAILER!!!')).toBeGreaterThan(0);
  });

  it('an empty entry stream gives a valid empty archive', async () => {
    const p = join(work, 'empty.cpio');
    writeFileSync(p, await collect(writeCpio(streamOf([]))));
    expect(await runText('cpio', ['-it', '--quiet', '-F', p])).toBe('');
  });

  it('a hard link to an unseen target or a target without nlink >= 2 throws ECPIOLINK naming both', async () => {
    const unseen = [{ entry: e('a', 'hardlink', { linkname: 'nowhere' }) }];
    await expect(collect(writeCpio(streamOf(unseen)))).rejects.toMatchObject({
      code: 'ECPIOLINK',
      message: expect.stringMatching(/^a: .*nowhere/),
    });
    const noNlink = [file('t', Buffer.from('x')), { entry: e('l', 'hardlink', { linkname: 't' }) }];
    await expect(collect(writeCpio(streamOf(noNlink)))).rejects.toMatchObject({
      code: 'ECPIOLINK',
      message: expect.stringMatching(/^l: .* t,/),
    });
  });

  it('files of 4 GiB or more throw ECPIOSIZE; absolute names are refused', async () => {
    const huge = [{ entry: e('huge', 'file', { size: 2 ** 32 }) }];
    await expect(collect(writeCpio(streamOf(huge)))).rejects.toMatchObject({ code: 'ECPIOSIZE', path: 'huge' });
    const abs = [{ entry: e('/etc', 'dir') }];
    await expect(collect(writeCpio(streamOf(abs)))).rejects.toMatchObject({ code: 'ECPIONAME' });
  });
});
