// Outputs as OCI artifacts against Debian's docker-registry (2.8: no referrers API) on 127.0.0.1,
// with the outputs of a real build (blueprints/minimal.yml, kernel+initrd for amd64, through the
// built CLI's `build --push`). Read back by `osbuild pull-artifact` (cmp), by skopeo (inspect,
// copy to an OCI layout), and by plain HTTP requests as oras makes them (the referrers API
// answers 404 here, and the referrers tag holds the SBOM). Also: the same outputs give the same
// digest, chunked uploads with progress, Basic auth, and the errors a user meets.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactEvent } from '../../../src/oci/artifact/events.js';
import { pullArtifact } from '../../../src/oci/artifact/pull.js';
import { pushArtifact, type ArtifactInput } from '../../../src/oci/artifact/push.js';
import { componentCache, REPO } from '../../helpers/components.js';
import { ensureDist, MAIN } from '../../helpers/dist.js';
import { makeImage } from '../../helpers/oci-image.js';
import { PASSWORD, removeDir, skopeoPush, startRegistry, USER, workDir, type Running } from '../registry/harness.js';

const EPOCH = '1700000000';
const env = { PATH: process.env.PATH!, HOME: '/nonexistent', XDG_CACHE_HOME: '/nonexistent', SOURCE_DATE_EPOCH: EPOCH };
const creds = `${USER}:${PASSWORD}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let work: string;
let plain: Running;
let basic: Running;
let out: string;
let lock: string;
/** The digest `build --push` printed. */
let built: string;
const FILES = ['minimal-cmdline', 'minimal-initrd.img', 'minimal-kernel'];
/** The SBOMs beside the outputs: ours, or those the build wrote (SPDX, and CycloneDX if asked for). */
let SBOMS: string[];

function osbuild(args: string[], opts: { reject?: boolean } = {}) {
  return execa('node', [MAIN, ...args], { env, extendEnv: false, reject: opts.reject ?? true });
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const lastLine = (s: string) => s.trim().split('\n').pop()!;

async function skopeoRaw(ref: string, extra: string[] = []): Promise<Buffer> {
  const r = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], { encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(r.stdout as Uint8Array);
}

async function cmp(a: string, b: string): Promise<void> {
  await execa('cmp', [a, b]);
}

beforeAll(async () => {
  await ensureDist();
  const { cacheDir } = await componentCache();
  work = await workDir();
  [plain, basic] = await Promise.all([startRegistry(), startRegistry({ kind: 'htpasswd' })]);
  // the blueprint alone in a folder: no osbuild.lock beside it
  const bp = join(work, 'bp', 'minimal.yml');
  await mkdir(join(work, 'bp'));
  await copyFile(join(REPO, 'blueprints', 'minimal.yml'), bp);
  out = join(work, 'out');
  const r = await osbuild(['build', '--cache', cacheDir, '-f', 'kernel+initrd', '--arch', 'amd64', '-o', out, '--push', `${plain.host}/outputs/minimal:built`, bp]);
  built = lastLine(r.stdout).split(' ')[1];
  // an SBOM beside the outputs, as builds write them (a build may have written one already)
  if (!(await readdir(out)).includes('minimal.spdx.json')) {
    await writeFile(join(out, 'minimal.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', dataLicense: 'CC0-1.0', SPDXID: 'SPDXRef-DOCUMENT', name: 'minimal', packages: [] }));
  }
  SBOMS = (await readdir(out)).filter((f) => f.endsWith('.spdx.json') || f.endsWith('.cdx.json')).sort();
  lock = join(work, 'osbuild.lock');
  await writeFile(lock, 'images: {}\n');
}, 900_000);

afterAll(async () => {
  await Promise.all([plain, basic].map((r) => r?.stop()));
  if (work) await removeDir(work);
});

describe('push-artifact and pull-artifact', () => {
  let digest: string;
  const ref = () => `${plain.host}/outputs/minimal:1`;

  it('build --push pushed the outputs; push-artifact --from pushes them again, pull-artifact gets them back byte-identical', async () => {
    expect(built).toMatch(/^sha256:[0-9a-f]{64}$/);
    const pushed = await osbuild(['push-artifact', ref(), '--from', out, '--name', 'minimal', '--lock', lock]);
    digest = lastLine(pushed.stdout).split(' ')[1];
    expect(lastLine(pushed.stdout)).toBe(`${ref()} ${digest}`);
    expect(pushed.stderr).toMatch(/minimal\.spdx\.json attached as application\/spdx\+json \(referrers tag\)/);

    const back = join(work, 'back');
    const pulled = await osbuild(['pull-artifact', '-o', back, ref()]);
    expect(pulled.stdout.trim().split('\n').sort()).toEqual([...FILES, ...SBOMS].map((f) => join(back, f)).sort());
    for (const f of [...FILES, ...SBOMS]) await cmp(join(out, f), join(back, f));
    expect((await readdir(back)).sort()).toEqual([...FILES, ...SBOMS].sort());
  });

  it('skopeo reads the manifest: artifactType, the empty config, a titled layer per file, the annotations', async () => {
    const raw = await skopeoRaw(ref());
    expect(sha256(raw)).toBe(digest);
    const m = JSON.parse(raw.toString());
    expect(m.mediaType).toBe(OCI_MANIFEST);
    expect(m.artifactType).toBe('application/vnd.osbuild.kernel-initrd.v1');
    expect(m.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(Buffer.from('{}')), size: 2 });
    expect(m.layers.map((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title'])).toEqual(FILES);
    for (const l of m.layers) {
      const bytes = await readFile(join(out, l.annotations['org.opencontainers.image.title']));
      expect([l.digest, l.size]).toEqual([sha256(bytes), bytes.length]);
    }
    const lockSum = (await execa('sha256sum', [lock])).stdout.split(' ')[0];
    expect(m.annotations).toEqual({
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.osbuild.blueprint.name': 'minimal',
      'org.osbuild.arch': 'amd64',
      'org.osbuild.formats': 'kernel+initrd',
      'org.osbuild.lock.digest': `sha256:${lockSum}`,
    });
  });

  it('skopeo copies it to an OCI layout whose layer blobs are the files', async () => {
    const layout = join(work, 'layout');
    await execa('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref()}`, `oci:${layout}:copied`]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(digest);
    const m = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
    for (const l of m.layers) await cmp(join(layout, 'blobs', 'sha256', l.digest.slice(7)), join(out, l.annotations['org.opencontainers.image.title']));
  });

  it('plain HTTP as oras asks: the manifest by tag, no referrers API (404), the SBOM found through the referrers tag', async () => {
    const base = `http://${plain.host}/v2/outputs/minimal`;
    const res = await fetch(`${base}/manifests/1`, { headers: { Accept: OCI_MANIFEST } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect((await fetch(`${base}/referrers/${digest}`)).status).toBe(404);
    const tag = await fetch(`${base}/manifests/sha256-${digest.slice(7)}`, { headers: { Accept: OCI_INDEX } });
    expect(tag.status).toBe(200);
    const index = (await tag.json()) as { mediaType: string; manifests: { digest: string; artifactType: string; mediaType: string }[] };
    expect(index.mediaType).toBe(OCI_INDEX);
    expect(index.manifests).toHaveLength(SBOMS.length);
    const spdx = index.manifests.find((d) => d.artifactType === 'application/spdx+json')!;
    expect(spdx.mediaType).toBe(OCI_MANIFEST);
    const sbom = (await (await fetch(`${base}/manifests/${spdx.digest}`, { headers: { Accept: OCI_MANIFEST } })).json()) as { subject: { digest: string }; layers: { digest: string }[] };
    expect(sbom.subject.digest).toBe(digest);
    const blob = Buffer.from(await (await fetch(`${base}/blobs/${sbom.layers[0].digest}`)).arrayBuffer());
    expect(blob.equals(await readFile(join(out, 'minimal.spdx.json')))).toBe(true);
  });

  it('the same outputs give the same manifest: pushed again, in another order, or by build --push', async () => {
    const again = await osbuild(['push-artifact', `${plain.host}/outputs/minimal:again`, '--from', out, '--name', 'minimal', '--lock', lock]);
    expect(lastLine(again.stdout).split(' ')[1]).toBe(digest);
    // the library, files listed in another order, arch given rather than read from the kernel
    const r = await pushArtifact(
      [...[...FILES].reverse().map((f): ArtifactInput => ({ path: join(out, f), format: 'kernel+initrd' })), { path: join(out, 'minimal.spdx.json') }],
      `${plain.host}/outputs/other:1`,
      { name: 'minimal', arch: 'amd64', lockFile: lock, sourceDateEpoch: Number(EPOCH), registry: { env } },
    );
    expect(r.digest).toBe(digest);
    // the referrers tag was not changed by the second push: each SBOM once
    const tag = JSON.parse((await skopeoRaw(`${plain.host}/outputs/minimal:sha256-${digest.slice(7)}`)).toString());
    expect(tag.manifests).toHaveLength(SBOMS.length);
    // build --push had no lock beside its blueprint: the same as push-artifact without --lock
    const noLock = await osbuild(['push-artifact', `${plain.host}/outputs/minimal:nolock`, '--from', out, '--name', 'minimal']);
    expect(lastLine(noLock.stdout).split(' ')[1]).toBe(built);
  });

  it('uploads big files in chunks with progress, finds them there the second time, and pulls them back with progress', async () => {
    const dir = join(work, 'big');
    await mkdir(dir);
    await execa('sh', ['-c', `head -c 5000000 /dev/urandom > ${join(dir, 'big.qcow2')}`]);
    const events: ArtifactEvent[] = [];
    const dest = `${plain.host}/outputs/big:1`;
    const opts = { registry: { env, chunkSize: 1 << 20 }, onEvent: (e: ArtifactEvent) => events.push(e) };
    const r = await pushArtifact([{ path: join(dir, 'big.qcow2'), format: 'qcow2-bios' }], dest, opts);
    expect(r.artifactType).toBe('application/vnd.osbuild.qcow2-bios.v1');
    const progress = events.filter((e) => e.type === 'artifact-file-progress') as Extract<ArtifactEvent, { type: 'artifact-file-progress' }>[];
    expect(progress.length).toBeGreaterThanOrEqual(4);
    expect(progress[progress.length - 1].bytes).toBe(5_000_000);
    expect(events.find((e) => e.type === 'artifact-file-done')).toMatchObject({ how: 'uploaded', size: 5_000_000 });
    events.length = 0;
    await pushArtifact([{ path: join(dir, 'big.qcow2'), format: 'qcow2-bios' }], dest, opts);
    expect(events.find((e) => e.type === 'artifact-file-done')).toMatchObject({ how: 'exists' });
    events.length = 0;
    const back = await pullArtifact(dest, join(dir, 'back'), opts);
    expect(back.files.map((f) => f.name)).toEqual(['big.qcow2']);
    expect(back.sboms).toEqual([]);
    await cmp(join(dir, 'big.qcow2'), join(dir, 'back', 'big.qcow2'));
    expect(events.filter((e) => e.type === 'artifact-file-progress').length).toBeGreaterThanOrEqual(4);
  });
});

describe('pull-artifact errors', () => {
  it('a tag that is not there: exit 3, naming the tag', async () => {
    const r = await osbuild(['pull-artifact', '-o', join(work, 'none'), `${plain.host}/outputs/minimal:nope`], { reject: false });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`${plain.host}/outputs/minimal:nope: ${plain.host} has no tag nope in outputs/minimal`);
  });

  it('a container image: exit 1, not an osbuild artifact', async () => {
    const img = await makeImage({ layers: [{ script: 'echo hi > hello' }], cmd: ['/hello'] });
    await skopeoPush(img.layout, img.tag, `${plain.host}/apps/hello:1`, { all: false, format: 'oci' });
    const r = await osbuild(['pull-artifact', '-o', join(work, 'img'), `${plain.host}/apps/hello:1`], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/apps\/hello:1 \(sha256:[0-9a-f]+\) is a container image, not an osbuild artifact/);
    expect(r.stderr).toMatch(/hint: .*osbuild pull/);
  });

  it('a manifest whose title leaves the directory: refused, nothing written', async () => {
    const base = `http://${plain.host}/v2/hostile/x`;
    const bytes = Buffer.from('escaped');
    const up = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    await fetch(`${new URL(up.headers.get('location')!, base)}&digest=${sha256(bytes)}`, { method: 'PUT', body: bytes });
    const up2 = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    await fetch(`${new URL(up2.headers.get('location')!, base)}&digest=${sha256(Buffer.from('{}'))}`, { method: 'PUT', body: '{}' });
    const m = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.osbuild.tar.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(Buffer.from('{}')), size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.length, annotations: { 'org.opencontainers.image.title': '../escaped' } }],
    };
    expect((await fetch(`${base}/manifests/1`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: JSON.stringify(m) })).status).toBe(201);
    const into = join(work, 'hostile', 'into');
    const r = await osbuild(['pull-artifact', '-o', into, `${plain.host}/hostile/x:1`], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/layer 1 is titled \.\.\/escaped, which cannot name a file in the output directory/);
    // refused before anything was made: neither the directory nor the file beside it
    expect(existsSync(join(work, 'hostile'))).toBe(false);
  });

  it('a corrupt blob in the registry: exit 4 after one more try, the directory as it was', async () => {
    const dir = join(work, 'corrupt');
    await mkdir(join(dir, 'into'), { recursive: true });
    await execa('sh', ['-c', `head -c 300000 /dev/urandom > ${join(dir, 'c.iso')}`]);
    await writeFile(join(dir, 'into', 'c.iso'), 'the old file');
    const r = await pushArtifact([{ path: join(dir, 'c.iso') }], `${plain.host}/broken/c:1`, { registry: { env } });
    const m = JSON.parse((await skopeoRaw(`${plain.host}/broken/c:1`)).toString());
    const hex = m.layers[0].digest.slice(7);
    const data = join(plain.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const blob = await readFile(data);
    blob[1000] ^= 0xff;
    await writeFile(data, blob);
    const p = await osbuild(['pull-artifact', '-o', join(dir, 'into'), `${plain.host}/broken/c:1`], { reject: false });
    expect(p.exitCode).toBe(4);
    expect(p.stderr).toContain(`c.iso of ${plain.host}/broken/c:1: the registry sent content that hashes to`);
    expect(p.stderr).toContain(`not its digest ${m.layers[0].digest}`);
    expect(await readdir(join(dir, 'into'))).toEqual(['c.iso']);
    expect(await readFile(join(dir, 'into', 'c.iso'), 'utf8')).toBe('the old file');
    expect(r.digest).toMatch(/^sha256:/);
  });
});

describe('with Basic auth (htpasswd)', () => {
  it('pushes and pulls with --creds; without them, exit 3 saying how to log in', async () => {
    const ref = `${basic.host}/private/minimal:1`;
    const p = await osbuild(['push-artifact', '--creds', creds, ref, join(out, 'minimal-kernel'), join(out, 'minimal-cmdline')]);
    expect(lastLine(p.stdout)).toMatch(new RegExp(`^${ref} sha256:`));
    const back = join(work, 'private');
    await osbuild(['pull-artifact', '--creds', creds, '-o', back, ref]);
    for (const f of ['minimal-kernel', 'minimal-cmdline']) await cmp(join(out, f), join(back, f));
    const anon = await osbuild(['pull-artifact', '-o', join(work, 'anon'), ref], { reject: false });
    expect(anon.exitCode).toBe(3);
    expect(anon.stderr).toContain(`${basic.host} requires a username and password: log in with \`docker login ${basic.host}\`, or give --creds USER:PASSWORD`);
  });
});
