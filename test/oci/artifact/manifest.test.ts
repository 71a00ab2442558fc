// The artifact documents, without a registry: reproducible bytes, the media type family covering
// every file of every output format, and the refusal of manifests that are not ours or that name
// files outside the output directory.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FORMATS } from '../../../src/build/outputs.js';
import { artifactManifest, fileNameProblem, readArtifactManifest, referrerManifest, referrersTag, withReferrer, type ArtifactFile } from '../../../src/oci/artifact/manifest.js';
import { artifactTypeOf, EMPTY_CONFIG, EMPTY_CONFIG_BYTES, fileMediaType, sbomMediaType } from '../../../src/oci/artifact/media-types.js';
import { ArtifactError } from '../../../src/oci/artifact/errors.js';

const digestOf = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const file = (name: string, format?: string): ArtifactFile => ({ name, mediaType: fileMediaType(name), digest: digestOf(name), size: name.length, ...(format ? { format } : {}) });
const files = [file('m-kernel', 'kernel+initrd'), file('m-initrd.img', 'kernel+initrd'), file('m-cmdline', 'kernel+initrd')];
const info = { name: 'm', arch: 'amd64', formats: ['kernel+initrd'], epoch: 1_700_000_000, lockDigest: digestOf('lock') };

function refused(fn: () => unknown): ArtifactError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ArtifactError);
    return e as ArtifactError;
  }
  throw new Error('not refused');
}

describe('artifact manifest', () => {
  it('an A/B update: its two files are of their own kinds, and the version is an annotation', () => {
    const update = [file('dev-update-root.img', 'update'), file('dev-update.efi', 'update')];
    expect(update.map((f) => f.mediaType)).toEqual(['application/vnd.osbuild.file.update-root.v1', 'application/vnd.osbuild.file.update-uki.v1']);
    const doc = JSON.parse(artifactManifest(update, { ...info, formats: ['update'], version: '2' }).bytes.toString());
    expect(doc.artifactType).toBe('application/vnd.osbuild.update.v1');
    expect(doc.annotations['org.osbuild.version']).toBe('2');
    expect(JSON.parse(artifactManifest(files, info).bytes.toString()).annotations).not.toHaveProperty('org.osbuild.version');
  });

  it('is the same bytes for the same files, whatever order they are listed in', () => {
    const a = artifactManifest(files, info);
    const b = artifactManifest([...files].reverse(), info);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    expect(a.descriptor.digest).toBe(digestOf(a.bytes.toString()));
    // another time, lock or arch is another manifest
    expect(artifactManifest(files, { ...info, epoch: 1 }).descriptor.digest).not.toBe(a.descriptor.digest);
    expect(artifactManifest(files, { ...info, lockDigest: undefined }).descriptor.digest).not.toBe(a.descriptor.digest);
  });

  it('is an OCI 1.1 artifact: artifactType, the empty config, one titled layer per file, the annotations', () => {
    const doc = JSON.parse(artifactManifest(files, info).bytes.toString());
    expect(doc.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(doc.artifactType).toBe('application/vnd.osbuild.kernel-initrd.v1');
    expect(doc.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}'), size: 2 });
    expect(EMPTY_CONFIG.digest).toBe(digestOf(EMPTY_CONFIG_BYTES.toString()));
    expect(doc.layers.map((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title'])).toEqual(['m-cmdline', 'm-initrd.img', 'm-kernel']);
    expect(doc.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.osbuild.file.cmdline.v1', 'application/vnd.osbuild.file.initrd.v1', 'application/vnd.osbuild.file.kernel.v1']);
    expect(doc.annotations).toEqual({
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.osbuild.blueprint.name': 'm',
      'org.osbuild.arch': 'amd64',
      'org.osbuild.formats': 'kernel+initrd',
      'org.osbuild.lock.digest': digestOf('lock'),
    });
    // several formats: the outputs type
    expect(artifactTypeOf(['iso', 'qcow2-efi'])).toBe('application/vnd.osbuild.outputs.v1');
  });

  it('has a distinct artifact type for every output format, and a file type for every file each writes', () => {
    const types = FORMATS.map((f) => artifactTypeOf([f.name]));
    expect(new Set(types).size).toBe(FORMATS.length);
    for (const t of types) expect(t).toMatch(/^application\/vnd\.osbuild\.[a-z0-9.-]+\.v1$/);
    for (const f of FORMATS) for (const name of f.files('sys')) expect(fileMediaType(name), `${f.name}: ${name}`).toMatch(/^application\/vnd\.osbuild\.file\.[a-z0-9-]+\.v1$/);
    expect(fileMediaType('notes.txt')).toBe('application/octet-stream');
    expect(sbomMediaType('sys.spdx.json')).toBe('application/spdx+json');
    expect(sbomMediaType('sys.cdx.json')).toBe('application/vnd.cyclonedx+json');
    expect(sbomMediaType('sys.json')).toBeUndefined();
  });

  it('refuses names that are not one printable file name, and a name twice', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'x\x1b]0;t\x07', 'x\ny', 'a'.repeat(181)]) expect(fileNameProblem(bad), JSON.stringify(bad)).toBeDefined();
    expect(fileNameProblem('minimal-efi.iso')).toBeUndefined();
    expect(refused(() => artifactManifest([file('m-kernel'), file('m-kernel')], info)).message).toMatch(/two files are named m-kernel/);
    expect(refused(() => artifactManifest([], info)).code).toBe('EARTIFACT');
  });
});

describe('reading a fetched manifest', () => {
  const ours = artifactManifest(files, info);

  it('gives back every file with its digest, size and title', () => {
    const r = readArtifactManifest(ours.bytes, 'x');
    expect(r.artifactType).toBe('application/vnd.osbuild.kernel-initrd.v1');
    expect(r.files.map((f) => [f.name, f.digest, f.size, f.format])).toEqual(['m-cmdline', 'm-initrd.img', 'm-kernel'].map((n) => [n, digestOf(n), n.length, 'kernel+initrd']));
  });

  it('refuses a container image, an index and another tool\'s artifact', () => {
    const image = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('c'), size: 1 }, layers: [] };
    expect(refused(() => readArtifactManifest(Buffer.from(JSON.stringify(image)), 'reg/app:1')).message).toBe('reg/app:1 is a container image, not an osbuild artifact');
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
    expect(refused(() => readArtifactManifest(Buffer.from(JSON.stringify(index)), 'reg/app:1')).code).toBe('ENOTARTIFACT');
    const helm = { ...image, config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: digestOf('c'), size: 1 } };
    expect(refused(() => readArtifactManifest(Buffer.from(JSON.stringify(helm)), 'reg/chart:1')).message).toMatch(/an artifact of type application\/vnd\.cncf\.helm\.config\.v1\+json, not an osbuild artifact/);
  });

  it('refuses titles that would write outside the directory, duplicates and untitled layers', () => {
    const doc = JSON.parse(ours.bytes.toString());
    const titled = (t: string | undefined) => Buffer.from(JSON.stringify({ ...doc, layers: [{ ...doc.layers[0], annotations: t === undefined ? {} : { 'org.opencontainers.image.title': t } }] }));
    for (const t of ['../../etc/passwd', '/etc/passwd', '..', 'a\x1b[2Jb']) {
      const e = refused(() => readArtifactManifest(titled(t), 'reg/x:1'));
      expect(e.code).toBe('EARTIFACT');
      expect(e.message).not.toMatch(/\x1b/);
    }
    expect(refused(() => readArtifactManifest(titled(undefined), 'reg/x:1')).message).toMatch(/has no org\.opencontainers\.image\.title/);
    const twice = Buffer.from(JSON.stringify({ ...doc, layers: [doc.layers[0], { ...doc.layers[1], annotations: doc.layers[0].annotations }] }));
    expect(refused(() => readArtifactManifest(twice, 'reg/x:1')).message).toMatch(/two layers are titled m-cmdline/);
  });
});

describe('referrers', () => {
  const subject = artifactManifest(files, info);
  const sbom = referrerManifest(subject.descriptor, { name: 'm.spdx.json', mediaType: 'application/spdx+json', digest: digestOf('s'), size: 1 }, info.epoch);

  it('an SBOM is a manifest whose subject is the artifact', () => {
    const doc = JSON.parse(sbom.bytes.toString());
    expect(doc.artifactType).toBe('application/spdx+json');
    expect(doc.subject).toEqual({ mediaType: subject.descriptor.mediaType, digest: subject.descriptor.digest, size: subject.descriptor.size });
    expect(referrersTag(subject.descriptor.digest)).toBe(`sha256-${subject.descriptor.digest.slice(7)}`);
  });

  it('the referrers tag index gains a referrer once and keeps the others', () => {
    const first = withReferrer(undefined, sbom, { a: '1' })!;
    const parsed = JSON.parse(first.toString());
    expect(parsed.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(parsed.manifests).toEqual([{ ...sbom.descriptor, annotations: { a: '1' } }]);
    expect(withReferrer(first, sbom, { a: '1' })).toBeUndefined();
    const other = referrerManifest(subject.descriptor, { name: 'm.cdx.json', mediaType: 'application/vnd.cyclonedx+json', digest: digestOf('c'), size: 1 }, 0);
    const both = JSON.parse(withReferrer(first, other, {})!.toString());
    expect(both.manifests.map((m: { digest: string }) => m.digest)).toEqual([sbom.descriptor.digest, other.descriptor.digest]);
  });
});
