import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findComponent, indexComponents, SPEC_MEMO_KIND } from '../../src/pkg/find.js';
import { DerivedCache } from '../../src/oci/derived.js';

async function components(specs: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'osbuild-find-'));
  for (const [name, text] of Object.entries(specs)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, 'build.yml'), text);
  }
  return root;
}

describe('findComponent', () => {
  it('finds the folder that builds a reference, docker-normalized', async () => {
    const root = await components({ a: 'image: osbuild/a\ntag: "1.0"\n', b: 'image: osbuild/b\ntag: "2"\n' });
    expect(await findComponent('docker.io/osbuild/b:2', [root])).toBe(join(root, 'b'));
    expect(await findComponent('osbuild/a:1.0', [root])).toBe(join(root, 'a'));
    expect(await findComponent('osbuild/a:9', [root])).toBeUndefined();
  });

  it('names invalid specs, located, when nothing matches: one of them may be the one meant', async () => {
    const root = await components({ ok: 'image: osbuild/ok\ntag: "1"\n', bad: 'image: osbuild/bad\ntag: "1"\nfiles:\n  - {path: /x, contents: y, mode: 0755}\n' });
    await expect(findComponent('osbuild/bad:1', [root])).rejects.toThrow(/bad\/build\.yml:4:\d+: .*mode/);
    // a valid match is still found despite a broken neighbour
    expect(await findComponent('osbuild/ok:1', [root])).toBe(join(root, 'ok'));
  });

  it('keeps what each spec names by its text: the same answers, an edit counts at once, a damaged memo is not believed', async () => {
    const root = await components({
      a: 'image: osbuild/a\ntag: "1"\n',
      x: 'image: osbuild/app\ntag: "1"\n',
      bad: 'image: osbuild/bad\ntag: "1"\nfiles:\n  - {path: /x, contents: y, mode: 0755}\n',
    });
    const memoDir = join(root, '..', `${root.split('/').pop()}-memo`);
    const memo = () => new DerivedCache(memoDir, SPEC_MEMO_KIND);
    const plain = indexComponents([root]);
    for (let i = 0; i < 2; i++) {
      const index = indexComponents([root], { memo });
      expect(await index.find('osbuild/app:1')).toBe(join(root, 'x'));
      // the invalid spec, named as without the memo
      const without = await plain.find('osbuild/nothing:1').catch((e: Error) => e.message);
      expect(await index.find('osbuild/nothing:1').catch((e: Error) => e.message)).toBe(without);
      expect(without).toMatch(/bad\/build\.yml:4:\d+: .*mode/);
    }
    expect(await readdir(memoDir)).toHaveLength(3);

    // an edited spec names what its text now says
    await writeFile(join(root, 'x', 'build.yml'), 'image: osbuild/app\ntag: "2"\n');
    expect(await indexComponents([root], { memo }).find('osbuild/app:2')).toBe(join(root, 'x'));
    expect(await indexComponents([root], { memo }).find('osbuild/app:1').catch(() => 'not found')).toBe('not found');

    // a memo file whose body was changed (to name another image) is computed again
    for (const n of await readdir(memoDir)) {
      const f = join(memoDir, n);
      const text = await readFile(f, 'utf8');
      if (text.includes('docker.io/osbuild/a:1')) await writeFile(f, text.replace('docker.io/osbuild/a:1', 'docker.io/osbuild/z:1'));
    }
    expect(await indexComponents([root], { memo }).find('osbuild/z:1').catch(() => 'refused')).not.toBe(join(root, 'a'));
    expect(await indexComponents([root], { memo }).find('osbuild/a:1')).toBe(join(root, 'a'));
  });
});
