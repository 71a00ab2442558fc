// Blob uploads: HEAD first (the registry may have it), then a cross-repository mount when another
// repository of the same registry is known to hold it, else an upload session: one PUT for a
// blob up to the chunk size, PATCHes of chunk-size pieces and a closing PUT above it. A session
// that fails is abandoned and the blob sent again from a new one.
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

/** Sends one blob from the store to `repository`, mounting it from `mountFrom` if given. */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  store: Store,
  d: Descriptor,
  opts: { mountFrom?: string; chunkSize: number },
): Promise<UploadOutcome> {
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
            body: () => createReadStream(store.blobPath(d.digest), { start: offset, end }),
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
          body: () => store.openBlob(d.digest, { size: d.size }),
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
