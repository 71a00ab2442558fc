// readTar against archives made by GNU tar and bsdtar from a real directory tree; the tree
// itself (lstat, readlink, getfattr) is the oracle for every field.

import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EntryType } from '../../../src/formats/entry.js';
import { TarFormatError } from '../../../src/formats/errors.js';
import { normalizeTarPath, readTar } from '../../../src/formats/tar/read.js';
import { collect, devParts, digestItems, pseudoRandom, readAllEntries, run, tempDir, xattrsOf, type Item } from '../helpers.js';

const LONG = 'd'.repeat(120);
let root: string; // the source tree
let work: string;

async function sh(script: string, cwd: string): Promise<void> {
  await run('sh', ['-ec', script], { cwd });
}

beforeAll(async () => {
  work = tempDir();
  root = join(work, 'src');
  // Order matters: chown clears setuid bits and file capabilities, so it comes first.
  await sh(
    `mkdir src && cd src
     printf 'hello\\n' > a
     chown 300000:4000000 a
     chmod 4755 a
     setcap cap_net_raw,cap_net_admin+ep a
     setfattr -n user.bin -v 0x00ff0a3d20 a
     touch -d @1234567890.75 a
     ln a hl
     mkfifo ff
     mknod cd c 1 3
     mknod bd b 7 0
     mkdir -p ${LONG}/${LONG}
     printf x > ${LONG}/${LONG}/f
     ln ${LONG}/${LONG}/f ${LONG}/${LONG}/hl2
     ln -s ${LONG}/${LONG}/f ls
     ln -s /etc/passwd abs
     mkdir 'üñí' && printf 'ç' > 'üñí/ça.txt'
     : > empty
     touch bigid && chown 5000000:5000001 bigid
     mkdir d && setfattr -n user.dir -v 0x01 d && chmod 1777 d`,
    work,
  );
  writeFileSync(join(root, 'big'), pseudoRandom(300_000, 7));
  await sh(
    `tar --xattrs --xattrs-include='*' --format=pax --sort=name -C src -cf pax.tar .
     tar --format=gnu --sort=name -C src -cf gnu.tar .
     bsdtar --format=pax -cf bsd.tar -C src .`,
    work,
  );
});

function typeOf(st: Awaited<ReturnType<typeof lstat>>): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'fifo';
}

async function treePaths(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + d.name;
    out.push(rel);
    if (d.isDirectory()) out.push(...(await treePaths(join(dir, d.name), rel + '/')));
  }
  return out;
}

/** Every entry must say exactly what the filesystem says about the same path. */
async function checkAgainstTree(items: Item[], withXattrs: boolean): Promise<void> {
  expect(items.map((i) => i.entry.path).sort()).toEqual((await treePaths(root)).sort());
  for (const { entry, data } of items) {
    const p = join(root, entry.path);
    const st = await lstat(p, { bigint: true });
    const ctx = entry.path;
    const t = typeOf(await lstat(p));
    if (entry.type === 'hardlink') {
      expect(t, ctx).toBe('file');
      const target = await lstat(join(root, entry.linkname!));
      expect(target.ino, ctx).toBe(Number(st.ino));
      expect(entry.size, ctx).toBe(0);
    } else {
      expect(entry.type, ctx).toBe(t);
    }
    expect(entry.mode, ctx).toBe(Number(st.mode) & 0o7777);
    expect(entry.uid, ctx).toBe(Number(st.uid));
    expect(entry.gid, ctx).toBe(Number(st.gid));
    expect(entry.mtime, ctx).toBe(Number(st.mtimeNs / 1_000_000_000n));
    if (entry.type === 'file') {
      const want = readFileSync(p);
      expect(entry.size, ctx).toBe(want.length);
      expect(data!.equals(want), ctx).toBe(true);
    } else {
      expect(entry.size, ctx).toBe(0);
    }
    if (entry.type === 'symlink') expect(entry.linkname, ctx).toBe(await readlink(p));
    if (entry.type === 'char' || entry.type === 'block') {
      const { major, minor } = devParts(Number(st.rdev));
      expect({ major: entry.devmajor, minor: entry.devminor }, ctx).toEqual({ major, minor });
    }
    if (withXattrs && entry.type !== 'hardlink' && entry.type !== 'symlink') {
      const want = await xattrsOf(p);
      expect(entry.xattrs ?? {}, ctx).toEqual(want);
    }
  }
}

describe('readTar on archives made by real tools', () => {
  it('GNU tar --format=pax --xattrs: exact metadata, binary xattrs, long names, hard links, devices', async () => {
    const items = await readAllEntries(readTar(createReadStream(join(work, 'pax.tar'))));
    await checkAgainstTree(items, true);
    const a = items.find((i) => i.entry.path === 'a')!.entry;
    // The file capability is a binary vfs_cap_data struct (revision 2 magic 0x02000001 LE).
    expect(a.xattrs!['security.capability'].subarray(0, 4)).toEqual(Buffer.from([1, 0, 0, 2]));
    expect(a.xattrs!['user.bin']).toEqual(Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x20]));
    expect(a.mtime).toBe(1234567890); // pax mtime=1234567890.75, floored
    expect(items.find((i) => i.entry.path === 'hl')!.entry.linkname).toBe('a');
  });

  it('GNU tar --format=gnu: long names (L/K) and base-256 ids', async () => {
    const items = await readAllEntries(readTar(createReadStream(join(work, 'gnu.tar'))));
    await checkAgainstTree(items, false);
    const hl2 = items.find((i) => i.entry.path.endsWith('/hl2'))!.entry;
    expect(hl2.type).toBe('hardlink');
    expect(hl2.linkname).toBe(`${LONG}/${LONG}/f`);
    expect(items.find((i) => i.entry.path === 'bigid')!.entry.uid).toBe(5000000);
  });

  it('bsdtar --format=pax (SCHILY and LIBARCHIVE xattr records)', async () => {
    const items = await readAllEntries(readTar(createReadStream(join(work, 'bsd.tar'))));
    await checkAgainstTree(items, true);
  });

  it('gives the same entries whatever the source chunking (headers split across chunks)', async () => {
    const bytes = readFileSync(join(work, 'pax.tar'));
    const whole = digestItems(await readAllEntries(readTar(createReadStream(join(work, 'pax.tar')))));
    for (const size of [1, 100, 511, 513, 4096]) {
      // Only the headers and metadata in byte-sized pieces: 1-byte chunks through 300 KB of
      // content would test nothing more and take seconds.
      const limit = size === 1 ? 40_000 : bytes.length;
      const chunks = (async function* () {
        let i = 0;
        for (; i < limit; i += size) yield bytes.subarray(i, Math.min(i + size, limit));
        if (i < bytes.length) yield bytes.subarray(i);
      })();
      expect(digestItems(await readAllEntries(readTar(chunks))), `chunks of ${size}`).toEqual(whole);
    }
  });

  it('skips unread and half-read content when the consumer moves on', async () => {
    const seen: string[] = [];
    let bigFirst: Uint8Array | undefined;
    for await (const { entry, content } of readTar(createReadStream(join(work, 'pax.tar'), { highWaterMark: 1000 }))) {
      seen.push(entry.path);
      if (entry.path === 'big') {
        for await (const c of content!) {
          bigFirst = c;
          break;
        }
      }
    }
    expect(seen.sort()).toEqual((await treePaths(root)).sort());
    expect(Buffer.from(bigFirst!)).toEqual(readFileSync(join(root, 'big')).subarray(0, bigFirst!.length));
  });

  it('refuses to read content after the next entry was requested', async () => {
    const it = readTar(createReadStream(join(work, 'pax.tar')))[Symbol.asyncIterator]();
    let r = await it.next();
    while (r.value.entry.path !== 'big') r = await it.next();
    const stale = r.value.content!;
    await it.next();
    await expect(collect(stale)).rejects.toThrow(/read after the next entry/);
    await it.return?.(undefined);
  });

  it('normalizes ./, absolute and . segments, keeps .. segments, skips the root', async () => {
    await sh(
      `mkdir -p n/x && printf 1 > n/x/f
       tar -C n -cf dot.tar ./x/./f ./
       tar -C n -cf up.tar --transform 's,^,../up/,' x/f 2>/dev/null
       tar -cPf abs.tar ${join(work, 'n/x/f')}`,
      work,
    );
    const paths = async (f: string) =>
      (await readAllEntries(readTar(createReadStream(join(work, f))))).map((i) => i.entry.path);
    expect(await paths('dot.tar')).toEqual(['x/f', 'x', 'x/f']);
    expect(await paths('up.tar')).toEqual(['../up/x/f']);
    expect(await paths('abs.tar')).toEqual([join(work, 'n/x/f').slice(1)]);
  });

  it('normalizeTarPath', () => {
    expect(normalizeTarPath('./')).toBe('');
    expect(normalizeTarPath('/')).toBe('');
    expect(normalizeTarPath('./a//b/./c/')).toBe('a/b/c');
    expect(normalizeTarPath('a/../../b')).toBe('a/../../b');
    expect(normalizeTarPath('usr/bin/.hidden')).toBe('usr/bin/.hidden');
    expect(normalizeTarPath('.wh.foo')).toBe('.wh.foo');
  });

  it('keeps whiteouts as ordinary entries with their names', async () => {
    await sh(`mkdir -p w/etc && : > w/etc/.wh.passwd && : > w/.wh..wh..opq && tar -C w -cf wh.tar .`, work);
    const items = await readAllEntries(readTar(createReadStream(join(work, 'wh.tar'))));
    expect(items.map((i) => `${i.entry.type} ${i.entry.path}`).sort()).toEqual([
      'dir etc',
      'file .wh..wh..opq',
      'file etc/.wh.passwd',
    ]);
  });

  it('reads v7 archives, including directories marked only by a trailing slash', async () => {
    await sh(`mkdir -p v7/d && printf hi > v7/d/f && tar --format=v7 -C v7 -cf v7.tar d`, work);
    const bytes = Buffer.from(readFileSync(join(work, 'v7.tar')));
    const read = async () =>
      (await readAllEntries(readTar((async function* () { yield bytes; })()))).map(
        (i) => `${i.entry.type} ${i.entry.path} ${i.data === undefined ? '-' : i.data.toString()}`,
      );
    expect(await read()).toEqual(['dir d -', 'file d/f hi']);
    // Pre-POSIX writers used typeflag NUL for directories too; re-sum the header after the patch.
    expect(bytes.toString('latin1', 0, 2)).toBe('d/');
    bytes[156] = 0;
    bytes.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += bytes[i];
    bytes.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    expect(await read()).toEqual(['dir d -', 'file d/f hi']);
  });

  it('skips global pax headers (git-archive style comments)', async () => {
    await sh(`tar --format=pax --pax-option=comment=hello -C src -cf glob.tar a`, work);
    const items = await readAllEntries(readTar(createReadStream(join(work, 'glob.tar'))));
    expect(items.map((i) => i.entry.path)).toEqual(['a']);
  });
});

describe('readTar errors', () => {
  async function readBytes(b: Buffer, opts = {}) {
    return readAllEntries(
      readTar(
        (async function* () {
          for (let i = 0; i < b.length; i += 3000) yield b.subarray(i, i + 3000);
        })(),
        opts,
      ),
    );
  }
  function endOfArchive(b: Buffer): number {
    let last = b.length - 1;
    while (last >= 0 && b[last] === 0) last--;
    return Math.ceil((last + 1) / 512) * 512;
  }

  it('every cut before the end-of-archive blocks throws ETARTRUNC', async () => {
    const full = readFileSync(join(work, 'pax.tar'));
    const end = endOfArchive(full);
    const cuts = [0, 1, 511, 512, 700, end - 1, end];
    for (let c = 509; c < end; c += 4093) cuts.push(c);
    for (const cut of cuts) {
      const err = await readBytes(full.subarray(0, cut)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `cut at ${cut}`).toBeInstanceOf(TarFormatError);
      expect((err as TarFormatError).code, `cut at ${cut}`).toBe('ETARTRUNC');
    }
    // One zero block is enough (GNU tar accepts a lone zero block too).
    await expect(readBytes(full.subarray(0, end + 512))).resolves.toHaveLength(
      (await treePaths(root)).length,
    );
  });

  it('allowMissingEnd accepts a stream that stops at an entry boundary', async () => {
    const full = readFileSync(join(work, 'pax.tar'));
    const items = await readBytes(full.subarray(0, endOfArchive(full)), { allowMissingEnd: true });
    expect(items).toHaveLength((await treePaths(root)).length);
  });

  it('a corrupt header throws ETARCORRUPT with its offset', async () => {
    const bad = Buffer.from(readFileSync(join(work, 'gnu.tar')));
    bad[512 + 3] ^= 0x55; // in the name field of the second header
    await expect(readBytes(bad)).rejects.toMatchObject({ code: 'ETARCORRUPT', offset: 512 });
    const junk = pseudoRandom(4096, 3);
    await expect(readBytes(junk)).rejects.toMatchObject({ code: 'ETARCORRUPT', offset: 0 });
  });

  it('GNU sparse files throw ETARSPARSE naming the path (gnu and pax formats)', async () => {
    await sh(
      `truncate -s 2M sparse-file && printf x | dd of=sparse-file bs=1 seek=1048576 conv=notrunc 2>/dev/null
       tar --sparse --format=gnu -cf sp-gnu.tar sparse-file
       tar --sparse --format=pax -cf sp-pax.tar sparse-file`,
      work,
    );
    for (const f of ['sp-gnu.tar', 'sp-pax.tar']) {
      const p = readAllEntries(readTar(createReadStream(join(work, f))));
      await expect(p, f).rejects.toMatchObject({ code: 'ETARSPARSE', path: 'sparse-file' });
    }
  });
});
