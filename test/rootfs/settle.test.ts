// The whole root settled at plan time (pure): sections resolved through each other's symlinks,
// duplicates and type conflicts dropped, later sections winning, and a randomized check that no
// stack of hostile layers can produce an output breaking the rules (parents first, nothing below
// a symlink, each path once, hard links to files before them, clean names).

import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/formats/entry.js';
import { MediaType, type Descriptor } from '../../src/oci/types.js';
import { guardRoot } from '../../src/rootfs/guard.js';
import { FlattenError, type FlattenWarning } from '../../src/rootfs/flatten.js';
import { planRoot, RootPlanError, type ContainerInput, type PlainEntry, type RootPlan } from '../../src/rootfs/plan.js';
import { collect, planStream, violations } from './invariants.js';

const dir = (path: string, mode = 0o755): Entry => ({ path, type: 'dir', mode, uid: 0, gid: 0, mtime: 0, size: 0 });
const file = (path: string, size = 1): Entry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
const link = (path: string, target: string): Entry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });
const hard = (path: string, target: string): Entry => ({ path, type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });

let n = 0;
const desc = (): Descriptor => ({ mediaType: MediaType.ociLayer, digest: `sha256:${(++n).toString(16).padStart(64, '0')}`, size: 0 });
const stackOf = (...layers: Entry[][]) => ({ layers: layers.map(desc), tocs: layers });
const container = (dirName: string, ...layers: Entry[][]): ContainerInput => ({ kind: 'onboot', dirName, config: Buffer.from('{}'), image: stackOf(...layers) });
const plain = (entry: Entry): PlainEntry => ({ entry, content: entry.type === 'file' ? { kind: 'bytes', data: Buffer.alloc(entry.size) } : undefined });

/** The output as the writers get it: the plan's stream through the guard; guard drops are returned too. */
async function output(plan: RootPlan) {
  const dropped: FlattenWarning[] = [];
  const entries = await collect(guardRoot(planStream(plan), 0, (w) => dropped.push(w)));
  return { entries, dropped, paths: entries.map((e) => e.path), byPath: new Map(entries.map((e) => [e.path, e])) };
}

describe('planRoot settles the whole root', () => {
  it('puts container bundles where an init `containers` symlink leads, never below the link', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([link('containers', '/tmp/../var/c'), dir('var')]),
      containers: [container('000-x', [dir('bin'), file('bin/sh')])],
      files: [],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    expect(out.dropped).toEqual([]);
    expect(out.byPath.get('containers')?.type).toBe('symlink');
    expect(out.paths).toContain('var/c/onboot/000-x/config.json');
    expect(out.paths).toContain('var/c/onboot/000-x/rootfs/bin/sh');
    expect(out.paths.filter((p) => p.startsWith('containers/'))).toEqual([]);
    expect(plan.warnings.some((w) => w.code === 'SYMLINK_PARENT' && w.path.startsWith('containers/onboot/000-x'))).toBe(true);
  });

  it('puts a files entry below an init `etc` symlink where the link leads, and says so', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([link('etc', 'usr/etc'), dir('usr'), dir('usr/etc'), file('usr/etc/hostname')]),
      containers: [],
      files: [plain(file('etc/hostname', 5)), plain(file('etc/motd', 3))],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    // the files section wins over the init at the place the link leads to
    expect(out.byPath.get('usr/etc/hostname')?.size).toBe(5);
    expect(out.paths.filter((p) => p === 'usr/etc/hostname')).toHaveLength(1);
    expect(out.paths).toContain('usr/etc/motd');
    expect(plan.warnings.filter((w) => w.code === 'SYMLINK_PARENT').map((w) => w.path).sort()).toEqual(['etc/hostname', 'etc/motd']);
  });

  it('lets the files section replace an init file or symlink at its path, but not a directory', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([dir('etc'), file('etc/hostname'), link('etc/resolv.conf', '/run/resolv.conf'), dir('etc/ssh'), file('etc/ssh/x')]),
      containers: [],
      files: [plain(file('etc/hostname', 7)), plain(file('etc/resolv.conf', 2)), plain(file('etc/ssh', 1))],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    expect(out.byPath.get('etc/hostname')?.size).toBe(7);
    expect(out.byPath.get('etc/resolv.conf')?.type).toBe('file');
    expect(out.byPath.get('etc/ssh')?.type).toBe('dir');
    expect(plan.warnings.some((w) => w.code === 'TYPE_CONFLICT' && w.path === 'etc/ssh')).toBe(true);
  });

  it('emits a directory declared after what is below it first, with its own metadata', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([file('root/.profile')], [dir('root', 0o700)]),
      containers: [],
      files: [plain(file('srv/app/conf')), plain(dir('srv/app', 0o750))],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    expect(out.paths.indexOf('root')).toBeLessThan(out.paths.indexOf('root/.profile'));
    expect(out.byPath.get('root')?.mode).toBe(0o700);
    expect(out.byPath.get('srv/app')?.mode).toBe(0o750);
    expect(out.paths.indexOf('srv/app')).toBeLessThan(out.paths.indexOf('srv/app/conf'));
  });

  it('follows a container\'s absolute symlinks inside that container when a later section writes below them', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([dir('etc')]),
      containers: [container('000-x', [link('etc', '/usr/etc')])],
      files: [plain(file('containers/onboot/000-x/rootfs/etc/issue'))],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    expect(out.paths).toContain('containers/onboot/000-x/rootfs/usr/etc/issue');
    expect(out.paths).not.toContain('etc/issue');
  });

  it('keeps hard links pointing at the file, through a moved prefix, with the link count right', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([link('containers', 'data')]),
      containers: [container('000-x', [dir('bin'), file('bin/busybox', 9), hard('bin/sh', 'bin/busybox')])],
      files: [],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    const sh = out.byPath.get('data/onboot/000-x/rootfs/bin/sh')!;
    expect(sh.linkname).toBe('data/onboot/000-x/rootfs/bin/busybox');
    expect(out.byPath.get(sh.linkname!)?.nlink).toBe(2);
  });

  it('drops what cannot be placed, with a warning: entries below a file, link loops', async () => {
    const plan = planRoot({
      epoch: 0,
      init: stackOf([file('containers'), link('a', 'b'), link('b', 'a')]),
      containers: [container('000-x', [file('f')])],
      files: [plain(file('a/x'))],
    });
    const out = await output(plan);
    expect(violations(out.entries)).toEqual([]);
    expect(out.paths.sort()).toEqual(['a', 'b', 'containers']);
    const codes = new Set(plan.warnings.map((w) => w.code));
    expect(codes).toContain('NOT_A_DIR');
    expect(codes).toContain('LINK_LOOP');
  });

  it('refuses a container name that is not one plain path component', () => {
    for (const name of ['..', 'a/b', '.']) {
      expect(() => planRoot({ epoch: 0, init: stackOf([]), containers: [{ ...container('x', []), kind: 'services', dirName: name }], files: [] })).toThrow(RootPlanError);
    }
  });

  it('never produces an output that breaks the rules, whatever the layers hold (randomized)', async () => {
    let seed = 0x9e3779b9;
    const rand = (k: number) => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % k;
    };
    const pick = <T>(xs: readonly T[]) => xs[rand(xs.length)];
    const NAMES = ['a', 'b', 'c', 'd', '..', '.', 'containers', 'etc', 'tmp', '.wh.a', '.wh.b', '.wh..wh..opq'];
    const randPath = (max: number) => Array.from({ length: 1 + rand(max) }, () => pick(NAMES)).join('/');
    const randTarget = () => (rand(3) === 0 ? '/' : '') + (rand(4) === 0 ? '../../../..' + '/' : '') + randPath(3);
    const randEntry = (made: string[]): Entry => {
      const p = (rand(5) === 0 ? '/' : '') + randPath(4);
      switch (rand(10)) {
        case 0: case 1: case 2: return dir(p);
        case 3: case 4: case 5: return file(p);
        case 6: case 7: case 8: return link(p, randTarget());
        default: return made.length ? hard(p, pick(made)) : file(p);
      }
    };
    const randStack = () => {
      const made: string[] = [];
      return stackOf(...Array.from({ length: 1 + rand(3) }, () => Array.from({ length: 1 + rand(12) }, () => {
        const e = randEntry(made);
        if (e.type === 'file') made.push(e.path);
        return e;
      })));
    };
    let planned = 0;
    for (let round = 0; round < 600; round++) {
      let plan: RootPlan;
      try {
        plan = planRoot({
          epoch: 0,
          init: randStack(),
          containers: [container('000-a', ...randStack().tocs), container('001-b', ...randStack().tocs)],
          files: Array.from({ length: rand(4) }, () => plain(pick([file, dir])(randPath(4).replace(/(^|\/)\.\.?(?=\/|$)/g, '$1x')))),
        });
      } catch (e) {
        if (e instanceof FlattenError) continue; // a hard link to nothing: refused, which is safe too
        throw e;
      }
      planned++;
      const out = await output(plan);
      expect(violations(out.entries), `round ${round}`).toEqual([]);
      // the plan keeps the rules itself: the guard has nothing to drop
      expect(out.dropped, `round ${round}`).toEqual([]);
    }
    expect(planned).toBeGreaterThan(200);
  });
});
