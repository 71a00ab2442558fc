// The archive client against a real signed archive on 127.0.0.1: what it accepts, and each
// thing it refuses (a changed .deb, a changed Packages, a bad InRelease signature), with the
// error naming the file and what to do. Foreign arch (arm64) included.
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AptRepo } from '../../src/pkg/apt.js';
import { sha256File } from '../../src/oci/digest.js';
import type { DebianSource } from '../../src/pkg/archive.js';
import { compareDebVersions } from '../../src/pkg/debversion.js';
import { PkgError } from '../../src/pkg/errors.js';
import { startTestArchive, type TestArchive } from '../helpers/debian-archive.js';
import { CACHE_DIR, sh, tempDir } from './helpers.js';

let archive: TestArchive;
let t: Awaited<ReturnType<typeof tempDir>>;
let n = 0;
const DATE = new Date('2026-01-02T03:04:05Z');

function sources(over: Partial<DebianSource> = {}): DebianSource[] {
  return [{ url: archive.url, suites: [archive.suite], components: ['main'], keyring: archive.keyring, ...over }];
}
/** A repo with a cache of its own: every check runs from a fresh download. */
function repo(arch: 'amd64' | 'arm64', over: Partial<DebianSource> = {}): AptRepo {
  return new AptRepo(path.join(t.dir, `c${n++}`), arch, undefined, 0, sources(over));
}
async function refusal(p: Promise<unknown>): Promise<PkgError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(PkgError);
  return e as PkgError;
}

beforeAll(async () => {
  t = await tempDir('archive');
  archive = await startTestArchive();
  for (const arch of ['amd64', 'arm64']) {
    await archive.addDeb({ package: 'osbtest-hello', version: '1.0-1', architecture: arch, depends: 'osbtest-data, libseccomp2 (>= 2.5)', files: { [`usr/share/hello/${arch}`]: `hello ${arch} 1.0\n` } });
    // a real package, as Debian built it
    const real = await new AptRepo(CACHE_DIR, arch as 'amd64' | 'arm64').fetch('libseccomp2');
    await archive.addFile(real.path, path.basename(real.info.filename));
  }
  await archive.addDeb({ package: 'osbtest-data', version: '1:2.0~rc1-1', architecture: 'all', files: { 'usr/share/data/file': 'data\n' } });
  await archive.addDeb({ package: 'osbtest-data', version: '1:2.0-1', architecture: 'all', files: { 'usr/share/data/file': 'data 2\n' } });
  await archive.publish(DATE);
}, 180_000);

afterAll(async () => {
  await archive?.close();
  await t?.cleanup();
});

describe('a signed archive', () => {
  test.each(['amd64', 'arm64'] as const)('%s: candidates, dependencies and .debs, each verified', async (arch) => {
    const r = repo(arch);
    const hello = await r.fetch('osbtest-hello');
    expect(await sh('dpkg-deb', ['-f', hello.path, 'Package', 'Architecture'])).toBe(`Package: osbtest-hello\nArchitecture: ${arch}`);
    expect(await sha256File(hello.path)).toBe(hello.info.sha256);
    expect(hello.archive).toBe(archive.url);
    expect(hello.info.depends).toEqual(['osbtest-data', 'libseccomp2']);
    // the newest of two versions (an epoch, a tilde), as dpkg orders them
    const data = await r.fetch('osbtest-data');
    expect(data.info.version).toBe('1:2.0-1');
    const seccomp = await r.fetch('libseccomp2');
    expect(await sh('dpkg-deb', ['-f', seccomp.path, 'Architecture'])).toBe(arch);
    expect(await r.releases()).toEqual([{ archive: archive.url, suite: archive.suite, date: '2026-01-02T03:04:05Z' }]);
  });

  test('a package the archive lacks is named with the archive', async () => {
    const e = await refusal(repo('amd64').show('osbtest-nothing'));
    expect(e.code).toBe('PACKAGE_NOT_FOUND');
    expect(e.message).toContain(`"osbtest-nothing" not found for amd64 in ${archive.url} ${archive.suite}`);
  });
});

describe('refused', () => {
  test('a .deb that is not the one Packages lists', async () => {
    const pool = path.join(archive.dir, 'pool/main/osbtest-hello_1.0-1_arm64.deb');
    const good = await readFile(pool);
    try {
      const bad = Buffer.from(good);
      bad[bad.length - 10] ^= 0xff;
      await writeFile(pool, bad);
      const e = await refusal(repo('arm64').fetch('osbtest-hello'));
      expect(e.code).toBe('DOWNLOAD_CORRUPT');
      expect(e.message).toContain('osbtest-hello 1.0-1 (arm64)');
      expect(e.message).toContain(`${archive.url}/pool/main/osbtest-hello_1.0-1_arm64.deb has SHA256`);
      expect(e.hint).toMatch(/another mirror/);
    } finally {
      await writeFile(pool, good);
    }
  });

  test('a Packages index that is not the one the signed Release lists', async () => {
    const gz = path.join(archive.dir, 'dists', archive.suite, 'main/binary-amd64/Packages.gz');
    const good = await readFile(gz);
    try {
      const text = (await execa('gzip', ['-dc', gz], { encoding: 'utf8' })).stdout.replace('Version: 1.0-1', 'Version: 9.9-1');
      await writeFile(gz, (await execa('gzip', ['-9n'], { input: text, encoding: 'buffer', stripFinalNewline: false })).stdout);
      const e = await refusal(repo('amd64').show('osbtest-hello'));
      expect(e.code).toBe('ARCHIVE_INDEX');
      expect(e.message).toContain(`${archive.url}/dists/${archive.suite}/main/binary-amd64/Packages.gz: SHA256`);
      expect(e.message).toContain('but the signed Release says');
    } finally {
      await writeFile(gz, good);
    }
  });

  test('an InRelease whose text was changed after signing, or signed by another key', async () => {
    const file = path.join(archive.dir, 'dists', archive.suite, 'InRelease');
    const good = await readFile(file, 'utf8');
    try {
      await writeFile(file, good.replace(/^Suite: .*$/m, 'Suite: forged'));
      const e = await refusal(repo('amd64').show('osbtest-hello'));
      expect(e.code).toBe('ARCHIVE_SIGNATURE');
      expect(e.message).toBe(`${archive.url}/dists/${archive.suite}/InRelease: signature check failed: the signature does not match the text (the file was changed after signing)`);
    } finally {
      await writeFile(file, good);
    }
    // the genuine file, checked against Debian's keyring instead of the archive's own key
    const e = await refusal(repo('amd64', { keyring: '/usr/share/keyrings/debian-archive-keyring.gpg' }).show('osbtest-hello'));
    expect(e.code).toBe('ARCHIVE_SIGNATURE');
    expect(e.message).toMatch(/InRelease: signature check failed: it is signed by key [0-9A-F]+, which is not in \/usr\/share\/keyrings\/debian-archive-keyring.gpg/);
    const missing = await refusal(repo('amd64', { keyring: path.join(t.dir, 'no-such.gpg') }).show('osbtest-hello'));
    expect(missing.message).toContain('no-such.gpg does not exist');
  });

  test('an unsigned archive', async () => {
    const file = path.join(archive.dir, 'dists', archive.suite, 'InRelease');
    const good = await readFile(file, 'utf8');
    try {
      await writeFile(file, await readFile(path.join(archive.dir, 'dists', archive.suite, 'Release'), 'utf8'));
      const e = await refusal(repo('arm64').show('osbtest-hello'));
      expect(e.code).toBe('ARCHIVE_SIGNATURE');
      expect(e.message).toContain('InRelease: signature check failed: it carries no OpenPGP signature');
    } finally {
      await writeFile(file, good);
    }
  });
});

test('Debian version order agrees with dpkg --compare-versions', async () => {
  const versions = ['1.0', '1.0-1', '1.0~rc1', '1.0~rc1-1', '1:0.9', '1.0a', '1.0+b1', '1.0.1', '2', '10', '1.0-1~bpo1', '1.0-1+deb12u1', '0:1.0', '1.00', 'a', '1.0-10', '1.0-9'];
  const pairs = versions.flatMap((a) => versions.map((b) => [a, b]));
  // one shell for all pairs: dpkg says lt, eq or gt for each
  const script = pairs.map(([a, b]) => `if dpkg --compare-versions '${a}' lt '${b}'; then echo -1; elif dpkg --compare-versions '${a}' eq '${b}'; then echo 0; else echo 1; fi`).join('\n');
  const dpkg = (await execa('sh', ['-c', script], { encoding: 'utf8' })).stdout.split('\n').map(Number);
  expect(pairs.map(([a, b]) => `${a} ${b} ${Math.sign(compareDebVersions(a, b))}`)).toEqual(pairs.map(([a, b], i) => `${a} ${b} ${dpkg[i]}`));
}, 120_000);
