// writeTar: GNU tar and bsdtar list and extract what we write, with every field intact;
// readTar reads it back to the same entries; the bytes are the same on every run.

import { writeFileSync } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/formats/entry.js';
import { readTar } from '../../../src/formats/tar/read.js';
import { writeTar } from '../../../src/formats/tar/write.js';
import {
  collect,
  devParts,
  digestItems,
  pseudoRandom,
  readAllEntries,
  run,
  runText,
  streamOf,
  tempDir,
  xattrsOf,
  type Item,
} from '../helpers.js';

const T = 1_700_000_000;
const LONGDIR = `${'p'.repeat(150)}/${'q'.repeat(120)}`;
const MIDDIR = 'm'.repeat(120);
let work: string;
let items: Item[];
let tarPath: string;

function e(path: string, type: Entry['type'], extra: Partial<Entry> = {}): Entry {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: T, size: 0, ...extra };
}
function file(path: string, data: Buffer, extra: Partial<Entry> = {}): Item {
  return { entry: e(path, 'file', { size: data.length, ...extra }), data };
}

beforeAll(async () => {
  work = tempDir();
  // A real file capability, made by setcap and read back by getfattr.
  writeFileSync(join(work, 'capfile'), 'x');
  await run('setcap', ['cap_net_raw,cap_net_admin+ep', join(work, 'capfile')]);
  const cap = (await xattrsOf(join(work, 'capfile')))['security.capability'];
  expect(cap.length).toBeGreaterThan(0);

  items = [
    { entry: e('bin', 'dir') },
    file('bin/ping', Buffer.from('#!/bin/sh\necho ping\n'), {
      mode: 0o4755,
      xattrs: { 'security.capability': cap, 'user.bin': Buffer.from([0, 0xff, 0x0a, 0x3d, 0x20]) },
    }),
    { entry: e('bin/ping6', 'hardlink', { linkname: 'bin/ping', mode: 0o4755 }) },
    { entry: e('dev', 'dir') },
    { entry: e('dev/null', 'char', { devmajor: 1, devminor: 3, mode: 0o666 }) },
    { entry: e('dev/loop0', 'block', { devmajor: 7, devminor: 0, mode: 0o660, gid: 6 }) },
    { entry: e('dev/fifo', 'fifo', { mode: 0o600 }) },
    { entry: e('etc', 'dir', { xattrs: { 'user.dir': Buffer.from([1]) } }) },
    file('etc/passwd', Buffer.from('root:x:0:0::/root:/bin/sh\n')),
    file('etc/empty', Buffer.alloc(0)),
    file('big', pseudoRandom(100_000, 5), { uid: 300000, gid: 4000000, mtime: 1234567890 }),
    { entry: e('p'.repeat(150), 'dir') },
    { entry: e(LONGDIR, 'dir') },
    file(`${LONGDIR}/file`, Buffer.from('long\n')),
    { entry: e(`${LONGDIR}/hl`, 'hardlink', { linkname: `${LONGDIR}/file` }) },
    { entry: e(MIDDIR, 'dir') },
    file(`${MIDDIR}/file`, Buffer.from('mid\n')),
    { entry: e('üñí', 'dir') },
    file('üñí/ça.txt', Buffer.from('ç')),
    { entry: e('sh', 'symlink', { linkname: '/bin/busybox', mode: 0o777 }) },
    { entry: e('longlink', 'symlink', { linkname: `/${LONGDIR}/file`, mode: 0o777 }) },
    { entry: e('tmp', 'dir', { mode: 0o1777 }) },
  ];
  tarPath = join(work, 'out.tar');
  writeFileSync(tarPath, await collect(writeTar(streamOf(items))));
});

/** What a tar's entry name looks like in tool listings. */
function listed(entry: Entry): string {
  return entry.type === 'dir' ? entry.path + '/' : entry.path;
}

async function checkExtracted(dir: string, tool: string): Promise<void> {
  for (const { entry, data } of items) {
    const p = join(dir, entry.path);
    const ctx = `${tool}: ${entry.path}`;
    const st = await lstat(p);
    expect(st.mode & 0o7777, ctx).toBe(entry.mode);
    expect(st.uid, ctx).toBe(entry.uid);
    expect(st.gid, ctx).toBe(entry.gid);
    if (entry.type !== 'symlink') expect(Math.floor(st.mtimeMs / 1000), ctx).toBe(entry.mtime);
    switch (entry.type) {
      case 'file':
        expect(st.isFile(), ctx).toBe(true);
        expect((await readFile(p)).equals(data!), ctx).toBe(true);
        break;
      case 'hardlink':
        expect(st.ino, ctx).toBe((await lstat(join(dir, entry.linkname!))).ino);
        expect(st.nlink, ctx).toBe(2);
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
    if (entry.xattrs) expect(await xattrsOf(p), ctx).toEqual(entry.xattrs);
  }
}

describe('writeTar', () => {
  it('bsdtar and GNU tar list exactly our entries', async () => {
    const want = items.map((i) => listed(i.entry));
    expect((await runText('bsdtar', ['-tf', tarPath])).split('\n')).toEqual(want);
    expect((await runText('tar', ['-tf', tarPath])).split('\n')).toEqual(want);
    // Numeric owners above the 6-digit octal range come from the pax records.
    const v = await runText('tar', ['--numeric-owner', '-tvf', tarPath]);
    expect(v).toMatch(/300000\/4000000 +100000 2009-02-13 \d\d:\d\d big/);
  });

  it('GNU tar --xattrs extracts every field, capability bytes included', async () => {
    const dir = tempDir();
    await run('tar', ['--xattrs', "--xattrs-include=*", '-xpf', tarPath, '-C', dir]);
    await checkExtracted(dir, 'gnu tar');
  });

  it('bsdtar extracts every field', async () => {
    const dir = tempDir();
    await run('bsdtar', ['-xpf', tarPath, '-C', dir]);
    await checkExtracted(dir, 'bsdtar');
  });

  it('readTar reads back the same entries and content', async () => {
    const back = await readAllEntries(readTar((async function* () { yield await readFile(tarPath); })()));
    const want = items.map(({ entry, data }) => ({ entry: { ...entry }, data }));
    expect(digestItems(back)).toEqual(digestItems(want));
  });

  it('is deterministic: same entries, same bytes, whatever the content chunking', async () => {
    const a = await collect(writeTar(streamOf(items, 1000)));
    const b = await collect(writeTar(streamOf(items, 65536)));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(await readFile(tarPath))).toBe(true);
    expect(a.length % 512).toBe(0);
    const padded = await collect(writeTar(streamOf(items), { recordSize: 10240 }));
    expect(padded.length % 10240).toBe(0);
    expect(padded.subarray(0, a.length).equals(a)).toBe(true);
  });

  it('writes pax records for negative mtimes and huge ids that readTar and GNU tar agree on', async () => {
    const odd = [file('old', Buffer.from('x'), { mtime: -86400, uid: 2 ** 31, gid: 3000000 })];
    const bytes = await collect(writeTar(streamOf(odd)));
    const back = await readAllEntries(readTar((async function* () { yield bytes; })()));
    expect(back[0].entry).toEqual(odd[0].entry);
    const p = join(work, 'odd.tar');
    writeFileSync(p, bytes);
    expect(await runText('tar', ['--numeric-owner', '-tvf', p])).toMatch(/^-rw-r--r-- 2147483648\/3000000 +1 1969-12-31 /);
  });

  it('pax record lengths are right where their digit count changes (GNU tar reads them)', async () => {
    // A record "<len> SCHILY.xattr.user.k=<value>\n" crosses 100 and 1000 bytes near these.
    const lengths = [...Array.from({ length: 9 }, (_, i) => 78 + i), ...Array.from({ length: 9 }, (_, i) => 978 + i)];
    const xs = lengths.map((n) =>
      file(`x${n}`, Buffer.alloc(0), { xattrs: { 'user.k': pseudoRandom(n, n) } }),
    );
    const p = join(work, 'lengths.tar');
    writeFileSync(p, await collect(writeTar(streamOf(xs))));
    const dir = tempDir();
    await run('tar', ['--xattrs', '--xattrs-include=*', '-xf', p, '-C', dir]);
    for (const { entry } of xs) {
      expect(await xattrsOf(join(dir, entry.path)), entry.path).toEqual(entry.xattrs);
    }
  });

  it('rejects content that does not match entry.size', async () => {
    const short = [{ entry: e('f', 'file', { size: 10 }), data: Buffer.alloc(5) }];
    await expect(collect(writeTar(streamOf(short)))).rejects.toMatchObject({ code: 'ETARSIZE', path: 'f' });
    const long = [{ entry: e('f', 'file', { size: 3 }), data: Buffer.alloc(5) }];
    await expect(collect(writeTar(streamOf(long)))).rejects.toMatchObject({ code: 'ETARSIZE', path: 'f' });
  });
});
