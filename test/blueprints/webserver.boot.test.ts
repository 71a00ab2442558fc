// Boots blueprints/webserver.yml (components built from components/ by the real pipeline) on
// amd64 and arm64 under QEMU, with the guest's port 80 forwarded to the host, and checks what a
// user would: nginx answers HTTP with the index.html of the blueprint's files, dhcpcd got its
// lease, and ntp sets the clock: a tiny NTP server here (127.0.0.1:123, 10.0.2.2 for the guest;
// the only change to the blueprint is /etc/openntpd/ntpd.conf naming it, so that nothing asks
// the real NTP pool) answers 1000 days ahead, and nginx's HTTP Date header follows.
import type { Socket } from 'node:dgram';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import type { Arch } from '../../src/arch.js';
import { componentCache, REPO } from '../helpers/components.js';
import { freePort, httpGet, type HttpReply } from '../helpers/net.js';
import { ntpServer } from '../helpers/ntp.js';

const BLUEPRINT = join(REPO, 'blueprints/webserver.yml');
/** How far ahead of the host the test's NTP server says it is. */
const NTP_AHEAD_MS = 1000 * 86_400_000;
const DAY = 86_400_000;

let cacheDir: string;
let work: string;
let ntp: Socket | undefined;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/ntp', 'components/nginx']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-webserver-'));
  ntp = await ntpServer(NTP_AHEAD_MS);
}, 1_800_000);

afterAll(async () => {
  ntp?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The index.html the blueprint's files section puts in /var/www. */
async function indexHtml(): Promise<string> {
  const bp = parse(await readFile(BLUEPRINT, 'utf8')) as { files?: { path: string; contents?: string }[] };
  const f = bp.files?.find((x) => x.path === '/var/www/index.html');
  if (f?.contents === undefined) throw new Error(`${BLUEPRINT}: no /var/www/index.html with contents in files`);
  return f.contents;
}

describe('blueprints/webserver.yml boots', () => {
  for (const arch of ['amd64', 'arm64'] as Arch[]) {
    it(`on ${arch}: nginx serves the index.html from files, dhcpcd leases, ntp sets the clock`, async () => {
      const overlay = join(work, `ntp-${arch}.yml`);
      await writeFile(overlay, 'files:\n  - path: /etc/openntpd/ntpd.conf\n    mode: "0644"\n    contents: "server 10.0.2.2\\n"\n');
      const name = `webserver-${arch}`;
      const out = join(work, name);
      await build({ files: [BLUEPRINT, overlay], arch, outDir: out, cacheDir, name });

      const port = await freePort();
      const done = `/osbuild-test-done-${process.pid}`;
      const lines: string[] = [];
      const seen = (re: RegExp) => lines.some((l) => re.test(l));
      // Once nginx runs and eth0 has its lease: GET / until it answers, wait for ntp's step, GET /
      // again; then a request to `done`, which nginx logs on the console and which ends the boot.
      let checks: Promise<{ first?: HttpReply; after?: HttpReply; error?: string }> | undefined;
      const hostChecks = async () => {
        const r: { first?: HttpReply; after?: HttpReply; error?: string } = {};
        try {
          for (let i = 0; i < 30 && !r.first; i++) {
            r.first = await httpGet(port, '/', 8000).catch(async (e: Error) => {
              r.error = e.message;
              await new Promise((res) => setTimeout(res, 2000));
              return undefined;
            });
          }
          for (let t = 0; t < 90 && !seen(/set local clock to/); t++) await new Promise((res) => setTimeout(res, 1000));
          r.after = await httpGet(port, '/', 8000);
        } catch (e) {
          r.error = (e as Error).message;
        } finally {
          await httpGet(port, done, 8000).catch(() => undefined);
        }
        return r;
      };
      const res = await testImage({
        path: join(out, name),
        arch,
        timeoutSec: 420,
        hostForward: [{ host: port, guest: 80 }],
        onLine: (line) => {
          lines.push(line);
          if (!checks && seen(/eth0: leased/) && seen(/osbuild: service nginx started/)) checks = hostChecks();
        },
        expect: [/osbuild: module virtio_net loaded/, /osbuild: ready/, new RegExp(`"GET ${done} HTTP`)],
      });
      const log = `${res.reason ?? ''}\n${res.log.slice(-80).join('\n')}`;
      expect(checks, `never got to the host's checks (no lease or no nginx)\n${log}`).toBeDefined();
      const r = await checks!;
      expect(r.first, `${r.error}\n${log}`).toBeDefined();
      expect(r.first!.status).toBe(200);
      expect(r.first!.body).toBe(await indexHtml());
      expect(lines.some((l) => /eth0: leased 10\.0\.2\.15 for \d+ seconds/.test(l)), log).toBe(true);
      // ntp stepped by the whole 1000 days, and the guest's clock (nginx's Date header) is there
      const step = Number(/set local clock to .*\(offset (-?[\d.]+)s\)/.exec(lines.find((l) => /set local clock to/.test(l)) ?? '')?.[1]);
      expect(Math.abs(step * 1000 - NTP_AHEAD_MS), `step of ${step} s\n${log}`).toBeLessThan(DAY);
      expect(r.after, `${r.error}\n${log}`).toBeDefined();
      expect(Math.abs(r.after!.date - (Date.now() + NTP_AHEAD_MS)), `guest clock ${new Date(r.after!.date).toISOString()}`).toBeLessThan(DAY);
      expect(res.ok, log).toBe(true);
    }, 1_800_000);
  }
});
