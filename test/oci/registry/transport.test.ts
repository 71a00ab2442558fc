// How registries are reached: HTTPS with an extra authority or as an insecure registry, mirrors
// tried first, credentials from docker's config.json and a real docker-credential-<helper>
// program, and the small pure parts (challenges, media types, backoff, retry classes).
import { once } from 'node:events';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../src/oci/registry/challenge.js';
import { findCredential, normalizeAuthKey } from '../../../src/oci/registry/credentials.js';
import { manifestMediaType } from '../../../src/oci/registry/manifests.js';
import { isLoopback, parseMirrors } from '../../../src/oci/registry/options.js';
import { pull } from '../../../src/oci/registry/pull.js';
import { backoffMs, isTransient } from '../../../src/oci/registry/retry.js';
import { Store } from '../../../src/oci/store.js';
import { freePort, multiArchLayout, PASSWORD, USER, removeDir, skopeoPush, startProxy, startRegistry, workDir, type Proxy, type Running } from './harness.js';

let work: string;
let layout: string;
let tls: Running & { certFile?: string };
let origin: Running;
let mirror: Running;
let proxy: Proxy;
const env = { PATH: process.env.PATH, HOME: '/nonexistent' };

beforeAll(async () => {
  work = await workDir();
  [tls, origin, mirror] = await Promise.all([startRegistry({ kind: 'tls' }), startRegistry(), startRegistry()]);
  proxy = await startProxy(origin.host);
  layout = await multiArchLayout(work, (arch) => [{ script: `echo ${arch} > arch` }]);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([tls, origin, mirror].map((r) => r?.stop()));
  await removeDir(work);
});

const store = () => Store.open(join(work, `store-${Math.random().toString(36).slice(2)}`));

describe('HTTPS', () => {
  it('an untrusted certificate is refused with what to do; --ca-cert or --insecure-registry make it work', async () => {
    const ref = `${tls.host}/tls/multi:1`;
    const digest = await skopeoPush(layout, 'multi', ref);
    await expect(pull(await store(), ref, { registry: { env } })).rejects.toMatchObject({
      code: 'EINSECURE',
      message: expect.stringMatching(/TLS certificate is not trusted.*--ca-cert FILE.*--insecure-registry 127\.0\.0\.1:\d+/),
    });
    expect((await pull(await store(), ref, { registry: { env, caCertFiles: [tls.certFile!] } })).descriptor.digest).toBe(digest);
    expect((await pull(await store(), ref, { registry: { env, insecureRegistries: [tls.host] } })).descriptor.digest).toBe(digest);
  });

  it('plain HTTP is for loopback and named insecure registries only', () => {
    expect(['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000'].map(isLoopback)).toEqual([true, true, true, true]);
    expect(['registry.local:5000', '10.0.0.1:5000', 'docker.io'].map(isLoopback)).toEqual([false, false, false]);
  });
});

describe('redirects', () => {
  it('follows a blob redirect to storage elsewhere without the registry\'s Authorization header', async () => {
    const basic = await startRegistry({ kind: 'htpasswd' });
    const front = await startProxy(basic.host);
    // "blob storage": another origin serving the blob (fetched from the registry with its own credentials)
    const seen: (string | undefined)[] = [];
    const storage = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      const up = http.get({ host: '127.0.0.1', port: basic.port, path: req.url, headers: { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` } }, (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
      });
      up.on('error', () => res.destroy());
    });
    storage.listen(0, '127.0.0.1');
    await once(storage, 'listening');
    try {
      const creds = `${USER}:${PASSWORD}`;
      const digest = await skopeoPush(layout, 'multi', `${basic.host}/redirect/multi:1`, { creds });
      front.rules.push({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'redirect', to: `http://localhost:${(storage.address() as AddressInfo).port}` }, times: 100 });
      const r = await pull(await store(), `${front.host}/redirect/multi:1`, { registry: { env, creds } });
      expect(r.descriptor.digest).toBe(digest);
      // 2 configs and 2 layers came from storage, none with the token
      expect(seen).toHaveLength(4);
      expect(seen).toEqual([undefined, undefined, undefined, undefined]);
      // while the registry itself got the credentials for the manifests
      expect(front.log.filter((l) => l.path.includes('/manifests/')).length).toBeGreaterThan(0);
    } finally {
      storage.closeAllConnections();
      storage.close();
      await front.stop();
      await basic.stop();
    }
  });
});

describe('mirrors', () => {
  it('pulls from the mirror without touching the registry; a dead mirror falls back to it', async () => {
    const viaOrigin = `${proxy.host}/mirrored/multi:1`;
    const digest = await skopeoPush(layout, 'multi', `${origin.host}/mirrored/multi:1`);
    expect(await skopeoPush(layout, 'multi', `${mirror.host}/mirrored/multi:1`)).toBe(digest);
    proxy.log.length = 0;
    const r = await pull(await store(), viaOrigin, { registry: { env, mirrors: [`${proxy.host}=${mirror.host}`] } });
    expect(r.descriptor.digest).toBe(digest);
    expect(proxy.log).toEqual([]);
    const dead = `127.0.0.1:${await freePort()}`;
    const r2 = await pull(await store(), viaOrigin, { registry: { env, retryBaseMs: 1, mirrors: [`${proxy.host}=${dead}`] } });
    expect(r2.descriptor.digest).toBe(digest);
    expect(proxy.log.some((l) => l.path.includes('/manifests/'))).toBe(true);
    expect(() => parseMirrors(['docker.io'])).toThrow(/REGISTRY=MIRROR/);
    expect(parseMirrors(['index.docker.io=https://m.local:5000/']).get('docker.io')).toEqual(['m.local:5000']);
  });
});

describe('credentials', () => {
  it('--creds, the environment, config.json auths and a credential helper, in that order', async () => {
    const dir = join(work, 'docker');
    const bin = join(work, 'bin');
    await mkdir(dir, { recursive: true });
    await mkdir(bin, { recursive: true });
    // a real credential helper program speaking the protocol: server URL on stdin, JSON out
    await writeFile(
      join(bin, 'docker-credential-osbtest'),
      '#!/bin/sh\nread server\ncase "$server" in\n  helped.example:5000) printf \'{"ServerURL":"%s","Username":"hu","Secret":"hs"}\' "$server" ;;\n  https://index.docker.io/v1/) echo \'{"Username":"hub","Secret":"hubs"}\' ;;\n  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n',
    );
    await chmod(join(bin, 'docker-credential-osbtest'), 0o755);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'https://index.docker.io/v1/': {}, 'file.example': { auth: Buffer.from('fu:fp:with:colons').toString('base64') } },
        credHelpers: { 'helped.example:5000': 'osbtest' },
        credsStore: 'osbtest',
      }),
    );
    const e = { PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: dir };
    expect(await findCredential('helped.example:5000', { env: e })).toEqual({ username: 'hu', password: 'hs' });
    expect(await findCredential('docker.io', { env: e })).toEqual({ username: 'hub', password: 'hubs' });
    expect(await findCredential('file.example', { env: e })).toEqual({ username: 'fu', password: 'fp:with:colons' });
    expect(await findCredential('other.example', { env: e })).toBeUndefined();
    expect(await findCredential('helped.example:5000', { env: { ...e, OSBUILD_REGISTRY_CREDS: 'eu:ep' } })).toEqual({ username: 'eu', password: 'ep' });
    expect(await findCredential('helped.example:5000', { env: e, creds: 'cu:cp' })).toEqual({ username: 'cu', password: 'cp' });
    await expect(findCredential('x', { creds: 'nocolon' })).rejects.toMatchObject({ code: 'ECREDS' });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credHelpers: { 'x.example': 'absent' } }));
    await expect(findCredential('x.example', { env: e })).rejects.toThrow(/docker-credential-absent .* is not installed/);
    expect(normalizeAuthKey('https://registry-1.docker.io/v2/')).toBe('docker.io');
  });
});

describe('pure parts', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="a \\"quoted\\" realm", charset=UTF-8')).toEqual({ scheme: 'basic', params: { realm: 'a "quoted" realm', charset: 'UTF-8' } });
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  it('takes the media type from Content-Type and the document, and refuses disagreements and schema 1', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    expect(manifestMediaType('application/vnd.oci.image.index.v1+json', index, 'x')).toEqual({ mediaType: 'application/vnd.oci.image.index.v1+json', kind: 'index' });
    expect(manifestMediaType('application/json; charset=utf-8', index, 'x').kind).toBe('index');
    expect(() => manifestMediaType('application/vnd.docker.distribution.manifest.v2+json', index, 'x')).toThrow(/Content-Type .* whose mediaType is/);
    expect(() => manifestMediaType('application/vnd.docker.distribution.manifest.v1+prettyjws', Buffer.from('{}'), 'x')).toThrow(/schema 1/);
    expect(() => manifestMediaType('text/html', index, 'x')).toThrow(/not an image manifest/);
  });

  it('backs off exponentially with jitter, and retries only transient failures', () => {
    expect([1, 2, 3].map((a) => backoffMs(a, 100, () => 1))).toEqual([100, 200, 400]);
    expect(backoffMs(1, 100, () => 0)).toBe(50);
    expect(backoffMs(20, 100, () => 1)).toBe(10_000);
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(['ECONNRESET', 'ETIMEDOUT', 'ETRUNCATED'].map((c) => isTransient(err(c)))).toEqual([true, true, true]);
    expect(['ENOTFOUND', 'DEPTH_ZERO_SELF_SIGNED_CERT'].map((c) => isTransient(err(c)))).toEqual([false, false]);
  });
});
