// The built `osbuild` command against a real registry: pull killed with SIGKILL then run again,
// four pulls into one store at once, push read back by skopeo, cache rm/prune/export, and a
// blueprint whose images come from the registry built with `-f tar` (the target arch only).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { ensureDist, MAIN } from '../../helpers/dist.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../../src/build/build.js';
import { Store } from '../../../src/oci/store.js';
import { layerToc, TOC_VERSION } from '../../../src/rootfs/layer.js';
import { makeImage } from '../../helpers/oci-image.js';
import { multiArchLayout, randomFileLayer, removeDir, skopeoDigest, skopeoPush, startProxy, startRegistry, workDir, type Proxy, type Running } from './harness.js';


let work: string;
let registry: Running;
let proxy: Proxy;
let ref: string;
let digest: string;
let single: string;
const env = { PATH: process.env.PATH!, HOME: '/nonexistent', XDG_CACHE_HOME: '/nonexistent' };

function osbuild(args: string[], opts: { reject?: boolean } = {}) {
  return execa('node', [MAIN, ...args], { env, extendEnv: false, reject: opts.reject ?? true });
}

beforeAll(async () => {
  await ensureDist();
  work = await workDir();
  registry = await startRegistry();
  single = `${registry.host}/cli/single:1`;
  proxy = await startProxy(registry.host);
  const layout = await multiArchLayout(work, (arch) => [
    randomFileLayer(`${arch}-1`, 1_000_000),
    randomFileLayer(`${arch}-2`, 1_000_000),
    { script: `mkdir -p bin etc && echo ${arch} > etc/arch && printf '#!/bin/sh\\necho hi\\n' > bin/hello && chmod 755 bin/hello` },
  ]);
  digest = await skopeoPush(layout, 'multi', `${registry.host}/cli/multi:1`);
  ref = `${registry.host}/cli/multi:1`;
  // the amd64 image alone, sharing its manifest and blobs with the index
  await skopeoPush(layout, 'amd64', single, { all: false });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await removeDir(work);
});

describe('osbuild pull', () => {
  it('killed with SIGKILL mid-pull, then run again: succeeds, with every blob verified', async () => {
    const cache = join(work, 'killed');
    // a slow body keeps the first run inside a layer download when it is killed
    proxy.rules.length = 0;
    proxy.rules.push({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'slow', delayMs: 20_000 }, times: 3 });
    const via = `${proxy.host}/cli/multi:1`;
    const child = execa('node', [MAIN, 'pull', '--cache', cache, via], { env, extendEnv: false, reject: false });
    const start = Date.now();
    while (!proxy.log.some((l) => /\/blobs\//.test(l.path)) && Date.now() - start < 15_000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGKILL');
    const killed = await child;
    expect(killed.signal).toBe('SIGKILL');
    const store = await Store.open(join(cache, 'store'));
    expect(await store.list()).toEqual([]);
    proxy.rules.length = 0;
    const again = await osbuild(['pull', '--cache', cache, via]);
    expect(again.stdout).toBe(`${via} ${digest}`);
    for (const arch of ['amd64', 'arm64'] as const) {
      const img = await store.resolveImage(via, arch);
      for (const l of img.layers) for await (const _ of store.openBlob(l.digest, { size: l.size })) void _;
    }
  });

  it('four pulls into one store at once all succeed', async () => {
    const cache = join(work, 'concurrent');
    const runs = await Promise.all([0, 1, 2, 3].map(() => osbuild(['pull', '-q', '--cache', cache, ref], { reject: false })));
    expect(runs.map((r) => [r.exitCode, r.stderr])).toEqual([0, 1, 2, 3].map(() => [0, '']));
    expect(runs.map((r) => r.stdout)).toEqual([0, 1, 2, 3].map(() => `${ref} ${digest}`));
    const store = await Store.open(join(cache, 'store'));
    expect((await store.list()).map((r) => r.ref)).toEqual([ref]);
    expect(await readdir(join(store.dir, '.tmp'))).toEqual([]);
    const ls = await osbuild(['cache', 'ls', '--cache', cache]);
    expect(ls.stdout).toBe(`${ref}\t${digest}\tapplication/vnd.oci.image.index.v1+json`);
  });

  it('--json reports the pull as events; a second pull is up to date', async () => {
    const cache = join(work, 'json');
    const r = await osbuild(['pull', '--json', '--arch', 'arm64', '--cache', cache, ref]);
    const events = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; arches?: string[] });
    expect(events[0].type).toBe('pull-start');
    expect(events.filter((e) => e.type === 'pull-blob-done')).toHaveLength(3);
    expect(events[events.length - 1]).toMatchObject({ type: 'pull-done', arches: ['arm64'] });
    const again = await osbuild(['pull', '--arch', 'arm64', '--cache', cache, ref]);
    expect(again.stderr).toMatch(/is up to date/);
  });

  it('unreachable registry and unknown image: exit 3 with the reason', async () => {
    const r = await osbuild(['pull', '--cache', join(work, 'missing'), `${registry.host}/cli/none:1`], { reject: false });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/osbuild: error: 127\.0\.0\.1:\d+: manifest 1 of cli\/none not found \(MANIFEST_UNKNOWN/);
    const bad = await osbuild(['pull', '--mirror', 'nonsense', ref], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--mirror "nonsense": expected REGISTRY=MIRROR/);
  });
});

describe('osbuild push and cache', () => {
  it('push sends the store image; skopeo sees the same digest', async () => {
    const cache = join(work, 'push');
    await osbuild(['pull', '-q', '--cache', cache, ref]);
    const dest = `${registry.host}/cli/copy:2`;
    const r = await osbuild(['push', '--cache', cache, ref, dest]);
    expect(r.stdout).toBe(`${dest} ${digest}`);
    expect(await skopeoDigest(dest)).toBe(digest);
  });

  it('cache export writes an OCI layout, an OCI tar and a docker-archive that skopeo reads', async () => {
    const cache = join(work, 'export');
    await osbuild(['pull', '-q', '--cache', cache, ref]);
    const dir = join(work, 'exported');
    await osbuild(['cache', 'export', '--cache', cache, ref, dir]);
    const inspect = async (transport: string) => JSON.parse((await execa('skopeo', ['inspect', '--raw', transport])).stdout) as { mediaType?: string; layers?: unknown[]; manifests?: unknown[] };
    expect((await inspect(`oci:${dir}:${ref}`)).manifests).toHaveLength(2);
    const tar = join(work, 'exported.tar');
    await osbuild(['cache', 'export', '--cache', cache, ref, tar]);
    expect((await inspect(`oci-archive:${tar}:${ref}`)).manifests).toHaveLength(2);
    const docker = join(work, 'docker.tar');
    await osbuild(['cache', 'export', '--cache', cache, '--format', 'docker-archive', '--arch', 'arm64', ref, docker]);
    const copied = join(work, 'from-docker');
    await execa('skopeo', ['copy', '-q', `docker-archive:${docker}`, `oci:${copied}:x`]);
    const cfg = JSON.parse((await execa('skopeo', ['inspect', '--config', `oci:${copied}:x`])).stdout) as { architecture: string; rootfs: { diff_ids: string[] } };
    expect(cfg.architecture).toBe('arm64');
    expect(cfg.rootfs.diff_ids).toHaveLength(3);
  });

  it('cache rm then prune --now removes the blobs and the derived data of their layers', async () => {
    const cache = join(work, 'prune');
    await osbuild(['pull', '-q', '--cache', cache, ref]);
    const store = await Store.open(join(cache, 'store'));
    const arm = await store.resolveImage(ref, 'arm64');
    await layerToc(store, arm.layers[2]);
    const amd = await store.resolveImage(ref, 'amd64');
    await layerToc(store, amd.layers[2]);
    const tocDir = store.derivedDir('toc');
    expect(await readdir(tocDir)).toHaveLength(2);
    // blobs another ref reaches stay: the amd64 image on its own
    await osbuild(['pull', '-q', '--cache', cache, single]);
    const keep = await store.resolveImage(single, 'amd64');
    expect(keep.manifestDigest).toBe(amd.manifestDigest);
    const blobsBefore = await readdir(join(store.dir, 'blobs', 'sha256'));
    const soft = await osbuild(['cache', 'prune', '--cache', cache]);
    expect(soft.stdout).toMatch(/removed 0 blobs .*, 0 derived files and 0 initrd segments/);
    expect((await osbuild(['cache', 'rm', '--cache', cache, ref])).stdout).toBe(`removed ${ref}`);
    const recent = await osbuild(['cache', 'prune', '--cache', cache]);
    expect(recent.stdout).toMatch(/removed 0 blobs .*kept \d+ written in the last 10 minutes/);
    const r = await osbuild(['cache', 'prune', '--now', '--cache', cache]);
    // the index and arm64's manifest, config and 3 layers go; amd64's stay with the other ref
    expect(r.stdout).toMatch(/^removed 6 blobs \(.*\), 1 derived files and 0 initrd segments$/);
    const after = await readdir(join(store.dir, 'blobs', 'sha256'));
    expect(after.length).toBe(blobsBefore.length - 6);
    for (const l of keep.layers) expect(await store.hasBlob(l.digest)).toBe(true);
    for (const l of arm.layers) expect(await store.hasBlob(l.digest)).toBe(false);
    expect(await readdir(tocDir)).toEqual([basename(store.derived('toc').path(amd.layers[2].digest, TOC_VERSION))]);
    expect((await store.resolveImage(single, 'amd64')).layers).toHaveLength(3);
    const gone = await osbuild(['cache', 'rm', '--cache', cache, ref], { reject: false });
    expect(gone.exitCode).toBe(1);
  });
});

describe('a blueprint naming registry images', () => {
  it('builds -f tar, pulling the target arch only', async () => {
    const app = await makeImage({ tag: 'app', arch: 'arm64', layers: [{ script: "mkdir -p bin && printf '#!/bin/sh\\necho app\\n' > bin/app && chmod 755 bin/app" }], cmd: ['/bin/app'] });
    const appRef = `${registry.host}/cli/app:1`;
    await skopeoPush(app.layout, 'app', appRef, { all: false });
    const dir = join(work, 'bp');
    await mkdir(dir, { recursive: true });
    const bp = join(dir, 'reg.yml');
    await writeFile(bp, `init:\n  - ${ref}\nonboot:\n  - name: app\n    image: ${appRef}\n`);
    const cacheDir = join(work, 'bp-cache');
    const r = await build({ files: [bp], formats: ['tar'], arch: 'arm64', outDir: join(dir, 'out'), cacheDir, componentDirs: [] });
    const tarFile = r.outputs[0].files[0].path;
    const list = (await execa('tar', ['-tf', tarFile])).stdout.split('\n');
    expect(list).toContain('etc/arch');
    expect(list.some((p) => /containers\/onboot\/000-app\/rootfs\/bin\/app$/.test(p))).toBe(true);
    const arch = (await execa('tar', ['-xOf', tarFile, 'etc/arch'])).stdout;
    expect(arch).toBe('arm64');
    const store = await Store.open(join(cacheDir, 'store'));
    await expect(store.resolveImage(ref, 'amd64')).rejects.toThrow(/only some of its platforms/);
    // the amd64 layers were never downloaded
    const amd = JSON.parse(await readFile(join(store.dir, 'blobs', 'sha256', (await store.resolve(ref))!.digest.slice(7)), 'utf8')) as { manifests: { digest: string; platform: { architecture: string } }[] };
    expect(await store.hasBlob(amd.manifests.find((m) => m.platform.architecture === 'amd64')!.digest)).toBe(false);
  });
});
