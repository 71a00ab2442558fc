// The size of every reference blueprint (blueprints/*.yml) for each arch: the kernel, the
// initrd of kernel+initrd (the whole system, gzip'd), what it unpacks to, and for comparison the
// squashfs layout's small initrd and root (kernel+squashfs). LinuxKit's minimal example is about
// 35 MB as kernel+initrd.
//
//   npm run build && node bench/blueprint-sizes.mjs [--arch amd64,arm64] [--cache DIR] [--only a,b]
//
// Components come from the bench cache (built on first use, which the first row's time shows).
// Prints figures only.

import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { REPO, defaultBenchCache, parseArgs, runCli } from './lib.mjs';

const o = parseArgs(process.argv.slice(2), { arch: 'amd64,arm64', cache: defaultBenchCache(), only: '' });
const arches = o.arch.split(',').filter(Boolean);
const only = new Set(o.only.split(',').filter(Boolean));
const blueprints = readdirSync(join(REPO, 'blueprints'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => basename(f, '.yml'))
  .filter((n) => !only.size || only.has(n))
  .sort();
const root = join(tmpdir(), `osbuild-bench-sizes-${process.pid}`);
const MB = (n) => (n / 1e6).toFixed(1).padStart(6);
const size = (p) => statSync(p).size;
const unpacked = (initrd) => Number(execFileSync('sh', ['-c', `gzip -dc '${initrd}' | wc -c`]).toString().trim());

function build(bp, arch, format) {
  const out = join(root, `${bp}-${arch}-${format}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const r = runCli(['build', `blueprints/${bp}.yml`, '--arch', arch, '--cache', o.cache, '-q', '-o', out, '--name', 'x', '-f', format], { env: { SOURCE_DATE_EPOCH: '0' } });
  return { out, r };
}

console.log(`blueprint sizes (MB = 10^6 bytes); kernel+initrd: kernel, initrd (gzip), initrd unpacked, sum; kernel+squashfs: small initrd, squashfs`);
console.log(`${'blueprint'.padEnd(16)} arch   kernel initrd unpack  k+i sum | sq-initrd squashfs | build s`);
for (const bp of blueprints) {
  for (const arch of arches) {
    try {
      const a = build(bp, arch, 'kernel+initrd');
      const b = build(bp, arch, 'kernel+squashfs');
      const k = size(join(a.out, 'x-kernel'));
      const i = size(join(a.out, 'x-initrd.img'));
      const u = unpacked(join(a.out, 'x-initrd.img'));
      const si = size(join(b.out, 'x-initrd.img'));
      const sq = size(join(b.out, 'x-squashfs.img'));
      console.log(`${bp.padEnd(16)} ${arch.padEnd(5)} ${MB(k)} ${MB(i)} ${MB(u)} ${MB(k + i)} | ${MB(si)}    ${MB(sq)} | ${a.r.wall.toFixed(1)}`);
    } catch (e) {
      console.log(`${bp.padEnd(16)} ${arch.padEnd(5)} failed: ${e.message.split('\n').slice(-3).join(' | ')}`);
    }
  }
}
rmSync(root, { recursive: true, force: true });
