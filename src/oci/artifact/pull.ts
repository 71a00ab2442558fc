// Pull: an osbuild artifact on a registry → its files in a directory, byte for byte. The manifest
// is checked first (ours, every file name safe); then each blob streams from the registry into a
// temporary file beside its final name, hashed on the way (a connection that breaks resumes with
// Range; content that does not match its digest is fetched once more, then refused). Only when
// every file (and every attached SBOM) is complete are they renamed into place: a failure leaves
// the directory as it was.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RegistryError, StoreError } from '../errors.js';
import { partialSuffix } from '../owner.js';
import { formatRef, parseRef, type ImageRef } from '../ref.js';
import { diskFullError, isNoSpace } from '../space.js';
import { MediaType, type Descriptor } from '../types.js';
import { showName } from '../../formats/names.js';
import { resumableBody } from '../registry/blobs.js';
import type { RegistryClient } from '../registry/client.js';
import { progressThrottle } from '../registry/events.js';
import { runLimited } from '../registry/limit.js';
import { getManifest, MAX_MANIFEST_BYTES } from '../registry/manifests.js';
import type { RegistryOptions } from '../registry/options.js';
import { Registries } from '../registry/session.js';
import { readBody } from '../registry/transport.js';
import { ArtifactError } from './errors.js';
import type { ArtifactEvent } from './events.js';
import { parseReferrers, readArtifactManifest, referrersTag, type ReferrerDescriptor } from './manifest.js';
import { isSbomMediaType } from './media-types.js';

export interface PullArtifactOptions {
  /** Also fetch the SBOMs attached to the artifact (default true). */
  referrers?: boolean;
  registries?: Registries;
  registry?: RegistryOptions;
  onEvent?: (e: ArtifactEvent) => void;
}

export interface PulledFile {
  name: string;
  path: string;
  digest: string;
  size: number;
  mediaType: string;
}

export interface PullArtifactResult {
  ref: string;
  digest: string;
  artifactType: string;
  annotations: Record<string, string>;
  files: PulledFile[];
  /** SBOMs attached as referrers, written beside the files. */
  sboms: (PulledFile & { referrer: string })[];
}

export async function pullArtifact(input: string, outDir: string, opts: PullArtifactOptions = {}): Promise<PullArtifactResult> {
  const r = parseRef(input);
  const registries = opts.registries ?? (await Registries.open(opts.registry));
  const previousOnRetry = registries.onRetry;
  registries.onRetry = (e) => {
    opts.onEvent?.({ type: 'artifact-retry', ...e });
    previousOnRetry?.(e);
  };
  try {
    return await pullWith(r, outDir, registries, opts);
  } finally {
    registries.onRetry = previousOnRetry;
    if (!opts.registries) registries.close();
  }
}

async function pullWith(r: ImageRef, outDir: string, registries: Registries, opts: PullArtifactOptions): Promise<PullArtifactResult> {
  const ref = formatRef(r);
  const emit = opts.onEvent ?? (() => undefined);
  const repo = r.repository;
  const reference = r.digest ?? r.tag ?? 'latest';
  emit({ type: 'artifact-start', op: 'pull', ref });
  let top;
  try {
    top = await registries.read(r.registry, (c) => getManifest(c, repo, reference, r.digest ? { digest: r.digest } : {}));
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'ENOTFOUND') {
      const what = r.digest ? `no manifest ${r.digest}` : `no tag ${reference}`;
      throw new RegistryError('ENOTFOUND', `${ref}: ${r.registry} has ${what} in ${repo}: check the reference, or push outputs there with \`osbuild push-artifact ${ref} FILE...\``, { cause: e, status: 404 });
    }
    throw e;
  }
  const artifact = readArtifactManifest(top.bytes, `${ref} (${top.digest})`);

  const sboms: { file: ReturnType<typeof readArtifactManifest>['files'][number]; referrer: string }[] = [];
  if (opts.referrers !== false) {
    for (const d of await registries.read(r.registry, (c) => listReferrers(c, repo, top.digest))) {
      if (!isSbomMediaType(d.artifactType)) continue;
      const m = await registries.read(r.registry, (c) => getManifest(c, repo, d.digest, { digest: d.digest, size: d.size }));
      const sbom = readArtifactManifest(m.bytes, `SBOM ${d.digest} of ${ref}`, isSbomMediaType);
      for (const file of sbom.files) sboms.push({ file, referrer: d.digest });
    }
  }
  const names = new Set(artifact.files.map((f) => f.name));
  for (const s of sboms) {
    if (names.has(s.file.name)) throw new ArtifactError('EARTIFACT', `${ref}: the SBOM ${s.referrer} names ${showName(s.file.name)}, a file the artifact has too`, { where: ref });
    names.add(s.file.name);
  }

  await mkdir(outDir, { recursive: true });
  const all = [...artifact.files.map((file) => ({ file, referrer: undefined as string | undefined })), ...sboms];
  const temps = all.map((x) => join(outDir, x.file.name + partialSuffix()));
  try {
    await runLimited(all, registries.concurrency, async ({ file }, i) => {
      emit({ type: 'artifact-file-start', ref, file: file.name, digest: file.digest, size: file.size });
      const onProgress = progressThrottle(file.size, (bytes) => emit({ type: 'artifact-file-progress', ref, file: file.name, bytes, size: file.size }));
      await registries.read(r.registry, (c) => download(c, repo, file.descriptor, temps[i], `${showName(file.name)} of ${ref}`, onProgress));
      emit({ type: 'artifact-file-done', ref, file: file.name, digest: file.digest, size: file.size, how: 'downloaded' });
    });
    for (const [i, { file }] of all.entries()) await rename(temps[i], join(outDir, file.name));
  } catch (e) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    if (!isNoSpace(e)) throw e;
    throw await diskFullError(outDir, { what: `pulling ${ref}`, needed: all.reduce((n, x) => n + x.file.size, 0), remedy: 'pull into another directory with -o DIR', cause: e });
  }
  const pulled = (file: (typeof all)[number]['file']): PulledFile => ({ name: file.name, path: join(outDir, file.name), digest: file.digest, size: file.size, mediaType: file.mediaType });
  emit({ type: 'artifact-done', op: 'pull', ref, digest: top.digest, artifactType: artifact.artifactType, files: all.map((x) => x.file.name) });
  return {
    ref,
    digest: top.digest,
    artifactType: artifact.artifactType,
    annotations: artifact.annotations,
    files: artifact.files.map(pulled),
    sboms: sboms.map((s) => ({ ...pulled(s.file), referrer: s.referrer })),
  };
}

/**
 * One blob into `path`, hashed as it streams; content that does not match is fetched once more
 * (a flaky proxy), then refused.
 */
async function download(client: RegistryClient, repo: string, d: Descriptor, path: string, what: string, onProgress: (n: number) => void): Promise<void> {
  for (let round = 1; ; round++) {
    const hash = createHash('sha256');
    let size = 0;
    const body = resumableBody(client, repo, { descriptor: d, what, onProgress });
    async function* checked(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > d.size) throw new StoreError('EDIGEST', `${what}: the registry sent more than the ${d.size} bytes of ${d.digest}`);
        hash.update(chunk);
        yield chunk;
      }
    }
    await pipeline(checked(), createWriteStream(path));
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest === d.digest && size === d.size) return;
    if (round >= 2) {
      throw new StoreError('EDIGEST', `${what}: the registry sent content that hashes to ${digest} (${size} bytes), not its digest ${d.digest} (${d.size} bytes), twice: its copy is corrupt, or something between corrupts data`);
    }
    client.reportRetry({ attempt: round, delayMs: 0, reason: 'content did not match its digest' }, what);
  }
}

/**
 * The referrers of `digest`: the OCI 1.1 referrers API where the registry has it (200 with an
 * index), else the referrers tag schema (sha256-<hex>), which a 404 from the API sends us to.
 */
async function listReferrers(client: RegistryClient, repo: string, digest: string): Promise<ReferrerDescriptor[]> {
  const what = `referrers of ${digest} in ${repo}`;
  const res = await client.send({ method: 'GET', path: `${repo}/referrers/${digest}`, scopes: [`repository:${repo}:pull`], headers: { Accept: MediaType.ociIndex }, what });
  if (res.status === 200) return parseReferrers(await readBody(res, MAX_MANIFEST_BYTES), `${client.endpoint}: the ${what}`);
  if (res.status !== 404 && res.status !== 405 && res.status !== 400) throw await client.unexpected(res, what);
  res.body.resume();
  // no referrers API: the tag schema
  try {
    const index = await getManifest(client, repo, referrersTag(digest));
    return parseReferrers(index.bytes, `${client.endpoint}/${repo}:${referrersTag(digest)}`);
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'ENOTFOUND') return [];
    throw e;
  }
}
