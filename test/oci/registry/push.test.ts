// Push to real registries; skopeo reads back what osbuild pushed: same digests, byte for byte,
// and an image skopeo can copy out again. Also: chunked uploads, blobs the registry already has,
// cross-repository mounts, token scopes for push.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushEvent } from '../../../src/oci/registry/events.js';
import { pull } from '../../../src/oci/registry/pull.js';
import { push } from '../../../src/oci/registry/push.js';
import { importLayout } from '../../../src/oci/import.js';
import { Store } from '../../../src/oci/store.js';
import { multiArchLayout, PASSWORD, randomFileLayer, removeDir, skopeoDigest, startProxy, startRegistry, USER, workDir, type Proxy, type Running, type TokenServer } from './harness.js';

let work: string;
let layout: string;
let plain: Running;
let proxy: Proxy;
let token: Running & { token?: TokenServer };
let store: Store;
const env = { PATH: process.env.PATH, HOME: '/nonexistent' };
const creds = `${USER}:${PASSWORD}`;
const SRC = 'example.org/osbuild/multi:1';

beforeAll(async () => {
  work = await workDir();
  [plain, token] = await Promise.all([startRegistry(), startRegistry({ kind: 'token' })]);
  proxy = await startProxy(plain.host);
  layout = await multiArchLayout(work, (arch) => [randomFileLayer(`${arch}-p`, 400_000), { script: `echo ${arch} > arch` }]);
  store = await Store.open(join(work, 'store'));
  // the store's image comes from the umoci layout; no registry involved yet
  await importLayout(store, layout, { ref: 'example.org/osbuild/multi' });
  const refs = await store.list();
  const multi = refs.find((r) => r.ref.endsWith(':multi'))!;
  await store.tag(SRC, multi.descriptor);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([plain, token].map((r) => r?.stop()));
  await removeDir(work);
});

async function skopeoManifest(ref: string, extra: string[] = []): Promise<Buffer> {
  const r = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], { encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(r.stdout as Uint8Array);
}

describe('push', () => {
  it('pushes an index with both arches; skopeo reads the same bytes and copies it out', async () => {
    const dest = `${plain.host}/pushed/multi:1`;
    const events: PushEvent[] = [];
    const r = await push(store, SRC, dest, { registry: { env }, onEvent: (e) => events.push(e) });
    const top = (await store.resolve(SRC))!;
    expect(r.digest).toBe(top.digest);
    expect(await skopeoDigest(dest)).toBe(top.digest);
    // every child manifest as stored, byte for byte
    const index = JSON.parse((await store.readBlob(top.digest)).toString()) as { manifests: { digest: string }[] };
    for (const m of index.manifests) {
      expect(await skopeoManifest(`${plain.host}/pushed/multi@${m.digest}`)).toEqual(await store.readBlob(m.digest));
    }
    // and skopeo can copy every blob out (it verifies digests) into a layout
    const out = join(work, 'copied');
    await execa('skopeo', ['copy', '-q', '--all', '--src-tls-verify=false', `docker://${dest}`, `oci:${out}:x`]);
    const outIndex = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(outIndex.manifests[0].digest).toBe(top.digest);
    // manifests went up before the index, the index before the tag
    const order = events.filter((e) => e.type === 'push-manifest').map((e) => (e as { digest: string }).digest);
    expect(order[order.length - 1]).toBe(top.digest);
    expect(events.filter((e) => e.type === 'push-blob').every((e) => (e as { how: string }).how === 'uploaded')).toBe(true);
  });

  it('a second push finds every blob there (HEAD); another repository mounts them', async () => {
    const again: PushEvent[] = [];
    await push(store, SRC, `${plain.host}/pushed/multi:2`, { registry: { env }, onEvent: (e) => again.push(e) });
    const blobs = again.filter((e) => e.type === 'push-blob') as Extract<PushEvent, { type: 'push-blob' }>[];
    expect(blobs.length).toBe(6);
    expect(blobs.every((b) => b.how === 'exists')).toBe(true);
    // the store knows pushed/multi on this registry once it holds a ref there
    await pull(store, `${plain.host}/pushed/multi:1`, { registry: { env } });
    const mounted: PushEvent[] = [];
    await push(store, SRC, `${plain.host}/other/multi:1`, { registry: { env }, onEvent: (e) => mounted.push(e) });
    const how = (mounted.filter((e) => e.type === 'push-blob') as Extract<PushEvent, { type: 'push-blob' }>[]).map((b) => b.how);
    expect(how.every((h) => h === 'mounted')).toBe(true);
    expect(await skopeoDigest(`${plain.host}/other/multi:1`)).toBe((await store.resolve(SRC))!.digest);
  });

  it('uploads in chunks (PATCH) when a blob is larger than the chunk size', async () => {
    const dest = `${proxy.host}/chunked/multi:1`;
    proxy.log.length = 0;
    await push(store, SRC, dest, { registry: { env, chunkSize: 128 * 1024 } });
    const patches = proxy.log.filter((l) => l.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(2 * Math.ceil(400_000 / (128 * 1024)));
    expect(await skopeoDigest(`${plain.host}/chunked/multi:1`)).toBe((await store.resolve(SRC))!.digest);
  });

  it('retries a failed upload from a new session', async () => {
    proxy.rules.length = 0;
    proxy.rules.push({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'status', status: 503 }, times: 2 });
    const events: PushEvent[] = [];
    await push(store, SRC, `${proxy.host}/retried/multi:1`, { registry: { env, retryBaseMs: 5 }, onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'push-retry')).toHaveLength(2);
    expect(await skopeoDigest(`${plain.host}/retried/multi:1`)).toBe((await store.resolve(SRC))!.digest);
  });

  it('pushes with token auth (push scope), and anonymous push is refused', async () => {
    const dest = `${token.host}/pushed/multi:1`;
    token.token!.requests.length = 0;
    await push(store, SRC, dest, { registry: { env, creds } });
    expect(token.token!.requests.some((r) => r.scopes.includes('repository:pushed/multi:pull,push'))).toBe(true);
    expect(await skopeoDigest(dest, creds)).toBe((await store.resolve(SRC))!.digest);
    await expect(push(store, SRC, `${token.host}/anon/multi:1`, { registry: { env } })).rejects.toMatchObject({ code: 'EAUTH' });
  });

  it('refuses an image the store holds only partly', async () => {
    const partial = await Store.open(join(work, 'partial'));
    await pull(partial, `${plain.host}/pushed/multi:1`, { arches: ['arm64'], registry: { env } });
    await expect(push(partial, `${plain.host}/pushed/multi:1`, `${plain.host}/partial/multi:1`, { registry: { env } })).rejects.toThrow(/only some of its platforms .*missing linux\/amd64.*osbuild pull/);
  });
});
