// The media types of osbuild's OCI artifacts, one family under application/vnd.osbuild., defined
// here once. A build's outputs go up as one image manifest (OCI 1.1 artifact guidance): its
// artifactType says which output format made them (application/vnd.osbuild.<format>.v1, with a
// format name's `+` as `-`: kernel+initrd → application/vnd.osbuild.kernel-initrd.v1), the config
// is the empty descriptor, and each file is one layer whose media type says what kind of file it
// is. SBOMs keep their registered types, the ones SBOM tools look for among referrers. Keyed by
// strings only: formats/ and build/ own the formats, this module only names them.

export const ARTIFACT_TYPE_PREFIX = 'application/vnd.osbuild.';

/** Outputs of several formats (or of none known) pushed together. */
export const OUTPUTS_ARTIFACT_TYPE = `${ARTIFACT_TYPE_PREFIX}outputs.v1`;

/** OCI 1.1's empty descriptor, the config of an artifact that has none: the two bytes `{}`. */
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;

/** The artifact type of the outputs of `formats`: the format's own for one, the outputs type for several. */
export function artifactTypeOf(formats: readonly string[]): string {
  const unique = [...new Set(formats)];
  return unique.length === 1 ? `${ARTIFACT_TYPE_PREFIX}${unique[0].replace(/\+/g, '-')}.v1` : OUTPUTS_ARTIFACT_TYPE;
}

export function isOsbuildArtifactType(t: unknown): boolean {
  return typeof t === 'string' && t.startsWith(ARTIFACT_TYPE_PREFIX);
}

/**
 * Kinds of output files by how their names end (the output tables's file names: NAME-kernel,
 * NAME.iso, ...), longest ending first. A file of no known kind is application/octet-stream.
 */
const FILE_KINDS: readonly (readonly [ending: string, kind: string])[] = [
  ['-update-root.img', 'update-root'],
  ['-update.efi', 'update-uki'],
  ['.img.tar.gz', 'gcp-disk'],
  ['-squashfs.img', 'squashfs'],
  ['-erofs.img', 'erofs'],
  ['.pcr11.json', 'pcr11'],
  ['.docker', 'docker-context'],
  ['-initrd.img', 'initrd'],
  ['-cmdline', 'cmdline'],
  ['-kernel', 'kernel'],
  ['.qcow2', 'qcow2'],
  ['.vmdk', 'vmdk'],
  ['.vhd', 'vhd'],
  ['.iso', 'iso'],
  ['.efi', 'uki'],
  ['.tar', 'tar'],
  ['.img', 'disk'],
  ['.raw', 'disk'],
];

/** SBOMs a build writes beside its outputs (NAME.spdx.json, NAME.cdx.json), with their registered media types. */
const SBOM_TYPES: readonly (readonly [ending: string, mediaType: string])[] = [
  ['.spdx.json', 'application/spdx+json'],
  ['.cdx.json', 'application/vnd.cyclonedx+json'],
];

/** The media type of an output file's layer, from its name. */
export function fileMediaType(fileName: string): string {
  const kind = FILE_KINDS.find(([ending]) => fileName.endsWith(ending))?.[1];
  return kind ? `${ARTIFACT_TYPE_PREFIX}file.${kind}.v1` : 'application/octet-stream';
}

/** The media type of an SBOM file, or undefined when the file is no SBOM. */
export function sbomMediaType(fileName: string): string | undefined {
  return SBOM_TYPES.find(([ending]) => fileName.endsWith(ending))?.[1];
}

export function isSbomMediaType(t: unknown): boolean {
  return SBOM_TYPES.some(([, mt]) => mt === t);
}
