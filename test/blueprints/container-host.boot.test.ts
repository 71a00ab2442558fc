// Boots blueprints/container-host.yml (components built from components/ by the real pipeline)
// on amd64 under QEMU, with a second blueprint file naming the image to run: an image made here
// by umoci from Debian's busybox-static and pushed by skopeo to Debian's docker-registry on
// 127.0.0.1, which the guest reaches as 10.0.2.2 over plain http. containerd (a service) pulls
// it through the ctr-run service and runs it; the task's output line appears on the console.
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { makeImage } from '../helpers/oci-image.js';
import { removeDir, skopeoPush, startRegistry, workDir, type Running } from '../oci/registry/harness.js';

let cacheDir: string;
let work: string;
let registry: Running;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/containerd']));
  work = await workDir();
  registry = await startRegistry();
}, 900_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await removeDir(work);
});

describe('blueprints/container-host.yml boots', () => {
  it('on amd64: containerd pulls an image from a registry on the host and runs it', async () => {
    // the task prints a line that only it can: its arch and its own hostname file, from its image
    const image = await makeImage({
      arch: 'amd64',
      layers: [{ script: 'mkdir -p bin etc && cp /bin/busybox bin/ && for a in sh echo uname cat; do ln -s busybox bin/$a; done && echo "made by the test" > etc/origin' }],
      cmd: ['/bin/sh', '-c', 'echo "containerd task on $(uname -m): $(cat /etc/origin)"'],
    });
    await skopeoPush(image.layout, image.tag, `${registry.host}/demo/hello:1`, { all: false });
    const runConf = join(work, 'run.yml');
    await writeFile(
      runConf,
      ['files:', '  - path: /etc/containerd/run.conf', '    contents: |', `      IMAGE=10.0.2.2:${registry.port}/demo/hello:1`, '      PLAIN_HTTP=1', '      NAME=hello', ''].join('\n'),
    );

    const name = 'container-host';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/container-host.yml'), runConf], arch: 'amd64', outDir: out, cacheDir, name });
    const r = await testImage({
      path: join(out, name),
      arch: 'amd64',
      timeoutSec: 300,
      expect: [/osbuild: module overlay loaded/, /osbuild: service containerd started/, new RegExp(`ctr-run: running 10\\.0\\.2\\.2:${registry.port}/demo/hello:1 as hello`), /containerd task on x86_64: made by the test/],
    });
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-80).join('\n')}`).toBe(true);
  }, 900_000);

  it('builds for arm64: both services hold aarch64 binaries of containerd', async () => {
    const name = 'container-host-arm64';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/container-host.yml')], arch: 'arm64', outDir: out, cacheDir, name });
    const initrd = join(out, `${name}-initrd.img`);
    const list = (await execa('bsdtar', ['-tf', initrd], { maxBuffer: 256 * 2 ** 20 })).stdout.split('\n');
    for (const svc of ['getty', 'dhcpcd', 'containerd', 'app']) expect(list).toContain(`containers/services/${svc}/config.json`);
    // ELF e_machine (bytes 18-19, little-endian) of the service's containerd: 183 = EM_AARCH64
    const head = (await execa('bsdtar', ['-xOf', initrd, 'containers/services/containerd/rootfs/usr/bin/containerd'], { encoding: 'buffer', maxBuffer: 256 * 2 ** 20 })).stdout as Uint8Array;
    expect(Buffer.from(head.subarray(0, 4)).toString('latin1')).toBe('\x7fELF');
    expect(Buffer.from(head).readUInt16LE(18)).toBe(183);
  }, 900_000);
});
