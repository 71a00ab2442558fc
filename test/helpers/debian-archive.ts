// A real, signed Debian archive on 127.0.0.1 for tests: .debs made by dpkg-deb (and real ones
// copied in), Packages by dpkg-scanpackages, Release by apt-ftparchive, InRelease signed by gpg
// with a key made for the test in a temporary GNUPGHOME. A second tree stands for the snapshot
// service: /snapshot/<timestamp>/ serves it, for the one timestamp it is published under.
import { execa } from 'execa';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TinyDeb {
  package: string;
  version: string;
  /** A Debian arch (amd64, arm64) or all. */
  architecture: string;
  depends?: string;
  /** Files in the package: path (no leading /) -> contents. */
  files: Record<string, string>;
}

export interface TestArchive {
  /** Base URL of the archive: http://127.0.0.1:PORT/debian */
  url: string;
  /** The snapshot pattern for sources: http://127.0.0.1:PORT/snapshot/{timestamp}/ */
  snapshotPattern: string;
  /** Binary keyring holding the signing key's public part. */
  keyring: string;
  /** The archive's tree (pool/, dists/). */
  dir: string;
  /** The snapshot's tree, and the timestamp it answers to (set by publishSnapshot). */
  snapshotDir: string;
  snapshotTimestamp?: string;
  suite: string;
  /** Adds (or replaces) a .deb made by dpkg-deb in the pool; call publish() after. */
  addDeb(deb: TinyDeb): Promise<string>;
  /** Copies a real .deb into the pool. */
  addFile(debPath: string, poolName: string): Promise<string>;
  /** Removes a pool file (a version the archive dropped). */
  removeFile(poolPath: string): Promise<void>;
  /** Regenerates Packages, Release and InRelease (signed) for `date`. */
  publish(date: Date): Promise<void>;
  /** Copies the current tree to the snapshot tree, served under the timestamp of `date`. */
  publishSnapshot(date: Date): Promise<void>;
  /** Paths served so far (for asserting where a .deb came from). */
  requests: string[];
  close(): Promise<void>;
}

function timestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
}

async function serveFile(root: string, rel: string, res: http.ServerResponse): Promise<void> {
  const file = join(root, rel);
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile() || rel.split('/').includes('..')) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-length': st.size });
  createReadStream(file).pipe(res);
}

export async function startTestArchive(opts: { suite?: string; arches?: string[] } = {}): Promise<TestArchive> {
  const suite = opts.suite ?? 'osbtest';
  const arches = opts.arches ?? ['amd64', 'arm64'];
  const base = await mkdtemp(join(tmpdir(), 'osbuild-archive-'));
  const dir = join(base, 'archive');
  const snapshotDir = join(base, 'snapshot');
  const gnupg = join(base, 'gnupg');
  const build = join(base, 'build');
  await mkdir(join(dir, 'pool', 'main'), { recursive: true });
  await mkdir(gnupg, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: gnupg, LC_ALL: 'C' };
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'osbuild test archive <archive@osbuild.test>', 'ed25519', 'sign', 'never'], { env });
  const keyring = join(base, 'archive-keyring.gpg');
  const listed = await execa('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8' });
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(listed.stdout)?.[1];
  if (!fpr) throw new Error(`test archive: gpg made no key:\n${listed.stdout}`);
  // bytes: execa would otherwise strip a final 0x0a, and one key in 256 would be cut short
  const exported = await execa('gpg', ['--export', fpr], { env, encoding: 'buffer', stripFinalNewline: false });
  await writeFile(keyring, exported.stdout);

  const requests: string[] = [];
  const archive: Partial<TestArchive> = {};
  const server = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(p);
    const snap = /^\/snapshot\/([^/]+)\/(.*)$/.exec(p);
    if (p.startsWith('/debian/')) void serveFile(dir, p.slice('/debian/'.length), res);
    else if (snap && snap[1] === archive.snapshotTimestamp) void serveFile(snapshotDir, snap[2], res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  const poolPath = (name: string) => join('pool', 'main', name);
  Object.assign(archive, {
    url: `http://127.0.0.1:${port}/debian`,
    snapshotPattern: `http://127.0.0.1:${port}/snapshot/{timestamp}/`,
    keyring,
    dir,
    snapshotDir,
    suite,
    requests,
    async addDeb(deb: TinyDeb) {
      const root = join(build, `${deb.package}_${deb.version}_${deb.architecture}`);
      await rm(root, { recursive: true, force: true });
      await mkdir(join(root, 'DEBIAN'), { recursive: true });
      for (const [p, text] of Object.entries(deb.files)) {
        await mkdir(join(root, p, '..'), { recursive: true });
        await writeFile(join(root, p), text);
      }
      const control = [
        `Package: ${deb.package}`,
        `Version: ${deb.version}`,
        `Architecture: ${deb.architecture}`,
        'Maintainer: osbuild tests <tests@osbuild.test>',
        ...(deb.depends ? [`Depends: ${deb.depends}`] : []),
        `Description: test package ${deb.package}`,
        '',
      ].join('\n');
      await writeFile(join(root, 'DEBIAN', 'control'), control);
      const name = `${deb.package}_${deb.version.replace(/^\d+:/, '')}_${deb.architecture}.deb`;
      await execa('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, join(dir, poolPath(name))], { env: { SOURCE_DATE_EPOCH: '0' } });
      return poolPath(name);
    },
    async addFile(debPath: string, poolName: string) {
      await copyFile(debPath, join(dir, poolPath(poolName)));
      return poolPath(poolName);
    },
    async removeFile(p: string) {
      await rm(join(dir, p), { force: true });
    },
    async publish(date: Date) {
      const dists = join(dir, 'dists', suite);
      await rm(dists, { recursive: true, force: true });
      for (const arch of arches) {
        const bin = join(dists, 'main', `binary-${arch}`);
        await mkdir(bin, { recursive: true });
        const { stdout } = await execa('dpkg-scanpackages', ['--multiversion', '--arch', arch, 'pool'], { cwd: dir, encoding: 'buffer', stripFinalNewline: false });
        await writeFile(join(bin, 'Packages'), stdout);
        await execa('gzip', ['-9nk', join(bin, 'Packages')]);
      }
      const rel = await execa(
        'apt-ftparchive',
        [
          `-oAPT::FTPArchive::Release::Suite=${suite}`,
          `-oAPT::FTPArchive::Release::Codename=${suite}`,
          `-oAPT::FTPArchive::Release::Architectures=${arches.join(' ')}`,
          '-oAPT::FTPArchive::Release::Components=main',
          'release',
          '.',
        ],
        { cwd: dists, encoding: 'utf8' },
      );
      // apt-ftparchive dates the Release now: the test's clock decides instead
      const text = rel.stdout.replace(/^Date: .*$/m, `Date: ${date.toUTCString().replace('GMT', 'UTC')}`);
      await writeFile(join(dists, 'Release'), text.endsWith('\n') ? text : `${text}\n`);
      await execa('gpg', ['--batch', '--yes', '--local-user', fpr, '--clearsign', '--digest-algo', 'SHA256', '-o', join(dists, 'InRelease'), join(dists, 'Release')], { env });
      // the fixture checks itself: a test must not fail for a signature the helper got wrong
      const check = await execa('gpgv', ['--status-fd', '1', '--keyring', keyring, join(dists, 'InRelease')], { reject: false, encoding: 'utf8' });
      if (check.exitCode !== 0) throw new Error(`test archive: gpgv refuses the InRelease just signed with ${fpr}:\n${check.stdout}\n${check.stderr}`);
    },
    async publishSnapshot(date: Date) {
      await rm(snapshotDir, { recursive: true, force: true });
      await execa('cp', ['-a', dir, snapshotDir]);
      archive.snapshotTimestamp = timestamp(date);
    },
    async close() {
      await execa('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false });
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(base, { recursive: true, force: true });
    },
  });
  return archive as TestArchive;
}

/** Files of a directory, for debugging a failing test. */
export async function listTree(d: string): Promise<string[]> {
  return (await readdir(d, { recursive: true })).map(String).sort();
}
