// Boots minimal.yml plus the dhcpcd service and the sysctl onboot container (built from
// components/ by the real pipeline) on amd64 under QEMU, and checks the console: dhcpcd got its
// lease from QEMU's user-mode network and wrote the host's resolv.conf, and sysctl applied the blueprint's file.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-components-'));
}, 900_000);

describe('network and system-setup components boot', () => {
  it('on amd64: dhcpcd leases 10.0.2.15, sysctl applies /etc/sysctl.d', async () => {
    const name = 'components';
    const out = join(work, name);
    await build({ files: ['blueprints/minimal.yml', 'test/fixtures/components/network.yml'].map((f) => join(REPO, f)), arch: 'amd64', outDir: out, cacheDir, name });
    const r = await testImage({
      path: join(out, name),
      arch: 'amd64',
      timeoutSec: 120,
      // dhcpcd probes the offered address by ARP (~5 s) before it takes the lease: leave it time
      appendCmdline: 'osbuild.poweroff=12',
      expect: [
        /osbuild: module virtio_pci loaded/,
        /osbuild: module virtio_net loaded/,
        /vm\.swappiness = 13/,
        /osbuild: onboot \d+-sysctl exit 0/,
        /swappiness is 13/,
        /osbuild: service dhcpcd started/,
        /eth0: leased 10\.0\.2\.15 for \d+ seconds/,
        /resolv\.conf has nameserver 10\.0\.2\.3/,
        /osbuild: poweroff/,
        /reboot: Power down/,
      ],
    });
    expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-60).join('\n')}`).toBe(true);
  }, 600_000);
});
