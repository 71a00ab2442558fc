// The documents of an osbuild artifact, pure: the artifact manifest (one layer per file, the empty
// config, annotations), an SBOM's referrer manifest (its `subject` the artifact), the referrers
// index kept under the `sha256-<hex>` tag for registries without the referrers API, and the
// reading of a fetched manifest back into files, refusing anything that is not ours or that names
// a file outside the output directory. The same inputs give the same bytes: pushing the same
// outputs twice gives the same manifest digest.
import { z } from 'zod';
import { canonicalJSON, digestHex, sha256Digest } from '../digest.js';
import { Descriptor, MediaType } from '../types.js';
import { showName, CONTROL_CLASS } from '../../formats/names.js';
import { ArtifactError } from './errors.js';
import { artifactTypeOf, EMPTY_CONFIG, isOsbuildArtifactType } from './media-types.js';

/** Annotation keys: OCI's where one exists, osbuild's own under org.osbuild. */
export const ANNOTATION = {
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  name: 'org.osbuild.blueprint.name',
  arch: 'org.osbuild.arch',
  lock: 'org.osbuild.lock.digest',
  formats: 'org.osbuild.formats',
  format: 'org.osbuild.format',
  /** A slots root's version (root.version): an update agent compares it with the running one. */
  version: 'org.osbuild.version',
} as const;

/** One file of an artifact: its name in the output directory and its blob. */
export interface ArtifactFile {
  name: string;
  mediaType: string;
  digest: string;
  size: number;
  /** The output format that wrote it, when known. */
  format?: string;
}

export interface ArtifactInfo {
  /** The build's output name (the blueprint's name, or --name). */
  name?: string;
  arch?: string;
  /** sha256 of the osbuild.lock the build used. */
  lockDigest?: string;
  /** The formats whose outputs these are (empty: unknown). */
  formats: string[];
  /** A slots root's version (root.version). */
  version?: string;
  /** SOURCE_DATE_EPOCH: the manifest's creation time, so that it is reproducible. */
  epoch: number;
}

/** A document to push: its bytes and its descriptor (with its artifactType). */
export interface Document {
  bytes: Buffer;
  descriptor: Descriptor & { artifactType: string };
}

/** RFC 3339 time of a SOURCE_DATE_EPOCH, whole seconds. */
export function createdAt(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// names of files written into the output directory: one component, printable, not too long
const UNSAFE_NAME = new RegExp(`[${CONTROL_CLASS}/]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]`);

/** What makes `name` unusable as the name of a file in the output directory, or undefined. */
export function fileNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'it is not a file name';
  if (UNSAFE_NAME.test(name)) return 'it holds `/` or a control character';
  // room for the `.partial-...` suffix a file has while it is written
  if (Buffer.byteLength(name, 'utf8') > 180) return 'it is longer than 180 bytes';
  return undefined;
}

function layerOf(f: ArtifactFile): Descriptor {
  return {
    mediaType: f.mediaType,
    digest: f.digest,
    size: f.size,
    annotations: { [ANNOTATION.title]: f.name, ...(f.format !== undefined ? { [ANNOTATION.format]: f.format } : {}) },
  };
}

function checkFiles(files: readonly ArtifactFile[]): void {
  const seen = new Set<string>();
  for (const f of files) {
    const problem = fileNameProblem(f.name);
    if (problem) throw new ArtifactError('EARTIFACT', `${showName(f.name)} cannot be a file of an artifact: ${problem}`);
    if (seen.has(f.name)) throw new ArtifactError('EARTIFACT', `two files are named ${showName(f.name)}: an artifact holds each name once`, { hint: 'push files of different directories as separate artifacts' });
    seen.add(f.name);
  }
}

function documentOf(doc: object, artifactType: string): Document {
  const bytes = canonicalJSON(doc);
  return { bytes, descriptor: { mediaType: MediaType.ociManifest, digest: sha256Digest(bytes), size: bytes.length, artifactType } };
}

/**
 * The artifact manifest of `files`: layers in byte order of their names (how they were listed
 * does not change the digest), annotations in a fixed order, nothing from the host.
 */
export function artifactManifest(files: readonly ArtifactFile[], info: ArtifactInfo): Document {
  if (files.length === 0) throw new ArtifactError('EARTIFACT', 'an artifact needs at least one file');
  checkFiles(files);
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const formats = [...new Set(info.formats)];
  const artifactType = artifactTypeOf(formats);
  const annotations: Record<string, string> = { [ANNOTATION.created]: createdAt(info.epoch) };
  if (info.name !== undefined) annotations[ANNOTATION.name] = info.name;
  if (info.arch !== undefined) annotations[ANNOTATION.arch] = info.arch;
  if (formats.length > 0) annotations[ANNOTATION.formats] = formats.join(',');
  if (info.lockDigest !== undefined) annotations[ANNOTATION.lock] = info.lockDigest;
  if (info.version !== undefined) annotations[ANNOTATION.version] = info.version;
  return documentOf(
    { schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType, config: EMPTY_CONFIG, layers: sorted.map(layerOf), annotations },
    artifactType,
  );
}

/** An SBOM attached to `subject` (the artifact manifest): found through the referrers API or tag. */
export function referrerManifest(subject: Descriptor, sbom: ArtifactFile, epoch: number): Document {
  checkFiles([sbom]);
  return documentOf(
    {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: sbom.mediaType,
      config: EMPTY_CONFIG,
      layers: [layerOf(sbom)],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { [ANNOTATION.created]: createdAt(epoch) },
    },
    sbom.mediaType,
  );
}

/** The tag under which registries without the referrers API keep a digest's referrers: sha256-<hex>. */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

/** A descriptor in a referrers index: it carries the referrer's artifactType and annotations. */
const ReferrerDescriptor = Descriptor.extend({ artifactType: z.string().optional() });
export type ReferrerDescriptor = z.infer<typeof ReferrerDescriptor>;
const ReferrersIndex = z.object({ schemaVersion: z.literal(2), mediaType: z.string().optional(), manifests: z.array(ReferrerDescriptor) }).passthrough();

/** The referrers of an index's bytes (from the API or the tag); `where` names it in errors. */
export function parseReferrers(bytes: Buffer, where: string): ReferrerDescriptor[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ArtifactError('EARTIFACT', `${where} is not JSON (${(e as Error).message})`);
  }
  const r = ReferrersIndex.safeParse(doc);
  if (!r.success) throw new ArtifactError('EARTIFACT', `${where} is not an image index: ${r.error.issues[0]?.message ?? 'bad shape'}`);
  return r.data.manifests;
}

/**
 * The referrers index with `referrer` added (the tag schema's fallback), or undefined when it is
 * there already. Other referrers, and whatever else the index holds, are kept as they are.
 */
export function withReferrer(existing: Buffer | undefined, referrer: Document, annotations: Record<string, string>): Buffer | undefined {
  const manifests = existing ? parseReferrers(existing, 'the referrers index') : [];
  // the rest of the document (its annotations, fields of later specs) goes back as it was
  const doc = existing ? (JSON.parse(existing.toString('utf8')) as Record<string, unknown>) : undefined;
  if (manifests.some((m) => m.digest === referrer.descriptor.digest)) return undefined;
  const entry = { ...referrer.descriptor, annotations };
  return canonicalJSON({ schemaVersion: 2, mediaType: MediaType.ociIndex, ...doc, manifests: [...manifests, entry] });
}

/** A fetched manifest read as an osbuild artifact. */
export interface ParsedArtifact {
  artifactType: string;
  files: (ArtifactFile & { descriptor: Descriptor })[];
  annotations: Record<string, string>;
}

const ArtifactManifestShape = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  annotations: z.record(z.string(), z.string()).optional(),
});

/**
 * The files of an artifact manifest. `accept` decides which artifact types are wanted (osbuild's
 * outputs, or an SBOM referrer). Every file needs a safe, unique title: a registry's manifest
 * must not name a path outside the output directory.
 */
export function readArtifactManifest(bytes: Buffer, where: string, accept: (artifactType: string | undefined) => boolean = isOsbuildArtifactType): ParsedArtifact {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ArtifactError('EARTIFACT', `${where} is not JSON (${(e as Error).message})`);
  }
  const notOurs = (what: string) =>
    new ArtifactError('ENOTARTIFACT', `${where} is ${what}, not an osbuild artifact`, {
      where,
      hint: 'pull-artifact reads what `osbuild push-artifact` or `osbuild build --push` pushed; container images are pulled with `osbuild pull`',
    });
  const m = ArtifactManifestShape.safeParse(doc);
  if (!m.success) throw notOurs((doc as { manifests?: unknown })?.manifests !== undefined ? 'an image index' : 'not an image manifest');
  // OCI 1.1: artifactType, or (artifacts pushed the 1.0 way) the config's media type
  const artifactType = m.data.artifactType ?? (m.data.config.mediaType !== EMPTY_CONFIG.mediaType ? m.data.config.mediaType : undefined);
  if (!accept(artifactType)) {
    throw notOurs(artifactType === undefined || artifactType === MediaType.ociConfig || artifactType === MediaType.dockerConfig ? 'a container image' : `an artifact of type ${showName(artifactType)}`);
  }
  const files = m.data.layers.map((d, i) => {
    const name = d.annotations?.[ANNOTATION.title];
    if (name === undefined) throw new ArtifactError('EARTIFACT', `${where}: layer ${i + 1} (${d.digest}) has no ${ANNOTATION.title}: its file has no name`, { where });
    const problem = fileNameProblem(name);
    if (problem) throw new ArtifactError('EARTIFACT', `${where}: layer ${i + 1} is titled ${showName(name)}, which cannot name a file in the output directory: ${problem}`, { where, hint: 'the artifact was not made by osbuild, or was tampered with' });
    const format = d.annotations?.[ANNOTATION.format];
    return { name, mediaType: d.mediaType, digest: d.digest, size: d.size, ...(format !== undefined ? { format } : {}), descriptor: d };
  });
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw new ArtifactError('EARTIFACT', `${where}: two layers are titled ${showName(f.name)}`, { where });
    names.add(f.name);
  }
  return { artifactType: artifactType ?? '', files, annotations: m.data.annotations ?? {} };
}
