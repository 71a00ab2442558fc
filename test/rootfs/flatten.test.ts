import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/formats/entry.js';
import { FlattenError, planFlatten, type LayerToc } from '../../src/rootfs/flatten.js';
import { cleanPath, resolveInRoot, resolveParentsInRoot } from '../../src/rootfs/paths.js';

const dir = (path: string, mode = 0o755): Entry => ({ path, type: 'dir', mode, uid: 0, gid: 0, mtime: 0, size: 0 });
const file = (path: string, size = 1, extra: Partial<Entry> = {}): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size, ...extra });
const link = (path: string, target: string): Entry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });
const hard = (path: string, target: string): Entry => ({ path, type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });
const layer = (...entries: Entry[]): LayerToc => ({ digest: `sha256:${'0'.repeat(63)}${entries.length % 10}`, entries });

/** The emitted paths, in emission order. */
function emitted(layers: LayerToc[], allowDevices = true) {
  const plan = planFlatten(layers, { allowDevices, what: 'test' });
  return { paths: plan.decisions.flat().filter((e): e is Entry => e !== null).map((e) => e.path), plan };
}

describe('paths', () => {
  it('cleans and clamps .. at the root', () => {
    expect(cleanPath('./a/./b/')).toBe('a/b');
    expect(cleanPath('../../etc/passwd')).toBe('etc/passwd');
    expect(cleanPath('a/../../../b')).toBe('b');
    expect(cleanPath('/abs/x')).toBe('abs/x');
  });
  it('resolves symlinks inside the root as chroot would', () => {
    const links = new Map([['lib', 'usr/lib'], ['out', '/../../..'], ['esc', '../../etc'], ['loop', 'loop']]);
    const get = (p: string) => links.get(p);
    expect(resolveParentsInRoot('lib/libc.so', get)).toBe('usr/lib/libc.so');
    expect(resolveParentsInRoot('out/etc/shadow', get)).toBe('etc/shadow');
    expect(resolveParentsInRoot('esc/passwd', get)).toBe('etc/passwd');
    expect(resolveParentsInRoot('loop/x', get)).toBeUndefined();
    expect(resolveInRoot('lib', get)).toBe('usr/lib');
  });
});

describe('planFlatten', () => {
  it('applies whiteouts from higher layers only', () => {
    const { paths } = emitted([
      layer(dir('etc'), file('etc/a'), file('etc/b')),
      layer(dir('etc'), file('etc/.wh.a'), file('etc/c')),
    ]);
    expect(paths).toEqual(['etc', 'etc/b', 'etc/c']);
  });

  it('an opaque whiteout hides everything below the directory in lower layers, not the directory', () => {
    const { paths, plan } = emitted([
      layer(dir('d', 0o700), file('d/old'), dir('d/sub'), file('d/sub/x'), file('keep')),
      layer(dir('d', 0o750), file('d/.wh..wh..opq'), file('d/new')),
    ]);
    expect(paths).toEqual(['d', 'keep', 'd/new']);
    // the directory keeps the top layer's metadata but is emitted where it first appears
    expect(plan.decisions[0][0]?.mode).toBe(0o750);
  });

  it('a deleted directory takes its whole subtree, and can be made again above', () => {
    const { paths } = emitted([
      layer(dir('x'), file('x/1'), dir('x/y'), file('x/y/2')),
      layer(file('.wh.x')),
      layer(dir('x'), file('x/3')),
    ]);
    expect(paths).toEqual(['x', 'x/3']);
  });

  it('a file replacing a directory hides the directory\'s children', () => {
    const { paths } = emitted([layer(dir('a'), file('a/child')), layer(file('a'))]);
    expect(paths).toEqual(['a']);
  });

  it('later entries of one layer override earlier ones', () => {
    const { plan } = emitted([layer(file('f', 1), file('f', 7))]);
    expect(plan.decisions[0]).toEqual([null, expect.objectContaining({ path: 'f', size: 7 })]);
  });

  it('keeps ../ paths inside the root and reports them', () => {
    const { paths, plan } = emitted([layer(file('../../etc/evil'))]);
    expect(paths).toEqual(['etc/evil']);
    expect(plan.warnings.map((w) => w.code)).toContain('ESCAPE');
  });

  it('never lets an entry be written through a symlink: it is placed where the link points, inside the root', () => {
    const { paths, plan } = emitted([layer(link('evil', '/etc'), file('evil/passwd'), link('up', '../../../'), file('up/root/x'))]);
    expect(paths).toContain('etc/passwd');
    expect(paths).toContain('root/x');
    expect(paths).not.toContain('evil/passwd');
    expect(plan.warnings.some((w) => w.code === 'SYMLINK_PARENT')).toBe(true);
  });

  it('counts hard links so the target carries nlink', () => {
    const { plan } = emitted([layer(file('bin/busybox', 10), hard('bin/sh', 'bin/busybox'), hard('bin/ls', 'bin/busybox'))]);
    const [target, l1, l2] = plan.decisions[0];
    expect(target?.nlink).toBe(3);
    expect(l1?.nlink).toBe(3);
    expect(l2?.linkname).toBe('bin/busybox');
  });

  it('refuses a hard link to something that is not in the image', () => {
    expect(() => planFlatten([layer(hard('x', 'nowhere'))], { allowDevices: true, what: 'test' })).toThrow(FlattenError);
    expect(() => planFlatten([layer(file('t')), layer(file('.wh.t'), hard('x', 't'))], { allowDevices: true, what: 'test' })).toThrow(/hard link to t/);
  });

  it('drops device nodes from container roots, keeps them elsewhere', () => {
    const dev: Entry = { path: 'dev/sda', type: 'block', mode: 0o660, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 8, devminor: 0 };
    expect(emitted([layer(dir('dev'), dev)], false).paths).toEqual(['dev']);
    expect(emitted([layer(dir('dev'), dev)], true).paths).toEqual(['dev', 'dev/sda']);
  });

  // issue 9: the classes of escapes through symlinks

  it('resolves a symlink that sits below a symlink, to a fixed point (c1 -> /tmp, c1/c2 -> ../../tmp/X, c1/c2/f)', () => {
    const { paths, plan } = emitted([layer(link('c1', '/tmp'), link('c1/c2', '../../../../../../tmp/X'), file('c1/c2/f'))]);
    expect(paths).toEqual(['c1', 'tmp/c2', 'tmp/X/f']);
    expect(plan.symlinks).toEqual(new Map([['c1', '/tmp'], ['tmp/c2', '../../../../../../tmp/X']]));
    expect(plan.warnings.filter((w) => w.code === 'SYMLINK_PARENT').map((w) => w.path)).toEqual(['c1/c2', 'c1/c2/f']);
  });

  it('drops what a lower layer had below a directory that a higher layer turned into a symlink', () => {
    const { paths } = emitted([layer(dir('d'), file('d/keep'), dir('x')), layer(link('d', 'x'))]);
    expect(paths).toEqual(['x', 'd']);
  });

  it('keeps what a higher layer puts below its own symlink, where the link leads', () => {
    const { paths } = emitted([layer(dir('d'), file('d/old')), layer(link('d', 'x'), file('d/new'))]);
    expect(paths).toEqual(['d', 'x/new']);
  });

  it('a symlink replaced by a directory in a higher layer holds that layer\'s entries itself', () => {
    const { paths } = emitted([layer(link('l', '/etc'), dir('etc'), file('etc/a')), layer(dir('l'), file('l/f'))]);
    expect(paths).toEqual(['etc', 'etc/a', 'l', 'l/f']);
  });

  it('drops entries below a file, and below a symlink replaced by a file', () => {
    const { paths, plan } = emitted([layer(link('l', '/etc'), file('f')), layer(file('l'), file('l/x'), file('f/y'))]);
    expect(paths).toEqual(['f', 'l']);
    expect(plan.warnings.filter((w) => w.code === 'NOT_A_DIR').map((w) => w.path)).toEqual(['l/x', 'f/y']);
  });

  it('drops entries below a symlink loop, and survives long chains', () => {
    const chain = Array.from({ length: 30 }, (_, i) => link(`l${i}`, `l${i + 1}`));
    const { paths, plan } = emitted([layer(link('a', 'b/x'), link('b', '/a'), file('a/f'), ...chain, dir('l30'), file('l0/ok'))]);
    expect(paths).not.toContain('a/f');
    expect(paths).toContain('l30/ok');
    expect(plan.warnings.map((w) => w.code)).toContain('LINK_LOOP');
  });

  it('resolves a hard link\'s target through symlinks, and ..-names clamp at the root', () => {
    const { plan, paths } = emitted([layer(link('evil', '/etc'), dir('etc'), file('etc/passwd', 3), hard('../../bin/pw', 'evil/../evil/passwd'))]);
    expect(paths).toEqual(['evil', 'etc', 'etc/passwd', 'bin/pw']);
    expect(plan.decisions[0][3]).toMatchObject({ linkname: 'etc/passwd', nlink: 2 });
    expect(plan.decisions[0][2]?.nlink).toBe(2);
  });

  it('refuses a hard link whose target a later layer replaced', () => {
    expect(() => planFlatten([layer(file('t'), hard('h', 't')), layer(file('t', 5))], { allowDevices: true, what: 'test' })).toThrow(/which a later layer removed or replaced/);
  });

  it('applies a whiteout to lower layers only, wherever it sits in its layer', () => {
    const { paths } = emitted([layer(dir('d'), file('d/a'), file('d/b')), layer(file('d/a'), file('d/.wh.a'), file('d/.wh.b'))]);
    expect(paths).toEqual(['d', 'd/a']);
  });

  it('drops symlinks with no target', () => {
    const { paths, plan } = emitted([layer(link('x', ''), file('y'))]);
    expect(paths).toEqual(['y']);
    expect(plan.warnings.map((w) => w.code)).toEqual(['EMPTY_SYMLINK']);
  });
});
