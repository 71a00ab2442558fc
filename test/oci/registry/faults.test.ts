// A fault-injecting proxy between osbuild and a real registry: 5xx, a reset mid-blob, a truncated
// body, wrong bytes and a stalled body. Transient faults are retried (a broken download resumed
// with Range); persistent ones end in a clear error and leave the store as it was.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pull } from '../../../src/oci/registry/pull.js';
import type { PullEvent } from '../../../src/oci/registry/events.js';
import { Store } from '../../../src/oci/store.js';
import { multiArchLayout, randomFileLayer, removeDir, skopeoPush, startProxy, startRegistry, workDir, type Proxy, type Running } from './harness.js';

let work: string;
let registry: Running;
let proxy: Proxy;
let ref: string;
let indexDigest: string;
const LAYER = 1_500_000;
const env = { PATH: process.env.PATH, HOME: '/nonexistent' };
// fast retries and a short idle timeout keep the test quick; the logic is the same
const fast = { env, retryBaseMs: 5, idleTimeoutMs: 400 };

beforeAll(async () => {
  work = await workDir();
  registry = await startRegistry();
  proxy = await startProxy(registry.host);
  const layout = await multiArchLayout(work, (arch) => [randomFileLayer(`${arch}-big`, LAYER), { script: `echo ${arch} > arch` }]);
  indexDigest = await skopeoPush(layout, 'multi', `${registry.host}/faults/multi:1`);
  ref = `${proxy.host}/faults/multi:1`;
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeDir(work);
});

beforeEach(() => {
  proxy.rules.length = 0;
  proxy.log.length = 0;
});

const BLOB = /\/v2\/faults\/multi\/blobs\/sha256:/;

async function fresh(): Promise<Store> {
  return Store.open(join(work, `store-${Math.random().toString(36).slice(2)}`));
}

async function pullAll(store: Store, events: PullEvent[] = []) {
  return pull(store, ref, { registry: fast, onEvent: (e) => events.push(e) });
}

async function bigLayer(store: Store, arch: 'amd64' | 'arm64'): Promise<string> {
  const img = await store.resolveImage(ref, arch);
  return img.layers.find((l) => l.size > LAYER / 2)!.digest;
}

describe('transient faults are retried', () => {
  it('5xx on the manifest and on blobs', async () => {
    proxy.rules.push({ method: 'GET', path: /\/manifests\/1$/, fault: { kind: 'status', status: 503 }, times: 2 });
    proxy.rules.push({ method: 'GET', path: BLOB, fault: { kind: 'status', status: 500 }, times: 2 });
    const events: PullEvent[] = [];
    const store = await fresh();
    const r = await pullAll(store, events);
    expect(r.descriptor.digest).toBe(indexDigest);
    const retries = events.filter((e) => e.type === 'pull-retry');
    expect(retries.map((e) => (e as { reason: string }).reason)).toEqual(['HTTP 503', 'HTTP 503', 'HTTP 500', 'HTTP 500']);
  });

  it('a connection reset mid-blob resumes with a Range request', async () => {
    const store = await fresh();
    // learn the big layer's digest first (metadata only would do, but a full pull is simplest)
    const probe = await fresh();
    await pullAll(probe);
    const digest = await bigLayer(probe, 'amd64');
    proxy.log.length = 0;
    proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), fault: { kind: 'reset', afterBytes: 600_000 } });
    await pullAll(store);
    const gets = proxy.log.filter((l) => l.path.endsWith(`/blobs/${digest}`) && l.method === 'GET');
    expect(gets).toHaveLength(2);
    expect(gets[0].fault).toBe('reset');
    // the second request asks only for what is missing
    expect(gets[1].range).toMatch(/^bytes=\d+-$/);
    expect(Number(gets[1].range!.slice(6, -1))).toBeGreaterThan(0);
    expect((await store.readBlob(digest)).length).toBeGreaterThan(LAYER);
  });

  it('a body truncated cleanly (short Content-Length) is completed with Range', async () => {
    const probe = await fresh();
    await pullAll(probe);
    const digest = await bigLayer(probe, 'arm64');
    proxy.log.length = 0;
    proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), fault: { kind: 'truncate', keepBytes: 100_000 } });
    const store = await fresh();
    await pullAll(store);
    const gets = proxy.log.filter((l) => l.path.endsWith(`/blobs/${digest}`) && l.method === 'GET');
    expect(gets.map((g) => g.range)).toEqual([undefined, 'bytes=100000-']);
  });

  it('a stalled body times out and is retried', async () => {
    const probe = await fresh();
    await pullAll(probe);
    const digest = await bigLayer(probe, 'amd64');
    proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), fault: { kind: 'slow', delayMs: 1500 } });
    const events: PullEvent[] = [];
    const store = await fresh();
    await pullAll(store, events);
    expect(events.some((e) => e.type === 'pull-retry' && e.reason === 'ETIMEDOUT')).toBe(true);
  });

  it('wrong bytes once: fetched again from scratch', async () => {
    const probe = await fresh();
    await pullAll(probe);
    const digest = await bigLayer(probe, 'amd64');
    proxy.rules.push({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), fault: { kind: 'corrupt' } });
    const store = await fresh();
    const r = await pullAll(store);
    expect(r.descriptor.digest).toBe(indexDigest);
  });
});

describe('persistent faults end in clear errors, with nothing in the store', () => {
  async function expectUntouched(store: Store): Promise<void> {
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(store.dir, 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(store.dir, '.tmp'))).toEqual([]);
  }

  it('corrupt bytes every time', async () => {
    proxy.rules.push({ method: 'GET', path: BLOB, fault: { kind: 'corrupt' }, times: 1000 });
    const store = await fresh();
    const err = await pullAll(store).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EDIGEST', message: expect.stringMatching(/from 127\.0\.0\.1:\d+\/faults\/multi: content does not match: expected sha256:[0-9a-f]{64}/) });
    await expectUntouched(store);
  });

  it('5xx every time: gives up after the retries with the status', async () => {
    proxy.rules.push({ method: 'GET', path: /\/manifests\//, fault: { kind: 'status', status: 502 }, times: 1000 });
    const store = await fresh();
    const err = await pullAll(store).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EHTTP', status: 502, message: expect.stringMatching(/manifest 1 of faults\/multi: HTTP 502/) });
    expect(proxy.log.filter((l) => l.path.includes('/manifests/'))).toHaveLength(5);
    await expectUntouched(store);
  });

  it('resets every time: gives up naming the blob and how far it got', async () => {
    proxy.rules.push({ method: 'GET', path: BLOB, fault: { kind: 'reset', afterBytes: 10 }, times: 1000 });
    const store = await fresh();
    const err = await pullAll(store).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENETWORK', message: expect.stringMatching(/gave up after 5 failed attempts .* at byte \d+ of \d+/) });
    await expectUntouched(store);
  });
});
