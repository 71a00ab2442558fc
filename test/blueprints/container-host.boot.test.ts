// Boots blueprints/container-host.yml (components built from components/ by the real pipeline)
// on amd64 the way a new user does by hand: a plain `qemu-system-x86_64 -m 1024 -nographic
// -kernel ... -initrd ... -append console=ttyS0 -nic user,model=virtio-net-pci`, the command its
// header gives (not osbuild's own QEMU line), with a second blueprint file naming the image to
// run: an image made here by umoci from Debian's busybox-static and pushed by skopeo to Debian's
// docker-registry on 127.0.0.1, which the guest reaches as 10.0.2.2 over plain http. What the
// user looks for: every line the blueprint's header promises (each service started, ready),
// dhcpcd's lease, containerd pulling the image and the task's output line, and no error.
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { LineMatcher } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { consoleProblems, upLines } from '../helpers/console.js';
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
    const blueprint = await readFile(join(REPO, 'blueprints/container-host.yml'), 'utf8');
    const want: (string | RegExp)[] = [
      ...upLines(blueprint),
      /eth0: leased 10\.0\.2\.15/,
      new RegExp(`ctr-run: running 10\\.0\\.2\\.2:${registry.port}/demo/hello:1 as hello`),
      /containerd task on x86_64: made by the test/,
    ];
    expect(want.length).toBeGreaterThan(6);
    const qemu = execa(
      'qemu-system-x86_64',
      ['-m', '1024', '-nographic', '-kernel', `${join(out, name)}-kernel`, '-initrd', `${join(out, name)}-initrd.img`, '-append', 'console=ttyS0', '-nic', 'user,model=virtio-net-pci'],
      { stdin: 'ignore', buffer: false, reject: false, cleanup: true, encoding: 'utf8' },
    );
    // every line, in whatever order the services print them; done once each of `want` was seen
    const lines: string[] = [];
    const splitter = new LineMatcher([]);
    const missing = () => want.filter((w) => !lines.some((l) => (typeof w === 'string' ? l.includes(w) : w.test(l))));
    const seenAll = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 420_000);
      qemu.stdout!.setEncoding('utf8');
      qemu.stdout!.on('data', (d: string) => {
        lines.push(...splitter.push(d));
        if (missing().length === 0) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void qemu.then(() => {
        clearTimeout(timer);
        resolve(missing().length === 0);
      });
    });
    qemu.kill('SIGKILL');
    await qemu;
    expect(seenAll, `not seen: ${missing().join(', ')}\n${lines.slice(-80).join('\n')}`).toBe(true);
    expect(consoleProblems(lines)).toEqual([]);
  }, 900_000);

  it('builds for arm64: both services hold aarch64 binaries of containerd', async () => {
    const name = 'container-host-arm64';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/container-host.yml')], arch: 'arm64', outDir: out, cacheDir, name });
    const initrd = join(out, `${name}-initrd.img`);
    const list = (await execa('bsdtar', ['-tf', initrd], { maxBuffer: 256 * 2 ** 20 })).stdout.split('\n');
    for (const svc of ['getty', 'dhcpcd', 'containerd', 'app']) expect(list).toContain(`containers/services/${svc}/config.json`);
    // ELF e_machine (bytes 18-19, little-endian) of the service's containerd: 183 = EM_AARCH64
    const head = (await execa('bsdtar', ['-xOf', initrd, 'containers/services/containerd/rootfs/usr/bin/containerd'], { encoding: 'buffer', stripFinalNewline: false, maxBuffer: 256 * 2 ** 20 })).stdout as Uint8Array;
    expect(Buffer.from(head.subarray(0, 4)).toString('latin1')).toBe('\x7fELF');
    expect(Buffer.from(head).readUInt16LE(18)).toBe(183);
  }, 900_000);
});
