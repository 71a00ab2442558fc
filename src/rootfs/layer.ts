// Reading a layer blob from the store as a stream of entries, and its table of contents.
//
// The TOC (every entry's header, no content) is what root assembly plans from. It is derived
// data, computed once per layer digest and kept beside the store; it is only a cache, so a
// missing or unreadable one is simply computed again.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Descriptor } from '../oci/types.js';
import { MediaType } from '../oci/types.js';
import type { Store } from '../oci/store.js';
import { gunzip } from '../formats/gzip.js';
import { readTar } from '../formats/tar-read.js';
import type { Entry, EntryStream } from '../formats/entry.js';
import { cleanPath } from './paths.js';

const TOC_VERSION = 1;

export class LayerError extends Error {
  readonly code = 'ELAYER';
  constructor(message: string) {
    super(message);
    this.name = 'LayerError';
  }
}

/** The uncompressed tar bytes of a layer, verified against its digest as they stream. */
export function layerTar(store: Store, layer: Descriptor): AsyncIterable<Uint8Array> {
  return decompress(layer, store.openBlob(layer.digest, { size: layer.size }));
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
  const raw = store.openBlob(layer.digest, { size: layer.size });
  let stopped = false;
  // pulled by hand, not with for-await, so that stopping the inflater does not close the blob
  const feed = (async function* () {
    while (!stopped) {
      const r = await raw.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  let found = false;
  try {
    for await (const { entry, content } of readTar(decompress(layer, feed))) {
      if (!content || cleanPath(entry.path) !== path) continue;
      found = true;
      yield* content;
      break;
    }
  } finally {
    stopped = true;
  }
  while (!(await raw.next()).done) { /* hash the rest: the digest check happens at the end */ }
  if (!found) throw new LayerError(`layer ${layer.digest} has no ${path}`);
}

export function layerEntries(store: Store, layer: Descriptor): EntryStream {
  return readTar(layerTar(store, layer));
}

/** The TOC of a layer: from the cache beside the store, or computed by reading the layer once. */
export async function layerToc(store: Store, layer: Descriptor): Promise<Entry[]> {
  const dir = store.derivedDir('toc');
  const file = join(dir, `${layer.digest.replace(':', '-')}.json`);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { v: number; entries: SerializedEntry[] };
    if (parsed.v === TOC_VERSION) return parsed.entries.map(deserialize);
  } catch {
    // absent or damaged: compute it again
  }
  const entries: Entry[] = [];
  for await (const { entry, content } of layerEntries(store, layer)) {
    if (content) for await (const _ of content) { /* drain: the TOC needs headers only */ }
    entries.push(entry);
  }
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify({ v: TOC_VERSION, entries: entries.map(serialize) }));
  await rename(tmp, file);
  return entries;
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
