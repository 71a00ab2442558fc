// The SBOM of a reference blueprint built from this checkout's components: every image comes
// from Debian packages and records them (org.osbuild.debian.packages), so the SBOM lists real
// .debs. Oracles: sha256sum of the .debs the component builds downloaded, `file` (the kernel's
// release in its header), GNU tar (the copy in the image), the CycloneDX 1.5 schema
// (@cyclonedx/cyclonedx-library), packageurl-js, spdx-expression-parse.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { PackageURL } from 'packageurl-js';
import parseLicense from 'spdx-expression-parse';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { componentCache, REPO } from '../helpers/components.js';
import { checkSpdxStructure } from './helpers.js';

const minimal = join(REPO, 'blueprints/minimal.yml');
let cacheDir: string;
let downloads: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir, downloads } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-sbom-ref-'));
}, 1_800_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the SBOM of blueprints/minimal.yml', () => {
  it('lists every image with the Debian packages it was built from, the kernel, byte-identical across builds', async () => {
    const outs = [join(work, 'a'), join(work, 'b')];
    for (const outDir of outs) {
      const r = await build({ files: [minimal], formats: ['kernel+initrd', 'tar'], arch: 'amd64', outDir, cacheDir, sourceDateEpoch: 1_700_000_000, sbom: ['spdx', 'cyclonedx'] });
      expect(r.sbom.map((f) => basename(f.path))).toEqual(['minimal.spdx.json', 'minimal.cdx.json']);
    }
    for (const f of ['minimal.spdx.json', 'minimal.cdx.json', 'minimal-initrd.img', 'minimal.tar']) {
      expect((await readFile(join(outs[0], f))).equals(await readFile(join(outs[1], f))), f).toBe(true);
    }
    const out = outs[0];
    const text = await readFile(join(out, 'minimal.spdx.json'), 'utf8');
    expect((await execa('tar', ['-xOf', join(out, 'minimal.tar'), 'etc/osbuild/sbom.spdx.json'])).stdout).toBe(text.trimEnd());
    const cdx = await readFile(join(out, 'minimal.cdx.json'), 'utf8');
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot5).validate(cdx)).toBeNull();

    const doc = JSON.parse(text);
    checkSpdxStructure(doc);
    const byId = new Map<string, any>(doc.packages.map((p: any) => [p.SPDXID, p]));
    const contains = (id: string) => doc.relationships.filter((r: any) => r.relationshipType === 'CONTAINS' && r.spdxElementId === id).map((r: any) => byId.get(r.relatedSpdxElement)).filter(Boolean);
    const system = doc.relationships.find((r: any) => r.relationshipType === 'DESCRIBES').relatedSpdxElement;
    const images = contains(system).filter((p: any) => p.primaryPackagePurpose === 'CONTAINER');
    expect(images.map((p: any) => p.name)).toEqual([
      'docker.io/osbuild/kernel-debian-cloud:6.1',
      'docker.io/osbuild/init:0.1.0',
      'docker.io/osbuild/runc:0.1.0',
      'docker.io/osbuild/busybox:0.1.0',
      'docker.io/osbuild/getty:0.1.0',
    ]);
    // every image was built from Debian packages, and says which
    for (const img of images) expect(contains(img.SPDXID).filter((p: any) => p.primaryPackagePurpose === 'INSTALL').length, img.name).toBeGreaterThan(0);
    expect(contains(images[3].SPDXID).map((p: any) => p.name)).toContain('busybox-static');
    expect(contains(images[2].SPDXID).map((p: any) => p.name)).toContain('runc');

    // each package: its .deb's sha256 as sha256sum computes it on the file the build downloaded
    const debs = doc.packages.filter((p: any) => p.primaryPackagePurpose === 'INSTALL');
    let checked = 0;
    for (const p of debs) {
      const purl = PackageURL.fromString(p.externalRefs[0].referenceLocator);
      expect(purl.toString()).toBe(p.externalRefs[0].referenceLocator);
      expect([purl.type, purl.namespace, purl.name, purl.version]).toEqual(['deb', 'debian', p.name, p.versionInfo]);
      if (p.licenseDeclared !== 'NOASSERTION') expect(() => parseLicense(p.licenseDeclared)).not.toThrow();
      expect(p.downloadLocation).toMatch(/^https?:\/\/.+\/pool\/.+\.deb$/);
      const file = join(downloads, 'debian', purl.qualifiers!.arch === 'all' ? 'amd64' : purl.qualifiers!.arch, 'debs', basename(p.downloadLocation));
      if (!(await stat(file).catch(() => undefined))) continue;
      expect(p.checksums[0].checksumValue, p.name).toBe((await execa('sha256sum', [file])).stdout.split(' ')[0]);
      checked++;
    }
    expect(checked).toBeGreaterThan(debs.length / 2);

    // the kernel: its release as `file` reads it from the kernel's own header
    const kernel = contains(images[0].SPDXID).find((p: any) => p.name === 'kernel');
    const release = /version (\S+)/.exec((await execa('file', ['-b', join(out, 'minimal-kernel')])).stdout)?.[1];
    expect(kernel.versionInfo).toBe(release);
    expect(contains(images[0].SPDXID).map((p: any) => p.name)).toContain(`linux-image-${release}`);
  }, 600_000);
});
