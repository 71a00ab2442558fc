import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PkgError } from '../../src/pkg/errors.js';
import { findComponent } from '../../src/pkg/find.js';
import { loadComponent, parseComponentSpec, type SpecIssue } from '../../src/pkg/spec.js';
import { REPO_ROOT, tempDir } from './helpers.js';

function issuesOf(text: string): SpecIssue[] {
  try {
    parseComponentSpec(text, 'c/build.yml', '/c');
  } catch (e) {
    expect(e).toBeInstanceOf(PkgError);
    return (e as PkgError).details as SpecIssue[];
  }
  throw new Error('expected the spec to be rejected');
}

describe('component spec', () => {
  test('defaults: both arches, no packages or files, empty config', () => {
    const spec = parseComponentSpec('image: osbuild/x\ntag: "1"\n', 'c/build.yml', '/c');
    expect(spec.arches).toEqual(['amd64', 'arm64']);
    expect(spec.packages).toEqual([]);
    expect(spec.files).toEqual([]);
    expect(spec.config).toEqual({});
    expect(spec.ref).toBe('osbuild/x:1');
  });

  test('modes are octal strings', () => {
    const spec = parseComponentSpec('image: a/b\ntag: "1"\nfiles:\n  - {path: /x, contents: "", mode: "0755"}\n', 'f', '/c');
    expect(spec.files[0].mode).toBe(0o755);
  });

  test('an unknown key is reported at its line and column', () => {
    const issues = issuesOf('image: osbuild/x\ntag: "1"\npackages:\n  - package: runc\n    pathz: [usr/sbin/runc]\n');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'c/build.yml', line: 5, col: 5 });
    expect(issues[0].message).toContain('pathz');
  });

  test('a wrong value is reported at the value', () => {
    const issues = issuesOf('image: osbuild/x\ntag: "1"\narches: [amd64, riscv64]\nfiles:\n  - path: relative/path\n    contents: hi\n');
    expect(issues.map((i) => [i.line, i.col])).toEqual([
      [3, 17],
      [5, 11],
    ]);
    expect(issues[1].message).toContain('absolute');
  });

  test('a file needs exactly one kind', () => {
    const issues = issuesOf('image: osbuild/x\ntag: "1"\nfiles:\n  - path: /a\n    source: a\n    contents: b\n');
    expect(issues[0]).toMatchObject({ line: 4, col: 5 });
    expect(issues[0].message).toMatch(/exactly one of source, contents, directory, symlink.*source, contents/);
  });

  test('a missing key is reported at its parent; an unquoted numeric tag is refused', () => {
    const issues = issuesOf('image: osbuild/x\ntag: 1.0\n');
    expect(issues[0]).toMatchObject({ line: 2, col: 6 });
    const missing = issuesOf('tag: "1"\n');
    expect(missing[0]).toMatchObject({ line: 1, col: 1 });
    expect(missing[0].message).toContain('image');
  });

  test('YAML syntax errors are located', () => {
    try {
      parseComponentSpec('image: a/b\ntag: "1\nfiles: [\n', 'c/build.yml', '/c');
      expect.unreachable();
    } catch (e) {
      expect((e as PkgError).code).toBe('SPEC_SYNTAX');
      expect((e as PkgError).message).toMatch(/^c\/build\.yml:\d+:\d+: /);
    }
  });

  test('the components in this repository are valid', async () => {
    for (const dir of ['components/runc', 'components/getty', 'kernel/debian-cloud']) {
      const spec = await loadComponent(path.join(REPO_ROOT, dir));
      expect(spec.arches).toEqual(['amd64', 'arm64']);
    }
  });
});

describe('findComponent', () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    t = await tempDir('find');
    for (const [name, text] of [
      ['one', 'image: osbuild/one\ntag: "0.1.0"\n'],
      ['two', 'image: registry.example.com:5000/team/two\ntag: "2"\n'],
      ['broken', 'image: osbuild/broken\ntag: "1"\nnope: 1\n'],
    ]) {
      await mkdir(path.join(t.dir, name));
      await writeFile(path.join(t.dir, name, 'build.yml'), text);
    }
  });
  afterAll(() => t.cleanup());

  test('matches docker-style normalized references', async () => {
    expect(await findComponent('osbuild/one:0.1.0', [t.dir])).toBe(path.join(t.dir, 'one'));
    expect(await findComponent('docker.io/osbuild/one:0.1.0', [t.dir])).toBe(path.join(t.dir, 'one'));
    expect(await findComponent('registry.example.com:5000/team/two:2', [t.dir])).toBe(path.join(t.dir, 'two'));
    // nothing valid matches and a spec is broken: it may be the one meant, so it is named
    await expect(findComponent('osbuild/one:0.2.0', [t.dir])).rejects.toThrow(/broken\/build\.yml:\d+:\d+/);
    await expect(findComponent('osbuild/broken:1', [t.dir])).rejects.toThrow(/broken\/build\.yml/);
    expect(await findComponent('osbuild/one:0.2.0', [path.join(t.dir, 'one')])).toBeUndefined();
    // a search dir may be a component folder itself
    expect(await findComponent('osbuild/one:0.1.0', [path.join(t.dir, 'one')])).toBe(path.join(t.dir, 'one'));
  });

  test('finds the repository components', async () => {
    expect(await findComponent('osbuild/runc:0.1.0', [path.join(REPO_ROOT, 'components')])).toBe(path.join(REPO_ROOT, 'components/runc'));
  });
});
