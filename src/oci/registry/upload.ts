// Blob uploads: HEAD first (the registry may have it), then a cross-repository mount when another
// repository of the same registry is known to hold it, else an upload session: one PUT for a
// blob up to the chunk size, PATCHes of chunk-size pieces and a closing PUT above it. A session
// that fails is abandoned and the blob sent again from a new one. The bytes come from a
// BlobSource: a blob of the store, or any file whose digest is known (artifact uploads), read
// in ranges, never whole into memory.
import { createReadStream } from 'node:fs';
import { RegistryError } from '../errors.js';
import type { Store } from '../store.js';
import type { Descriptor } from '../types.js';
import { headerOf, type RegistryClient } from './client.js';
import { withRetries } from './retry.js';
import type { HttpResponse } from './transport.js';

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

export async function blobExists(client: RegistryClient, repository: string, d: Descriptor): Promise<boolean> {
  const what = `blob ${d.digest} of ${repository}`;
  const res = await client.send({ method: 'HEAD', path: `${repository}/blobs/${d.digest}`, scopes: [pushScope(repository)], what });
  res.body.resume();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  throw await client.unexpected(res, what);
}

function location(res: HttpResponse, what: string, endpoint: string): URL {
  const loc = headerOf(res, 'location');
  if (!loc) throw new RegistryError('EPROTOCOL', `${endpoint}: ${what}: the registry started an upload without a Location`);
  return new URL(loc, res.url);
}

/** Where an upload reads a blob's bytes: all of them, or one inclusive byte range. */
export interface BlobSource {
  read(range?: { start: number; end: number }): AsyncIterable<Uint8Array>;
}

/** A blob of the store (whole reads are verified by the store as they pass). */
export function storeSource(store: Store, d: Descriptor): BlobSource {
  return { read: (range) => (range ? createReadStream(store.blobPath(d.digest), range) : store.openBlob(d.digest, { size: d.size })) };
}

/** Counts the bytes a request body sends, for progress: `base` is where the body starts in the blob. */
async function* counted(source: AsyncIterable<Uint8Array>, base: number, onProgress: (sent: number) => void): AsyncGenerator<Uint8Array> {
  let sent = base;
  for await (const chunk of source) {
    yield chunk;
    sent += chunk.byteLength;
    onProgress(sent);
  }
}

/** Sends one blob from the store to `repository`, mounting it from `mountFrom` if given. */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  store: Store,
  d: Descriptor,
  opts: { mountFrom?: string; chunkSize: number },
): Promise<UploadOutcome> {
  return uploadFrom(client, repository, storeSource(store, d), d, opts);
}

/**
 * Sends one blob read from `source` to `repository` (see the top of this file). `onProgress`
 * hears the bytes sent so far of this blob; a retried session starts again from 0.
 */
export async function uploadFrom(
  client: RegistryClient,
  repository: string,
  source: BlobSource,
  d: Descriptor,
  opts: { mountFrom?: string; chunkSize: number; onProgress?: (sent: number) => void },
): Promise<UploadOutcome> {
  const progress = opts.onProgress;
  const body = (range?: { start: number; end: number }) => () => (progress ? counted(source.read(range), range?.start ?? 0, progress) : source.read(range));
  if (await blobExists(client, repository, d)) return 'exists';
  const what = `upload of blob ${d.digest} to ${repository}`;
  const scopes = [pushScope(repository), ...(opts.mountFrom ? [`repository:${opts.mountFrom}:pull`] : [])];
  return withRetries(
    async () => {
      const start = new URL(`${repository}/blobs/uploads/`, await client.baseUrl());
      if (opts.mountFrom) {
        start.searchParams.set('mount', d.digest);
        start.searchParams.set('from', opts.mountFrom);
      }
      const res = await client.send({ method: 'POST', path: start, scopes, headers: { 'Content-Length': '0' }, what, retry: false });
      res.body.resume();
      if (res.status === 201 && opts.mountFrom) return 'mounted';
      if (res.status !== 202) throw await client.unexpected(res, what);
      let loc = location(res, what, client.endpoint);
      if (d.size > opts.chunkSize) {
        for (let offset = 0; offset < d.size; offset += opts.chunkSize) {
          const end = Math.min(offset + opts.chunkSize, d.size) - 1;
          const chunk = await client.send({
            method: 'PATCH',
            path: loc,
            scopes,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}`, 'Content-Length': String(end - offset + 1) },
            body: body({ start: offset, end }),
            what,
            retry: false,
          });
          chunk.body.resume();
          if (chunk.status !== 202) throw await client.unexpected(chunk, what);
          loc = location(chunk, what, client.endpoint);
        }
        loc.searchParams.set('digest', d.digest);
        const done = await client.send({ method: 'PUT', path: loc, scopes, headers: { 'Content-Length': '0' }, what, retry: false });
        done.body.resume();
        if (done.status !== 201) throw await client.unexpected(done, what);
        checkStored(done, d, what, client.endpoint);
      } else {
        loc.searchParams.set('digest', d.digest);
        const done = await client.send({
          method: 'PUT',
          path: loc,
          scopes,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) },
          body: body(),
          what,
          retry: false,
        });
        done.body.resume();
        if (done.status !== 201) throw await client.unexpected(done, what);
        checkStored(done, d, what, client.endpoint);
      }
      return 'uploaded';
    },
    client.retryPolicy,
    (info) => client.reportRetry(info, what),
  );
}

function checkStored(res: HttpResponse, d: Descriptor, what: string, endpoint: string): void {
  const dcd = headerOf(res, 'docker-content-digest');
  if (dcd !== undefined && dcd !== d.digest) throw new RegistryError('EPROTOCOL', `${endpoint}: ${what}: the registry stored ${dcd} instead`);
}
