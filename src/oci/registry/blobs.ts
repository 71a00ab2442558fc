// Blob downloads into the store: the body streams through Store.stageBlob, which hashes while
// writing and refuses content that does not match the descriptor; a gzipped layer is also
// gunzipped on the way and its uncompressed digest checked against the config's diff_id. A
// connection that breaks mid-blob is resumed with a Range request (or, if the server ignores
// Range, by skipping what we already have), so a retry never starts the hash over.
import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { RegistryError, StoreError } from '../errors.js';
import type { StagedBlob, Store } from '../store.js';
import type { Descriptor } from '../types.js';
import { headerOf, type RegistryClient } from './client.js';
import { backoffMs, describeFailure, isTransient, sleep, truncated } from './retry.js';

export interface BlobFetch {
  descriptor: Descriptor;
  /** The config's diff_id for a layer: its uncompressed content must hash to it. */
  diffId?: string;
  /** Names the blob in errors, e.g. "layer 2 of 127.0.0.1:5000/app:1 (linux/amd64)". */
  what: string;
  /** Bytes received so far (of this blob), as they arrive. */
  onProgress?: (received: number) => void;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(chunk: Uint8Array, magic: number[]): boolean {
  return magic.every((b, i) => chunk[i] === b);
}

/**
 * The blob's bytes from the registry, across as many requests as it takes: each failure that is
 * transient costs one attempt (reset when bytes arrive again), then the next request asks for
 * the rest with Range.
 */
export async function* resumableBody(client: RegistryClient, repository: string, fetch: BlobFetch): AsyncGenerator<Uint8Array> {
  const { digest, size } = fetch.descriptor;
  const policy = client.retryPolicy;
  let offset = 0;
  let failures = 0;
  for (;;) {
    let res;
    try {
      res = await client.send({
        method: 'GET',
        path: `${repository}/blobs/${digest}`,
        scopes: [`repository:${repository}:pull`],
        headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
        what: fetch.what,
        retry: false,
      });
      let skip = 0;
      if (res.status === 206) {
        const m = /^bytes (\d+)-/.exec(headerOf(res, 'content-range') ?? '');
        const start = m ? Number(m[1]) : NaN;
        if (start !== offset) throw new RegistryError('EPROTOCOL', `${client.endpoint}: ${fetch.what}: asked for bytes from ${offset}, got a range starting at ${m ? start : 'an unknown offset'}`);
      } else if (res.status === 200) {
        skip = offset; // the server ignored Range: what we have is discarded from the new body
      } else {
        if (res.status === 404 && fetch.descriptor.urls?.length) {
          throw new RegistryError('ENOTFOUND', `${client.endpoint}: ${fetch.what} ${digest} is a foreign layer kept at ${fetch.descriptor.urls[0]}; osbuild fetches layers from registries only`, { status: 404 });
        }
        throw await client.unexpected(res, `${fetch.what} ${digest}`);
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let c: Buffer = chunk;
        if (skip > 0) {
          const n = Math.min(skip, c.length);
          skip -= n;
          c = c.subarray(n);
          if (c.length === 0) continue;
        }
        offset += c.length;
        failures = 0;
        fetch.onProgress?.(offset);
        yield c;
      }
      if (offset < size) throw truncated(`${fetch.what}: the body ended after ${offset} of ${size} bytes`);
      return;
    } catch (e) {
      if (res && !res.body.complete) res.body.destroy();
      if (!isTransient(e) || ++failures >= policy.attempts) {
        if (isTransient(e)) {
          throw new RegistryError('ENETWORK', `${client.endpoint}: ${fetch.what} ${digest}: gave up after ${policy.attempts} failed attempts (last: ${describeFailure(e)}) at byte ${offset} of ${size}`, { cause: e });
        }
        throw e;
      }
      const delayMs = backoffMs(failures, policy.baseMs);
      client.reportRetry({ attempt: failures, delayMs, reason: describeFailure(e) }, `${fetch.what} (at byte ${offset} of ${size})`);
      await sleep(delayMs);
    }
  }
}

/** What the uncompressed content of a layer turned out to be, known once the stream has ended. */
interface Uncompressed {
  /** sha256 of the uncompressed content; undefined when it cannot be computed (zstd). */
  digest?: string;
  /** The gzip stream was broken. */
  error?: Error;
}

/** Resolves when `gz` can take more input, or has failed or closed. */
function writable(gz: ReturnType<typeof createGunzip>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      gz.off('drain', done);
      gz.off('close', done);
      resolve();
    };
    gz.on('drain', done);
    gz.on('close', done);
  });
}

/**
 * Passes `source` through while hashing its uncompressed form into `result`. Gzip is recognised
 * by its magic bytes, as docker does (media types lie); plain tar is hashed as is. The verdict is
 * read only after the compressed digest has been checked: wrong bytes are a transport problem
 * (retried), a wrong diff_id is the image's (reported).
 */
async function* uncompressedDigest(source: AsyncIterable<Uint8Array>, result: Uncompressed): AsyncGenerator<Uint8Array> {
  let gunzip: ReturnType<typeof createGunzip> | undefined;
  let first = true;
  let plain = false;
  const hash = createHash('sha256');
  try {
    for await (const chunk of source) {
      if (first) {
        first = false;
        if (startsWith(chunk, GZIP_MAGIC)) {
          gunzip = createGunzip({ chunkSize: 128 * 1024 });
          gunzip.on('data', (d: Buffer) => hash.update(d));
          gunzip.on('error', (e) => {
            result.error ??= e;
          });
        } else if (!startsWith(chunk, ZSTD_MAGIC)) plain = true;
        // zstd: Node 20 cannot decompress it; the compressed digest is still checked
      }
      if (gunzip && !result.error && !gunzip.write(chunk)) await writable(gunzip);
      if (plain) hash.update(chunk);
      yield chunk;
    }
    if (gunzip && !result.error) {
      const ended = new Promise<void>((resolve) => {
        gunzip!.once('end', resolve);
        gunzip!.once('close', resolve);
      });
      gunzip.end();
      await ended;
    }
    if ((gunzip && !result.error) || plain) result.digest = `sha256:${hash.digest('hex')}`;
  } finally {
    gunzip?.destroy();
  }
}

function checkDiffId(u: Uncompressed, diffId: string, what: string): void {
  if (u.error) {
    throw new StoreError('EDIGEST', `${what}: the compressed layer matches its digest, but it is not a valid gzip stream (${u.error.message}): the image is broken; rebuild and push it again`);
  }
  if (u.digest !== undefined && u.digest !== diffId) {
    throw new StoreError('EDIGEST', `${what}: its uncompressed content is ${u.digest}, but the image config's diff_id is ${diffId}: the image is inconsistent; rebuild and push it again`);
  }
}

/**
 * Downloads a blob into a staged temp file of the store, verified against its descriptor (and its
 * diff_id); the caller commits it. Content that arrives wrong is fetched once more from scratch
 * (a flaky proxy), then reported.
 */
export async function fetchBlob(client: RegistryClient, repository: string, store: Store, fetch: BlobFetch): Promise<StagedBlob> {
  const d = fetch.descriptor;
  for (let round = 1; ; round++) {
    const uncompressed: Uncompressed = {};
    let source: AsyncIterable<Uint8Array> = resumableBody(client, repository, fetch);
    if (fetch.diffId !== undefined) source = uncompressedDigest(source, uncompressed);
    let staged: StagedBlob;
    try {
      staged = await store.stageBlob(source, { digest: d.digest, size: d.size, mediaType: d.mediaType, what: `${fetch.what} from ${client.endpoint}/${repository}` });
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'EDIGEST') || round >= 2) throw e;
      client.reportRetry({ attempt: round, delayMs: 0, reason: 'content did not match its digest' }, fetch.what);
      continue;
    }
    if (fetch.diffId !== undefined) {
      try {
        checkDiffId(uncompressed, fetch.diffId, `${fetch.what} (${d.digest})`);
      } catch (e) {
        await staged.discard();
        throw e;
      }
    }
    return staged;
  }
}
