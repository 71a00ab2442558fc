import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/oci/errors.js';
import { defaultStoreDir, Store } from '../../src/oci/store.js';
import { ownerToken } from '../../src/oci/owner.js';
import { z } from 'zod';
import { Manifest, MediaType, REF_NAME_ANNOTATION } from '../../src/oci/types.js';
import { corrupt, listFiles, removeDir, run, sha256, tempDir } from './helpers.js';

async function* chunksOf(b: Buffer, n: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += n) yield b.subarray(i, i + n);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

async function caught(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError');
}

let root: string;
beforeAll(async () => {
  root = await tempDir();
});
afterAll(async () => removeDir(root));

describe('Store layout', () => {
  it('creates an OCI layout on first use and reopens it', async () => {
    const dir = join(root, 'cache', 'store');
    const store = await Store.open(dir);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    expect((await stat(join(dir, 'blobs', 'sha256'))).isDirectory()).toBe(true);
    const d = await store.putJSON({ a: 1 }, 'application/json');
    const again = await Store.open(dir);
    expect(await again.hasBlob(d.digest)).toBe(true);
    expect(store.derivedDir('toc')).toBe(join(root, 'cache', 'derived', 'toc'));
    expect(() => store.derivedDir('../x')).toThrow();
  });

  it('refuses a non-empty directory that is not a layout', async () => {
    const dir = join(root, 'home');
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const err = await caught(Store.open(dir));
    expect(err.code).toBe('EINVALID');
    expect(err.message).toContain(dir);
    expect(await listFiles(dir)).toEqual(['notes.txt']);
  });

  it('defaults to the XDG cache', () => {
    expect(defaultStoreDir({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/osbuild/store');
    expect(defaultStoreDir({ HOME: '/h' })).toBe('/h/.cache/osbuild/store');
    expect(defaultStoreDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/osbuild/store');
  });
});

describe('blobs', () => {
  let store: Store;
  beforeAll(async () => {
    store = await Store.open(join(root, 'blobs-store'));
  });

  it('streams a blob in, named by the digest sha256sum computes', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const desc = await store.putBlob(chunksOf(data, 65_536), { mediaType: MediaType.ociLayer, size: data.length });
    const [sum] = (await run('sha256sum', [store.blobPath(desc.digest)])).split(' ');
    expect(desc).toEqual({ mediaType: MediaType.ociLayer, digest: `sha256:${sum}`, size: data.length });
    // (Buffer.equals: vitest's deep equality walks 300k bytes one by one.)
    expect((await collect(store.openBlob(desc.digest))).equals(data)).toBe(true);
    expect((await store.readBlob(desc.digest, { size: data.length })).equals(data)).toBe(true);
    expect(await listFiles(join(store.dir, '.tmp'))).toEqual([]);
  });

  it('refuses content that does not match the expected digest, leaving nothing', async () => {
    const data = Buffer.from('the real content');
    const wrong = sha256('other content');
    const err = await caught(store.putBlob(chunksOf(data, 3), { digest: wrong, what: 'layer 1 of test' }));
    expect(err.code).toBe('EDIGEST');
    expect(err.message).toContain('layer 1 of test');
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(sha256(data));
    expect(await store.hasBlob(wrong)).toBe(false);
    expect(await store.hasBlob(sha256(data))).toBe(false);
    expect(await listFiles(join(store.dir, '.tmp'))).toEqual([]);
  });

  it('refuses content of the wrong size, too long or too short', async () => {
    const data = Buffer.from('twelve bytes');
    for (const size of [5, 20]) {
      const err = await caught(store.putBlob(chunksOf(data, 4), { digest: sha256(data), size }));
      expect(err.code).toBe('EDIGEST');
      expect(err.message).toContain(String(size));
    }
    expect(await store.hasBlob(sha256(data))).toBe(false);
    expect(await listFiles(join(store.dir, '.tmp'))).toEqual([]);
  });

  it('cleans up when the source fails midway', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial');
      throw new Error('network went away');
    }
    await expect(store.putBlob(failing())).rejects.toThrow('network went away');
    expect(await listFiles(join(store.dir, '.tmp'))).toEqual([]);
  });

  it('writes canonical JSON', async () => {
    const doc = { b: [1, 2], a: { c: 'x' } };
    const desc = await store.putJSON(doc, 'application/json');
    expect((await readFile(store.blobPath(desc.digest))).toString()).toBe(JSON.stringify(doc));
    expect(desc.digest).toBe(sha256(JSON.stringify(doc)));
    expect(await store.readJSON(desc.digest, z.object({ a: z.object({ c: z.string() }) }))).toEqual({ a: { c: 'x' } });
    const err = await caught(store.readJSON(desc.digest, Manifest));
    expect(err.code).toBe('EINVALID');
    expect(err.message).toContain(desc.digest);
  });

  it('detects a blob corrupted in the store, on every read path', async () => {
    const data = Buffer.from('x'.repeat(10_000));
    const desc = await store.putBlob(data);
    await corrupt(store.blobPath(desc.digest));
    const e1 = await caught(store.readBlob(desc.digest, { ref: 'docker.io/library/x:1' }));
    expect(e1.code).toBe('EDIGEST');
    expect(e1.message).toContain(desc.digest);
    expect(e1.message).toContain('docker.io/library/x:1');
    const e2 = await caught(collect(store.openBlob(desc.digest)));
    expect(e2.code).toBe('EDIGEST');
  });

  it('detects a truncated blob, and one longer than its descriptor says', async () => {
    const data = Buffer.from('y'.repeat(10_000));
    const desc = await store.putBlob(data);
    await writeFile(store.blobPath(desc.digest), data.subarray(0, 5000));
    expect((await caught(collect(store.openBlob(desc.digest, { size: 10_000 })))).code).toBe('EDIGEST');
    expect((await caught(store.readBlob(desc.digest))).code).toBe('EDIGEST');
    const other = await store.putBlob(Buffer.from('z'.repeat(100)));
    expect((await caught(collect(store.openBlob(other.digest, { size: 50 })))).code).toBe('EDIGEST');
  });

  it('says which blob is missing and who needs it', async () => {
    const digest = sha256('never stored');
    const err = await caught(store.readBlob(digest, { ref: 'docker.io/osbuild/init:0.1.0', what: 'layer 2' }));
    expect(err.code).toBe('ENOBLOB');
    expect(err.message).toContain(digest);
    expect(err.message).toContain('docker.io/osbuild/init:0.1.0');
    expect(err.message).toContain('layer 2');
    expect((await caught(collect(store.openBlob(digest)))).code).toBe('ENOBLOB');
    expect(await store.hasBlob(digest)).toBe(false);
    expect(() => store.blobPath('sha256:../../etc/passwd')).toThrow(StoreError);
  });

  it('removes temp files older than an hour and keeps fresh ones', async () => {
    const tmp = join(store.dir, '.tmp');
    await writeFile(join(tmp, 'killed-build'), 'partial');
    await writeFile(join(tmp, 'running-build'), 'partial');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(tmp, 'killed-build'), old, old);
    await Store.open(store.dir);
    expect(await listFiles(tmp)).toEqual(['running-build']);
    expect(await store.cleanTemp(0)).toBe(1);
  });

  it('removes a killed process\'s temp files at once, and never a live one\'s, however old', async () => {
    const tmp = join(store.dir, '.tmp');
    // a process that has exited: its pid names nobody now (or someone started later)
    const gone = await run('sh', ['-c', 'echo $$']);
    const [ns, , start] = ownerToken().split('.');
    const dead = `${ns}.${gone.trim()}.${start}-00112233aabbccdd`;
    const live = `${ownerToken()}-44556677aabbccdd`;
    await writeFile(join(tmp, dead), 'left by kill -9');
    await writeFile(join(tmp, live), 'being written');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(tmp, live), old, old);
    await Store.open(store.dir);
    expect(await listFiles(tmp)).toEqual([live]);
    await store.cleanTemp(0);
    expect(await listFiles(tmp)).toEqual([live]);
  });
});

describe('references', () => {
  let store: Store;
  beforeAll(async () => {
    store = await Store.open(join(root, 'ref-store'));
  });

  it('tags with the full normalized name, resolves any spelling of it, lists sorted, untags', async () => {
    const a = await store.putJSON({ schemaVersion: 2, manifests: [] }, MediaType.ociIndex);
    const b = await store.putJSON({ schemaVersion: 2, manifests: [], annotations: { x: 'y' } }, MediaType.ociIndex);
    await store.tag('alpine:3.20', a);
    await store.tag('docker.io/osbuild/init:0.1.0', b);
    await store.tag('localhost:5000/x/y', a);
    const index = JSON.parse(await readFile(join(store.dir, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations[REF_NAME_ANNOTATION])).toEqual([
      'docker.io/library/alpine:3.20',
      'docker.io/osbuild/init:0.1.0',
      'localhost:5000/x/y:latest',
    ]);
    expect(await store.resolve('docker.io/library/alpine:3.20')).toEqual(a);
    expect(await store.resolve('index.docker.io/library/alpine:3.20')).toEqual(a);
    expect(await store.resolve('osbuild/init:0.1.0')).toEqual(b);
    expect(await store.resolve('alpine:3.21')).toBeUndefined();
    // Retagging replaces.
    await store.tag('alpine:3.20', b);
    expect((await store.resolve('alpine:3.20'))?.digest).toBe(b.digest);
    expect((await store.list()).map((e) => e.ref)).toEqual([
      'docker.io/library/alpine:3.20',
      'docker.io/osbuild/init:0.1.0',
      'localhost:5000/x/y:latest',
    ]);
    expect(await store.untag('alpine:3.20')).toBe(true);
    expect(await store.untag('alpine:3.20')).toBe(false);
    expect(await store.resolve('alpine:3.20')).toBeUndefined();
    // A digest pin resolves by content even without a tag.
    expect(await store.resolve(`docker.io/library/whatever@${a.digest}`)).toEqual(a);
    expect(await store.resolve(`docker.io/osbuild/init:0.1.0@${a.digest}`)).toEqual(a);
  });

  it('refuses to tag what is not in the store', async () => {
    const err = await caught(store.tag('x:1', { mediaType: MediaType.ociManifest, digest: sha256('absent'), size: 6 }));
    expect(err.code).toBe('ENOBLOB');
    expect(err.message).toContain('docker.io/library/x:1');
  });
});
