// Builds the runc and getty components for both arches from real Debian .debs and checks the
// images with real tools (skopeo, bsdtar, file, readelf, gzip, chroot).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Store } from '../../src/oci/store.js';
import type { Arch } from '../../src/arch.js';
import { MOBY_CONFIG_LABEL } from '../../src/oci/types.js';
import { buildComponent, type BuiltComponent } from '../../src/pkg/build.js';
import { PkgError } from '../../src/pkg/errors.js';
import type { PkgEvent } from '../../src/pkg/events.js';
import { loadComponent } from '../../src/pkg/spec.js';
import { recordsOf } from '../../src/pkg/record.js';
import { CACHE_DIR, REPO_ROOT, sh, tempDir, tempStore } from './helpers.js';

const ARCHES: Arch[] = ['amd64', 'arm64'];
const RUNC = path.join(REPO_ROOT, 'components/runc');
const GETTY = path.join(REPO_ROOT, 'components/getty');

let a: Awaited<ReturnType<typeof tempStore>>;
let b: Awaited<ReturnType<typeof tempStore>>;
const built: Record<string, BuiltComponent> = {};
const rebuilt: Record<string, BuiltComponent> = {};
const secondEvents: PkgEvent[] = [];

/** The layer blob of one arch, found through the store files skopeo reads too. */
async function layerOf(storeDir: string, ref: string, arch: Arch): Promise<{ file: string; diffId: string; config: Record<string, unknown> }> {
  const index = JSON.parse(await sh('skopeo', ['inspect', '--raw', `oci:${storeDir}:${ref}`]));
  const m = index.manifests.find((d: { platform: { architecture: string } }) => d.platform.architecture === arch);
  const blob = (d: string) => path.join(storeDir, 'blobs', 'sha256', d.slice('sha256:'.length));
  const manifest = JSON.parse(await readFile(blob(m.digest), 'utf8'));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
  expect(manifest.layers).toHaveLength(1);
  return { file: blob(manifest.layers[0].digest), diffId: config.rootfs.diff_ids[0], config };
}

async function extract(layer: string): Promise<string> {
  const t = await tempDir('x');
  await execa('bsdtar', ['-xzf', layer, '-C', t.dir]);
  cleanups.push(t.cleanup);
  return t.dir;
}
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  a = await tempStore('a');
  b = await tempStore('b');
  for (const dir of [RUNC, GETTY]) built[dir] = await buildComponent(dir, { store: a.store, cacheDir: CACHE_DIR });
  // Same inputs again, into another store: nothing to download, same digests.
  for (const dir of [RUNC, GETTY]) {
    rebuilt[dir] = await buildComponent(dir, { store: b.store, cacheDir: CACHE_DIR, onProgress: (e) => secondEvents.push(e) });
  }
}, 900_000);

afterAll(async () => {
  for (const c of cleanups) await c();
  await a?.cleanup();
  await b?.cleanup();
});

describe('runc component', () => {
  test('is tagged under its normalized ref, with a manifest per arch', async () => {
    expect(built[RUNC].ref).toBe('docker.io/osbuild/runc:0.1.0');
    const index = JSON.parse(await sh('skopeo', ['inspect', '--raw', `oci:${a.store.dir}:docker.io/osbuild/runc:0.1.0`]));
    expect(index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    expect(index.manifests[0].digest).toBe(built[RUNC].manifests[0].descriptor.digest);
  });

  test.each(ARCHES)('%s: runc, its loader and its libraries', async (arch) => {
    const { file } = await layerOf(a.store.dir, 'docker.io/osbuild/runc:0.1.0', arch);
    const listing = await sh('bsdtar', ['-tzvf', file]);
    const triplet = arch === 'amd64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
    for (const p of [`usr/sbin/runc`, `lib/${triplet}/libc.so.6`, `usr/lib/${triplet}/libseccomp.so.2`]) expect(listing).toContain(` ${p}`);
    expect(listing).toMatch(/usr\/bin\/runc -> \.\.\/sbin\/runc/);
    // deterministic metadata: root-owned, epoch 0, parents present
    for (const line of listing.trim().split('\n')) expect(line).toMatch(/^\S+\s+0 0\s+0\s+\d+ Jan  1  1970 /);
    expect(listing).toMatch(/^drwxr-xr-x .* usr\/$/m);

    const root = await extract(file);
    const runc = path.join(root, 'usr/sbin/runc');
    expect(await sh('file', ['-b', runc])).toMatch(arch === 'amd64' ? /x86-64/ : /ARM aarch64/);
    // What the dynamic linker will look for must be in the image.
    const interp = /interpreter: (.*)\]/.exec(await sh('readelf', ['-l', runc]))![1];
    expect(interp).toBe(arch === 'amd64' ? '/lib64/ld-linux-x86-64.so.2' : '/lib/ld-linux-aarch64.so.1');
    // the PT_INTERP path is a symlink; follow it inside the image root, not on the host
    const target = await sh('readlink', [path.join(root, interp)]);
    const resolved = target.startsWith('/') ? path.join(root, target) : path.join(root, path.dirname(interp), target);
    expect(await sh('file', ['-b', resolved])).toMatch(/ELF 64-bit LSB shared object/);
    const needed = [...(await sh('readelf', ['-d', runc])).matchAll(/Shared library: \[(.*)\]/g)].map((m) => m[1]);
    expect(needed.sort()).toEqual(['libc.so.6', 'libseccomp.so.2']);
    for (const lib of needed) {
      const found = await sh('find', [path.join(root, 'lib', triplet), path.join(root, 'usr/lib', triplet), '-name', lib]);
      expect(found.trim(), lib).not.toBe('');
    }
  });

  test.skipIf(process.getuid?.() !== 0 || process.arch !== 'x64')('amd64: runc runs from the image root (chroot)', async () => {
    const { file } = await layerOf(a.store.dir, 'docker.io/osbuild/runc:0.1.0', 'amd64');
    const root = await extract(file);
    expect(await sh('chroot', [root, '/usr/bin/runc', '--version'])).toMatch(/^runc version 1\.1\.[\s\S]*\nlibseccomp: 2\.5\./);
  });
});

describe('the Debian package record', () => {
  test.each(ARCHES)('%s: the label lists every .deb read, each matching the file and the archive', async (arch) => {
    const { config } = await layerOf(a.store.dir, 'docker.io/osbuild/runc:0.1.0', arch);
    const labels = (config as { config: { Labels: Record<string, string> } }).config.Labels;
    const records = recordsOf(labels)!;
    const names = records.map((r) => r.package);
    // runc itself and its closure (libc6, libseccomp2), sorted, nothing the closure excludes
    expect(names).toEqual([...names].sort());
    for (const p of ['runc', 'libc6', 'libseccomp2']) expect(names).toContain(p);
    expect(names).not.toContain('dpkg');
    for (const r of records) {
      expect(['all', arch]).toContain(r.architecture);
      const deb = path.join(CACHE_DIR, 'debian', arch, 'debs', path.basename(r.filename));
      expect((await sh('sha256sum', [deb])).split(' ')[0]).toBe(r.sha256);
      expect(await sh('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture'])).toBe(`Package: ${r.package}\nVersion: ${r.version}\nArchitecture: ${r.architecture}`);
      expect(r.archive).toMatch(/^https?:\/\/[^/]+\/.*[^/]$/);
      expect(r.filename).toMatch(/^pool\//);
    }
    // the archive really serves the record's file there
    const runc = records.find((r) => r.package === 'runc')!;
    const head = await execa('curl', ['-sfI', `${runc.archive}/${runc.filename}`], { reject: false });
    expect(head.exitCode).toBe(0);
  });
});

describe('getty component', () => {
  test.each(ARCHES)('%s: busybox with applet links, the console script and the moby label', async (arch) => {
    const { file, config } = await layerOf(a.store.dir, 'docker.io/osbuild/getty:0.1.0', arch);
    const root = await extract(file);
    expect(await sh('file', ['-b', path.join(root, 'bin/busybox')])).toMatch(arch === 'amd64' ? /x86-64.*statically linked/ : /ARM aarch64.*statically linked/);
    const listing = await sh('bsdtar', ['-tzvf', file]);
    expect(listing).toMatch(/^-rwxr-xr-x .* usr\/bin\/osbuild-getty$/m);
    expect(listing).toMatch(/^drwxrwxrwt .* tmp\/$/m);
    const links = [...listing.matchAll(/ bin\/(\S+) -> busybox$/gm)].map((m) => m[1]);
    expect(links).toEqual(expect.arrayContaining(['sh', 'getty', 'ls', 'cat', 'ps', 'mount', 'ip']));
    // every link names an applet that this busybox has (the host's busybox-static is the same build)
    const applets = new Set((await sh('busybox', ['--list'])).split('\n'));
    expect(links.filter((l) => !applets.has(l))).toEqual([]);

    const rc = config.config as { Cmd: string[]; Labels: Record<string, string> };
    expect(rc.Cmd).toEqual(['/usr/bin/osbuild-getty']);
    const spec = await loadComponent(GETTY);
    expect(JSON.parse(rc.Labels[MOBY_CONFIG_LABEL])).toEqual(spec.moby);
    expect(config.architecture).toBe(arch);
  });

  test('skopeo reads and verifies the arm64 image', async () => {
    const info = JSON.parse(await sh('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${a.store.dir}:docker.io/osbuild/getty:0.1.0`]));
    expect(info.Architecture).toBe('arm64');
    expect(JSON.parse(info.Labels[MOBY_CONFIG_LABEL]).capabilities).toEqual(['all']);
    const out = await tempDir('copy');
    cleanups.push(out.cleanup);
    await execa('skopeo', ['copy', '--override-arch', 'arm64', `oci:${a.store.dir}:docker.io/osbuild/getty:0.1.0`, `oci:${out.dir}:getty`]);
  });

  test('the script runs getty on the console named on the command line', async () => {
    const script = await readFile(path.join(GETTY, 'getty.sh'), 'utf8');
    expect(script).toMatch(/getty -n -l \/bin\/sh -L 115200 "\$tty" vt100/);
    await execa('busybox', ['sh', '-n', path.join(GETTY, 'getty.sh')]); // parses as busybox sh
  });
});

describe('determinism and caching', () => {
  test('two builds give identical digests', () => {
    for (const dir of [RUNC, GETTY]) {
      expect(rebuilt[dir].index.digest).toBe(built[dir].index.digest);
      expect(rebuilt[dir].manifests).toEqual(built[dir].manifests);
    }
  });

  test('the second build downloads nothing', () => {
    expect(secondEvents.filter((e) => e.type === 'deb-download')).toEqual([]);
    expect(secondEvents.filter((e) => e.type === 'deb-cached').length).toBeGreaterThanOrEqual(8);
  });

  test.each(ARCHES)('%s: diff_id is the sha256 of the uncompressed layer', async (arch) => {
    const { file, diffId } = await layerOf(a.store.dir, 'docker.io/osbuild/runc:0.1.0', arch);
    const { stdout } = await execa('sh', ['-c', `gzip -dc '${file}' | sha256sum`]);
    expect(`sha256:${stdout.split(' ')[0]}`).toBe(diffId);
  });

  test('sourceDateEpoch sets every mtime and the created time', async () => {
    const s = await tempStore('epoch');
    cleanups.push(s.cleanup);
    await buildComponent(RUNC, { store: s.store, cacheDir: CACHE_DIR, arches: ['arm64'], sourceDateEpoch: 1700000000 });
    const { file, config } = await layerOf(s.store.dir, 'docker.io/osbuild/runc:0.1.0', 'arm64');
    expect(config.created).toBe('2023-11-14T22:13:20Z');
    const listing = await sh('bsdtar', ['-tzvf', file]);
    for (const line of listing.trim().split('\n')) expect(line).toContain(' Nov 14  2023 ');
  }, 120_000);
});

describe('errors', () => {
  async function component(text: string, files: Record<string, string> = {}): Promise<string> {
    const t = await tempDir('c');
    cleanups.push(t.cleanup);
    await mkdir(t.dir, { recursive: true });
    await writeFile(path.join(t.dir, 'build.yml'), text);
    for (const [n, c] of Object.entries(files)) await writeFile(path.join(t.dir, n), c);
    return t.dir;
  }
  async function failure(dir: string, store: Store): Promise<PkgError> {
    try {
      await buildComponent(dir, { store, cacheDir: CACHE_DIR, arches: ['amd64'] });
    } catch (e) {
      expect(e).toBeInstanceOf(PkgError);
      return e as PkgError;
    }
    throw new Error('expected the build to fail');
  }

  test('an unknown package, an unmatched path, a missing source', async () => {
    const e1 = await failure(await component('image: t/x\ntag: "1"\npackages:\n  - package: osbuild-no-such-package\n'), a.store);
    expect(e1.code).toBe('PACKAGE_NOT_FOUND');
    expect(e1.message).toContain('osbuild-no-such-package');

    const e2 = await failure(await component('image: t/x\ntag: "1"\npackages:\n  - package: runc\n    paths: [usr/sbin/runc, usr/bin/runcc]\n'), a.store);
    expect(e2.code).toBe('PATH_NOT_MATCHED');
    expect(e2.message).toMatch(/packages\[0\].*"usr\/bin\/runcc" matched nothing in runc/);

    const e3 = await failure(await component('image: t/x\ntag: "1"\nfiles:\n  - {path: /init, source: init}\n'), a.store);
    expect(e3.code).toBe('SOURCE_MISSING');
  });

  test('files override packages; a symlink under a file is a conflict', async () => {
    const dir = await component(
      'image: t/y\ntag: "1"\narches: [amd64]\npackages:\n  - package: runc\n    paths: [usr/bin/runc, usr/sbin/runc]\nfiles:\n  - {path: /usr/bin/runc, contents: "#!/bin/sh\\n", mode: "0755"}\n  - {path: /etc/x, source: x}\n',
      { x: 'hello\n' },
    );
    const r = await buildComponent(dir, { store: a.store, cacheDir: CACHE_DIR });
    const { file } = await layerOf(a.store.dir, r.ref, 'amd64');
    const listing = await sh('bsdtar', ['-tzvf', file]);
    expect(listing).toMatch(/^-rwxr-xr-x .* 10 Jan  1  1970 usr\/bin\/runc$/m);
    expect(listing).toMatch(/^-rw-r--r-- .* 6 Jan  1  1970 etc\/x$/m);

    const bad = await component('image: t/z\ntag: "1"\nfiles:\n  - {path: /a, contents: "x"}\n  - {path: /a/b, symlink: c}\n');
    const e = await failure(bad, a.store);
    expect(e.code).toBe('PATH_CONFLICT');
  });
});
