// The documents osbuild writes for the images it produces, built without I/O. Deterministic:
// fixed key order, no timestamps unless the caller gives one (from SOURCE_DATE_EPOCH).
import type { z } from 'zod';
import { StoreError, type StoreErrorCode } from './errors.js';
import { platformFor } from './platform.js';
import { MediaType } from './types.js';
import type { Arch } from '../arch.js';
import type { Descriptor, ImageConfig, ImageRuntimeConfig, Index, Manifest } from './types.js';

/** RFC 3339 time for an image's 'created' from SOURCE_DATE_EPOCH (seconds since the epoch). */
export function createdFromEpoch(epoch: string | number): string {
  const seconds = typeof epoch === 'number' ? epoch : Number(epoch);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new RangeError(`SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got ${JSON.stringify(epoch)}`);
  }
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function imageConfigDocument(opts: { arch: Arch; diffIds: string[]; config: ImageRuntimeConfig; created?: string }): ImageConfig {
  const p = platformFor(opts.arch);
  const doc: ImageConfig = {
    ...(opts.created !== undefined ? { created: opts.created } : {}),
    architecture: p.architecture,
    os: p.os,
    ...(p.variant !== undefined ? { variant: p.variant } : {}),
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: [...opts.diffIds] },
  };
  return doc;
}

function bare(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls) out.urls = d.urls;
  if (d.annotations) out.annotations = d.annotations;
  return out;
}

export function manifestDocument(config: Descriptor, layers: Descriptor[]): Manifest {
  return { schemaVersion: 2, mediaType: MediaType.ociManifest, config: bare(config), layers: layers.map(bare) };
}

/** An index of per-architecture manifests, ordered by architecture so the bytes do not depend on build order. */
export function indexDocument(manifests: { descriptor: Descriptor; arch: Arch }[]): Index {
  const sorted = [...manifests].sort((a, b) => (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].arch === sorted[i - 1].arch) throw new RangeError(`two manifests for ${sorted[i].arch} in one index`);
  }
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: sorted.map(({ descriptor, arch }) => ({ ...bare(descriptor), platform: platformFor(arch) })),
  };
}

/** A JSON document checked against its schema; errors name `where` and the first problems. */
export function parseJsonDocument<T>(bytes: Buffer, schema: z.ZodType<T>, where: string, code: StoreErrorCode): T {
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new StoreError(code, `${where} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new StoreError(code, `${where} is not a valid document: ${zodSummary(parsed.error)}`);
  return parsed.data;
}

export function zodSummary(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(document)'}: ${i.message}`)
    .join('; ');
}
