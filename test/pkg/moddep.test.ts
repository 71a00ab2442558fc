import { describe, expect, test } from 'vitest';
import { PkgError } from '../../src/pkg/errors.js';
import { moduleName, modulesDep, withDependencies, type ModuleInfo } from '../../src/pkg/moddep.js';

// a -> b -> d, a -> c -> d ; e alone
const mods: ModuleInfo[] = [
  { path: 'kernel/d.ko', depends: [] },
  { path: 'kernel/x/b.ko', depends: ['d'] },
  { path: 'kernel/c-mod.ko', depends: ['d'] },
  { path: 'kernel/a.ko', depends: ['b', 'c_mod'] },
  { path: 'kernel/e.ko.xz', depends: [] },
];

function parse(text: string): Map<string, string[]> {
  return new Map(text.trimEnd().split('\n').map((l) => {
    const [k, v] = l.split(':');
    return [k, v.trim() ? v.trim().split(' ') : []];
  }));
}

describe('modules.dep', () => {
  test('lists every module with all of its dependencies, users before what they use', () => {
    const dep = parse(modulesDep(mods));
    expect([...dep.keys()].sort()).toEqual(mods.map((m) => m.path).sort());
    const a = dep.get('kernel/a.ko')!;
    expect([...a].sort()).toEqual(['kernel/c-mod.ko', 'kernel/d.ko', 'kernel/x/b.ko']);
    expect(a[a.length - 1]).toBe('kernel/d.ko'); // modprobe loads back to front: d first
    expect(dep.get('kernel/x/b.ko')).toEqual(['kernel/d.ko']);
    expect(dep.get('kernel/e.ko.xz')).toEqual([]);
  });

  test('lines follow modules.order, the rest by path', () => {
    const text = modulesDep(mods, ['kernel/e.ko.xz', 'kernel/a.ko']);
    expect(text.split('\n').slice(0, 2).map((l) => l.split(':')[0])).toEqual(['kernel/e.ko.xz', 'kernel/a.ko']);
    expect(text).toMatch(/^kernel\/e\.ko\.xz:\n/);
  });

  test('names use underscores; unknown dependencies and cycles are errors', () => {
    expect(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.zst')).toBe('virtio_rng');
    expect(() => modulesDep([{ path: 'a.ko', depends: ['zz'] }])).toThrow(PkgError);
    expect(() => modulesDep([{ path: 'a.ko', depends: ['b'] }, { path: 'b.ko', depends: ['a'] }])).toThrow(/cycle/);
  });

  test('selecting modules brings their dependencies along', () => {
    expect([...withDependencies(mods, (p) => p === 'kernel/x/b.ko')].sort()).toEqual(['kernel/d.ko', 'kernel/x/b.ko']);
  });
});
