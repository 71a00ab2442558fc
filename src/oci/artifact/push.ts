// Push: files (a build's outputs) → one OCI artifact under a tag. Each file is hashed as it is
// read, then sent with the registry client's blob upload (HEAD first, chunked above the chunk
// size, retried), never held in memory; then the empty config, then the manifest under the tag,
// so the tag never names something incomplete. SBOMs among the files are not layers: each goes
// up as its own manifest whose `subject` is the artifact, found by the referrers API where the
// registry has one, else through the referrers tag (sha256-<hex>) this client keeps.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { RegistryError } from '../errors.js';
import { formatRef, parseRef } from '../ref.js';
import { MediaType } from '../types.js';
import { showName } from '../../formats/names.js';
import type { RegistryClient } from '../registry/client.js';
import { progressThrottle } from '../registry/events.js';
import { runLimited } from '../registry/limit.js';
import { getManifest, putManifest, putManifestAnswer } from '../registry/manifests.js';
import type { RegistryOptions } from '../registry/options.js';
import { Registries } from '../registry/session.js';
import { uploadFrom, type BlobSource } from '../registry/upload.js';
import { ArtifactError } from './errors.js';
import type { ArtifactEvent } from './events.js';
import { artifactManifest, referrerManifest, referrersTag, withReferrer, ANNOTATION, createdAt, type ArtifactFile, type Document } from './manifest.js';
import { EMPTY_CONFIG, EMPTY_CONFIG_BYTES, fileMediaType, sbomMediaType } from './media-types.js';

/** A file to push: its path, and the format that wrote it when known. */
export interface ArtifactInput {
  path: string;
  format?: string;
}

export interface PushArtifactOptions {
  /** The build's output name (annotation). */
  name?: string;
  arch?: string;
  /** The osbuild.lock the build used: its digest becomes an annotation. */
  lockFile?: string;
  /** A slots root's version (annotation org.osbuild.version). */
  version?: string;
  /** SOURCE_DATE_EPOCH, the manifest's creation time; default 0. */
  sourceDateEpoch?: number;
  registries?: Registries;
  registry?: RegistryOptions;
  onEvent?: (e: ArtifactEvent) => void;
}

export interface PushArtifactResult {
  /** Where it went: the full reference with its tag. */
  dest: string;
  digest: string;
  artifactType: string;
  files: ArtifactFile[];
  /** The SBOMs attached to it, and how a reader finds them. */
  referrers: { file: string; digest: string; artifactType: string; via: 'referrers-api' | 'referrers-tag' }[];
}

/** sha256 and size of a file, read once as a stream; a missing or odd file is the caller's error. */
export async function hashFile(path: string, hint = 'name files a build wrote (osbuild build -o DIR), or --from DIR --name NAME'): Promise<{ digest: string; size: number }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArtifactError('ENOOUTPUTS', `${showName(path)}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (e as Error).message})`}`, { where: path, hint });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ArtifactError('ENOOUTPUTS', `${showName(path)} is not a regular file: an artifact holds files`, { where: path });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of fh.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } finally {
    await fh.close();
  }
}

function fileSource(path: string): BlobSource {
  return { read: (range) => createReadStream(path, range) };
}

const emptySource: BlobSource = {
  async *read(range) {
    yield range ? EMPTY_CONFIG_BYTES.subarray(range.start, range.end + 1) : EMPTY_CONFIG_BYTES;
  },
};

interface Prepared {
  path: string;
  file: ArtifactFile;
  sbom: boolean;
}

export async function pushArtifact(inputs: readonly ArtifactInput[], destination: string, opts: PushArtifactOptions = {}): Promise<PushArtifactResult> {
  const dest = parseRef(destination);
  if (dest.digest !== undefined) {
    throw new ArtifactError('EARTIFACT', `${formatRef(dest)}: an artifact is pushed under a tag, not a digest (its digest is known once it is made)`, { hint: 'give REGISTRY/REPOSITORY:TAG' });
  }
  const destName = formatRef(dest);
  const registries = opts.registries ?? (await Registries.open(opts.registry));
  const emit = opts.onEvent ?? (() => undefined);
  const previousOnRetry = registries.onRetry;
  registries.onRetry = (e) => {
    emit({ type: 'artifact-retry', ...e });
    previousOnRetry?.(e);
  };
  try {
    emit({ type: 'artifact-start', op: 'push', ref: destName });
    const epoch = opts.sourceDateEpoch ?? 0;
    const lockDigest = opts.lockFile !== undefined ? (await hashFile(opts.lockFile, 'give the osbuild.lock the outputs were built with, or leave --lock out')).digest : undefined;
    const prepared: Prepared[] = [];
    for (const input of inputs) {
      const name = basename(input.path);
      const sbomType = sbomMediaType(name);
      const { digest, size } = await hashFile(input.path);
      const file: ArtifactFile = { name, mediaType: sbomType ?? fileMediaType(name), digest, size, ...(input.format !== undefined && !sbomType ? { format: input.format } : {}) };
      prepared.push({ path: input.path, file, sbom: sbomType !== undefined });
    }
    const main = prepared.filter((p) => !p.sbom);
    if (main.length === 0) throw new ArtifactError('EARTIFACT', 'nothing to push but SBOMs: an SBOM is attached to outputs, so push it with them', { hint: 'name the outputs too, or use --from DIR --name NAME' });
    const formats = [...new Set(inputs.flatMap((i) => (i.format !== undefined ? [i.format] : [])))];
    // made before any upload: a bad name fails before anything is sent
    const manifest = artifactManifest(main.map((p) => p.file), { name: opts.name, arch: opts.arch, lockDigest, formats, epoch, ...(opts.version !== undefined ? { version: opts.version } : {}) });

    const client = registries.client(dest.registry);
    const repo = dest.repository;
    const send = async (p: Prepared) => {
      const { file } = p;
      emit({ type: 'artifact-file-start', ref: destName, file: file.name, digest: file.digest, size: file.size });
      const onProgress = progressThrottle(file.size, (bytes) => emit({ type: 'artifact-file-progress', ref: destName, file: file.name, bytes, size: file.size }));
      const how = await uploadFrom(client, repo, fileSource(p.path), file, { chunkSize: registries.chunkSize, onProgress });
      emit({ type: 'artifact-file-done', ref: destName, file: file.name, digest: file.digest, size: file.size, how });
    };
    await uploadFrom(client, repo, emptySource, { ...EMPTY_CONFIG }, { chunkSize: registries.chunkSize });
    await runLimited(main, registries.concurrency, send);
    const digest = await putManifest(client, repo, dest.tag ?? 'latest', manifest.bytes, MediaType.ociManifest);

    const referrers: PushArtifactResult['referrers'] = [];
    for (const p of prepared.filter((x) => x.sbom)) {
      await send(p);
      const referrer = referrerManifest(manifest.descriptor, p.file, epoch);
      const via = await attach(client, repo, manifest, referrer, epoch);
      referrers.push({ file: p.file.name, digest: referrer.descriptor.digest, artifactType: referrer.descriptor.artifactType, via });
      emit({ type: 'artifact-referrer', ref: destName, file: p.file.name, digest: referrer.descriptor.digest, artifactType: referrer.descriptor.artifactType, via });
    }
    emit({ type: 'artifact-done', op: 'push', ref: destName, digest, artifactType: manifest.descriptor.artifactType, files: prepared.map((p) => p.file.name) });
    return { dest: destName, digest, artifactType: manifest.descriptor.artifactType, files: prepared.map((p) => p.file), referrers };
  } finally {
    registries.onRetry = previousOnRetry;
    if (!opts.registries) registries.close();
  }
}

/**
 * Puts a referrer manifest up by digest. A registry with the referrers API says so with
 * OCI-Subject; for one without, the referrer is added to the index under the subject's referrers
 * tag (OCI distribution spec 1.1, "referrers tag schema"), which readers fall back to.
 */
async function attach(client: RegistryClient, repo: string, subject: Document, referrer: Document, epoch: number): Promise<'referrers-api' | 'referrers-tag'> {
  const answer = await putManifestAnswer(client, repo, referrer.descriptor.digest, referrer.bytes, MediaType.ociManifest);
  if (answer.ociSubject === subject.descriptor.digest) return 'referrers-api';
  const tag = referrersTag(subject.descriptor.digest);
  let existing: Buffer | undefined;
  try {
    existing = (await getManifest(client, repo, tag)).bytes;
  } catch (e) {
    if (!(e instanceof RegistryError && e.code === 'ENOTFOUND')) throw e;
  }
  const next = withReferrer(existing, referrer, { [ANNOTATION.created]: createdAt(epoch) });
  if (next) await putManifest(client, repo, tag, next, MediaType.ociIndex);
  return 'referrers-tag';
}
