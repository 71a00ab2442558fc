// Boots a small system (amd64) in which the metadata component runs three times as onboot
// containers, once per kind of provider, each followed by a busybox container that prints
// /run/config as other containers see it:
//  1. fw_cfg: QEMU's `-fw_cfg name=opt/org.osbuild/userdata,file=...` carries a JSON config
//     tree, which becomes files (with their modes) and the hostname;
//  2. configdrive: an OpenStack config drive, a FAT disk labelled config-2 made with mkfs.vfat
//     and mtools, gives meta_data.json (hostname, public_keys) and user_data;
//  3. gcp then ec2, over HTTP to a node server on the host's 127.0.0.1 (the guest reaches it as
//     10.0.2.2 through osbuild.metadata.url). The server does not know GCP's API, so metadata moves
//     on to EC2, which the server emulates with IMDSv2: a token from a PUT, then every request
//     must carry it.
// The cloud-vm blueprint test boots the whole system on both arches (NoCloud, ssh, qemu-ga, rngd).
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache } from '../helpers/components.js';

let cacheDir: string;
let work: string;
let server: Server | undefined;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/metadata']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-cloud-'));
}, 1_800_000);

afterAll(async () => {
  if (server) await new Promise((res) => server!.close(res));
  if (work) await rm(work, { recursive: true, force: true });
});

const TOKEN = 'imds-token-for-the-test';
const EC2_KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEc2ZWMyIGtleSBudW1iZXIgemVybyBmb3IgdGVzdHM ec2-zero', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEc2ZWMyIGtleSBudW1iZXIgb25lIGZvciB0ZXN0cyEh ec2-one'];
const DRIVE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvbmZpZy1kcml2ZSBrZXkgZm9yIHRoZSB0ZXN0IQ drive';

/** An EC2 instance metadata service with IMDSv2 only: without the session token, 401. */
function ec2Server(seen: { method: string; url: string; headers: IncomingMessage['headers'] }[]): Server {
  const paths: Record<string, string> = {
    '/latest/meta-data/instance-id': 'i-0123456789abcdef0',
    '/latest/meta-data/local-hostname': 'ip-10-0-0-7.eu-west-1.compute.internal',
    '/latest/meta-data/public-keys/': '0=zero\n1=one',
    '/latest/meta-data/public-keys/0/openssh-key': `${EC2_KEYS[0]}\n`,
    '/latest/meta-data/public-keys/1/openssh-key': `${EC2_KEYS[1]}\n`,
    '/latest/user-data': '#!/bin/sh\necho user-data from EC2\n',
  };
  return createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.writeHead(400).end();
      return res.writeHead(200, { 'content-type': 'text/plain' }).end(TOKEN);
    }
    const body = paths[req.url ?? ''];
    if (body === undefined) return res.writeHead(404).end('not found');
    if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) return res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
}

/** The `show N` lines of the console: path -> "mode content" (newlines as |), and the hostname. */
function snapshot(lines: string[], n: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const m = new RegExp(`^show${n} (\\S+) ?(.*)$`).exec(l);
    if (m && m[1] !== 'end') out[m[1]] = m[2];
  }
  return out;
}

describe('metadata on amd64', () => {
  it('writes /run/config from fw_cfg, an OpenStack config drive and EC2 IMDSv2 served from the host', async () => {
    const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
    server = ec2Server(seen);
    await new Promise<void>((res) => server!.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;

    // 1. fw_cfg: a JSON config tree (LinuxKit's format)
    const tree = {
      hostname: { content: 'fwhost\n' },
      fw: { entries: { note: { perm: '0600', content: 'from fw_cfg\nline two\n' }, sub: { perm: '0700', entries: { deep: { content: 'deep' } } } } },
    };
    const fwFile = join(work, 'userdata.json');
    await writeFile(fwFile, JSON.stringify(tree));

    // 2. an OpenStack config drive: FAT labelled config-2
    const drive = join(work, 'config-2.img');
    const d = join(work, 'drive');
    await mkdir(d);
    await writeFile(join(d, 'meta_data.json'), JSON.stringify({ uuid: 'u-1', hostname: 'drivehost.example.org', public_keys: { mykey: `${DRIVE_KEY}\n` } }));
    await writeFile(join(d, 'user_data'), 'plain text from the config drive\n');
    await execa('mkfs.vfat', ['-n', 'config-2', '-C', drive, '2048']);
    const mt = { env: { MTOOLS_SKIP_CHECK: '1' } };
    await execa('mmd', ['-i', drive, '::openstack', '::openstack/latest'], mt);
    await execa('mcopy', ['-i', drive, join(d, 'meta_data.json'), join(d, 'user_data'), '::openstack/latest/'], mt);

    const show = (n: number) => ({
      name: `show${n}`,
      image: 'osbuild/busybox:0.1.0',
      uts: 'host',
      binds: ['/run/config:/run/config:ro'],
      command: [
        '/bin/busybox', 'sh', '-c',
        `echo "show${n} hostname $(busybox hostname)"; for f in $(busybox find /run/config -type f | busybox sort); do echo "show${n} $f $(busybox stat -c %a $f) $(busybox tr '\\n' '|' <$f)"; done; echo show${n} end`,
      ],
    });
    const metadata = (name: string, providers: string[]) => ({ name, image: 'osbuild/metadata:0.1.0', command: ['/usr/bin/metadata', ...providers] });
    // YAML is a superset of JSON
    const blueprint = {
      kernel: {
        image: 'osbuild/kernel-debian-cloud:6.1',
        cmdline: 'console=ttyS0 console=ttyAMA0',
        modules: ['virtio_pci', 'virtio_net', 'virtio_blk', 'vfat', 'nls_cp437', 'nls_ascii', 'qemu_fw_cfg'],
      },
      init: ['osbuild/init:0.1.0', 'osbuild/runc:0.1.0'],
      onboot: [
        { name: 'dhcpcd', image: 'osbuild/dhcpcd:0.1.0', command: ['/usr/sbin/dhcpcd', '--nobackground', '-f', '/etc/dhcpcd.conf', '-1', '-4', '-t', '15', 'eth0'] },
        metadata('fwcfg', ['fw_cfg']),
        show(1),
        metadata('drive', ['configdrive']),
        show(2),
        metadata('http', ['gcp', 'ec2']),
        show(3),
      ],
    };
    const bp = join(work, 'metadata.yml');
    await writeFile(bp, JSON.stringify(blueprint, null, 2));
    const out = join(work, 'out');
    await build({ files: [bp], arch: 'amd64', outDir: out, cacheDir, name: 'metadata' });

    const lines: string[] = [];
    const r = await testImage({
      path: join(out, 'metadata'),
      arch: 'amd64',
      timeoutSec: 300,
      appendCmdline: `osbuild.metadata.url=http://10.0.2.2:${port}`,
      extraArgs: ['-fw_cfg', `name=opt/org.osbuild/userdata,file=${fwFile}`, '-drive', `file=${drive},format=raw,if=virtio,readonly=on`],
      onLine: (l) => lines.push(l),
      expect: [
        /metadata: found fw_cfg/,
        /metadata: hostname set to fwhost/,
        /show1 end/,
        /metadata: found configdrive/,
        /show2 end/,
        /metadata: found ec2/,
        /show3 end/,
      ],
    });
    const log = r.log.slice(-80).join('\n');
    expect(r.ok, r.ok ? '' : `${r.reason}\n${log}`).toBe(true);

    // 1. fw_cfg: the raw user-data, its tree with the modes it asked for (default 0644/0755)
    const s1 = snapshot(lines, 1);
    expect(s1).toEqual({
      hostname: 'fwhost',
      '/run/config/provider': '644 fw_cfg|',
      '/run/config/userdata': `644 ${JSON.stringify(tree)}`,
      '/run/config/hostname': '644 fwhost|',
      '/run/config/fw/note': '600 from fw_cfg|line two|',
      '/run/config/fw/sub/deep': '644 deep',
    });

    // 2. the config drive: hostname's first label, the key, user_data, meta_data.json as metadata
    const s2 = snapshot(lines, 2);
    expect(s2.hostname).toBe('drivehost');
    expect(s2['/run/config/provider']).toBe('644 configdrive|');
    expect(s2['/run/config/ssh/authorized_keys']).toBe(`600 ${DRIVE_KEY}|`);
    expect(s2['/run/config/userdata']).toBe('644 plain text from the config drive|');
    expect(s2['/run/config/metadata']).toMatch(/^644 \{.*"uuid":"u-1"/);

    // 3. gcp did not answer as GCP (asked with its header), ec2 did, over IMDSv2
    const s3 = snapshot(lines, 3);
    expect(s3.hostname).toBe('ip-10-0-0-7');
    expect(s3['/run/config/provider']).toBe('644 ec2|');
    expect(s3['/run/config/ssh/authorized_keys']).toBe(`600 ${[...EC2_KEYS].sort().join('|')}|`);
    expect(s3['/run/config/userdata']).toBe('644 #!/bin/sh|echo user-data from EC2|');
    const gcp = seen.find((s) => s.url.startsWith('/computeMetadata/v1/'));
    expect(gcp?.headers['metadata-flavor']).toBe('Google');
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.url).toBe('/latest/api/token');
    const ec2Gets = seen.filter((s) => s.method === 'GET' && s.url.startsWith('/latest/'));
    expect(ec2Gets.map((s) => s.url)).toContain('/latest/user-data');
    expect(ec2Gets.every((s) => s.headers['x-aws-ec2-metadata-token'] === TOKEN)).toBe(true);
  }, 1_800_000);
});
