// The initramfs in segments, through the segment cache: what a later build takes from the cache
// is byte for byte what it would write, it reads no layer for it, one changed service rewrites
// one segment, and a damaged segment or one whose place in the stream changed is written again.
// The outputs are read back by gzip, GNU cpio and bsdtar (a sequence of gzip members).

import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile, mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { importLayout } from '../../src/oci/import.js';
import { prune } from '../../src/oci/prune.js';
import { gzipParallel } from '../../src/formats/compress/gzip.js';
import { initramfs } from '../../src/build/initramfs.js';
import { DamagedEntry, resumeAfter, SegmentCache } from '../../src/build/segment-cache.js';
import { layerToc } from '../../src/rootfs/layer.js';
import { planRoot, type ContainerInput, type LayerStack } from '../../src/rootfs/plan.js';
import { makeImage } from '../helpers/oci-image.js';

let work: string;
let store: Store;
const stacks: Record<string, LayerStack> = {};

async function stack(ref: string): Promise<LayerStack> {
  const img = await store.resolveImage(ref, 'amd64');
  return { layers: img.layers, tocs: await Promise.all(img.layers.map((l) => layerToc(store, l))) };
}

const service = (name: string, image: string): ContainerInput => ({
  kind: 'services',
  dirName: name,
  config: Buffer.from(`{"name":"${name}"}`),
  image: stacks[image],
});

function plan(services: ContainerInput[]) {
  return planRoot({
    epoch: 0,
    init: stacks.init,
    containers: [{ kind: 'onboot', dirName: '000-setup', config: Buffer.from('{}'), image: stacks.a }, ...services],
    files: [{ entry: { path: 'etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5 }, content: { kind: 'bytes', data: Buffer.from('test\n') } }],
  });
}

async function build(p: ReturnType<typeof plan>, cache?: SegmentCache): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of initramfs(store, p, { compress: (s) => gzipParallel(s, { blockSize: 32 * 1024 }), compressId: 'test-gzip', cache })) chunks.push(c);
  return Buffer.concat(chunks);
}

async function listing(initrd: Buffer, name: string): Promise<{ cpio: string[]; bsdtar: string[] }> {
  const f = join(work, `${name}.img`);
  await writeFile(f, initrd);
  await execa('gzip', ['-t', f]);
  const cpio = await execa('sh', ['-c', `gzip -dc '${f}' | cpio -it --quiet`]);
  const bsdtar = await execa('bsdtar', ['-tf', f]);
  return { cpio: cpio.stdout.split('\n'), bsdtar: bsdtar.stdout.split('\n') };
}

const bins = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.bin')).sort();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'osbuild-initramfs-'));
  store = await Store.open(join(work, 'store'));
  const images: Record<string, string> = {
    init: 'mkdir -p bin etc; cp /bin/busybox bin/busybox; ln -s busybox bin/sh; echo init > etc/motd',
    a: 'mkdir -p usr/bin; echo a > usr/bin/a; ln usr/bin/a usr/bin/a2',
    b: 'mkdir -p srv; head -c 300000 /dev/urandom > srv/data; echo b > srv/conf',
    b2: 'mkdir -p srv; head -c 300000 /dev/urandom > srv/data; echo b2 > srv/conf',
    c: 'mkdir -p opt; echo c > opt/c',
  };
  let layout: string | undefined;
  for (const [tag, script] of Object.entries(images)) layout = (await makeImage({ layout, tag, layers: [{ script }] })).layout;
  await importLayout(store, layout!, { ref: 'test/seg' });
  for (const tag of Object.keys(images)) stacks[tag] = await stack(`docker.io/test/seg:${tag}`);
});

describe('initramfs segments', () => {
  it('a warm build copies every segment from the cache, reading no layer, with the same bytes', async () => {
    const dir = join(work, 'cache1');
    const p = plan([service('b', 'b'), service('c', 'c')]);
    const plain = await build(p);
    const cold = await build(p, new SegmentCache(dir));
    expect(cold.equals(plain)).toBe(true);
    // init, onboot, two services, files: one segment each
    expect(await bins(dir)).toHaveLength(5);

    // the layers are gone from the store: a build that read one would fail
    const copy = await Store.open(join(work, 'store-copy'));
    const p2 = plan([service('b', 'b'), service('c', 'c')]);
    const warm: Uint8Array[] = [];
    for await (const c of initramfs(copy, p2, { compress: (s) => gzipParallel(s, { blockSize: 32 * 1024 }), compressId: 'test-gzip', cache: new SegmentCache(dir) })) warm.push(c);
    expect(Buffer.concat(warm).equals(plain)).toBe(true);

    const l = await listing(plain, 'plain');
    expect(l.cpio).toContain('containers/services/b/rootfs/srv/data');
    expect(l.cpio).toEqual(l.bsdtar);
    expect(new Set(l.cpio).size).toBe(l.cpio.length);
  });

  it('one changed service writes one new segment; the output is what a build without the cache writes', async () => {
    const dir = join(work, 'cache2');
    await build(plan([service('b', 'b'), service('c', 'c')]), new SegmentCache(dir));
    const before = await bins(dir);
    const changed = plan([service('b', 'b2'), service('c', 'c')]);
    const out = await build(changed, new SegmentCache(dir));
    expect(out.equals(await build(changed))).toBe(true);
    const after = await bins(dir);
    expect(after.filter((n) => !before.includes(n))).toHaveLength(1);

    // GNU cpio extracts it whole: the hard link of the onboot image survives
    const x = join(work, 'x2');
    await mkdir(x);
    await writeFile(join(work, 'changed.img'), out);
    await execa('sh', ['-c', `gzip -dc '${join(work, 'changed.img')}' | cpio -idm --quiet --no-absolute-filenames`], { cwd: x });
    expect(await readFile(join(x, 'containers/services/b/rootfs/srv/conf'), 'utf8')).toBe('b2\n');
    expect(await readFile(join(x, 'containers/onboot/000-setup/rootfs/usr/bin/a2'), 'utf8')).toBe('a\n');
  });

  it('a damaged segment, or one whose place in the stream changed, is written again', async () => {
    const dir = join(work, 'cache3');
    const p = plan([service('b', 'b'), service('c', 'c')]);
    const plain = await build(p);
    await build(p, new SegmentCache(dir));
    for (const n of await bins(dir)) {
      const f = join(dir, n);
      const data = await readFile(f);
      data[data.length >> 1] ^= 0xff;
      await writeFile(f, data);
    }
    expect((await build(p, new SegmentCache(dir))).equals(plain)).toBe(true);

    // service b was first, so its record holds containers/services, which a new first service now makes
    const moved = plan([service('a', 'c'), service('b', 'b'), service('c', 'c')]);
    const out = await build(moved, new SegmentCache(dir));
    expect(out.equals(await build(moved))).toBe(true);
    const l = await listing(out, 'moved');
    expect(l.cpio.filter((p) => p === 'containers/services')).toHaveLength(1);
  });

  it('damage found part way through a piece: the sound bytes before it went out, the rest comes from the piece written again', async () => {
    const dir = join(work, 'cache5');
    const p = plan([service('b', 'b'), service('c', 'c')]);
    const plain = await build(p);
    // small blocks, so that every piece has several and the damage is past the first
    await build(p, new SegmentCache(dir, undefined, 64));
    const damaged: string[] = [];
    for (const n of await bins(dir)) {
      const f = join(dir, n);
      const data = await readFile(f);
      if (data.length < 4 * 64) continue;
      data[data.length - 70] ^= 0x01; // in the last whole block
      await writeFile(f, data);
      damaged.push(n);
    }
    expect(damaged.length).toBeGreaterThan(0);
    const out = await build(p, new SegmentCache(dir, undefined, 64));
    expect(out.equals(plain)).toBe(true);
    await listing(out, 'spliced');
    // the pieces were written again, whole: a third build reads them all from the cache
    for (const n of damaged) expect((await readFile(join(dir, n))).length).toBeGreaterThan(4 * 64);
    const before = (await bins(dir)).length;
    expect((await build(p, new SegmentCache(dir, undefined, 64))).equals(plain)).toBe(true);
    expect((await bins(dir)).length).toBe(before);
  });

  it('a piece written again that does not begin with the bytes already sent stops the build (never a spliced archive)', async () => {
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    const damaged = new DamagedEntry(3, [sha('abc'), sha('def')]);
    const run = async (again: string[]) => {
      const out: string[] = [];
      for await (const c of resumeAfter((async function* () { for (const a of again) yield Buffer.from(a); })(), damaged, 'services x')) out.push(Buffer.from(c).toString());
      return out.join('');
    };
    expect(await run(['abc', 'defgh', 'ij'])).toBe('ghij');
    await expect(run(['abcdeX', 'gh'])).rejects.toThrow(/services x: .*differ/);
    await expect(run(['abc'])).rejects.toThrow(/shorter/);
  });

  it('the trim keeps the cache under its limit, dropping the segments used longest ago', async () => {
    const dir = join(work, 'cache4');
    await build(plan([service('b', 'b'), service('c', 'c')]), new SegmentCache(dir));
    const all = await bins(dir);
    const small = new SegmentCache(dir, 1);
    const keep = new Set([all[0].replace(/\.bin$/, '')]);
    await small.trim(keep);
    expect(await bins(dir)).toEqual([all[0]]);
    expect((await readdir(dir)).sort()).toEqual([all[0], all[0].replace(/\.bin$/, '.json')]);
    await rm(dir, { recursive: true });
  });

  it('cache prune removes the segments not used lately, and only those', async () => {
    const p = plan([service('b', 'b'), service('c', 'c')]);
    await build(p, new SegmentCache(store.segmentsDir()));
    expect(await bins(store.segmentsDir())).toHaveLength(5);
    expect((await prune(store)).removedSegments).toBe(0); // used just now
    const r = await prune(store, { graceMs: 0 });
    expect(r.removedSegments).toBe(5);
    expect(await readdir(store.segmentsDir())).toEqual([]);
    // the layers are still there: the next build writes the segments again
    expect((await build(p, new SegmentCache(store.segmentsDir()))).equals(await build(p))).toBe(true);
  });
});
