// The SBOM of a build, end to end: images made by umoci whose labels record real Debian .debs
// (fetched from Debian, licenses read from their copyright files), a files section, built
// through the CLI. Oracles: @cyclonedx/cyclonedx-library's JSON schema validator (CycloneDX 1.5),
// packageurl-js (purls), spdx-expression-parse (license expressions), Python's uuid module
// (the serial number), sha256sum / GNU tar (the hashes of the files, the copy in the image),
// umoci's index.json (image digests), sha256sum of the .debs (their checksums).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PackageURL } from 'packageurl-js';
import parseLicense from 'spdx-expression-parse';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { importLayout } from '../../src/oci/import.js';
import { AptRepo } from '../../src/pkg/apt.js';
import { licenseOf } from '../../src/pkg/license.js';
import { makeImage } from '../helpers/oci-image.js';
import { testCacheDir } from '../helpers/debian-kernel.js';
import { ensureDist, MAIN } from '../helpers/dist.js';
import { checkSpdxStructure } from './helpers.js';

interface Rec { package: string; version: string; architecture: string; sha256: string; archive: string; filename: string; license?: string }

let work: string;
let cacheDir: string;
let bp: string;
const debs = new Map<string, { path: string; rec: Rec }>();
const digests = new Map<string, string>();
const EPOCH = '1700000000';

async function record(pkg: string): Promise<Rec> {
  const d = await new AptRepo(testCacheDir(), 'amd64').fetch(pkg);
  const copyright = (await execa('sh', ['-c', `dpkg-deb --fsys-tarfile '${d.path}' | tar -xOf - ./usr/share/doc/${pkg}/copyright`], { reject: false })).stdout;
  const license = licenseOf(copyright);
  const rec: Rec = { package: d.info.package, version: d.info.version, architecture: d.info.architecture, sha256: d.info.sha256, archive: 'http://deb.debian.org/debian', filename: d.info.filename, ...(license ? { license } : {}) };
  debs.set(pkg, { path: d.path, rec });
  return rec;
}

async function image(name: string, tag: string, script: string, recs: Rec[]): Promise<void> {
  const sorted = [...recs].sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
  const img = await makeImage({ tag, layers: [{ script }], labels: recs.length ? { 'org.osbuild.debian.packages': JSON.stringify(sorted) } : {} });
  const store = await Store.open(join(cacheDir, 'store'));
  await importLayout(store, img.layout, { ref: `sbomtest/${name}` });
  // the manifest digest umoci wrote: the oracle for the SBOM's image digests
  const index = JSON.parse(await readFile(join(img.layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  digests.set(`sbomtest/${name}:${tag}`, index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!.digest);
}

async function osbuild(args: string[], env: Record<string, string> = {}) {
  return execa('node', [MAIN, ...args], { reject: false, cwd: work, env: { SOURCE_DATE_EPOCH: EPOCH, ...env } });
}

async function tarFile(tar: string, path: string): Promise<string> {
  return (await execa('tar', ['-xOf', tar, path])).stdout;
}

beforeAll(async () => {
  await ensureDist();
  work = await mkdtemp(join(tmpdir(), 'osbuild-sbom-'));
  cacheDir = join(work, 'cache');
  const busybox = await record('busybox-static');
  const libc = await record('libc6');
  const seccomp = await record('libseccomp2');
  const linux = { ...libc, package: 'linux-image-6.1.0-99-cloud-amd64', version: '6.1.999-1', sha256: 'a'.repeat(64), filename: 'pool/main/l/linux/x.deb', license: 'GPL-2.0-only' };
  await image('kernel', '1', 'printf fake-kernel > kernel', [linux]);
  await image('init', '1', 'mkdir -p bin etc && printf init > init && echo root:x:0:0::/root:/bin/sh > etc/passwd', [busybox, libc]);
  // a second image holding a package the init holds too: one package, two CONTAINS
  await image('svc', '1', 'mkdir -p bin && printf svc > bin/svc', [libc, seccomp]);
  await image('plain', '1', 'printf x > x', []);
  await writeFile(join(work, 'host.txt'), 'a file from the host\n');
  bp = join(work, 'sys.yml');
  await writeFile(
    bp,
    [
      'kernel:',
      '  image: sbomtest/kernel:1',
      '  tar: none',
      'init:',
      '  - sbomtest/init:1',
      'onboot:',
      '  - name: one',
      '    image: sbomtest/plain:1',
      '    command: ["/x"]',
      'services:',
      '  - name: svc',
      '    image: sbomtest/svc:1',
      '    command: ["/bin/svc"]',
      'files:',
      '  - path: etc/motd',
      '    contents: "hello\\n"',
      '  - path: etc/from-host',
      '    source: host.txt',
      '  - path: var/empty',
      '    directory: true',
      '  - path: etc/link',
      '    symlink: motd',
      '',
    ].join('\n'),
  );
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the SBOM', () => {
  it('SPDX 2.3 beside the outputs and the same bytes in the image, listing images, packages, kernel and files', async () => {
    const out = join(work, 'a');
    const r = await osbuild(['build', '-f', 'tar', '--arch', 'amd64', '--cache', cacheDir, '-o', out, bp]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual([join(out, 'sys.tar'), join(out, 'sys.spdx.json')]);
    const text = await readFile(join(out, 'sys.spdx.json'), 'utf8');
    // the copy in the image is the same document (GNU tar reads it)
    expect(await tarFile(join(out, 'sys.tar'), 'etc/osbuild/sbom.spdx.json')).toBe(text.trimEnd());
    const doc = JSON.parse(text);
    checkSpdxStructure(doc);
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    expect(doc.creationInfo.created).toBe('2023-11-14T22:13:20Z');
    expect(doc.documentNamespace).toMatch(/^https:\/\/osbuild\.dev\/spdx\/sys-[0-9a-f]{64}$/);

    const byId = new Map<string, any>(doc.packages.map((p: any) => [p.SPDXID, p]));
    const rel = (type: string, from: string) => doc.relationships.filter((x: any) => x.relationshipType === type && x.spdxElementId === from).map((x: any) => x.relatedSpdxElement);
    const [system] = rel('DESCRIBES', 'SPDXRef-DOCUMENT');
    expect(byId.get(system).primaryPackagePurpose).toBe('OPERATING-SYSTEM');

    // every image, by the digest umoci gave it, with an oci purl holding that digest
    const images = rel('CONTAINS', system).filter((id: string) => byId.get(id)?.primaryPackagePurpose === 'CONTAINER').map((id: string) => byId.get(id));
    expect(images.map((p: any) => p.name)).toEqual(['docker.io/sbomtest/kernel:1', 'docker.io/sbomtest/init:1', 'docker.io/sbomtest/plain:1', 'docker.io/sbomtest/svc:1']);
    for (const p of images) {
      const ref = p.name.replace(/^docker\.io\//, '');
      expect(p.versionInfo).toBe(digests.get(ref));
      const purl = PackageURL.fromString(p.externalRefs[0].referenceLocator);
      expect(purl.toString()).toBe(p.externalRefs[0].referenceLocator);
      expect([purl.type, purl.name, purl.version, purl.qualifiers?.repository_url, purl.qualifiers?.tag, purl.qualifiers?.arch]).toEqual(['oci', ref.split(/[/:]/)[1], digests.get(ref), `docker.io/${ref.split(':')[0]}`, '1', 'amd64']);
    }

    // each image CONTAINS the packages of its label: name, version, purl, the .deb's sha256, license
    const contained = (img: any) => rel('CONTAINS', img.SPDXID).map((id: string) => byId.get(id)).filter((p: any) => p?.primaryPackagePurpose === 'INSTALL');
    expect(contained(images[1]).map((p: any) => p.name)).toEqual(['busybox-static', 'libc6']);
    expect(contained(images[3]).map((p: any) => p.name)).toEqual(['libc6', 'libseccomp2']);
    expect(contained(images[2])).toEqual([]);
    expect(doc.packages.filter((p: any) => p.name === 'libc6')).toHaveLength(1);
    for (const [pkg, { path, rec }] of debs) {
      const p = doc.packages.find((x: any) => x.name === pkg);
      expect(p.versionInfo, pkg).toBe(rec.version);
      const sum = (await execa('sha256sum', [path])).stdout.split(' ')[0];
      expect(p.checksums, pkg).toEqual([{ algorithm: 'SHA256', checksumValue: sum }]);
      expect(p.downloadLocation).toBe(`http://deb.debian.org/debian/${rec.filename}`);
      const purl = PackageURL.fromString(p.externalRefs[0].referenceLocator);
      expect(purl.toString()).toBe(p.externalRefs[0].referenceLocator);
      expect([purl.type, purl.namespace, purl.name, purl.version, purl.qualifiers?.arch]).toEqual(['deb', 'debian', pkg, rec.version, 'amd64']);
      expect(p.licenseDeclared).toBe(rec.license ?? 'NOASSERTION');
      if (rec.license) expect(() => parseLicense(rec.license!)).not.toThrow();
    }
    // libseccomp2's copyright file is machine-readable (its license is known), busybox's is not
    expect(doc.packages.find((x: any) => x.name === 'libseccomp2').licenseDeclared).toBe('LGPL-2.1-only');
    expect(doc.packages.find((x: any) => x.name === 'busybox-static').licenseDeclared).toBe('NOASSERTION');

    // the kernel, in the kernel image, with the release its linux-image package names
    const kernel = rel('CONTAINS', images[0].SPDXID).map((id: string) => byId.get(id)).find((p: any) => p.name === 'kernel');
    expect(kernel.versionInfo).toBe('6.1.0-99-cloud-amd64');

    // the regular files of the files section, hashed as sha256sum hashes them out of the tar
    const files = doc.files.map((f: any) => f.fileName);
    expect(files).toEqual(['./etc/motd', './etc/from-host']);
    const x = join(work, 'x');
    await mkdir(x);
    await execa('tar', ['-xf', join(out, 'sys.tar'), '-C', x, 'etc/motd', 'etc/from-host']);
    for (const f of doc.files) {
      const sha256 = (await execa('sha256sum', [join(x, f.fileName)])).stdout.split(' ')[0];
      const sha1 = (await execa('sha1sum', [join(x, f.fileName)])).stdout.split(' ')[0];
      expect(f.checksums).toEqual([{ algorithm: 'SHA1', checksumValue: sha1 }, { algorithm: 'SHA256', checksumValue: sha256 }]);
      expect(rel('CONTAINS', system)).toContain(f.SPDXID);
    }
  }, 300_000);

  it('--sbom spdx,cyclonedx: a CycloneDX 1.5 BOM the CycloneDX schema accepts, in the image too', async () => {
    const out = join(work, 'b');
    const r = await osbuild(['build', '-f', 'tar', '--arch', 'amd64', '--cache', cacheDir, '-o', out, '--sbom', 'spdx,cyclonedx', bp]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(-2)).toEqual([join(out, 'sys.spdx.json'), join(out, 'sys.cdx.json')]);
    const text = await readFile(join(out, 'sys.cdx.json'), 'utf8');
    expect(await tarFile(join(out, 'sys.tar'), 'etc/osbuild/sbom.cdx.json')).toBe(text.trimEnd());
    const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot5);
    expect(await validator.validate(text)).toBeNull();
    // the oracle rejects what it should: a component without its name
    const broken = JSON.parse(text);
    delete broken.components[0].name;
    expect(await validator.validate(JSON.stringify(broken))).not.toBeNull();

    const bom = JSON.parse(text);
    expect(bom.metadata.timestamp).toBe('2023-11-14T22:13:20Z');
    // the serial number is the version 5 UUID (URL namespace) of the SPDX document namespace, as Python computes it
    const spdx = JSON.parse(await readFile(join(out, 'sys.spdx.json'), 'utf8'));
    const uuid = (await execa('/usr/bin/python3', ['-c', 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]))', spdx.documentNamespace])).stdout;
    expect(bom.serialNumber).toBe(`urn:uuid:${uuid}`);
    const comp = (name: string) => bom.components.find((c: any) => c.name === name);
    expect(comp('libc6').purl).toBe(spdx.packages.find((p: any) => p.name === 'libc6').externalRefs[0].referenceLocator);
    expect(comp('docker.io/sbomtest/svc:1').version).toBe(digests.get('sbomtest/svc:1'));
    const deps = new Map(bom.dependencies.map((d: any) => [d.ref, d.dependsOn]));
    expect(deps.get(comp('docker.io/sbomtest/svc:1')['bom-ref'])).toEqual([comp('libc6')['bom-ref'], comp('libseccomp2')['bom-ref']]);
    expect(deps.get(bom.metadata.component['bom-ref'])).toContain(comp('/etc/motd')['bom-ref']);
  }, 300_000);

  it('is deterministic: the same inputs give the same bytes; the epoch and each input change it', async () => {
    const run = async (dir: string, env: Record<string, string> = {}, file = bp) => {
      const r = await osbuild(['build', '-f', 'tar', '--arch', 'amd64', '--cache', cacheDir, '-o', join(work, dir), '--name', 'sys', '--sbom', 'spdx,cyclonedx', file], env);
      expect(r.exitCode, r.stderr).toBe(0);
      return Promise.all(['sys.spdx.json', 'sys.cdx.json', 'sys.tar'].map((f) => readFile(join(work, dir, f))));
    };
    const [a, b] = [await run('d1'), await run('d2')];
    for (let i = 0; i < a.length; i++) expect(a[i].equals(b[i]), String(i)).toBe(true);
    const ns = (buf: Buffer) => JSON.parse(buf.toString()).documentNamespace;
    const later = await run('d3', { SOURCE_DATE_EPOCH: '1700000001' });
    expect(JSON.parse(later[0].toString()).creationInfo.created).toBe('2023-11-14T22:13:21Z');
    expect(ns(later[0])).not.toBe(ns(a[0]));
    const other = join(work, 'sys2.yml');
    await writeFile(other, (await readFile(bp, 'utf8')).replace('hello\\n', 'hello!\\n'));
    const changed = await run('d4', {}, other);
    expect(ns(changed[0])).not.toBe(ns(a[0]));
    expect(JSON.parse(changed[1].toString()).serialNumber).not.toBe(JSON.parse(a[1].toString()).serialNumber);
  }, 300_000);

  it('--sbom none writes none; a bad --sbom is a usage error; a bad label names the image', async () => {
    const out = join(work, 'n');
    const r = await osbuild(['build', '-f', 'tar', '--arch', 'amd64', '--cache', cacheDir, '-o', out, '--sbom', 'none', bp]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await readdir(out)).toEqual(['sys.tar']);
    expect((await execa('tar', ['-tf', join(out, 'sys.tar')])).stdout).not.toMatch(/sbom/);

    const bad = await osbuild(['build', '-f', 'tar', '--cache', cacheDir, '-o', join(work, 'u'), '--sbom', 'spdx,swid', bp]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--sbom spdx,swid: unknown SBOM format "swid"/);

    await image('broken', '1', 'printf x > x', [{ package: 'x' } as Rec]);
    const bp2 = join(work, 'broken.yml');
    await writeFile(bp2, 'init:\n  - sbomtest/broken:1\n');
    const out2 = join(work, 'broken-out');
    const e = await osbuild(['build', '-f', 'tar', '--arch', 'amd64', '--cache', cacheDir, '-o', out2, bp2]);
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toMatch(/image sbomtest\/broken:1, label org\.osbuild\.debian\.packages: .*does not match its schema/);
    expect(await readdir(out2).catch(() => [])).toEqual([]);
  }, 300_000);
});
