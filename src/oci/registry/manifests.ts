// Manifests and indexes over the API: GET with the full Accept list (Debian's registry answers 404
// for an OCI index the client does not accept, and hands out one arch's manifest for a manifest
// list if only docker v2 is accepted), then checks of Content-Type, size, digest and
// Docker-Content-Digest before anyone parses the bytes; PUT for push.
import { sha256Digest } from '../digest.js';
import { RegistryError, StoreError } from '../errors.js';
import { documentKind, SCHEMA1_TYPES } from '../media.js';
import { MediaType } from '../types.js';
import { headerOf, type RegistryClient } from './client.js';
import { withRetries } from './retry.js';
import { readBody } from './transport.js';

export const MANIFEST_TYPES = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest] as const;
export const MANIFEST_ACCEPT = MANIFEST_TYPES.join(', ');
/** Larger documents are not manifests: the distribution registry itself refuses them over 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface FetchedManifest {
  bytes: Buffer;
  /** The document's media type (from Content-Type, checked against the document). */
  mediaType: string;
  digest: string;
  kind: 'index' | 'manifest';
}

function bareType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * The media type of a fetched document, from Content-Type and its own mediaType field, which must
 * agree when both are given. Pure.
 */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer, where: string): { mediaType: string; kind: 'index' | 'manifest' } {
  const ct = bareType(contentType);
  if (SCHEMA1_TYPES.has(ct)) {
    throw new StoreError('EMEDIATYPE', `${where} is a Docker schema 1 manifest, which osbuild does not read: push the image again with a current tool`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError('EPROTOCOL', `${where} is not valid JSON (${(e as Error).message})`);
  }
  const own = typeof doc === 'object' && doc !== null ? (doc as { mediaType?: unknown }).mediaType : undefined;
  if (typeof own === 'string' && SCHEMA1_TYPES.has(own)) {
    throw new StoreError('EMEDIATYPE', `${where} is a Docker schema 1 manifest, which osbuild does not read: push the image again with a current tool`);
  }
  const known = (MANIFEST_TYPES as readonly string[]).includes(ct);
  if (known && typeof own === 'string' && own !== '' && own !== ct) {
    throw new RegistryError('EPROTOCOL', `${where}: the registry sent Content-Type ${ct} for a document whose mediaType is ${own}`);
  }
  if (!known && ct !== '' && ct !== 'application/json' && ct !== 'application/octet-stream') {
    throw new StoreError('EMEDIATYPE', `${where} has media type ${ct}, not an image manifest or index`);
  }
  const kind = documentKind(known ? ct : undefined, doc);
  if (kind === 'unknown') throw new StoreError('EMEDIATYPE', `${where} is neither an image manifest nor an index`);
  const mediaType = known ? ct : typeof own === 'string' && own !== '' ? own : kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest;
  return { mediaType, kind };
}

/**
 * Fetches a manifest or index by tag or digest. `expected` (from a descriptor or a pinned
 * reference) is checked; Docker-Content-Digest is checked whenever the registry sends one.
 */
export async function getManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  expected: { digest?: string; size?: number } = {},
): Promise<FetchedManifest> {
  const what = `manifest ${reference} of ${repository}`;
  const where = `${client.endpoint}/${repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
  return withRetries(
    async () => {
      const res = await client.send({
        method: 'GET',
        path: `${repository}/manifests/${reference}`,
        scopes: [`repository:${repository}:pull`],
        headers: { Accept: MANIFEST_ACCEPT },
        what,
        retry: false,
      });
      if (res.status !== 200) throw await client.unexpected(res, what);
      const bytes = await readBody(res, MAX_MANIFEST_BYTES);
      const announced = Number(headerOf(res, 'content-length'));
      if (Number.isFinite(announced) && headerOf(res, 'content-length') !== undefined && announced !== bytes.length) {
        const e = new Error(`${where}: body ended after ${bytes.length} of ${announced} bytes`) as NodeJS.ErrnoException;
        e.code = 'ETRUNCATED';
        throw e;
      }
      const digest = sha256Digest(bytes);
      if (expected.digest !== undefined && digest !== expected.digest) {
        throw new StoreError('EDIGEST', `${where}: the registry sent a document that hashes to ${digest}, not the ${expected.digest} asked for: the registry or something between is corrupting data`);
      }
      if (expected.size !== undefined && bytes.length !== expected.size) {
        throw new StoreError('EDIGEST', `${where}: the document is ${bytes.length} bytes, its descriptor says ${expected.size}`);
      }
      const dcd = headerOf(res, 'docker-content-digest');
      if (dcd !== undefined && dcd.startsWith('sha256:') && dcd !== digest) {
        throw new StoreError('EDIGEST', `${where}: the registry says the document is ${dcd}, but its content hashes to ${digest}: the registry or something between is corrupting data`);
      }
      const { mediaType, kind } = manifestMediaType(headerOf(res, 'content-type'), bytes, where);
      return { bytes, mediaType, digest, kind };
    },
    client.retryPolicy,
    (info) => client.reportRetry(info, what),
  );
}

/** The digest a tag points to now (HEAD), or undefined if the registry does not say. */
export async function headManifest(client: RegistryClient, repository: string, reference: string): Promise<{ digest?: string; mediaType: string; size?: number } | undefined> {
  const what = `manifest ${reference} of ${repository}`;
  const res = await client.send({ method: 'HEAD', path: `${repository}/manifests/${reference}`, scopes: [`repository:${repository}:pull`], headers: { Accept: MANIFEST_ACCEPT }, what });
  res.body.resume();
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw await client.unexpected(res, what);
  const len = headerOf(res, 'content-length');
  return { digest: headerOf(res, 'docker-content-digest'), mediaType: bareType(headerOf(res, 'content-type')), ...(len !== undefined ? { size: Number(len) } : {}) };
}

/** Uploads a manifest or index under `reference` (a digest or a tag); checks the digest the registry reports. */
export async function putManifest(client: RegistryClient, repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
  return (await putManifestAnswer(client, repository, reference, bytes, mediaType)).digest;
}

/**
 * putManifest, also returning the OCI-Subject header: a registry with the OCI 1.1 referrers API
 * sends it for a manifest with a `subject`; one without it does not, and its client keeps the
 * referrers tag itself.
 */
export async function putManifestAnswer(client: RegistryClient, repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; ociSubject?: string }> {
  const what = `manifest ${reference} of ${repository}`;
  const res = await client.send({
    method: 'PUT',
    path: `${repository}/manifests/${reference}`,
    scopes: [`repository:${repository}:pull,push`],
    headers: { 'Content-Type': mediaType },
    body: bytes,
    what: `upload of ${what}`,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await client.unexpected(res, `upload of ${what}`);
  res.body.resume();
  const digest = sha256Digest(bytes);
  const dcd = headerOf(res, 'docker-content-digest');
  if (dcd !== undefined && dcd !== digest) {
    throw new RegistryError('EPROTOCOL', `${client.endpoint}/${repository}: the registry stored ${what} as ${dcd}, not ${digest}: it rewrote the document`);
  }
  const ociSubject = headerOf(res, 'oci-subject');
  return ociSubject !== undefined ? { digest, ociSubject } : { digest };
}
