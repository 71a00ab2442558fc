// The root ISO writer (kernel+iso's root) against real readers: bsdtar (libarchive) and xorriso
// extract the tree with its owners, modes, symlink targets, hard links, devices and a fifo;
// `xorriso -find -exec lsdl` and `isoinfo -R -l` list them. (Linux's isofs reads it in
// test/build/kernel-iso.boot.test.ts: the kernel running the tests may lack it.) The entries
// cover what a root holds: files across sectors and empty ones, a directory of 400 names whose
// ISO identifiers collide, names of 255 bytes, names with a newline, quotes and a byte that is
// not UTF-8, a tree 40 levels deep, long symlink targets, ids above 65535, setuid bits.

import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/formats/entry.js';
import { PVD_BYTES, PVD_OFFSET, writeIsoRoot } from '../../../src/formats/iso/root.js';
import { encodeName } from '../../../src/formats/names.js';
import { devParts, pseudoRandom, runText, streamOf, tempDir, type Item } from '../helpers.js';

const EPOCH = 1_700_000_000;
const e = (path: string, type: Entry['type'], more: Partial<Entry> = {}): Entry => ({ path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: EPOCH - 3600, size: 0, ...more });
const big = pseudoRandom(3 * 2048 + 123, 7);
const LONG = 'L'.repeat(251) + '.txt'; // 255 bytes
const HOSTILE = 'new\nline "quoted" $x \'q\' raw\udcff';
const DEEP = Array.from({ length: 40 }, (_, i) => `d${i}`).join('/');

function items(): Item[] {
  const out: Item[] = [
    { entry: e('bin', 'dir') },
    { entry: e('bin/big', 'file', { size: big.length, mode: 0o4755 }), data: big },
    { entry: e('bin/empty', 'file') },
    { entry: e('bin/sh', 'symlink', { linkname: 'busybox' }) },
    { entry: e('bin/abs', 'symlink', { linkname: '/usr/lib/x/../y/./z' }) },
    { entry: e('bin/long', 'symlink', { linkname: 'x/'.repeat(300) + 'end' }) },
    { entry: e('bin/again', 'hardlink', { linkname: 'bin/big' }) },
    { entry: e('dev', 'dir') },
    { entry: e('dev/null', 'char', { mode: 0o666, devmajor: 1, devminor: 3 }) },
    { entry: e('dev/sdb', 'block', { mode: 0o660, devmajor: 8, devminor: 16 }) },
    { entry: e('dev/nvme0n1', 'block', { mode: 0o660, devmajor: 259, devminor: 0 }) },
    { entry: e('dev/fifo', 'fifo', { mode: 0o600 }) },
    { entry: e('home/user', 'dir', { uid: 100000, gid: 100001, mode: 0o700 }) },
    { entry: e('home/user/.profile', 'file', { uid: 100000, gid: 100001, size: 3 }), data: Buffer.from('hi\n') },
    { entry: e('tmp', 'dir', { mode: 0o1777 }) },
    { entry: e(LONG, 'file', { size: 4 }), data: Buffer.from('long') },
    { entry: e(HOSTILE, 'file', { size: 7 }), data: Buffer.from('hostile') },
    { entry: e(`${DEEP}/bottom`, 'file', { size: 6 }), data: Buffer.from('bottom') },
    { entry: e('many', 'dir') },
  ];
  for (let i = 0; i < 400; i++) {
    // the same first 30 characters: ISO identifiers collide and get ~N suffixes
    const b = Buffer.from(`${'n'.repeat(40)}-${String(i).padStart(3, '0')}`);
    out.push({ entry: e(`many/${b}`, 'file', { size: b.length }), data: b });
  }
  return out;
}

/** `find` over an extracted or mounted tree: path, type, mode, owner, link target, size, one line each (a newline in a name shown as \n), sorted. */
async function listing(dir: string): Promise<string> {
  const out = await execa('find', ['.', '-mindepth', '1', '-printf', '%p|%y|%m|%U|%G|%l|%s\\0'], { cwd: dir, encoding: 'buffer' });
  return Buffer.from(out.stdout)
    .toString('latin1')
    .split('\0')
    .filter(Boolean)
    .map((l) => {
      const f = l.replace(/\n/g, '\\n').split('|');
      // the sizes of directories and devices are the filesystem's own
      if ('dcbp'.includes(f[1])) f[6] = '';
      return f.join('|');
    })
    .sort()
    .join('\n');
}

/** The listing the entries describe. */
function expected(list: Item[]): string {
  const byPath = new Map(list.map(({ entry }) => [entry.path, entry]));
  const rows = new Map<string, string>();
  // directories named only by their children
  for (const { entry } of list) {
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (!byPath.has(p) && !rows.has(p)) rows.set(p, `./${p}|d|755|0|0||`);
    }
  }
  for (const { entry: x } of list) {
    const t = x.type === 'hardlink' ? byPath.get(x.linkname!)! : x;
    const y = { file: 'f', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', hardlink: 'f' }[x.type];
    const mode = x.type === 'symlink' ? 777 : t.mode.toString(8);
    const size = t.type === 'file' ? String(t.size) : x.type === 'symlink' ? String(encodeName(x.linkname!).length) : '';
    rows.set(x.path, `./${x.path}|${y}|${mode}|${t.uid}|${t.gid}|${x.type === 'symlink' ? x.linkname : ''}|${size}`);
  }
  return [...rows.values()]
    .map((r) => encodeName(r).toString('latin1').replace(/\n/g, '\\n'))
    .sort()
    .join('\n');
}

let work: string;
let img: string;
let result: Awaited<ReturnType<typeof writeIsoRoot>>;

beforeAll(async () => {
  work = tempDir('osbuild-iso-root-');
  img = join(work, 'root.iso');
  result = await writeIsoRoot(streamOf(items(), 1000), img, { epoch: EPOCH });
});

describe('writeIsoRoot', () => {
  it('bsdtar and xorriso extract every name, mode, owner, link target, device and byte', async () => {
    const want = expected(items());
    const viaBsdtar = join(work, 'bsdtar');
    await mkdir(viaBsdtar);
    await execa('bsdtar', ['-xpf', img, '--numeric-owner', '-C', viaBsdtar]);
    expect((await listing(viaBsdtar))).toBe(want);
    const viaXorriso = join(work, 'xorriso');
    await execa('xorriso', ['-osirrox', 'on:device_files', '-indev', img, '-extract', '/', viaXorriso]);
    expect((await listing(viaXorriso))).toBe(want);
    for (const x of [viaBsdtar, viaXorriso]) {
      expect(await readFile(join(x, 'bin/big'))).toEqual(big);
      expect(await readFile(join(x, 'bin/again'))).toEqual(big);
      expect(await readFile(Buffer.concat([Buffer.from(x + '/'), encodeName(HOSTILE)]))).toEqual(Buffer.from('hostile'));
      expect(await readFile(join(x, DEEP, 'bottom'), 'utf8')).toBe('bottom');
      const st = await stat(join(x, 'dev/nvme0n1'));
      expect(st.isBlockDevice()).toBe(true);
      expect(devParts(st.rdev)).toEqual({ major: 259, minor: 0 });
    }
    // bsdtar keeps the hard link as one (libarchive sees the shared extent)
    expect((await stat(join(viaBsdtar, 'bin/again'))).ino).toBe((await stat(join(viaBsdtar, 'bin/big'))).ino);
  });

  it('xorriso -find -exec lsdl and isoinfo -R -l list owners, modes, devices and targets', async () => {
    const lsdl = await runText('xorriso', ['-indev', img, '-find', '/', '-exec', 'lsdl']);
    expect(lsdl).toMatch(/^-rwsr-xr-x\s+\d+\s+0\s+0\s+6267 .* '\/bin\/big'$/m);
    expect(lsdl).toMatch(/^drwx------\s+\d+\s+100000\s+100001\s+.* '\/home\/user'$/m);
    expect(lsdl).toMatch(/^drwxrwxrwt .* '\/tmp'$/m);
    expect(lsdl).toMatch(/^brw-rw----\s+1\s+0\s+0\s+8,\s*16 .* '\/dev\/sdb'$/m);
    expect(lsdl).toMatch(/^brw-rw----\s+1\s+0\s+0\s+259,\s*0 .* '\/dev\/nvme0n1'$/m);
    expect(lsdl).toMatch(/^crw-rw-rw-\s+1\s+0\s+0\s+1,\s*3 .* '\/dev\/null'$/m);
    expect(lsdl).toMatch(/^prw-------\s.* '\/dev\/fifo'$/m);
    expect(lsdl).toMatch(/^lrwxrwxrwx .* '\/bin\/abs' -> '\/usr\/lib\/x\/..\/y\/.\/z'$/m);
    const isoinfo = await runText('isoinfo', ['-R', '-l', '-i', img]);
    // isoinfo shows no setuid bit; it shows the link count
    expect(isoinfo).toMatch(/-rwxr-xr-x\s+2\s+0\s+0\s+6267 Nov 14 2023 \[\s*\d+ 00\]\s+big/);
    expect(isoinfo).toContain(LONG);
    const d = await runText('isoinfo', ['-d', '-i', img]);
    expect(d).toMatch(/^Volume id: OSBUILD_ROOT$/m);
    expect(d).toMatch(new RegExp(`^Volume set id: ${result.contentSha256.toUpperCase()}$`, 'm'));
    expect(d).toMatch(/Rock Ridge signatures version 1 found/);
  });

  it('the PVD names the root: its sha256 is returned, and the same entries give the same bytes', async () => {
    const bytes = await readFile(img);
    expect(bytes.length).toBe(result.size);
    expect(createHash('sha256').update(bytes.subarray(PVD_OFFSET, PVD_OFFSET + PVD_BYTES)).digest('hex')).toBe(result.pvdSha256);
    const again = join(work, 'again.iso');
    const r2 = await writeIsoRoot(streamOf(items(), 4096), again, { epoch: EPOCH });
    expect(r2).toEqual(result);
    expect((await readFile(again)).equals(bytes)).toBe(true);
    // one byte of one file changed, the layout the same: another PVD
    const changed = items().map((it) => (it.entry.path === 'home/user/.profile' ? { ...it, data: Buffer.from('ho\n') } : it));
    const r3 = await writeIsoRoot(streamOf(changed), join(work, 'changed.iso'), { epoch: EPOCH });
    expect(r3.size).toBe(result.size);
    expect(r3.pvdSha256).not.toBe(result.pvdSha256);
  });

  it('what Rock Ridge cannot hold, or content that breaks its size: a clear error and no file', async () => {
    const bad = join(work, 'bad.iso');
    const caps = [{ entry: e('f', 'file', { xattrs: { 'security.capability': Buffer.alloc(20) } }) }];
    await expect(writeIsoRoot(streamOf(caps), bad, { epoch: EPOCH })).rejects.toMatchObject({
      code: 'EISOFIELD',
      message: expect.stringContaining('"f" has extended attributes (security.capability), which Rock Ridge cannot hold: build this root as kernel+squashfs or kernel+erofs'),
      where: 'f',
      hint: 'build this root as kernel+squashfs or kernel+erofs',
    });
    await expect(stat(bad)).rejects.toThrow();
    const short = [{ entry: e('f', 'file', { size: 10 }), data: Buffer.from('abc') }];
    await expect(writeIsoRoot(streamOf(short), bad, { epoch: EPOCH })).rejects.toMatchObject({ code: 'EISOSIZE', message: expect.stringContaining('gave 3 of its declared 10 bytes') });
    await expect(stat(bad)).rejects.toThrow();
    const wide = [{ entry: e('dev/sda300', 'block', { devmajor: 8, devminor: 300 }) }];
    await expect(writeIsoRoot(streamOf(wide), bad, { epoch: EPOCH })).rejects.toThrow(/device "dev\/sda300" is 8:300; Linux reads Rock Ridge device numbers up to 4095:255/);
    await expect(stat(bad)).rejects.toThrow();
    const dangling = [{ entry: e('a', 'hardlink', { linkname: 'nowhere' }) }];
    await expect(writeIsoRoot(streamOf(dangling), bad, { epoch: EPOCH })).rejects.toThrow(/hard link "a" names "nowhere", which is not a file in the image/);
    await expect(stat(bad)).rejects.toThrow();
    // a hostile name reaches the message escaped: no newline, no terminal escape
    const hostile = [{ entry: e('x\n\u001b[31merror: y', 'hardlink', { linkname: 'z\udcff' }) }];
    const err = await writeIsoRoot(streamOf(hostile), bad, { epoch: EPOCH }).catch((x: Error) => x);
    expect((err as Error).message).toContain('hard link "x\\n\\e[31merror: y" names "z\\xff"');
    expect((err as Error).message).not.toMatch(/[\n\u001b]/);
  });
});
