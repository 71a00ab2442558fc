// The reference blueprints whose own boot tests run on amd64 only, booted on arm64 (TCG,
// -cpu max,pauth-impdef=on): every service the blueprint lists starts, the init gets ready,
// dhcpcd gets its lease, and the system powers off cleanly. What each blueprint does is checked
// in depth by its own test on amd64; here the question is whether the arm64 build is whole.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';

// blueprint -> services that cannot come up without the user's own config (and say so)
const CASES: Record<string, string[]> = {
  sshd: [],
  getty: [],
  // `app` runs the image named in /etc/containerd/run.conf, which the user supplies
  'container-host': ['app'],
};

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/logging', 'components/containerd']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-arm64-'));
}, 1_200_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe.concurrent('reference blueprints boot on arm64', () => {
  for (const [name, skip] of Object.entries(CASES)) {
    it(`blueprints/${name}.yml`, async () => {
      const file = join(REPO, `blueprints/${name}.yml`);
      const services = ((parse(await readFile(file, 'utf8')) as { services?: { name: string }[] }).services ?? []).map((s) => s.name).filter((s) => !skip.includes(s));
      const out = join(work, name);
      await build({ files: [file], arch: 'arm64', outDir: out, cacheDir, name });
      const lines: string[] = [];
      const r = await testImage({
        path: join(out, name),
        arch: 'arm64',
        appendCmdline: 'osbuild.poweroff=10',
        timeoutSec: 420,
        onLine: (l) => lines.push(l),
        expect: [/osbuild: init arm64 /, /osbuild: ready/, /osbuild: poweroff/, /reboot: Power down/],
      });
      const text = lines.join('\n');
      expect(r.ok, r.ok ? '' : `${r.reason}\n${r.log.slice(-60).join('\n')}`).toBe(true);
      for (const s of services) expect(text, `service ${s}`).toMatch(new RegExp(`osbuild: service ${s} started`));
      expect(text).toMatch(/eth0: leased 10\.0\.2\.15/);
      expect(text).not.toMatch(/osbuild: module \S+ failed/);
    }, 1_200_000);
  }
});
