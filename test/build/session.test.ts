// The build session: the scratch files the outputs share are made once, named with the writer's
// owner token beside the outputs, and removed when released; the component index is one per
// session. A plan of a root with no image layers, so no store is read.
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { parseBlueprint } from '../../src/blueprint/index.js';
import { findFormat, writeFormat, type OutputFormat } from '../../src/build/outputs.js';
import { BuildSession } from '../../src/build/session.js';
import type { Store } from '../../src/oci/store.js';
import { planBuild } from '../../src/plan/plan.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function session() {
  const outDir = await mkdtemp(join(tmpdir(), 'osbuild-session-'));
  dirs.push(outDir);
  // nothing of this plan is read from the store
  return new BuildSession({ store: {} as Store, outDir, componentDirs: [outDir], segmentCache: false });
}

const plan = (formats: OutputFormat[] = []) =>
  planBuild({
    formats,
    name: 'sys',
    arch: 'amd64',
    epoch: 0,
    blueprint: parseBlueprint('files:\n  - path: etc/hello\n    contents: hi\n', 'bp.yml'),
    images: new Map(),
    files: [{ entry: { path: 'etc/hello', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2 }, content: { kind: 'bytes', data: Buffer.from('hi') } }],
  });

describe('BuildSession', () => {
  test('the shared initrd is written once, beside the outputs, and removed when released', async () => {
    const s = await session();
    const p = plan();
    const shared = s.shared(p, 'initramfs');
    expect(s.shared(p, 'initramfs')).toBe(shared);
    const a = await shared.initrd.get();
    expect(await shared.initrd.get()).toBe(a);
    expect(a.size).toBeGreaterThan(0);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    const names = await readdir(s.outDir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\.sys\.scratch-.+-[0-9a-f]{12}-initrd\.img$/);
    await s.release('initramfs');
    expect(await readdir(s.outDir)).toEqual([]);
    // a later reader gets new scratch files
    expect(s.shared(p, 'initramfs')).not.toBe(shared);
    await s.shared(p, 'initramfs').initrd.get();
    await s.close();
    expect(await readdir(s.outDir)).toEqual([]);
  });

  test('one plan per session; the squashfs files need the plan to have the layout', async () => {
    const s = await session();
    const p = plan();
    expect(() => s.shared(p, 'squashfs')).toThrow(/no squashfs layout/);
    expect(() => s.shared(plan(), 'initramfs')).toThrow(/one plan/);
  });

  test('one component index per session; temporary names differ per output', async () => {
    const s = await session();
    expect(s.components()).toBe(s.components());
    expect(s.partialSuffix()).toMatch(/^\.partial-.+-[0-9a-f]{12}$/);
    expect(s.partialSuffix()).not.toBe(s.partialSuffix());
  });

  test('an output replaces the file of its name whole: whoever holds the old file keeps its bytes; nothing else is left', async () => {
    const s = await session();
    const p = plan([findFormat('tar')]);
    await writeFile(join(s.outDir, 'sys.tar'), 'the previous build');
    await link(join(s.outDir, 'sys.tar'), join(s.outDir, 'kept'));
    const [out] = await writeFormat(findFormat('tar'), p.outputs[0], s, p);
    expect(out.path).toBe(join(s.outDir, 'sys.tar'));
    const tar = await readFile(out.path);
    expect(tar.length).toBe(out.bytes);
    expect(tar.subarray(0, 4).toString()).toBe('etc/');
    expect(await readFile(join(s.outDir, 'kept'), 'utf8')).toBe('the previous build');
    expect((await readdir(s.outDir)).sort()).toEqual(['kept', 'sys.tar']);
    await s.close();
  });

  test('a directory where an output goes: the build fails, the directory stays as it was, nothing is left', async () => {
    const s = await session();
    const p = plan([findFormat('tar')]);
    await mkdir(join(s.outDir, 'sys.tar'));
    await writeFile(join(s.outDir, 'sys.tar', 'mine'), 'a user file');
    await expect(writeFormat(findFormat('tar'), p.outputs[0], s, p)).rejects.toThrow(/EISDIR|ENOTEMPTY|directory/);
    expect(await readdir(s.outDir)).toEqual(['sys.tar']);
    expect(await readFile(join(s.outDir, 'sys.tar', 'mine'), 'utf8')).toBe('a user file');
    await s.close();
  });
});
