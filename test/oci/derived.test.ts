// Derived data beside the store: a cached file is used only when it proves itself (header with
// the blob, kind, version and the sha256 of its body); prune reads the same names.
import { copyFile, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDerivedName } from '../../src/oci/derived.js';
import { prune } from '../../src/oci/prune.js';
import { Store } from '../../src/oci/store.js';
import { removeDir, tempDir } from './helpers.js';

let root: string;
let store: Store;
beforeAll(async () => {
  root = await tempDir();
  store = await Store.open(join(root, 'cache', 'store'));
});
afterAll(async () => removeDir(root));

describe('store.derived(kind).get(digest, version, compute)', () => {
  it('computes once, then answers from the file; a flipped byte, a foreign file or another version means computing again', async () => {
    const a = await store.putBlob(Buffer.from('blob a'));
    const b = await store.putBlob(Buffer.from('blob b'));
    const cache = store.derived('test');
    let calls = 0;
    const compute = (v: unknown) => async () => {
      calls++;
      return v;
    };
    expect(await cache.get(a.digest, 1, compute({ n: 12345 }))).toEqual({ n: 12345 });
    expect(await cache.get(a.digest, 1, compute({ n: 0 }))).toEqual({ n: 12345 });
    expect(calls).toBe(1);
    const file = cache.path(a.digest, 1);
    expect(parseDerivedName(file.slice(file.lastIndexOf('/') + 1))).toEqual({ digest: a.digest, version: 1 });

    // still valid JSON, but not what was written: recomputed and rewritten
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('12345', '12346'));
    expect(await cache.check(file)).toBe('bad');
    expect(await cache.get(a.digest, 1, compute({ n: 12345 }))).toEqual({ n: 12345 });
    expect(calls).toBe(2);
    expect(await readFile(file, 'utf8')).toBe(good);

    // a's file under b's name: intact, but about another blob
    await copyFile(file, cache.path(b.digest, 1));
    expect(await cache.get(b.digest, 1, compute({ n: 7 }))).toEqual({ n: 7 });
    // another version is another file
    expect(await cache.get(a.digest, 2, compute({ n: 8 }))).toEqual({ n: 8 });
    expect(calls).toBe(4);
    // undefined is not stored
    expect(await store.derived('other').get(a.digest, 1, compute(undefined))).toBeUndefined();
    expect(await readdir(store.derived('other').dir).catch(() => [])).toEqual([]);
  });

  it('prune drops files of blobs that are gone (new and legacy names) and versions a newer one replaced', async () => {
    const s = await Store.open(join(root, 'prune', 'store'));
    const kept = await s.putBlob(Buffer.from('kept'));
    const gone = await s.putBlob(Buffer.from('gone'));
    const toc = s.derived('toc');
    const kmod = s.derived('kmod');
    for (const d of [kept.digest, gone.digest]) {
      await toc.get(d, 1, async () => ['old']);
      await toc.get(d, 2, async () => ['new']);
      await kmod.get(d, 3, async () => ({ kver: 'x' }), { key: 'kernel_tar' });
      // what earlier osbuilds wrote: <digest>.json TOCs and v2-<digest>-<tar>.json module lists
      await writeFile(join(toc.dir, `sha256-${d.slice(7)}.json`), '{}');
      await writeFile(join(kmod.dir, `v2-sha256-${d.slice(7)}-kernel.tar.json`), '{}');
    }
    await writeFile(join(toc.dir, 'README'), 'not ours');
    // `gone` goes; `kept` is unreachable too, but young enough for the grace period to keep it
    await unlink(s.blobPath(gone.digest));
    const r = await prune(s, { graceMs: Number.MAX_SAFE_INTEGER });
    expect(await s.hasBlob(kept.digest)).toBe(true);
    expect((await readdir(toc.dir)).sort()).toEqual(['README', `sha256-${kept.digest.slice(7)}.v2.json`]);
    expect(await readdir(kmod.dir)).toEqual([`sha256-${kept.digest.slice(7)}.kernel_tar.v3.json`]);
    expect(r.removedDerived).toBe(5 + 3); // gone: all five; kept: toc v1 and both legacy names
  });
});
