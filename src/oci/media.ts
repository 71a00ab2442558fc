// What kind of document a descriptor or blob is, across OCI and Docker media types.
import { MediaType } from './types.js';

export type DocumentKind = 'index' | 'manifest' | 'unknown';

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
export const SCHEMA1_TYPES = new Set<string>([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/**
 * The kind of a document, from its descriptor's media type, else from its own mediaType field,
 * else from its shape (OCI allows both fields to be absent).
 */
export function documentKind(descriptorType: string | undefined, doc: unknown): DocumentKind {
  const own = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  for (const mt of [descriptorType, typeof own.mediaType === 'string' ? own.mediaType : undefined]) {
    if (mt === undefined || mt === '') continue;
    if (INDEX_TYPES.has(mt)) return 'index';
    if (MANIFEST_TYPES.has(mt)) return 'manifest';
  }
  if (own.schemaVersion === 2 && Array.isArray(own.manifests)) return 'index';
  if (own.schemaVersion === 2 && typeof own.config === 'object' && Array.isArray(own.layers)) return 'manifest';
  return 'unknown';
}

export function mediaTypeFor(kind: DocumentKind, doc: unknown): string {
  const own = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  if (typeof own.mediaType === 'string' && own.mediaType !== '') return own.mediaType;
  return kind === 'index' ? MediaType.ociIndex : MediaType.ociManifest;
}
