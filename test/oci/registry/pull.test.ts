// Pulls from real registries in each auth mode: multi-arch OCI indexes and Docker manifest lists
// pushed by skopeo, what lands in the store, what the registry refuses, and that a bad blob never
// reaches the store.
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError, StoreError } from '../../../src/oci/errors.js';
import { pull } from '../../../src/oci/registry/pull.js';
import { Store } from '../../../src/oci/store.js';
import type { PullEvent } from '../../../src/oci/registry/events.js';
import {
  multiArchLayout,
  PASSWORD,
  randomFileLayer,
  removeDir,
  skopeoPush,
  startRegistry,
  USER,
  workDir,
  type Running,
  type TokenServer,
} from './harness.js';

let work: string;
let layout: string;
let plain: Running;
let basic: Running;
let token: Running & { token?: TokenServer };
const creds = `${USER}:${PASSWORD}`;
// no docker config of the machine's user may leak into these tests
const env = { PATH: process.env.PATH, HOME: '/nonexistent' };

beforeAll(async () => {
  work = await workDir();
  [plain, basic, token] = await Promise.all([startRegistry(), startRegistry({ kind: 'htpasswd' }), startRegistry({ kind: 'token' })]);
  layout = await multiArchLayout(work, (arch) => [randomFileLayer(`${arch}-a`, 300_000), { script: `echo ${arch} > arch` }]);
});

afterAll(async () => {
  await Promise.all([plain, basic, token].map((r) => r?.stop()));
  await removeDir(work);
});

async function newStore(): Promise<Store> {
  return Store.open(join(work, `store-${Math.random().toString(36).slice(2)}`));
}

async function storeBlobs(store: Store): Promise<string[]> {
  return (await readdir(join(store.dir, 'blobs', 'sha256'))).sort();
}

async function expectBothArches(store: Store, ref: string, indexDigest: string): Promise<void> {
  const top = await store.resolve(ref);
  expect(top?.digest).toBe(indexDigest);
  for (const arch of ['amd64', 'arm64'] as const) {
    const img = await store.resolveImage(ref, arch);
    expect(img.indexDigest).toBe(indexDigest);
    expect(img.config.architecture).toBe(arch);
    expect(img.layers).toHaveLength(2);
    // every blob reads back verified
    for (const l of img.layers) expect((await store.readBlob(l.digest)).length).toBe(l.size);
  }
}

describe('pull from a registry without auth', () => {
  it('pulls an OCI index with both arches, digests as the registry has them', async () => {
    const ref = `${plain.host}/test/multi:1`;
    const digest = await skopeoPush(layout, 'multi', ref);
    const store = await newStore();
    const events: PullEvent[] = [];
    const r = await pull(store, ref, { registry: { env }, onEvent: (e) => events.push(e) });
    expect(r.descriptor.digest).toBe(digest);
    expect(r.descriptor.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(r.manifests.map((m) => m.arch).sort()).toEqual(['amd64', 'arm64']);
    await expectBothArches(store, ref, digest);
    expect(events.filter((e) => e.type === 'pull-blob-done' && !e.cached)).toHaveLength(4);
    // a second pull finds everything in place and asks nothing
    const again = await pull(store, ref, { registry: { env } });
    expect(again.upToDate).toBe(true);
  });

  it('pulls a Docker manifest list (skopeo --format v2s2) and keeps its media types', async () => {
    const ref = `${plain.host}/test/dockerlist:1`;
    const digest = await skopeoPush(layout, 'multi', ref, { format: 'v2s2' });
    const store = await newStore();
    const r = await pull(store, ref, { registry: { env } });
    expect(r.descriptor.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(r.descriptor.digest).toBe(digest);
    await expectBothArches(store, ref, digest);
  });

  it('pulls one arch only, and a pinned digest, and refuses an arch the image lacks', async () => {
    const ref = `${plain.host}/test/multi:1`;
    const digest = await skopeoPush(layout, 'multi', ref);
    const store = await newStore();
    await pull(store, `${plain.host}/test/multi@${digest}`, { arches: ['arm64'], registry: { env } });
    const img = await store.resolveImage(`${plain.host}/test/multi@${digest}`, 'arm64');
    expect(img.config.architecture).toBe('arm64');
    await expect(store.resolveImage(`${plain.host}/test/multi@${digest}`, 'amd64')).rejects.toThrow(/only some of its platforms/);
    // single-arch image: skopeo copy without --all of the amd64 tag
    const single = `${plain.host}/test/single:amd64`;
    await skopeoPush(layout, 'amd64', single, { all: false });
    await expect(pull(store, single, { arches: ['arm64'], registry: { env } })).rejects.toMatchObject({ code: 'EPLATFORM' });
    await expect(pull(store, `${plain.host}/test/nothing:1`, { registry: { env } })).rejects.toMatchObject({ code: 'ENOTFOUND', message: expect.stringMatching(/manifest 1 of test\/nothing not found/) });
  });
});

describe('pull with htpasswd (Basic) auth', () => {
  it('pulls with --creds, with docker config.json auths, and refuses without credentials', async () => {
    const ref = `${basic.host}/test/multi:1`;
    const digest = await skopeoPush(layout, 'multi', ref, { creds });
    const store = await newStore();
    const r = await pull(store, ref, { registry: { creds, env } });
    expect(r.descriptor.digest).toBe(digest);
    await expectBothArches(store, ref, digest);

    const dockerDir = join(work, 'docker-basic');
    await mkdir(dockerDir, { recursive: true });
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from(creds).toString('base64') } } }));
    const store2 = await newStore();
    await pull(store2, ref, { registry: { env: { ...env, DOCKER_CONFIG: dockerDir } } });
    await expectBothArches(store2, ref, digest);

    const store3 = await newStore();
    const err = await pull(store3, ref, { registry: { env } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/requires a username and password.*--creds/) });
    const wrong = await pull(store3, ref, { registry: { creds: `${USER}:wrong-password`, env } }).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: 'EAUTH' });
    // the secret is never part of a message
    expect(String((wrong as Error).message)).not.toContain('wrong-password');
    expect(await store3.list()).toEqual([]);
  });
});

describe('pull with token auth (RS256 JWT, x5c)', () => {
  it('fetches a Bearer token for the scope, reuses it for every blob, pulls both arches', async () => {
    const ref = `${token.host}/test/multi:1`;
    const digest = await skopeoPush(layout, 'multi', ref, { creds });
    token.token!.requests.length = 0;
    const store = await newStore();
    const r = await pull(store, ref, { registry: { creds, env } });
    expect(r.descriptor.digest).toBe(digest);
    await expectBothArches(store, ref, digest);
    // one token for repository:test/multi:pull served the index, 2 manifests, 2 configs, 4 layers
    expect(token.token!.requests).toEqual([{ scopes: ['repository:test/multi:pull'], user: USER }]);
  });

  it('pulls a public repository anonymously; a private one says how to log in', async () => {
    const pub = `${token.host}/public/multi:1`;
    const digest = await skopeoPush(layout, 'multi', pub, { creds });
    const store = await newStore();
    expect((await pull(store, pub, { registry: { env } })).descriptor.digest).toBe(digest);
    const err = await pull(store, `${token.host}/test/multi:1`, { registry: { env } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EAUTH', message: expect.stringMatching(/docker login|--creds/) });
  });
});

describe('verification', () => {
  it('a layer whose content differs from its diff_id: clear error, nothing in the store', async () => {
    // an image whose config names a wrong diff_id for its layer: made from the umoci layout by
    // rewriting the config (and so the manifest) in a copy
    const bad = join(work, 'bad-layout');
    await (await import('node:fs/promises')).cp(layout, bad, { recursive: true });
    const index = JSON.parse(await readFile(join(bad, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[] };
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'amd64')!;
    const blob = (d: string) => join(bad, 'blobs', 'sha256', d.slice(7));
    const manifest = JSON.parse(await readFile(blob(entry.digest), 'utf8')) as { config: { digest: string; size: number } };
    const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids[0] = `sha256:${'0'.repeat(64)}`;
    const { createHash } = await import('node:crypto');
    const put = async (obj: unknown) => {
      const b = Buffer.from(JSON.stringify(obj));
      const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
      await writeFile(blob(d), b);
      return { digest: d, size: b.length };
    };
    const c = await put(config);
    manifest.config = { ...manifest.config, ...c };
    const m = await put(manifest);
    index.manifests.push({ ...entry, ...m, annotations: { 'org.opencontainers.image.ref.name': 'bad' } });
    await writeFile(join(bad, 'index.json'), JSON.stringify(index));
    const ref = `${plain.host}/test/bad:1`;
    await skopeoPush(bad, 'bad', ref, { all: false });
    const store = await newStore();
    const before = await storeBlobs(store);
    const err = await pull(store, ref, { registry: { env } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ code: 'EDIGEST', message: expect.stringMatching(/layer 1\/2 of .*test\/bad:1.*uncompressed content is sha256:[0-9a-f]{64}, but the image config's diff_id is sha256:0{64}/) });
    expect(await store.list()).toEqual([]);
    expect(await storeBlobs(store)).toEqual(before);
    expect(await readdir(join(store.dir, '.tmp'))).toEqual([]);
  });
});
