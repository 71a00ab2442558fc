// Issue 9: escapes through symlinks. Hostile layers crafted with Python's tarfile (entries no
// directory on disk can hold) become images in a store; osbuild builds kernel+initrd and tar
// outputs from them; then every extractor people use unpacks each output into a fresh
// directory of a sandbox: GNU tar, bsdtar, GNU cpio (with and without --no-absolute-filenames)
// and Python's tarfile with no filter. Each must succeed and write nothing outside its target,
// and the listings of the outputs must keep the rules (nothing below a symlink or file emitted
// before it, each path once, clean names, hard links to files before them).

import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Entry } from '../../src/formats/entry.js';
import { importLayout } from '../../src/oci/import.js';
import { Store } from '../../src/oci/store.js';
import { guardRoot } from '../../src/rootfs/guard.js';
import type { FlattenWarning } from '../../src/rootfs/flatten.js';
import { makeImage } from '../helpers/oci-image.js';
import { collect, violations } from './invariants.js';

let sandbox: string;
let sentinel: string;
/** The sandbox's path without its leading '/': where an absolute link to it leads inside an image. */
let inside: string;
let out: string;
const warnings: string[] = [];

/** A bash layer script that writes "$OUT" with Python's tarfile: `entries` is Python code calling add(). */
function pyLayer(entries: string): { raw: true; script: string } {
  return {
    raw: true,
    script: `python3 - <<'PY'
import io, os, tarfile
t = tarfile.open(os.environ['OUT'], 'w', format=tarfile.PAX_FORMAT)
def add(name, kind='f', data=b'', link=''):
    ti = tarfile.TarInfo(name)
    ti.type = {'f': tarfile.REGTYPE, 'd': tarfile.DIRTYPE, 'l': tarfile.SYMTYPE, 'h': tarfile.LNKTYPE}[kind]
    ti.mode = 0o755 if kind in 'dl' else 0o644
    ti.linkname = link
    ti.mtime = 0
    ti.size = len(data) if kind == 'f' else 0
    t.addfile(ti, io.BytesIO(data) if kind == 'f' else None)
${entries}
t.close()
PY`,
  };
}

beforeAll(async () => {
  sandbox = await realpath(await mkdtemp(join(tmpdir(), 'osbuild-hostile-')));
  sentinel = join(sandbox, 'sentinel');
  await mkdir(sentinel);
  inside = sandbox.slice(1);
  const S = sandbox;
  const up = '../'.repeat(12);
  const layout = join(sandbox, 'layout');
  const init = await makeImage({
    layout: undefined,
    tag: 'init',
    layers: [
      pyLayer(`
add('c1', 'l', link='/tmp')
add('c1/c2', 'l', link='${up}${S.slice(1)}/sentinel')
add('c1/c2/f', data=b'escaped')
add('d', 'd'); add('d/keep', data=b'lower')
add('r', 'l', link='${S}/sentinel')
add('lnk', 'l', link='${S}/sentinel')
add('containers', 'l', link='${S}/sentinel/containers')
add('etc', 'l', link='${S}/sentinel/etc')
add('lib', 'l', link='usr/lib')
add('loop1', 'l', link='loop2'); add('loop2', 'l', link='loop1/x'); add('loop1/f\\x1b[2J', data=b'loop')
add('../../../../dotdot', data=b'dd')
add('hl', 'h', link='c1/c2/f')
add('self', 'l', link='.'); add('self/self/self/s', data=b's')
`),
      pyLayer(`
add('d', 'l', link='/tmp')
add('r', data=b'now a file')
add('lnk', data=b'file'); add('lnk/x', data=b'below a file')
add('abs', 'l', link='${S}/sentinel'); add('abs/../abs/y', data=b'y')
`),
    ],
  });
  await makeImage({
    layout: init.layout,
    tag: 'c',
    cmd: ['/bin/sh'],
    layers: [
      pyLayer(`
add('evil', 'l', link='${S}/sentinel'); add('evil/passwd', data=b'owned')
add('bin', 'd'); add('bin/busybox', data=b'bb'); add('bin/sh', 'h', link='bin/busybox')
add('up', 'l', link='${up}'); add('up/x', data=b'x')
add('bin/hl', 'h', link='evil/passwd')
`),
    ],
  });
  await makeImage({
    layout: init.layout,
    tag: 'k',
    layers: [
      pyLayer(`
add('kernel', data=os.urandom(4096))
kt = io.BytesIO()
k = tarfile.open(fileobj=kt, mode='w', format=tarfile.PAX_FORMAT)
def kadd(name, kind='f', data=b'', link=''):
    ti = tarfile.TarInfo(name); ti.type = tarfile.SYMTYPE if kind == 'l' else tarfile.REGTYPE; ti.linkname = link
    ti.size = len(data); ti.mode = 0o644
    k.addfile(ti, io.BytesIO(data))
kadd('lib/modules/6.0.0-test/modules.dep', data=b'')
kadd('lib/modules/6.0.0-test/build', 'l', link='${S}/sentinel')
kadd('lib/modules/6.0.0-test/build/m', data=b'module')
kadd('lib/modules/6.0.0-test/kernel/a.ko', data=b'ko')
kadd('../../../kmod-escape', data=b'ke')
k.close()
add('kernel.tar', data=kt.getvalue())
`),
    ],
  });
  const cacheDir = join(sandbox, 'cache');
  const store = await Store.open(join(cacheDir, 'store'));
  await importLayout(store, init.layout, { ref: 'test/hostile' });
  const bp = join(sandbox, 'hostile.yml');
  await writeFile(bp, [
    'kernel:',
    '  image: test/hostile:k',
    '  cmdline: console=ttyS0',
    'init:',
    '  - test/hostile:init',
    'onboot:',
    '  - name: c',
    '    image: test/hostile:c',
    'files:',
    '  - path: etc/hostname',
    '    contents: "box\\n"',
    '  - path: c1/c2/g',
    '    contents: "g\\n"',
    '  - path: boot/kernel',
    '    contents: "not the kernel\\n"',
    '',
  ].join('\n'));
  out = join(sandbox, 'out');
  await build({
    files: [bp], formats: ['kernel+initrd', 'tar'], arch: 'amd64', outDir: out, cacheDir, name: 'h', sourceDateEpoch: 0,
    onEvent: (e) => { if (e.type === 'warning') warnings.push(e.message); },
  });
  await execa('sh', ['-c', `gzip -dc '${join(out, 'h-initrd.img')}' > '${join(sandbox, 'h.cpio')}'`]);
}, 300_000);

/** Every path under `dir` (symlinks not followed) whose real parent is outside `dir`. */
async function traversals(dir: string): Promise<string[]> {
  const bad: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      const parent = await realpath(dirname(p));
      if (parent !== dir && !parent.startsWith(dir + '/')) bad.push(p);
      if (ent.isDirectory()) await walk(p); // a Dirent of a symlink is not a directory: links are not followed
    }
  };
  await walk(dir);
  return bad;
}

type Listed = Pick<Entry, 'path' | 'type' | 'linkname'>;

/** GNU tar -tv or cpio -itv lines to entries (the test's names have no spaces). */
function parseListing(text: string, fieldsBeforeName: number): Listed[] {
  return text.split('\n').filter(Boolean).map((line) => {
    const f = line.trim().split(/\s+/);
    const rest = f.slice(fieldsBeforeName).join(' ');
    const t = line[0];
    if (t === 'l') {
      const [path, linkname] = rest.split(' -> ');
      return { path, type: 'symlink', linkname };
    }
    if (t === 'h') {
      const [path, linkname] = rest.split(' link to ');
      return { path, type: 'hardlink', linkname };
    }
    return { path: rest.replace(/\/$/, ''), type: t === 'd' ? 'dir' : t === '-' ? 'file' : 'fifo' };
  });
}

describe('hostile layers give safe outputs (issue 9)', () => {
  const extractors: { name: string; input: () => string; run: (archive: string, target: string) => Promise<unknown> }[] = [
    { name: 'GNU tar (tar output)', input: () => join(out, 'h.tar'), run: (a, t) => execa('tar', ['-C', t, '-xpf', a]) },
    { name: 'bsdtar (tar output)', input: () => join(out, 'h.tar'), run: (a, t) => execa('bsdtar', ['-C', t, '-xpf', a]) },
    {
      name: "Python's tarfile, no filter (tar output)",
      input: () => join(out, 'h.tar'),
      run: (a, t) => execa('python3', ['-W', 'ignore', '-c', 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])', a, t]),
    },
    { name: 'GNU cpio -idm --no-absolute-filenames (initrd)', input: () => join(sandbox, 'h.cpio'), run: (a, t) => execa('sh', ['-c', `cpio -idm --quiet --no-absolute-filenames < '${a}'`], { cwd: t }) },
    { name: 'GNU cpio -idm (initrd)', input: () => join(sandbox, 'h.cpio'), run: (a, t) => execa('sh', ['-c', `cpio -idm --quiet < '${a}'`], { cwd: t }) },
    { name: 'bsdtar (initrd)', input: () => join(sandbox, 'h.cpio'), run: (a, t) => execa('bsdtar', ['-C', t, '-xpf', a]) },
  ];

  for (const x of extractors) {
    it(`${x.name} extracts it without error and writes nothing outside its target`, async () => {
      const target = await mkdtemp(join(sandbox, 'x-'));
      await x.run(x.input(), target); // rejects on a non-zero exit
      expect(await readdir(sentinel)).toEqual([]);
      expect(await traversals(target)).toEqual([]);
      await expect(lstat(join(sandbox, 'kmod-escape'))).rejects.toThrow();
      // what was below the links is inside the root, where the links lead
      expect(await readFile(join(target, inside, 'sentinel/f'), 'utf8')).toBe('escaped');
      expect(await readlink(join(target, 'c1'))).toBe('/tmp');
      expect((await lstat(join(target, 'tmp/c2'))).isSymbolicLink()).toBe(true);
      expect(await readFile(join(target, inside, 'sentinel/g'), 'utf8')).toBe('g\n');
      expect(await readFile(join(target, inside, 'sentinel/etc/hostname'), 'utf8')).toBe('box\n');
      expect(await readFile(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs', inside, 'sentinel/passwd'), 'utf8')).toBe('owned');
      expect(await readFile(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs/x'), 'utf8')).toBe('x');
      const bb = await lstat(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs/bin/busybox'));
      expect((await lstat(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs/bin/sh'))).ino).toBe(bb.ino);
      // a hard link to a path below a link names the file where the link leads
      const pw = await lstat(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs', inside, 'sentinel/passwd'));
      expect((await lstat(join(target, inside, 'sentinel/containers/onboot/000-c/rootfs/bin/hl'))).ino).toBe(pw.ino);
      expect((await lstat(join(target, 'hl'))).ino).toBe((await lstat(join(target, inside, 'sentinel/f'))).ino);
      // the modules go where the init's lib link leads; the tarball's own link is followed inside
      expect(await readFile(join(target, 'usr/lib/modules/6.0.0-test/kernel/a.ko'), 'utf8')).toBe('ko');
      expect(await readFile(join(target, inside, 'sentinel/m'), 'utf8')).toBe('module');
      expect(await readFile(join(target, 'dotdot'), 'utf8')).toBe('dd');
      // the lower layer's d/keep went with d; r and lnk are files now
      expect(await readlink(join(target, 'd'))).toBe('/tmp');
      await expect(lstat(join(target, 'tmp/keep'))).rejects.toThrow();
      expect(await readFile(join(target, 'r'), 'utf8')).toBe('now a file');
      expect((await lstat(join(target, 'lnk'))).isFile()).toBe(true);
    });
  }

  it('the tar output\'s listing (GNU tar -tv) keeps the rules', async () => {
    const listed = parseListing((await execa('tar', ['-tvf', join(out, 'h.tar')])).stdout, 5);
    expect(listed.length).toBeGreaterThan(20);
    expect(violations(listed as Entry[])).toEqual([]);
    // the files section made a boot/kernel too: the one the tar output adds after the root is dropped
    expect(listed.filter((e) => e.path === 'boot/kernel')).toHaveLength(1);
  });

  it('the initrd\'s listing (GNU cpio -itv) keeps the rules', async () => {
    const listed = parseListing((await execa('sh', ['-c', `cpio -itv --quiet < '${join(sandbox, 'h.cpio')}'`])).stdout, 8);
    expect(listed.length).toBeGreaterThan(20);
    expect(violations(listed as Entry[])).toEqual([]);
    expect(listed.map((e) => e.path)).toContain('c1');
  });

  it('says what it dropped or moved, names shown escaped', () => {
    const all = warnings.join('\n');
    expect(all).toMatch(/c1\/c2\/f lies below a symlink; placed at tmp\/.*sentinel\/f/);
    expect(all).toMatch(/lnk\/x lies below lnk, which is not a directory; dropped/);
    expect(all).toMatch(/symlink loop/);
    expect(all).toContain('\\e[2J');
    expect(all).not.toContain('\x1b');
    expect(all).toMatch(/containers\/onboot\/000-c.*lies below a symlink/);
    expect(all).toMatch(/etc\/hostname lies below a symlink/);
    expect(all).toMatch(/boot\/kernel is already in the output as a file; dropped/);
  });
});

describe('the guard on the stream', () => {
  const e = (path: string, type: Entry['type'] = 'file', extra: Partial<Entry> = {}): Entry => ({ path, type, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, ...extra });
  async function guarded(entries: Entry[]) {
    const dropped: FlattenWarning[] = [];
    async function* source() { for (const entry of entries) yield { entry }; }
    const emitted = await collect(guardRoot(source(), 0, (w) => dropped.push(w)));
    return { paths: emitted.map((x) => x.path), emitted, dropped: dropped.map((w) => `${w.code} ${w.path}`) };
  }

  it('drops what an unsettled stream would break the rules with, and makes missing parents', async () => {
    const r = await guarded([
      e('a', 'symlink', { linkname: '/tmp' }),
      e('a/x'),
      e('../up'), e('/abs'), e('b/./c'), e('b//c'), e(''),
      e('f'), e('f'), e('f', 'dir'),
      e('h', 'hardlink', { linkname: 'f' }),
      e('g', 'file', { nlink: 2 }), e('d/h2', 'hardlink', { linkname: 'g' }),
      e('s', 'symlink', { linkname: '' }),
      e('f/below'),
    ]);
    expect(r.paths).toEqual(['a', 'f', 'g', 'd', 'd/h2']);
    expect(r.dropped).toEqual([
      'NOT_A_DIR a/x', 'UNSAFE_NAME ../up', 'UNSAFE_NAME /abs', 'UNSAFE_NAME b/./c', 'UNSAFE_NAME b//c', 'UNSAFE_NAME ',
      'DUPLICATE f', 'DUPLICATE f', 'HARDLINK h', 'EMPTY_SYMLINK s', 'NOT_A_DIR f/below',
    ]);
    expect(violations(r.emitted)).toEqual([]);
  });
});
