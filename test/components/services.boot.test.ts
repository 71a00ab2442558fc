// Boots a system with the logging and node-exporter services (components built from components/
// by the real pipeline) on amd64 under QEMU, and checks what a user would:
//  - node-exporter answers GET /metrics through a port forward from the host, with node_ metrics
//    of the guest (its kernel's machine is x86_64, its memory is QEMU's);
//  - logging: syslogd took a line logged through /dev/log (the host's /dev) and the kernel's
//    messages (klogd) into /var/log/messages (the host's /var/log), and rotated the file by size;
//    a second service reads the files there and prints what it found on the console.
// The power button (QMP) then stops the system cleanly once the host has seen the metrics.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache } from '../helpers/components.js';
import { freePort } from '../oci/registry/harness.js';
import { powerButton } from '../helpers/qmp.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/logging', 'components/node-exporter']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-services-'));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** GET http://127.0.0.1:port/metrics, retried while the forward has nothing behind it yet. */
async function scrape(port: number): Promise<{ status: number; body: string; error?: string }> {
  let error = '';
  for (let i = 0; i < 30; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(20_000) });
      return { status: r.status, body: await r.text() };
    } catch (e) {
      error = String((e as Error).cause ?? e);
      await new Promise((res) => setTimeout(res, 2000));
    }
  }
  return { status: 0, body: '', error };
}

// The reader: waits for /dev/log, logs 400 numbered lines through it (about 30 KB, so the
// 16 KB file rotates), then prints what a user would look at in /var/log.
const READER = [
  'until [ -S /dev/log ]; do sleep 0.2; done',
  'for i in $(seq 1 400); do logger -t probe "probe line $i of 400, padding the file to make it rotate"; done',
  'sleep 3',
  // every service's output reaches syslog too, so a rotation may have just happened: busybox's
  // syslogd makes the new file only when the next line comes, so a line is logged to bring it back
  'for t in $(seq 1 20); do f=$(echo $(ls /var/log)); case " $f " in *" messages "*) break ;; esac; logger -t reader "listing /var/log"; sleep 0.2; done',
  'echo "files: $f"',
  'echo "messages bytes: $(wc -c </var/log/messages)"',
  'echo "kernel: $(cat /var/log/messages* | grep -c " kernel: ") lines, $(grep -h " kernel: .*Linux version" /var/log/messages* | head -1)"',
  'echo "probe: $(cat /var/log/messages* | grep -c " probe: probe line") lines, last: $(grep -h "probe line 400 of" /var/log/messages*)"',
  'echo "reader done"',
  'exec sleep 2147483647',
].join('\n');

describe('service components boot', () => {
  it('on amd64: node-exporter serves /metrics to the host, logging keeps kernel and service lines in /var/log/messages', async () => {
    // logging rotates at 16 KB keeping 8 old files: the boot's kernel log (~20 KB) stays, the probe's
    // 30 KB push the file through rotations
    const bp = join(work, 'services.yml');
    await writeFile(
      bp,
      [
        'kernel:',
        '  image: osbuild/kernel-debian-cloud:6.1',
        '  cmdline: "console=ttyS0 console=ttyAMA0"',
        '  modules: [virtio_pci, virtio_net, button, evdev]',
        'init: [osbuild/init:0.1.0, osbuild/runc:0.1.0]',
        'services:',
        '  - {name: logging, image: "osbuild/logging:0.1.0", command: [/usr/bin/osbuild-logging, -s, "16", -b, "8"]}',
        '  - {name: dhcpcd, image: "osbuild/dhcpcd:0.1.0"}',
        '  - {name: node-exporter, image: "osbuild/node-exporter:0.1.0"}',
        '  - {name: acpid, image: "osbuild/acpid:0.1.0"}',
        `  - {name: reader, image: "osbuild/logging:0.1.0", command: [/bin/sh, -c, ${JSON.stringify(READER)}]}`,
        '',
      ].join('\n'),
    );
    const name = 'services';
    const out = join(work, name);
    await build({ files: [bp], arch: 'amd64', outDir: out, cacheDir, name });

    const port = await freePort();
    const qmp = join(work, 'qmp.sock');
    let leased = false;
    let exporterUp = false;
    let readerDone = false;
    let metrics: Promise<Awaited<ReturnType<typeof scrape>>> | undefined;
    let pressed: Promise<void> | undefined;
    const lines: Record<string, string> = {};
    const all: string[] = [];
    const r = await testImage({
      path: join(out, name),
      arch: 'amd64',
      timeoutSec: 300,
      hostForward: [{ host: port, guest: 9100 }],
      extraArgs: ['-qmp', `unix:${qmp},server=on,wait=off`],
      onLine: (line) => {
        all.push(line);
        if (/eth0: leased 10\.0\.2\.15/.test(line)) leased = true;
        if (/osbuild: service node-exporter started/.test(line)) exporterUp = true;
        const m = /^(files|messages bytes|kernel|probe): (.*)$/.exec(line.trim());
        if (m) lines[m[1]] = m[2];
        if (/reader done/.test(line)) readerDone = true;
        if (leased && exporterUp && !metrics) metrics = scrape(port);
        // power off once the host has its metrics and the reader has printed
        if (metrics && readerDone && !pressed) pressed = metrics.then(() => powerButton(qmp)).catch(() => undefined);
      },
      // services start side by side: only what follows from the test's own steps is ordered
      expect: [/reader done/, /acpid: power button pressed/, /osbuild: service logging stopped/, /reboot: Power down/],
    });
    const tail = r.log.slice(-80).join('\n');
    expect(metrics, `no lease or node-exporter never started\n${tail}`).toBeDefined();
    const m = await metrics!;
    expect(m.status, `GET /metrics: ${m.error}\n${tail}`).toBe(200);
    // the guest's own figures: its kernel's machine, QEMU's 1 GiB of memory, a load average
    expect(m.body).toMatch(/^node_uname_info\{.*machine="x86_64".*\} 1$/m);
    const memTotal = Number(/^node_memory_MemTotal_bytes (\S+)$/m.exec(m.body)?.[1]);
    expect(memTotal).toBeGreaterThan(512 * 2 ** 20);
    expect(memTotal).toBeLessThanOrEqual(1024 * 2 ** 20);
    expect(m.body).toMatch(/^node_load1 \d/m);
    expect(r.ok, r.ok ? '' : `${r.reason}\n${tail}`).toBe(true);
    const text = all.join('\n');
    expect(text).toMatch(/logging: syslogd writing \/var\/log\/messages/);
    expect(text).toMatch(/msg="Listening on" address=\[::\]:9100/);
    // every collector it runs works here (Debian's systemd collector is off)
    expect(text).not.toMatch(/collector failed/);

    // rotation: messages plus rotated files, the current one under the 16 KB limit
    expect(lines.files?.split(' ')).toEqual(expect.arrayContaining(['messages', 'messages.0']));
    expect(Number(lines['messages bytes'])).toBeLessThanOrEqual(16 * 1024 + 200);
    // kernel messages from boot (klogd reads the ring buffer from its start)
    expect(lines.kernel).toMatch(/^[1-9]\d* lines, .* kern\.\w+ kernel: .*Linux version 6\.1\./);
    // every line the service logged through /dev/log is in the files, tagged with its name
    expect(lines.probe).toMatch(/^400 lines, last: \w+ +\d+ [\d:]+ \S+ user\.notice probe: probe line 400 of 400/);
  }, 900_000);
});
