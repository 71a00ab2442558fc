// Reading a layer blob from the store as a stream of entries, and its table of contents.
//
// The TOC (every entry's header, no content) is what root assembly plans from. It is derived
// data, computed once per layer digest and kept beside the store (store.derived: a file that
// does not check out is computed again).

import type { Descriptor } from '../oci/types.js';
import { MediaType } from '../oci/types.js';
import type { Store } from '../oci/store.js';
import { gunzip } from '../formats/compress/gzip.js';
import { readTar } from '../formats/tar/read.js';
import type { Entry, EntryStream } from '../formats/entry.js';
import { cleanPath } from './paths.js';
import { OsbuildError } from '../errors.js';

export const TOC_VERSION = 2; // 2: the self-checking derived-file format

export class LayerError extends OsbuildError {
  readonly code = 'ELAYER';
}

/** The uncompressed tar bytes of a layer, verified against its digest as they stream. */
export function layerTar(store: Store, layer: Descriptor): AsyncIterable<Uint8Array> {
  // readThrough: a corrupt blob is reported as corrupt, not as whatever the inflater makes of it
  return store.readThrough(layer.digest, { size: layer.size }, (blob) => decompress(layer, blob));
}

function decompress(layer: Descriptor, blob: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  switch (layer.mediaType) {
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
      return gunzip(blob);
    case MediaType.ociLayer:
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return blob;
    case MediaType.ociLayerZstd:
      return zstdDecompress(blob);
    default:
      throw new LayerError(`layer ${layer.digest} has media type ${layer.mediaType}, which osbuild cannot read`);
  }
}

// Node 20 has no zstd; the standard tool does it in a child process, streamed both ways.
async function* zstdDecompress(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const { execa } = await import('execa'); // loaded only for the rare zstd layer
  const child = execa('zstd', ['-dc'], { stdin: 'pipe', stdout: 'pipe', buffer: false });
  const feed = (async () => {
    for await (const chunk of source) if (!child.stdin!.write(chunk)) await new Promise((r) => child.stdin!.once('drain', r));
    child.stdin!.end();
  })();
  for await (const chunk of child.stdout!) yield chunk as Uint8Array;
  await feed;
  await child;
}

/**
 * One file of a layer. Decompression stops once the file is read (a kernel comes before the
 * 90 MB modules tarball in its layer), but the rest of the compressed blob is still read and
 * hashed, so a corrupted layer is refused all the same.
 */
export async function* layerFile(store: Store, layer: Descriptor, path: string): AsyncIterable<Uint8Array> {
  let found = false;
  // readThrough hashes what the inflater did not read, and reports a corrupt blob as corrupt
  yield* store.readThrough(layer.digest, { size: layer.size }, async function* (blob) {
    for await (const { entry, content } of readTar(decompress(layer, blob))) {
      if (!content || cleanPath(entry.path) !== path) continue;
      found = true;
      yield* content;
      return;
    }
  });
  if (!found) throw new LayerError(`layer ${layer.digest} has no ${path}`);
}

export function layerEntries(store: Store, layer: Descriptor): EntryStream {
  return readTar(layerTar(store, layer));
}

/** The TOC of a layer: from the cache beside the store, or computed by reading the layer once. */
export async function layerToc(store: Store, layer: Descriptor): Promise<Entry[]> {
  const stored = await store.derived('toc').get(layer.digest, TOC_VERSION, async () => {
    const entries: SerializedEntry[] = [];
    for await (const { entry, content } of layerEntries(store, layer)) {
      if (content) for await (const _ of content) { /* drain: the TOC needs headers only */ }
      entries.push(serialize(entry));
    }
    return entries;
  });
  return stored!.map(deserialize);
}

type SerializedEntry = Omit<Entry, 'xattrs'> & { xattrs?: Record<string, string> };

function serialize(e: Entry): SerializedEntry {
  if (!e.xattrs) return e as SerializedEntry;
  const x: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.xattrs)) x[k] = v.toString('base64');
  return { ...e, xattrs: x };
}

function deserialize(e: SerializedEntry): Entry {
  if (!e.xattrs) return e as Entry;
  const x: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(e.xattrs)) x[k] = Buffer.from(v, 'base64');
  return { ...e, xattrs: x };
}
