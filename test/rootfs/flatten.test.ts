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
function emitted(layers: LayerToc[], shadowed?: Set<string>, allowDevices = true) {
  const plan = planFlatten(layers, { allowDevices, what: 'test', shadowed });
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
    expect(emitted([layer(dir('dev'), dev)], undefined, false).paths).toEqual(['dev']);
    expect(emitted([layer(dir('dev'), dev)], undefined, true).paths).toEqual(['dev', 'dev/sda']);
  });

  it('skips what the files section shadows', () => {
    expect(emitted([layer(dir('etc'), file('etc/hostname'), file('etc/x'))], new Set(['etc/hostname'])).paths).toEqual(['etc', 'etc/x']);
  });
});
