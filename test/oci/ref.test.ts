import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefError } from '../../src/oci/errors.js';
import { familiarRef, formatRef, hasExplicitVersion, isBareTag, normalizeRef, parseRef } from '../../src/oci/ref.js';
import { removeDir, run, tempDir, umociImage } from './helpers.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseRef / formatRef', () => {
  const cases: [string, { registry: string; repository: string; tag?: string; digest?: string }, string][] = [
    ['alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }, 'docker.io/library/alpine:latest'],
    ['alpine:3.20', { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' }, 'docker.io/library/alpine:3.20'],
    ['osbuild/init:0.1.0', { registry: 'docker.io', repository: 'osbuild/init', tag: '0.1.0' }, 'docker.io/osbuild/init:0.1.0'],
    ['docker.io/osbuild/init:0.1.0', { registry: 'docker.io', repository: 'osbuild/init', tag: '0.1.0' }, 'docker.io/osbuild/init:0.1.0'],
    ['index.docker.io/library/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }, 'docker.io/library/alpine:latest'],
    ['docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }, 'docker.io/library/alpine:latest'],
    ['localhost:5000/x/y', { registry: 'localhost:5000', repository: 'x/y', tag: 'latest' }, 'localhost:5000/x/y:latest'],
    [`localhost:5000/x/y@${D}`, { registry: 'localhost:5000', repository: 'x/y', digest: D }, `localhost:5000/x/y@${D}`],
    ['localhost/foo', { registry: 'localhost', repository: 'foo', tag: 'latest' }, 'localhost/foo:latest'],
    ['127.0.0.1:5000/a/b/c:v1', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'v1' }, '127.0.0.1:5000/a/b/c:v1'],
    ['ghcr.io/org/img:1.2.3-rc_1', { registry: 'ghcr.io', repository: 'org/img', tag: '1.2.3-rc_1' }, 'ghcr.io/org/img:1.2.3-rc_1'],
    ['[::1]:5000/x:y', { registry: '[::1]:5000', repository: 'x', tag: 'y' }, '[::1]:5000/x:y'],
    [`alpine:3.20@${D}`, { registry: 'docker.io', repository: 'library/alpine', tag: '3.20', digest: D }, `docker.io/library/alpine:3.20@${D}`],
    [`alpine@${D}`, { registry: 'docker.io', repository: 'library/alpine', digest: D }, `docker.io/library/alpine@${D}`],
    ['my-registry.example.com/Team/x'.toLowerCase(), { registry: 'my-registry.example.com', repository: 'team/x', tag: 'latest' }, 'my-registry.example.com/team/x:latest'],
    ['a__b/c.d/e-f---g:TAG', { registry: 'docker.io', repository: 'a__b/c.d/e-f---g', tag: 'TAG' }, 'docker.io/a__b/c.d/e-f---g:TAG'],
    ['localhost:5000', { registry: 'docker.io', repository: 'library/localhost', tag: '5000' }, 'docker.io/library/localhost:5000'],
  ];
  for (const [input, parsed, formatted] of cases) {
    it(`${input}`, () => {
      const r = parseRef(input);
      expect(r).toEqual(parsed);
      expect(formatRef(r)).toBe(formatted);
      // Normalizing is idempotent: the full form parses to itself.
      expect(normalizeRef(formatted)).toBe(formatted);
    });
  }
});

describe('invalid references', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Alpine', /must be lowercase/],
    ['docker.io/Library/alpine', /must be lowercase/],
    ['Foo/bar:1', /must be lowercase/],
    ['alpine:', /tag ""/],
    ['alpine:-x', /tag "-x"/],
    [`alpine:${'x'.repeat(129)}`, /tag/],
    ['alpine@sha256:abc', /digest "sha256:abc"/],
    [`alpine@md5:${'a'.repeat(32)}`, /digest/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['-a/b', /component "-a"/],
    ['a_/b', /component "a_"/],
    ['a b', /whitespace/],
    ['https://registry/x', /URL scheme/],
    ['exa_mple.com:5000/x', /registry "exa_mple.com:5000"/],
    [':tag', /repository name is missing/],
    ['localhost:5000/', /repository name is missing/],
    [`${'a'.repeat(256)}`, /longer than 255/],
  ];
  for (const [input, why] of bad) {
    it(JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input), () => {
      let err: unknown;
      try {
        parseRef(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RefError);
      expect((err as RefError).code).toBe('EREF');
      expect((err as Error).message).toContain(JSON.stringify(input));
      expect((err as Error).message).toMatch(why);
    });
  }
});

describe('familiarRef', () => {
  it('shortens Docker Hub names and keeps others whole', () => {
    expect(familiarRef(parseRef('docker.io/library/alpine:3.20'))).toBe('alpine:3.20');
    expect(familiarRef(parseRef('alpine'))).toBe('alpine:latest');
    expect(familiarRef(parseRef('docker.io/osbuild/init:0.1.0'))).toBe('osbuild/init:0.1.0');
    expect(familiarRef(parseRef('docker.io/library/a/b:1'))).toBe('library/a/b:1');
    expect(familiarRef(parseRef(`localhost:5000/x/y@${D}`))).toBe(`localhost:5000/x/y@${D}`);
    // The short form means the same image.
    for (const s of ['alpine:3.20', 'osbuild/init:0.1.0', 'ghcr.io/a/b:c']) {
      expect(normalizeRef(familiarRef(parseRef(s)))).toBe(normalizeRef(s));
    }
  });
});

describe('helpers', () => {
  it('tells bare tags from names', () => {
    expect(isBareTag('latest')).toBe(true);
    expect(isBareTag('3.20')).toBe(true);
    expect(isBareTag('alpine:3.20')).toBe(false);
    expect(isBareTag('osbuild/init')).toBe(false);
    expect(hasExplicitVersion('osbuild/init')).toBe(false);
    expect(hasExplicitVersion('localhost:5000/x')).toBe(false);
    expect(hasExplicitVersion('osbuild/init:1')).toBe(true);
    expect(hasExplicitVersion(`x@${D}`)).toBe(true);
  });
});

// skopeo (containers/image, docker's reference package) normalizes the name it writes into a
// docker-archive's RepoTags: the oracle for our normalization of names people type.
describe('agrees with skopeo', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    await umociImage(join(dir, 'lay'), 't', { files: { 'etc/x': 'x\n' } });
  });
  afterAll(async () => removeDir(dir));

  it('normalizes like docker', async () => {
    const names = ['alpine', 'alpine:3.20', 'osbuild/init:0.1.0', 'index.docker.io/library/busybox:1', 'localhost:5000/x/y:z', 'localhost/foo', 'ghcr.io/a/b/c:1.0'];
    for (const [i, name] of names.entries()) {
      const archive = join(dir, `a${i}.tar`);
      await run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${join(dir, 'lay')}:t`, `docker-archive:${archive}:${name}`]);
      const manifest = JSON.parse(await run('tar', ['-xOf', archive, 'manifest.json'])) as { RepoTags: string[] }[];
      expect(manifest[0].RepoTags).toEqual([normalizeRef(name)]);
    }
  });

  it('rejects what skopeo rejects', async () => {
    for (const name of ['Alpine:1', 'a//b:1']) {
      const archive = join(dir, 'bad.tar');
      await expect(run('skopeo', ['copy', '--insecure-policy', '-q', `oci:${join(dir, 'lay')}:t`, `docker-archive:${archive}:${name}`])).rejects.toThrow();
      expect(() => parseRef(name)).toThrow(RefError);
    }
    expect(await readFile(join(dir, 'bad.tar')).catch(() => undefined)).toBeUndefined();
  });
});
