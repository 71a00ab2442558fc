// osbuild.lock through the CLI, against a real signed Debian archive on 127.0.0.1 whose package
// is replaced by a newer version between two builds (a day later, as Debian does): with the lock
// the old .deb comes from the "snapshot" and the output is byte-identical; without it the build
// takes the new one; --locked refuses a stale lock with a list of what differs.
import { execa } from 'execa';
import { cp, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LockSchema } from '../../src/build/lock.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { startTestArchive, type TestArchive } from '../helpers/debian-archive.js';
import { tempDir } from '../pkg/helpers.js';

let archive: TestArchive;
let t: Awaited<ReturnType<typeof tempDir>>;
const DAY1 = new Date('2026-01-02T03:04:05Z');
const DAY2 = new Date('2026-01-09T03:04:05Z');
let caches = 0;

function cli(args: string[], opts: { cache?: string } = {}) {
  const cache = opts.cache ?? join(t.dir, `cache${caches++}`);
  return execa('node', [MAIN, ...args, '--cache', cache, '--debian-sources', join(t.dir, 'sources.yml')], {
    cwd: t.dir,
    reject: false,
    env: { SOURCE_DATE_EPOCH: '1700000000', OSBUILD_NO_COLOR: '1' },
  });
}
const bp = () => join(t.dir, 'blueprints', 'hello.yml');
const lockFile = () => join(t.dir, 'blueprints', 'osbuild.lock');
const tarOf = async (dir: string, member: string) => (await execa('tar', ['-xOf', join(t.dir, dir, 'hello.tar'), member], { encoding: 'utf8' })).stdout;

async function helloDebs(version: string): Promise<void> {
  for (const arch of ['amd64', 'arm64']) {
    await archive.addDeb({ package: 'osbtest-hello', version, architecture: arch, depends: 'osbtest-data', files: { 'usr/share/hello/version': `hello ${version} ${arch}\n` } });
  }
}

beforeAll(async () => {
  await ensureDist();
  t = await tempDir('lock');
  archive = await startTestArchive();
  await helloDebs('1.0-1');
  await archive.addDeb({ package: 'osbtest-data', version: '1.0', architecture: 'all', files: { 'usr/share/data/file': 'data\n' } });
  await archive.publish(DAY1);
  await archive.publishSnapshot(DAY1);

  await writeFile(
    join(t.dir, 'sources.yml'),
    `- url: ${archive.url}\n  suites: [${archive.suite}]\n  components: [main]\n  keyring: ${archive.keyring}\n  snapshot: ${archive.snapshotPattern}\n`,
  );
  await mkdir(join(t.dir, 'components', 'hello'), { recursive: true });
  await writeFile(
    join(t.dir, 'components', 'hello', 'build.yml'),
    'image: osbtest/hello\ntag: "0.1.0"\narches: [amd64, arm64]\npackages:\n  - package: osbtest-hello\n    depends: true\nconfig:\n  Cmd: ["/bin/true"]\n',
  );
  await mkdir(join(t.dir, 'blueprints'), { recursive: true });
  await writeFile(bp(), 'init:\n  - osbtest/hello:0.1.0\n');
}, 120_000);

afterAll(async () => {
  await archive?.close();
  await t?.cleanup();
});

describe('osbuild.lock', () => {
  let first: string;

  test('osbuild lock pins the image digests per arch and every .deb, sorted, one line each', async () => {
    const r = await cli(['lock', '-f', 'tar', bp()]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${lockFile()}: 1 images, 4 .debs`);
    const text = await readFile(lockFile(), 'utf8');
    const lock = LockSchema.parse(parse(text));
    const ref = 'docker.io/osbtest/hello:0.1.0';
    expect(Object.keys(lock.images[ref]!)).toEqual(['amd64', 'arm64']);
    expect(lock.archives).toEqual({ [archive.url]: { snapshot: '2026-01-02T03:04:05Z' } });
    const amd = lock.components[ref].packages.amd64!;
    expect(amd.map((p) => `${p.package} ${p.version} ${p.architecture}`)).toEqual(['osbtest-data 1.0 all', 'osbtest-hello 1.0-1 amd64']);
    const deb = await readFile(join(archive.dir, amd[1].filename));
    expect((await execa('sha256sum', { input: deb })).stdout.split(' ')[0]).toBe(amd[1].sha256);
    expect(amd[1].archive).toBe(archive.url);
    // diff-friendly: one line per package, and the same text when written again
    expect(text.split('\n').filter((l) => l.includes('package: osbtest-hello'))).toHaveLength(2);
    expect((await cli(['lock', '-q', '-f', 'tar', bp()])).exitCode).toBe(0);
    expect(await readFile(lockFile(), 'utf8')).toBe(text);
    first = text;
  }, 120_000);

  test('Debian replaces the version: with the lock, the old .deb comes from the snapshot, the output is byte-identical', async () => {
    const a = await cli(['build', '--locked', '-f', 'tar', '-o', 'out1', bp()]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(await tarOf('out1', 'usr/share/hello/version')).toBe(`hello 1.0-1 ${process.arch === 'arm64' ? 'arm64' : 'amd64'}`);

    // a week later: 2.0-1 replaces 1.0-1 in the archive, whose pool no longer has 1.0-1
    await helloDebs('2.0-1');
    for (const arch of ['amd64', 'arm64']) await archive.removeFile(`pool/main/osbtest-hello_1.0-1_${arch}.deb`);
    await archive.publish(DAY2);

    archive.requests.length = 0;
    const b = await cli(['build', '--locked', '-f', 'tar', '-o', 'out2', bp()]); // a new cache: nothing downloaded yet
    expect(b.exitCode, b.stderr).toBe(0);
    const [x, y] = [await readFile(join(t.dir, 'out1', 'hello.tar')), await readFile(join(t.dir, 'out2', 'hello.tar'))];
    expect(y.equals(x)).toBe(true);
    expect(archive.requests).toContain(`/snapshot/20260102T030405Z/pool/main/osbtest-hello_1.0-1_${process.arch === 'arm64' ? 'arm64' : 'amd64'}.deb`);
    expect(await readFile(lockFile(), 'utf8')).toBe(first);
  }, 180_000);

  test('without the lock the build takes the new version', async () => {
    await rename(lockFile(), `${lockFile()}.away`);
    try {
      const r = await cli(['build', '-f', 'tar', '-o', 'out3', bp()]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await tarOf('out3', 'usr/share/hello/version')).toMatch(/^hello 2\.0-1 /);
    } finally {
      await rename(`${lockFile()}.away`, lockFile());
    }
  }, 180_000);

  test('--locked refuses a lock the component folder moved away from, naming it; --update-lock moves it on', async () => {
    const spec = join(t.dir, 'components', 'hello', 'build.yml');
    const before = await readFile(spec, 'utf8');
    // a store that holds the locked image already: the edit must still be seen
    const warm = join(t.dir, 'cache-warm');
    expect((await cli(['build', '--locked', '-f', 'tar', '-o', 'out4', bp()], { cache: warm })).exitCode).toBe(0);
    await writeFile(spec, before.replace('["/bin/true"]', '["/bin/false"]'));
    try {
      const r = await cli(['build', '--locked', '-f', 'tar', '-o', 'out4', bp()], { cache: warm });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toContain('osbtest/hello:0.1.0: its component folder');
      expect(r.stderr).toContain('changed since the lock was written (--locked)');
      expect(r.stderr).toContain('osbuild lock BLUEPRINT');
    } finally {
      await writeFile(spec, before);
    }
    // the folder as locked, but the lock asked to move on: Debian's 2.0-1 comes in, the lock says so
    const u = await cli(['build', '--update-lock', '-f', 'tar', '-o', 'out5', bp()]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await tarOf('out5', 'usr/share/hello/version')).toMatch(/^hello 2\.0-1 /);
    const lock = LockSchema.parse(parse(await readFile(lockFile(), 'utf8')));
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    expect(lock.components['docker.io/osbtest/hello:0.1.0'].packages[arch]!.map((p) => p.version)).toEqual(['1.0', '2.0-1']);
    expect(lock.archives[archive.url].snapshot).toBe('2026-01-09T03:04:05Z');
    await writeFile(lockFile(), first);
  }, 180_000);

  test('--locked with a lock that no longer matches the store lists what differs', async () => {
    // the lock pins 1.0-1; a hand-edited digest stands for a lock from another world
    const edited = first.replace(/(amd64|arm64): sha256:[0-9a-f]{64}/, (m) => m.replace(/[0-9a-f]{64}$/, 'f'.repeat(64)));
    await writeFile(lockFile(), edited);
    try {
      const r = await cli(['build', '--locked', '-f', 'tar', '-o', 'out6', bp()]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/osbtest\/hello:0\.1\.0 \((amd64|arm64)\): built from the locked \.debs it is sha256:[0-9a-f]{64}, but the lock says sha256:f{64} \(--locked\)/);
    } finally {
      await writeFile(lockFile(), first);
    }
  }, 180_000);

  test('a blueprint beside it needing more: --locked lists each image and .deb the lock lacks; a plain build adds them', async () => {
    await mkdir(join(t.dir, 'components', 'data'), { recursive: true });
    await writeFile(join(t.dir, 'components', 'data', 'build.yml'), 'image: osbtest/data\ntag: "0.1.0"\narches: [amd64, arm64]\npackages:\n  - package: osbtest-data\nconfig:\n  Cmd: ["/bin/true"]\n');
    const two = join(t.dir, 'blueprints', 'two.yml');
    await writeFile(two, 'init:\n  - osbtest/hello:0.1.0\nonboot:\n  - name: data\n    image: osbtest/data:0.1.0\n');
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const r = await cli(['build', '--locked', '-f', 'tar', '-o', 'out8', two]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${lockFile()} is out of date (--locked):`);
    expect(r.stderr).toMatch(new RegExp(`\\n  docker\\.io/osbtest/data:0\\.1\\.0 \\(${arch}\\): not in the lock; now sha256:[0-9a-f]{64}\\n`));
    expect(r.stderr).toMatch(new RegExp(`\\n  docker\\.io/osbtest/data:0\\.1\\.0 \\(${arch}\\): package osbtest-data 1\\.0 \\(all, sha256 [0-9a-f]{12}…\\) is not in the lock\\n`));
    expect(await readFile(lockFile(), 'utf8')).toBe(first);
    // without --locked: built, and the lock now covers both blueprints (hello's entries unchanged)
    const b = await cli(['build', '-f', 'tar', '-o', 'out8', two]);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).toContain(`warning: ${lockFile()} updated (${arch}):`);
    const lock = LockSchema.parse(parse(await readFile(lockFile(), 'utf8')));
    expect(Object.keys(lock.images)).toEqual(['docker.io/osbtest/data:0.1.0', 'docker.io/osbtest/hello:0.1.0']);
    expect(lock.images['docker.io/osbtest/hello:0.1.0']).toEqual(LockSchema.parse(parse(first)).images['docker.io/osbtest/hello:0.1.0']);
    await writeFile(lockFile(), first);
  }, 180_000);

  test('a snapshot imported some hours after the Release: found at the later time', async () => {
    const saved = archive.snapshotTimestamp;
    archive.snapshotTimestamp = '20260102T090405Z'; // the lock's time + 6 h
    archive.requests.length = 0;
    try {
      const r = await cli(['build', '--locked', '-f', 'tar', '-o', 'out9', bp()]);
      expect(r.exitCode, r.stderr).toBe(0);
      const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
      expect(archive.requests.filter((p) => p.includes(`osbtest-hello_1.0-1_${arch}.deb`))).toEqual([
        `/debian/pool/main/osbtest-hello_1.0-1_${arch}.deb`,
        `/snapshot/20260102T030405Z/pool/main/osbtest-hello_1.0-1_${arch}.deb`,
        `/snapshot/20260102T090405Z/pool/main/osbtest-hello_1.0-1_${arch}.deb`,
      ]);
      expect((await readFile(join(t.dir, 'out9', 'hello.tar'))).equals(await readFile(join(t.dir, 'out1', 'hello.tar')))).toBe(true);
    } finally {
      archive.snapshotTimestamp = saved;
    }
  }, 180_000);

  test('a pinned version in neither the archive nor the snapshot is named', async () => {
    await cp(archive.snapshotDir, `${archive.snapshotDir}.keep`, { recursive: true });
    const saved = archive.snapshotTimestamp;
    archive.snapshotTimestamp = 'nothing';
    archive.requests.length = 0;
    try {
      const r = await cli(['build', '--locked', '-f', 'tar', '-o', 'out7', bp()]);
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/osbtest-hello 1\.0-1 \((amd64|arm64), pinned by the lock\): not found at http:\/\/127\.0\.0\.1:\d+\/debian\/pool\/main\/osbtest-hello_1\.0-1_\w+\.deb nor at http:\/\/127\.0\.0\.1:\d+\/snapshot\/20260102T030405Z\/pool\/\S+ nor at \S+\/snapshot\/20260102T090405Z\/\S+ nor at \S+\/snapshot\/20260103T030405Z\/pool\/main\/osbtest-hello_1\.0-1_\w+\.deb \(neither has it\)/);
    } finally {
      archive.snapshotTimestamp = saved;
    }
  }, 180_000);
});
