// Boots the reference blueprint, built by the real pipeline, on both arches under QEMU and
// checks what the init prints, as a user watching the console would.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { consoleProblems } from '../helpers/console.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache());
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-'));
}, 900_000);

async function buildAndBoot(arch: Arch, files: string[], name: string, expect_: RegExp[], poweroffAfter = 1) {
  const out = join(work, `${name}-${arch}`);
  await build({ files: files.map((f) => join(REPO, f)), arch, outDir: out, cacheDir, name });
  const lines: string[] = [];
  const r = await testImage({ path: join(out, name), arch, expect: expect_, timeoutSec: arch === 'arm64' ? 180 : 120, appendCmdline: `osbuild.poweroff=${poweroffAfter}`, onLine: (l) => lines.push(l) });
  return { ...r, lines };
}

function explain(r: { ok: boolean; reason?: string; log: string[] }) {
  return r.ok ? '' : `${r.reason}\n${r.log.slice(-40).join('\n')}`;
}

describe.concurrent('minimal.yml boots', () => {
  for (const arch of ['amd64', 'arm64'] as const) {
    it(`on ${arch}: runs the onboot container, starts getty, powers off cleanly, with no error on the console`, async () => {
      const r = await buildAndBoot(arch, ['blueprints/minimal.yml'], 'minimal', [
        new RegExp(`osbuild: init ${arch} `),
        /hello from an onboot container/,
        /osbuild: onboot 000-hello exit 0/,
        /osbuild: service getty started/,
        /osbuild: ready/,
        /osbuild: service getty stopped/,
        /osbuild: poweroff/,
        /reboot: Power down/,
      ]);
      expect(r.ok, explain(r)).toBe(true);
      // a first boot prints no error of the init's scripts, and runc none at poweroff
      expect(consoleProblems(r.lines)).toEqual([]);
    }, 300_000);
  }
});

describe('a composed blueprint boots with modules, files, a crashing service and onshutdown', () => {
  it('on amd64', async () => {
    const r = await buildAndBoot('amd64', ['blueprints/minimal.yml', 'test/fixtures/boot/features.yml'], 'features', [
      /osbuild: module overlay loaded/,
      /osbuild: onboot 000-hello exit 0/,
      /motd from the files section/,
      /overlay-is-loaded/,
      /osbuild: onboot 001-check exit 0/,
      /osbuild: service flaky exited 3, restarting in 1s/,
      /osbuild: service flaky started/,
      /osbuild: service flaky exited 3, restarting in 2s/,
      /goodbye from onshutdown/,
      /osbuild: onshutdown 000-bye exit 0/,
      /reboot: Power down/,
      // flaky's second exit comes ~4 s after ready on a quiet machine: 8 s leaves room for a loaded one
    ], 8);
    expect(r.ok, explain(r)).toBe(true);
    // restarts, onboot and onshutdown containers leave nothing for runc to complain about
    expect(consoleProblems(r.lines)).toEqual([]);
  }, 300_000);
});
