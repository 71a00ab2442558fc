// Boots blueprints/iot-device.yml (kernel+squashfs: the read-only root on its own drive) with a
// blank data disk and user-data in QEMU's fw_cfg, and checks what whoever provisions a device
// would: the first boot formats the data disk and mounts it, metadata writes the WireGuard
// config it was given and the tunnel comes up with it, node-exporter answers /metrics through a
// port forward; the second boot of the same data disk finds the file the first one wrote (and
// formats nothing). arm64 boots once. A test overlay adds a `stamp` onboot container that keeps
// a random id on the data disk, and points ntp at the host (nothing leaves the machine).

import { execa } from 'execa';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { freePort, httpGet, type HttpReply } from '../helpers/net.js';

const BLUEPRINT = join(REPO, 'blueprints/iot-device.yml');
const COMPONENTS = ['format', 'mount', 'dhcpcd', 'metadata', 'wireguard', 'logging', 'ntp', 'node-exporter'].map((c) => `components/${c}`);

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(COMPONENTS));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-iot-'));
}, 1_200_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const OVERLAY = `# test overlay: a stamp on the data disk, ntp asks the host only, a clean poweroff
kernel:
  cmdline: "console=ttyS0 console=ttyAMA0 osbuild.poweroff=20"
files:
  - path: /etc/openntpd/ntpd.conf
    mode: "0644"
    contents: "server 10.0.2.2\\n"
onboot:
  - name: stamp
    image: osbuild/busybox:0.1.0
    binds: ["/var/lib/data:/data"]
    command: ["/bin/sh", "-c", "[ -s /data/stamp ] || cat /proc/sys/kernel/random/uuid >/data/stamp; echo \\"stamp: $(cat /data/stamp)\\""]
`;

/** A WireGuard key pair as wg prints them: raw X25519 keys, base64. */
function wgKeys(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = (k: { export: (o: { format: 'jwk' }) => { d?: string; x?: string } }, f: 'd' | 'x') => Buffer.from(k.export({ format: 'jwk' })[f]!, 'base64url').toString('base64');
  return { priv: raw(privateKey, 'd'), pub: raw(publicKey, 'x') };
}

interface Boot {
  ok: boolean;
  text: string;
  metrics?: HttpReply;
}

async function boot(arch: Arch, out: string, data: string, userData: string, wantMetrics: boolean): Promise<Boot> {
  const port = await freePort();
  let metrics: Promise<HttpReply | undefined> | undefined;
  const all: string[] = [];
  const r = await testImage({
    path: join(out, 'iot-device'),
    arch,
    timeoutSec: arch === 'arm64' ? 420 : 300,
    hostForward: [{ host: port, guest: 9100 }],
    extraArgs: ['-drive', `file=${data},format=raw,if=virtio`, '-fw_cfg', `name=opt/org.osbuild/userdata,file=${userData}`],
    onLine: (line) => {
      all.push(line);
      if (wantMetrics && !metrics && /osbuild: service node-exporter started/.test(line)) {
        metrics = (async () => {
          for (let i = 0; i < 30; i++) {
            const m = await httpGet(port, '/metrics', 10_000).catch(() => undefined);
            if (m?.status === 200) return m;
            await new Promise((res) => setTimeout(res, 1000));
          }
          return undefined;
        })();
      }
    },
    expect: [/osbuild: root squashfs \/dev\/vda read-only/, /osbuild: onboot \d+-stamp exit 0/, /osbuild: ready/, /reboot: Power down/],
  });
  return { ok: r.ok, text: r.ok ? all.join('\n') : `${r.reason}\n${r.log.slice(-60).join('\n')}`, metrics: await metrics };
}

// the two arches boot side by side: each has its own overlay, output dir, data disk, user-data and host port
describe.concurrent('blueprints/iot-device.yml boots', () => {
  for (const arch of ['amd64', 'arm64'] as Arch[]) {
    it(`on ${arch}: the data disk is formatted once and keeps its files, metadata brings the tunnel, /metrics answers`, async ({ expect }) => {
      const overlay = join(work, `overlay-${arch}.yml`);
      await writeFile(overlay, OVERLAY);
      const out = join(work, arch);
      await build({ files: [BLUEPRINT, overlay], arch, outDir: out, cacheDir, name: 'iot-device', formats: ['kernel+squashfs'] });

      const data = join(work, `data-${arch}.img`);
      await execa('qemu-img', ['create', '-q', '-f', 'raw', data, '256M']);
      const me = wgKeys();
      const peer = wgKeys();
      const wg0 = `[Interface]\nAddress = 10.99.0.2/24\nListenPort = 51820\nPrivateKey = ${me.priv}\n[Peer]\nPublicKey = ${peer.pub}\nAllowedIPs = 10.99.0.1/32\n`;
      const userData = join(work, `user-data-${arch}.json`);
      await writeFile(userData, JSON.stringify({ wireguard: { entries: { 'wg0.conf': { perm: '0600', content: wg0 } } } }));

      const first = await boot(arch, out, data, userData, arch === 'amd64');
      expect(first.ok, first.text).toBe(true);
      const stamp = /stamp: ([0-9a-f-]{36})/.exec(first.text)?.[1];
      expect(stamp, first.text).toBeDefined();
      expect(first.text).toMatch(/osbuild: onboot \d+-format exit 0/);
      expect(first.text).toMatch(/osbuild: onboot \d+-mount exit 0/);
      expect(first.text).toMatch(/osbuild: onboot \d+-metadata exit 0/);
      // the tunnel from user-data: its address, and the peer given there
      expect(first.text).toMatch(/osbuild: onboot \d+-wireguard exit 0/);
      expect(first.text).toContain(peer.pub);
      expect(first.text).toMatch(/10\.99\.0\.2\/24/);
      for (const s of ['logging', 'dhcpcd', 'ntp', 'node-exporter', 'getty']) expect(first.text).toMatch(new RegExp(`osbuild: service ${s} started`));
      // the host's view of the data disk: one ext4 filesystem labelled DATA
      const probe = (await execa('sh', ['-c', `sfdisk -J '${data}'`])).stdout;
      expect(JSON.parse(probe).partitiontable.partitions).toHaveLength(1);
      if (arch === 'amd64') {
        expect(first.metrics?.status, 'GET /metrics through the forward').toBe(200);
        expect(first.metrics!.body).toMatch(/^node_uname_info\{.*machine="x86_64".*\} 1$/m);
        // the data disk's filesystem, as node-exporter sees the device's mounts
        expect(first.metrics!.body).toMatch(/node_filesystem_size_bytes\{device="\/dev\/vdb1",fstype="ext4",mountpoint="[^"]*\/var\/lib\/data"\}/);
      }
      if (arch === 'arm64') return; // one boot on arm64 keeps the suite short

      const second = await boot(arch, out, data, userData, false);
      expect(second.ok, second.text).toBe(true);
      expect(/stamp: ([0-9a-f-]{36})/.exec(second.text)?.[1]).toBe(stamp);
      expect(second.text).toMatch(/osbuild: onboot \d+-format exit 0/);
      expect(second.text).not.toMatch(/mke2fs|Creating filesystem/);
    }, 1_200_000);
  }
});
