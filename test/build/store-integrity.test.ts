// The store and the disk, as a user meets them through the built CLI: bytes flipped in real
// blobs of a real store (a component of `files:` only, an image made by umoci and imported, a
// kernel image with a modules tarball) must stop a build with an error naming the digest, the
// image and the repair; `cache verify` finds the damage and `--repair` fixes it, after which a
// build gives the original bytes again. Derived data (layer TOCs, the module list) that was
// tampered with is recomputed, never used.

import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { makeImage } from '../helpers/oci-image.js';
import { Store } from '../../src/oci/store.js';
import { MediaType } from '../../src/oci/types.js';
import { SPEC_MEMO_KIND } from '../../src/pkg/find.js';

let work: string;
let pristine: string; // a cache holding every image, built once; each test works on a copy
let original: Buffer; // sys.tar as first built
const KVER = '6.1.0-test';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function osbuild(args: string[]): Promise<Ran> {
  const r = await execa('node', [MAIN, ...args], { cwd: work, reject: false, env: { SOURCE_DATE_EPOCH: '0', OSBUILD_DEBUG: '' } });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const blueprint = () => join(work, 'bp', 'sys.yml');

async function buildInto(cache: string, out: string): Promise<Ran> {
  return osbuild(['build', blueprint(), '-f', 'tar', '--arch', 'amd64', '--cache', cache, '-o', out, '-q']);
}

/** A fresh copy of the pristine cache. */
async function cacheCopy(name: string): Promise<{ cache: string; store: Store }> {
  const cache = join(work, name);
  await cp(pristine, cache, { recursive: true });
  return { cache, store: await Store.open(join(cache, 'store')) };
}

async function flip(path: string, at: number | 'middle'): Promise<void> {
  const b = await readFile(path);
  const i = at === 'middle' ? b.length >> 1 : at;
  b[i] ^= 0x01;
  await writeFile(path, b);
}

beforeAll(async () => {
  await ensureDist();
  work = await mkdtemp(join(tmpdir(), 'osbuild-integrity-'));
  // a component of files only: `osbuild build` builds it by itself, no Debian needed
  await mkdir(join(work, 'components', 'hello'), { recursive: true });
  await writeFile(
    join(work, 'components', 'hello', 'build.yml'),
    'image: test/hello\ntag: "1.0"\narches: [amd64]\nfiles:\n  - {path: /etc/hello, contents: "hello from a component"}\n',
  );
  // an image made by umoci, imported: nothing but `cache import` can bring it back
  const imp = await makeImage({ tag: 'imp', layers: [{ script: 'mkdir -p usr/share/imp && seq 1 20000 > usr/share/imp/numbers && echo imported > imp.txt' }] });
  // a kernel image in LinuxKit's layout: /kernel and /kernel.tar with modules.dep and modules.builtin
  const kern = await makeImage({
    tag: 'kern',
    layers: [{ script: `
      head -c 8192 /dev/urandom > kernel
      m=lib/modules/${KVER}; mkdir -p k/$m/kernel/drivers
      echo foo > k/$m/kernel/drivers/foo.ko; echo bar > k/$m/kernel/drivers/bar.ko
      printf 'kernel/drivers/foo.ko: kernel/drivers/bar.ko\\nkernel/drivers/bar.ko:\\n' > k/$m/modules.dep
      printf 'kernel/drivers/baz.ko\\n' > k/$m/modules.builtin
      tar -C k -cf kernel.tar lib; rm -rf k` }],
  });
  await mkdir(join(work, 'bp'));
  await writeFile(
    blueprint(),
    'kernel:\n  image: test/kern:1\n  cmdline: console=ttyS0\n  modules: [foo]\ninit:\n  - test/hello:1.0\n  - test/imp:1\n',
  );
  pristine = join(work, 'pristine');
  for (const [layout, ref] of [[imp.layout, 'test/imp:1'], [kern.layout, 'test/kern:1']]) {
    const r = await osbuild(['cache', 'import', '--cache', pristine, '--ref', ref, layout]);
    expect(r.code, r.stderr).toBe(0);
  }
  const r = await buildInto(pristine, join(work, 'out0'));
  expect(r.code, r.stderr).toBe(0);
  original = await readFile(join(work, 'out0', 'sys.tar'));
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a damaged blob stops the build with the digest, the image and the repair', () => {
  it('a flipped first byte of a gzip layer: EDIGEST naming the layer, not zlib\'s "incorrect header check"', async () => {
    const { cache, store } = await cacheCopy('gz0');
    const img = await store.resolveImage('test/imp:1', 'amd64');
    expect(img.layers[0].mediaType).toBe(MediaType.ociLayerGzip);
    const layer = img.layers[0].digest;
    await flip(store.blobPath(layer), 0);
    const out = join(work, 'gz0-out');
    const r = await buildInto(cache, out);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(layer);
    expect(r.stderr).toContain('layer 1 of image docker.io/test/imp:1');
    expect(r.stderr).toMatch(/is corrupt in the store/); 
    expect(r.stderr).toContain('`osbuild cache verify --repair`');
    // the way it came in is the way to get it back
    expect(r.stderr).toMatch(/get docker\.io\/test\/imp:1 back with `osbuild cache import --ref test\/imp:1 \/[^`]+`/);
    expect(await readdir(out)).toEqual([]);
  });

  it('a flipped byte inside the deflate stream, with the layer TOC cache gone too', async () => {
    const { cache, store } = await cacheCopy('gzmid');
    const img = await store.resolveImage('test/imp:1', 'amd64');
    await flip(store.blobPath(img.layers[0].digest), 40);
    await rm(join(cache, 'derived'), { recursive: true, force: true });
    const r = await buildInto(cache, join(work, 'gzmid-out'));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(img.layers[0].digest);
    expect(r.stderr).toContain('docker.io/test/imp:1');
    expect(r.stderr).toContain('osbuild cache verify --repair');
  });

  it('a flipped first byte of the kernel layer, read for the kernel file alone (kernel+initrd)', async () => {
    const { cache, store } = await cacheCopy('kernel0');
    const img = await store.resolveImage('test/kern:1', 'amd64');
    await flip(store.blobPath(img.layers[0].digest), 0);
    const out = join(work, 'kernel0-out');
    const r = await osbuild(['build', blueprint(), '-f', 'kernel+initrd', '--arch', 'amd64', '--cache', cache, '-o', out, '-q']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`blob ${img.layers[0].digest} (layer 1 of image docker.io/test/kern:1) is corrupt in the store`);
    expect(r.stderr).toContain('`osbuild cache verify --repair`');
    expect(await readdir(out)).toEqual([]);
  });

  it('a flipped byte in a component\'s manifest or config is an error, not a silent rebuild from its folder', async () => {
    for (const which of ['manifest', 'config'] as const) {
      const { cache, store } = await cacheCopy(`doc-${which}`);
      const before = (await store.list()).find((e) => e.ref === 'docker.io/test/hello:1.0')!.descriptor.digest;
      const img = await store.resolveImage('test/hello:1.0', 'amd64');
      const digest = which === 'manifest' ? img.manifestDigest : img.configDigest;
      await flip(store.blobPath(digest), 'middle');
      const r = await buildInto(cache, join(work, `doc-${which}-out`));
      expect(r.code, which).toBe(4);
      expect(r.stderr).toContain(digest);
      expect(r.stderr).toContain(`${which === 'manifest' ? 'manifest' : 'image config'} of image docker.io/test/hello:1.0`);
      expect(r.stderr).toContain(`\`osbuild pkg build ${join(work, 'components', 'hello')}\``);
      // nothing was rebuilt: the tag still names the image that was there
      expect((await store.list()).find((e) => e.ref === 'docker.io/test/hello:1.0')!.descriptor.digest).toBe(before);
    }
  });

  it('a missing layer: says which image needs it and the command that gets it back', async () => {
    const { cache, store } = await cacheCopy('missing');
    const img = await store.resolveImage('test/kern:1', 'amd64');
    await rm(store.blobPath(img.layers[0].digest));
    const r = await buildInto(cache, join(work, 'missing-out'));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`blob ${img.layers[0].digest} (layer 1 of image docker.io/test/kern:1) is not in the store`);
    expect(r.stderr).toMatch(/get the image back with `osbuild cache import --ref test\/kern:1 \/[^`]+`/);
  });
});

describe('osbuild cache verify', () => {
  it('is clean on a good store (exit 0), finds a flipped byte (exit 4), --repair drops the refs, and a build then gives the original bytes', async () => {
    const { cache, store } = await cacheCopy('verify');
    const clean = await osbuild(['cache', 'verify', '--cache', cache]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toBe('');
    expect(clean.stderr).toMatch(/checked \d+ blobs .* no problems/);

    const hello = await store.resolveImage('test/hello:1.0', 'amd64');
    const imp = await store.resolveImage('test/imp:1', 'amd64');
    await flip(store.blobPath(hello.layers[0].digest), 0);
    await flip(store.blobPath(imp.configDigest), 'middle');

    // only the ref asked about
    const one = await osbuild(['cache', 'verify', '--cache', cache, 'test/kern:1']);
    expect(one.code, one.stdout + one.stderr).toBe(0);

    const found = await osbuild(['cache', 'verify', '--cache', cache]);
    expect(found.code).toBe(4);
    expect(found.stdout).toContain(`corrupt ${hello.layers[0].digest} (layer 1 of docker.io/test/hello:1.0)`);
    expect(found.stdout).toContain(`corrupt ${imp.configDigest} (config of docker.io/test/imp:1)`);
    expect(found.stderr).toContain('osbuild cache verify --repair');
    // reporting changes nothing
    expect((await store.list()).map((e) => e.ref)).toContain('docker.io/test/hello:1.0');

    const json = await osbuild(['cache', 'verify', '--cache', cache, '--json']);
    expect(json.code).toBe(4);
    const report = JSON.parse(json.stdout) as { problems: { kind: string; digest: string; refs: string[] }[] };
    expect(report.problems.map((p) => [p.kind, p.digest, p.refs]).sort()).toEqual(
      [['corrupt', hello.layers[0].digest, ['docker.io/test/hello:1.0']], ['corrupt', imp.configDigest, ['docker.io/test/imp:1']]].sort(),
    );

    const repaired = await osbuild(['cache', 'verify', '--repair', '--cache', cache]);
    expect(repaired.code).toBe(4); // problems were found, even though they are fixed now
    expect(repaired.stdout).toContain(`dropped docker.io/test/hello:1.0: get it back with \`osbuild pkg build ${join(work, 'components', 'hello')}\``);
    expect(repaired.stdout).toMatch(/dropped docker\.io\/test\/imp:1: get it back with `osbuild cache import --ref test\/imp:1 \//);
    expect(repaired.stdout).not.toContain('dropped docker.io/test/kern:1');
    expect(await store.hasBlob(hello.layers[0].digest)).toBe(false);
    expect(await store.hasBlob(imp.configDigest)).toBe(false);
    expect((await osbuild(['cache', 'verify', '--cache', cache])).code).toBe(0);

    // the build fetches the component again by itself; the imported image comes back by import
    const noImp = await buildInto(cache, join(work, 'verify-out'));
    expect(noImp.code).toBe(1);
    expect(noImp.stderr).toContain('test/imp:1');
    const how = /get it back with `osbuild (cache import --ref test\/imp:1 \S+)`/.exec(repaired.stdout)![1];
    expect((await osbuild([...how.split(' '), '--cache', cache])).code).toBe(0);
    const again = await buildInto(cache, join(work, 'verify-out'));
    expect(again.code, again.stderr).toBe(0);
    expect((await readFile(join(work, 'verify-out', 'sys.tar'))).equals(original)).toBe(true);
    expect(await readdir(join(work, 'verify-out'))).toEqual(['sys.spdx.json', 'sys.tar']); // the outputs and the SBOM, nothing half-written
  });

  it('--repair drops a ref whose layer is missing, and the build brings it back', async () => {
    const { cache, store } = await cacheCopy('verify-missing');
    const hello = await store.resolveImage('test/hello:1.0', 'amd64');
    await rm(store.blobPath(hello.layers[0].digest));
    const r = await osbuild(['cache', 'verify', '--repair', '--cache', cache]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`missing ${hello.layers[0].digest} (layer 1 of docker.io/test/hello:1.0)`);
    expect(r.stdout).toContain('dropped docker.io/test/hello:1.0');
    const b = await buildInto(cache, join(work, 'vm-out'));
    expect(b.code, b.stderr).toBe(0);
    expect((await readFile(join(work, 'vm-out', 'sys.tar'))).equals(original)).toBe(true);
  });
});

describe('derived data beside the store', () => {
  /** The one file of a derived kind for `digest`, and its text. */
  async function derivedFile(cache: string, kind: string, digest: string): Promise<string> {
    const dir = join(cache, 'derived', kind);
    const names = (await readdir(dir)).filter((n) => n.startsWith(`sha256-${digest.slice(7)}`));
    expect(names).toHaveLength(1);
    return join(dir, names[0]);
  }

  it('a layer TOC changed on disk (still valid JSON) is recomputed, not trusted', async () => {
    const { cache, store } = await cacheCopy('toc');
    const img = await store.resolveImage('test/imp:1', 'amd64');
    const file = await derivedFile(cache, 'toc', img.layers[0].digest);
    const text = await readFile(file, 'utf8');
    // imp.txt is 9 bytes; claim 0o777 and a different size: trusted, this would change the output
    const tampered = text.replace(/("path":"imp\.txt","type":"file","mode":)\d+/, '$1511');
    expect(tampered).not.toBe(text);
    await writeFile(file, tampered);
    const r = await buildInto(cache, join(work, 'toc-out'));
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(work, 'toc-out', 'sys.tar'))).equals(original)).toBe(true);
    expect(await readFile(file, 'utf8')).toBe(text); // and rewritten whole
  });

  it('a tampered kernel module list is recomputed; verify reports a damaged derived file', async () => {
    const { cache, store } = await cacheCopy('kmod');
    const img = await store.resolveImage('test/kern:1', 'amd64');
    const file = await derivedFile(cache, 'kmod', img.layers[0].digest);
    const text = await readFile(file, 'utf8');
    const tampered = text.replace('["kernel/drivers/bar.ko"]', '[]'); // foo would come without its dependency
    expect(tampered).not.toBe(text);
    await writeFile(file, tampered);
    const v = await osbuild(['cache', 'verify', '--cache', cache]);
    expect(v.code).toBe(4);
    expect(v.stdout).toContain(`derived ${img.layers[0].digest} (kmod data): ${file} is damaged`);
    const r = await buildInto(cache, join(work, 'kmod-out'));
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(work, 'kmod-out', 'sys.tar'))).equals(original)).toBe(true);
    const names = (await execa('tar', ['-tf', join(work, 'kmod-out', 'sys.tar')])).stdout.split('\n');
    expect(names).toContain(`lib/modules/${KVER}/kernel/drivers/bar.ko`);
    expect((await osbuild(['cache', 'verify', '--cache', cache])).code).toBe(0);
  });

  it('prune removes the derived files of blobs that are gone, under every name this cache has used', async () => {
    const { cache, store } = await cacheCopy('prune');
    const kern = await store.resolveImage('test/kern:1', 'amd64');
    const hex = kern.layers[0].digest.slice(7);
    // names of earlier osbuilds: the TOC before versions, the module list's v2- prefix
    await writeFile(join(cache, 'derived', 'toc', `sha256-${hex}.json`), '{"v":1,"entries":[]}');
    await writeFile(join(cache, 'derived', 'kmod', `v2-sha256-${hex}-kernel.tar.json`), '{}');
    const keep = (await readdir(join(cache, 'derived', 'toc'))).filter((n) => !n.includes(hex));
    expect((await osbuild(['cache', 'rm', '--cache', cache, 'test/kern:1'])).code).toBe(0);
    // what each component spec names (pkg/find.ts's memo) is keyed by no blob of the store: prune clears it all
    const memo = (await readdir(join(cache, 'derived', SPEC_MEMO_KIND))).length;
    expect(memo).toBeGreaterThan(0);
    const r = await osbuild(['cache', 'prune', '--now', '--cache', cache, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { removedDerived: number }).removedDerived).toBe(4 + memo); // toc + kmod, new and old names
    expect(await readdir(join(cache, 'derived', 'kmod'))).toEqual([]);
    expect((await readdir(join(cache, 'derived', 'toc'))).sort()).toEqual(keep.sort());
  });
});
