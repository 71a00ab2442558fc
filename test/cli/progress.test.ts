// The human progress lines and the JSON stream, as a user of `osbuild build` / `pkg build` sees them.
import { describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../src/build/events.js';
import type { PkgEvent } from '../../src/pkg/events.js';
import { formatBytes, pkgReporter, progressFormatter, reporter, shortDigest } from '../../src/cli/progress.js';

const hex = (c: string) => c.repeat(64);
const desc = (mediaType: string, c: string, size: number) => ({ mediaType, digest: `sha256:${hex(c)}`, size });

// One sample of every event type: the `satisfies` makes `tsc` fail here when a type is added.
const pkgSamples = {
  'apt-update': { type: 'apt-update', arch: 'amd64' },
  'deb-download': { type: 'deb-download', arch: 'amd64', package: 'busybox-static', version: '1.35.0', size: 345 * 1024 + 100 },
  'deb-cached': { type: 'deb-cached', arch: 'arm64', package: 'runc', version: '1.1.5' },
  layer: { type: 'layer', arch: 'amd64', descriptor: desc('application/vnd.oci.image.layer.v1.tar+gzip', 'a', 1024 * 1024 + 7), diffId: `sha256:${hex('b')}`, entries: 19 },
  image: { type: 'image', arch: 'amd64', descriptor: desc('application/vnd.oci.image.manifest.v1+json', 'c', 405) },
  index: { type: 'index', ref: 'osbuild/busybox:0.1.0', descriptor: desc('application/vnd.oci.image.index.v1+json', 'abcd1234', 506) },
} satisfies { [K in PkgEvent['type']]: Extract<PkgEvent, { type: K }> };

const buildSamples = {
  'build-component': { type: 'build-component', ref: 'osbuild/busybox:0.1.0', dir: '/src/proj/components/busybox' },
  pkg: { type: 'pkg', event: pkgSamples['deb-download'] },
  pull: { type: 'pull', event: { type: 'pull-done', ref: '127.0.0.1:5000/app:1', digest: `sha256:${hex('e')}`, arches: ['amd64'], downloaded: 2048, upToDate: false } },
  'index-layer': { type: 'index-layer', ref: 'osbuild/init:0.1.0', digest: `sha256:${hex('d')}`, size: 3 * 1024 * 1024 },
  warning: { type: 'warning', message: 'service getty has no image tag' },
  'output-start': { type: 'output-start', format: 'kernel+initrd', files: ['/src/proj/out/minimal-kernel', '/src/proj/out/minimal-initrd.img'] },
  'output-done': {
    type: 'output-done',
    format: 'kernel+initrd',
    files: [{ path: '/src/proj/out/minimal-kernel', bytes: 8 * 1024 * 1024 }, { path: '/src/proj/out/minimal-cmdline', bytes: 40 }],
    ms: 1234,
  },
} satisfies { [K in BuildEvent['type']]: Extract<BuildEvent, { type: K }> };

function collect(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s) => lines.push(...s.split('\n').slice(0, -1)) };
}

describe('pkg progress lines', () => {
  const fmt = (e: PkgEvent, verbose = false) => progressFormatter({ verbose })({ type: 'pkg', event: e });

  it('says what is downloaded, per arch, with a readable size', () => {
    expect(fmt(pkgSamples['deb-download'])).toBe('  amd64: downloading busybox-static 1.35.0 (345 KiB)');
    expect(fmt(pkgSamples['apt-update'])).toBe('  amd64: updating Debian package lists');
  });

  it('stays quiet about cached debs and per-arch manifests unless verbose', () => {
    expect(fmt(pkgSamples['deb-cached'])).toBeUndefined();
    expect(fmt(pkgSamples['deb-cached'], true)).toBe('  arm64: runc 1.1.5 (cached)');
    expect(fmt(pkgSamples.image)).toBeUndefined();
    expect(fmt(pkgSamples.image, true)).toBe(`  amd64: image sha256:${'c'.repeat(12)}…`);
  });

  it('shows each layer with its size and entry count', () => {
    expect(fmt(pkgSamples.layer)).toBe('  amd64: layer 1.0 MiB (19 entries)');
    expect(fmt({ ...pkgSamples.layer, entries: 1 })).toBe('  amd64: layer 1.0 MiB (1 entry)');
  });

  it('ends with the ref, its short digest and the arches built since the last index', () => {
    const f = progressFormatter();
    const lines = [
      pkgSamples.image,
      { ...pkgSamples.image, arch: 'arm64' as const },
      pkgSamples.index,
      { ...pkgSamples.image, arch: 'arm64' as const },
      { ...pkgSamples.index, ref: 'osbuild/runc:0.1.0' },
      { ...pkgSamples.index, ref: 'osbuild/empty:1' },
    ].map((event) => f({ type: 'pkg', event }));
    expect(lines.filter((l) => l !== undefined)).toEqual([
      'osbuild/busybox:0.1.0 → sha256:abcd1234abcd… (amd64, arm64)',
      'osbuild/runc:0.1.0 → sha256:abcd1234abcd… (arm64)',
      'osbuild/empty:1 → sha256:abcd1234abcd…',
    ]);
  });
});

describe('build progress lines', () => {
  const f = progressFormatter({ cwd: '/src/proj' });

  it('names components and outputs by paths relative to the working directory', () => {
    expect(f(buildSamples['build-component'])).toBe('building osbuild/busybox:0.1.0 from components/busybox');
    expect(f(buildSamples['output-start'])).toBe('writing kernel+initrd: out/minimal-kernel, out/minimal-initrd.img');
    expect(f(buildSamples['output-done'])).toBe('  done in 1.2 s: minimal-kernel 8.0 MiB, minimal-cmdline 40 B');
    // a path outside the working directory stays absolute rather than ../../..
    expect(progressFormatter({ cwd: '/elsewhere' })(buildSamples['build-component'])).toBe(
      'building osbuild/busybox:0.1.0 from /src/proj/components/busybox',
    );
  });

  it('shows layer indexing only when verbose, warnings always', () => {
    expect(f(buildSamples['index-layer'])).toBeUndefined();
    expect(progressFormatter({ verbose: true })(buildSamples['index-layer'])).toBe(`  reading osbuild/init:0.1.0 layer sha256:${'d'.repeat(12)}… (3.0 MiB)`);
    expect(f(buildSamples.warning)).toBe('osbuild: warning: service getty has no image tag');
  });

  it('has a line for every event when verbose, each a single line', () => {
    const all: BuildEvent[] = [...Object.values(buildSamples), ...Object.values(pkgSamples).map((event) => ({ type: 'pkg' as const, event }))];
    for (const e of all) {
      const line = progressFormatter({ verbose: true })(e);
      expect(line, JSON.stringify(e)).toMatch(/^[^\n]+$/);
    }
  });
});

describe('reporters', () => {
  const events = Object.values(buildSamples) as BuildEvent[];

  it('--json writes each event object as one JSON line', () => {
    const out = collect();
    const r = reporter('json', out);
    events.forEach(r);
    expect(out.lines.map((l) => JSON.parse(l))).toEqual(events);
  });

  it('pkg build --json writes the pkg events themselves', () => {
    const out = collect();
    const r = pkgReporter('json', out);
    Object.values(pkgSamples).forEach((e) => r(e as PkgEvent));
    expect(out.lines.map((l) => JSON.parse(l))).toEqual(Object.values(pkgSamples));
  });

  it('--quiet keeps only warnings; human mode one line per shown event', () => {
    const quiet = collect();
    events.forEach(reporter('quiet', quiet, '/src/proj'));
    expect(quiet.lines).toEqual(['osbuild: warning: service getty has no image tag']);
    const human = collect();
    events.forEach(reporter('human', human, '/src/proj'));
    expect(human.lines).toEqual([
      'building osbuild/busybox:0.1.0 from components/busybox',
      '  amd64: downloading busybox-static 1.35.0 (345 KiB)',
      '127.0.0.1:5000/app:1 → sha256:eeeeeeeeeeee… (amd64), 2 KiB downloaded',
      'osbuild: warning: service getty has no image tag',
      'writing kernel+initrd: out/minimal-kernel, out/minimal-initrd.img',
      '  done in 1.2 s: minimal-kernel 8.0 MiB, minimal-cmdline 40 B',
    ]);
    const verbose = collect();
    events.forEach(reporter('verbose', verbose, '/src/proj'));
    expect(verbose.lines).toHaveLength(events.length);
  });
});

describe('sizes and digests', () => {
  it('formats sizes in binary units without surprising roundings', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.0 MiB'); // not "1024 KiB"
    expect(formatBytes(1024 * 1024 - 600)).toBe('1023 KiB');
    expect(formatBytes(Math.round(2.34 * 1024 ** 3))).toBe('2.3 GiB');
  });

  it('shortens digests to 12 hex digits and leaves other strings alone', () => {
    expect(shortDigest(`sha256:${'0123456789abcdef'.repeat(4)}`)).toBe('sha256:0123456789ab…');
    expect(shortDigest('sha256:abc')).toBe('sha256:abc');
    expect(shortDigest('not a digest')).toBe('not a digest');
  });
});
