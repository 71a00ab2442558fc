// The private apt state: its own lists and downloads per arch, the host's apt untouched.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AptRepo, parseDepends } from '../../src/pkg/apt.js';
import { sha256File } from '../../src/oci/digest.js';
import type { PkgEvent } from '../../src/pkg/events.js';
import { sh, tempDir } from './helpers.js';

describe('AptRepo', () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    t = await tempDir('apt');
  });
  afterAll(() => t.cleanup());

  test('fetches a foreign-arch .deb into a fresh private cache, once', async () => {
    const hostLists = await stat('/var/lib/apt/lists').then((s) => s.mtimeMs, () => 0);
    const events: PkgEvent[] = [];
    const repo = new AptRepo(t.dir, 'arm64', (e) => events.push(e));
    const deb = await repo.fetch('libseccomp2');
    expect(deb.path.startsWith(path.join(t.dir, 'debian', 'arm64', 'debs'))).toBe(true);
    expect(await sh('dpkg-deb', ['-f', deb.path, 'Package', 'Architecture'])).toBe('Package: libseccomp2\nArchitecture: arm64');
    expect(await sha256File(deb.path)).toBe(deb.info.sha256);
    expect(events.map((e) => e.type)).toEqual(['apt-update', 'deb-download']);

    // a second repo object (a later build): lists are fresh, the .deb is reused
    const again: PkgEvent[] = [];
    const second = await new AptRepo(t.dir, 'arm64', (e) => again.push(e)).fetch('libseccomp2');
    expect(second.path).toBe(deb.path);
    expect(again.map((e) => e.type)).toEqual(['deb-cached']);
    expect((await readdir(path.dirname(deb.path))).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    expect(await stat('/var/lib/apt/lists').then((s) => s.mtimeMs, () => 0)).toBe(hostLists);
  }, 120_000);

  test('resolves the kernel metapackage to the versioned image package', async () => {
    const repo = new AptRepo(t.dir, 'arm64');
    expect(await repo.resolveKernelPackage('linux-image-cloud-arm64')).toMatch(/^linux-image-6\.1\.0-\d+-cloud-arm64$/);
  }, 60_000);

  test('Depends fields: first alternative, no versions or arch qualifiers', () => {
    expect(parseDepends('libc6 (>= 2.34), libseccomp2 (>= 2.5.0) | libfoo, python3:any')).toEqual(['libc6', 'libseccomp2', 'python3']);
    expect(parseDepends(undefined)).toEqual([]);
  });
});
