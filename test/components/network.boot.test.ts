// Boots blueprints/webserver.yml plus the ip, firewall and wireguard onboot containers (all built
// from components/ by the real pipeline) on amd64 under QEMU with two NICs, and checks from the
// host what a user would:
//  - ip: the second NIC (eth1, its own QEMU user network) gets a static address from
//    /etc/ip/*.conf, and the host reaches nginx through a port forwarded to exactly that address;
//    a dummy interface gets its address and a route, resolv.conf its nameserver;
//  - firewall: /etc/nftables.conf drops TCP 8081, so the host's forward to 8081 gets no answer
//    while 80 does (nginx does listen on 8081: a probe service inside fetches it over lo);
//  - wireguard: wg0 exists with its address, the public key of the private key file and its peer;
//  - ntp: a tiny NTP server here (127.0.0.1:123, 10.0.2.2 for the guest) answers 1000 days ahead
//    and the guest's clock follows: nginx's HTTP Date header moves by those 1000 days;
//  - dhcpcd: eth0 leased its address from QEMU's DHCP server.
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { freePort, httpGet, type HttpReply } from '../helpers/net.js';
import { ntpServer } from '../helpers/ntp.js';

const NETWORK = ['components/ip', 'components/firewall', 'components/wireguard', 'components/ntp', 'components/nginx'];
/** How far ahead of the host the test's NTP server says it is. */
const NTP_AHEAD_MS = 1000 * 86_400_000;
const DAY = 86_400_000;

let cacheDir: string;
let work: string;
let ntp: Socket | undefined;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(NETWORK));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-network-'));
  ntp = await ntpServer(NTP_AHEAD_MS);
}, 1_800_000);

afterAll(async () => {
  ntp?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function retry<T>(what: string, tries: number, f: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await f();
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  throw new Error(`${what}: ${(last as Error).message}`);
}

/** WireGuard's base64 keys of an X25519 key pair. */
function wgKeys(): { priv: string; pub: string } {
  const { privateKey } = generateKeyPairSync('x25519');
  const pub = (k: KeyObject) => Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  return { priv: Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url').toString('base64'), pub: pub(createPublicKey(privateKey)) };
}

describe('network components boot', () => {
  it('on amd64: static address and DNS, firewall, wireguard, ntp, dhcpcd, nginx', async () => {
    const iface = wgKeys();
    const peer = wgKeys();
    const overlay = join(work, 'network.yml');
    // the blueprint's files are YAML strings: JSON.stringify writes valid YAML double-quoted ones
    const file = (path: string, contents: string, mode = '0644') =>
      `  - path: ${path}\n    mode: "${mode}"\n    contents: ${JSON.stringify(contents)}\n`;
    await writeFile(
      overlay,
      [
        'kernel:',
        '  modules: [virtio_pci, virtio_net, dummy, wireguard, nf_tables, nft_ct]',
        'onboot:',
        '  - name: ip',
        '    image: osbuild/ip:0.1.0',
        // one line as an argument, after the files
        '    command: ["/usr/bin/osbuild-ip", "route add 192.168.78.0/24 via 192.168.77.1 dev svc0"]',
        '  - name: firewall',
        '    image: osbuild/firewall:0.1.0',
        '  - name: wireguard',
        '    image: osbuild/wireguard:0.1.0',
        'services:',
        // nginx listens on 8081 too (config below): fetched over lo, which the rules let through
        '  - name: probe',
        '    image: osbuild/busybox:0.1.0',
        `    command: ["/bin/sh", "-c", ${JSON.stringify('until r=$(wget -q -O- http://127.0.0.1:8081/); do sleep 1; done; echo "probe: 8081 over lo says $(echo $r)"; exec sleep 100000')}]`,
        'files:',
        file(
          '/etc/ip/10-static.conf',
          [
            '# eth1, the second NIC, with a static address; a dummy interface (not dummy0: the module makes that one)',
            'addr add 192.168.76.15/24 dev eth1',
            'link set eth1 up',
            'link add svc0 type dummy',
            'addr add 192.168.77.7/24 dev svc0',
            'link set svc0 up',
            'nameserver 192.168.77.53',
            'search osbuild.test',
            '',
          ].join('\n'),
        ),
        file(
          '/etc/nftables.conf',
          [
            'flush ruleset',
            'table inet filter {',
            '  chain input {',
            '    type filter hook input priority 0; policy accept;',
            '    ct state established,related accept',
            '    iif lo accept',
            '    tcp dport 8081 drop',
            '  }',
            '}',
            '',
          ].join('\n'),
        ),
        file(
          '/etc/wireguard/wg0.conf',
          [
            '[Interface]',
            'Address = 10.99.0.1/24',
            'ListenPort = 51820',
            'PrivateKeyFile = /etc/wireguard/wg0.key',
            '[Peer]',
            `PublicKey = ${peer.pub}`,
            'AllowedIPs = 10.99.0.2/32',
            'Endpoint = 10.0.2.2:51820',
            '',
          ].join('\n'),
          '0600',
        ),
        file('/etc/wireguard/wg0.key', `${iface.priv}\n`, '0600'),
        file('/etc/openntpd/ntpd.conf', 'server 10.0.2.2\n'),
        file(
          '/etc/nginx/nginx.conf',
          'user www-data;\npid /run/nginx.pid;\nevents { worker_connections 64; }\nhttp {\n  access_log /dev/stdout;\n  server { listen 80; listen 8081; root /var/www; }\n}\n',
        ),
      ].join('\n'),
    );

    const name = 'network';
    const out = join(work, name);
    await build({ files: [join(REPO, 'blueprints/webserver.yml'), overlay], arch: 'amd64', outDir: out, cacheDir, name });

    const [http, blocked, staticHttp] = [await freePort(), await freePort(), await freePort()];
    const done = `/osbuild-test-done-${process.pid}`;
    const lines: string[] = [];
    const seen = (re: RegExp) => lines.some((l) => re.test(l));
    const waitFor = async (re: RegExp, ms: number) => {
      for (let t = 0; t < ms && !seen(re); t += 500) await new Promise((r) => setTimeout(r, 500));
      return seen(re);
    };
    // Once nginx runs and eth0 has its lease: the host's requests; then one to `done`, which
    // nginx logs on the console and which ends the boot.
    let checks: Promise<Record<string, unknown>> | undefined;
    const hostChecks = async () => {
      const r: Record<string, unknown> = {};
      try {
        const first = await retry('port 80', 30, () => httpGet(http, '/', 8000));
        r.first = first;
        r.staticEth1 = await retry('eth1 static address', 10, () => httpGet(staticHttp, '/', 8000)).catch((e: Error) => e.message);
        r.blocked = await httpGet(blocked, '/', 8000).then(
          (x) => `answered ${x.status}`,
          (e: Error) => e.message,
        );
        r.clockSet = await waitFor(/set local clock to/, 60_000);
        r.after = await httpGet(http, '/', 8000);
      } finally {
        await httpGet(http, done, 8000).catch(() => undefined);
      }
      return r;
    };
    const res = await testImage({
      path: join(out, name),
      arch: 'amd64',
      timeoutSec: 300,
      hostForward: [
        { host: http, guest: 80 },
        { host: blocked, guest: 8081 },
      ],
      // the second NIC: its own user network; the host's port goes to the static address only
      extraArgs: ['-nic', `user,model=virtio-net-pci,net=192.168.76.0/24,hostfwd=tcp:127.0.0.1:${staticHttp}-192.168.76.15:80`],
      onLine: (line) => {
        lines.push(line);
        if (!checks && seen(/eth0: leased/) && seen(/osbuild: service nginx started/)) checks = hostChecks();
      },
      expect: [/osbuild: onboot \d+-wireguard exit/, /osbuild: ready/, new RegExp(`"GET ${done} HTTP`)],
    });
    const log = `${res.reason ?? ''}\n${res.log.slice(-120).join('\n')}`;
    expect(checks, `never got to the host's checks (no lease or no nginx)\n${log}`).toBeDefined();
    const r = await checks!;
    const has = (re: RegExp) => expect(seen(re), `no console line matches ${re}\n${log}`).toBe(true);

    // ip: the static configuration, as the component printed it after applying it
    has(/osbuild: onboot \d+-ip exit 0/);
    has(/ip: addr: \d+: eth1\s+inet 192\.168\.76\.15\/24/);
    has(/ip: addr: \d+: svc0\s+inet 192\.168\.77\.7\/24/);
    has(/ip: route: 192\.168\.78\.0\/24 via 192\.168\.77\.1 dev svc0/);
    has(/ip: resolv\.conf: nameserver 192\.168\.77\.53/);
    // ... and the host reaches nginx on eth1's static address (its own QEMU network)
    expect(r.staticEth1, log).toMatchObject({ status: 200, body: expect.stringContaining('Hello from an osbuild webserver') });

    // firewall: 80 answers, 8081 (dropped) does not, though nginx serves it over lo
    has(/osbuild: onboot \d+-firewall exit 0/);
    has(/firewall: \s*tcp dport 8081 drop/);
    expect(r.first, log).toMatchObject({ status: 200, body: expect.stringContaining('Hello from an osbuild webserver') });
    expect(r.blocked, log).toMatch(/no reply on port \d+ within/);
    has(/probe: 8081 over lo says .*Hello from an osbuild webserver/);

    // wireguard: wg0, its address, the public key of the key file, the peer
    has(/osbuild: onboot \d+-wireguard exit 0/);
    has(/wireguard: interface: wg0/);
    expect(lines.find((l) => /wireguard: +public key:/.test(l))?.split(': ').pop(), log).toBe(iface.pub);
    expect(lines.find((l) => /wireguard: peer:/.test(l))?.split(': ').pop(), log).toBe(peer.pub);
    has(/wireguard: +allowed ips: 10\.99\.0\.2\/32/);
    has(/wireguard: +listening port: 51820/);
    has(/wireguard: addr: \d+: wg0\s+inet 10\.99\.0\.1\/24/);

    // ntp: stepped to the test server's time; nginx's Date header (the guest's clock) moved with it
    expect(r.clockSet, `OpenNTPD never set the clock\n${log}`).toBe(true);
    // the step was the whole 1000 days: the guest's clock was right (QEMU's RTC) before it
    const step = Number(/set local clock to .*\(offset (-?[\d.]+)s\)/.exec(lines.find((l) => /set local clock to/.test(l)) ?? '')?.[1]);
    expect(Math.abs(step * 1000 - NTP_AHEAD_MS), `step of ${step} s\n${log}`).toBeLessThan(DAY);
    const after = r.after as HttpReply;
    expect(Math.abs(after.date - (Date.now() + NTP_AHEAD_MS)), `guest clock ${new Date(after.date).toISOString()} after ntp`).toBeLessThan(DAY);

    // dhcpcd
    has(/eth0: leased 10\.0\.2\.15 for \d+ seconds/);
    expect(res.ok, log).toBe(true);
  }, 1_800_000);
});
