// The trusted device, built again a week later: one osbuild.lock, a real signed Debian archive on
// 127.0.0.1 whose package is replaced (and dropped from its pool) between the two days, a verified
// root, signed EFI binaries and the SBOM. The second build starts from a store without the
// component the archive changed and without any download: it is rebuilt from the lock's .debs
// (the old one from the snapshot), and every output of every format is the same bytes as the
// first day's, signatures, PCR 11 values and SBOM included.
import { execa } from 'execa';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_SOURCES } from '../../src/pkg/archive.js';
import { FORMATS } from '../../src/build/outputs.js';
import { componentCache } from '../helpers/components.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { startTestArchive, type TestArchive } from '../helpers/debian-archive.js';
import { tempDir } from '../pkg/helpers.js';

let archive: TestArchive;
let t: Awaited<ReturnType<typeof tempDir>>;
let components: string;
const DAY1 = new Date('2026-02-02T03:04:05Z');
const DAY2 = new Date('2026-02-09T03:04:05Z');
const ARCH = 'amd64';

// every format for amd64 (24), in builds whose files do not overlap: a verified root, its other
// formats, kernel+erofs and kernel+iso (their roots have no dm-verity tree) from the blueprint
// without it, and the update of the verified root as an A/B device (root.slots)
const BUILDS: { dir: string; files: string[]; formats: string[] }[] = [
  { dir: 'a', files: ['device.yml', 'verity.yml'], formats: ['kernel+squashfs', 'tar', 'uki', 'iso-efi', 'iso-bios', 'raw-efi', 'raw-bios', 'qcow2-efi', 'vhd', 'vmdk', 'gcp', 'aws', 'docker', 'tar-kernel-initrd', 'iso-efi-initrd'] },
  { dir: 'b', files: ['device.yml', 'verity.yml'], formats: ['kernel+initrd', 'iso', 'raw', 'qcow2-bios', 'dynamic-vhd', 'azure'] },
  { dir: 'c', files: ['device.yml'], formats: ['kernel+erofs'] },
  { dir: 'd', files: ['device.yml'], formats: ['kernel+iso'] },
  { dir: 'e', files: ['device.yml', 'slots.yml'], formats: ['update'] },
];

function cli(args: string[], cache: string) {
  return execa('node', [MAIN, ...args, '--cache', cache, '--debian-sources', join(t.dir, 'sources.yml')], {
    cwd: t.dir,
    reject: false,
    env: { SOURCE_DATE_EPOCH: '1700000000', OSBUILD_NO_COLOR: '1' },
  });
}
const bp = (name = 'device.yml') => join(t.dir, 'blueprints', name);

/** A day's cache: the components' store (hard links: blobs never change in place), no downloads. */
async function dayCache(name: string): Promise<string> {
  const dir = join(t.dir, name);
  await mkdir(dir);
  await execa('cp', ['-al', join(components, 'store'), join(dir, 'store')]);
  await cp(join(components, 'derived'), join(dir, 'derived'), { recursive: true }).catch(() => undefined);
  return dir;
}

async function helloDebs(version: string): Promise<void> {
  await archive.addDeb({ package: 'osbtest-hello', version, architecture: ARCH, files: { 'usr/share/hello/version': `hello ${version}\n` } });
}

beforeAll(async () => {
  await ensureDist();
  ({ cacheDir: components } = await componentCache(['components/dm-verity']));
  t = await tempDir('trusted-later');
  archive = await startTestArchive();
  await helloDebs('1.0-1');
  await archive.publish(DAY1);
  await archive.publishSnapshot(DAY1);
  // Debian's archives (the kernel and the components come from there) and the test's own
  const local = { url: archive.url, suites: [archive.suite], components: ['main'], keyring: archive.keyring, snapshot: archive.snapshotPattern };
  await writeFile(join(t.dir, 'sources.yml'), stringify([...DEFAULT_SOURCES, local]));
  await mkdir(join(t.dir, 'components', 'hello'), { recursive: true });
  await writeFile(join(t.dir, 'components', 'hello', 'build.yml'), 'image: osbtest/hello\ntag: "0.1.0"\narches: [amd64]\npackages:\n  - package: osbtest-hello\nconfig:\n  Cmd: ["/bin/true"]\n');
  await mkdir(join(t.dir, 'blueprints'), { recursive: true });
  await writeFile(
    bp(),
    [
      'kernel:',
      '  image: osbuild/kernel-debian-cloud:6.1',
      '  cmdline: "console=ttyS0"',
      'init:',
      '  - osbuild/init:0.1.0',
      '  - osbuild/runc:0.1.0',
      'onboot:',
      '  - name: hello',
      '    image: osbtest/hello:0.1.0',
      'files:',
      '  - {path: etc/motd, contents: "a trusted device\\n"}',
      '',
    ].join('\n'),
  );
  await writeFile(bp('verity.yml'), 'root: {type: squashfs, verity: true}\n');
  await writeFile(bp('slots.yml'), 'root: {type: squashfs, verity: true, slots: ab, version: "3"}\n');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(t.dir, 'db.key'), '-out', join(t.dir, 'db.crt'), '-days', '3650', '-subj', '/CN=osbuild test db/']);
}, 1_800_000);

afterAll(async () => {
  await archive?.close();
  await t?.cleanup();
});

describe('a trusted device built from one lock a week later', () => {
  test('the builds below cover every output format for amd64', () => {
    const covered = BUILDS.flatMap((b) => b.formats).sort();
    expect(covered).toEqual(FORMATS.filter((f) => !f.arches || f.arches.includes(ARCH)).map((f) => f.name).sort());
  });

  test('every format, signed, verified, with its SBOM: the same bytes', async () => {
    const day1 = await dayCache('day1');
    const lock = await cli(['lock', '--arch', ARCH, bp(), bp('verity.yml')], day1);
    expect(lock.exitCode, lock.stderr).toBe(0);

    const sign = ['--sign-key', join(t.dir, 'db.key'), '--sign-cert', join(t.dir, 'db.crt')];
    const build = async (cache: string, out: string) => {
      for (const b of BUILDS) {
        const args = ['build', '--locked', '--arch', ARCH, ...sign, '--sbom', 'spdx,cyclonedx', '-o', join(out, b.dir), ...b.formats.flatMap((f) => ['-f', f])];
        const r = await cli([...args, ...b.files.map((f) => bp(f))], cache);
        expect(r.exitCode, `${b.formats.join(' ')}: ${r.stderr}`).toBe(0);
      }
    };
    await build(day1, 'out1');

    // a week later: 2.0-1 replaces 1.0-1, which the archive's pool no longer has
    await helloDebs('2.0-1');
    await archive.removeFile(`pool/main/osbtest-hello_1.0-1_${ARCH}.deb`);
    await archive.publish(DAY2);
    archive.requests.length = 0;
    await build(await dayCache('day2'), 'out2');
    expect(archive.requests).toContain(`/snapshot/20260202T030405Z/pool/main/osbtest-hello_1.0-1_${ARCH}.deb`);

    for (const { dir, formats } of BUILDS) {
      const names = (await readdir(join(t.dir, 'out1', dir))).sort();
      expect(names.length).toBeGreaterThan(formats.length);
      expect((await readdir(join(t.dir, 'out2', dir))).sort()).toEqual(names);
      for (const n of names) {
        const [a, b] = [await readFile(join(t.dir, 'out1', dir, n)), await readFile(join(t.dir, 'out2', dir, n))];
        expect(b.equals(a), `${dir}/${n} differs a week later`).toBe(true);
      }
    }
    const out = (n: string) => join(t.dir, 'out1', 'a', n);
    // what the files are: a signature sbverify accepts, a verified root, an SBOM naming the old .deb
    expect((await execa('sbverify', ['--cert', join(t.dir, 'db.crt'), out('device.efi')], { reject: false })).exitCode).toBe(0);
    expect(await readFile(out('device-cmdline'), 'utf8')).toMatch(/osbuild\.verity=[0-9a-f]{64}/);
    const spdx = JSON.parse(await readFile(out('device.spdx.json'), 'utf8')) as { packages: { name: string; versionInfo?: string }[] };
    expect(spdx.packages).toContainEqual(expect.objectContaining({ name: 'osbtest-hello', versionInfo: '1.0-1' }));
    expect(JSON.parse(await readFile(out('device.pcr11.json'), 'utf8'))).toHaveProperty('sha256');
  }, 1_200_000);
});
