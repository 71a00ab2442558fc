// The cost of a verified root: time, bytes and memory the dm-verity tree adds to a squashfs.
//   node bench/verity.mjs [--mb 100] [--runs 3] [FILE...]
// Each FILE (e.g. out/NAME-squashfs.img of a non-verity build), and a random (incompressible,
// like a squashfs) file of --mb MiB, is copied and gets its tree appended --runs times; prints
// the median time, the tree's bytes (superblock block included) and the peak RSS, and the time
// veritysetup format takes for the same file when it is installed.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const dist = process.env.OSBUILD_DIST ?? new URL('../dist', import.meta.url).pathname;
const { appendVerityTree } = await import(join(dist, 'formats/verity/write.js'));
const { values, positionals } = parseArgs({ options: { mb: { type: 'string', default: '100' }, runs: { type: 'string', default: '3' } }, allowPositionals: true });
const work = mkdtempSync(join(tmpdir(), 'osbuild-bench-verity-'));
const runs = Number(values.runs);

const big = join(work, `random-${values.mb}M`);
const fd = openSync(big, 'w');
for (let i = 0; i < Number(values.mb); i++) writeSync(fd, randomBytes(1 << 20));
closeSync(fd);

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const salt = Buffer.alloc(32, 7);
try {
  for (const src of [...positionals, big]) {
    const size = statSync(src).size;
    const times = [];
    let info;
    for (let r = 0; r < runs; r++) {
      const f = join(work, 'img');
      copyFileSync(src, f);
      const t0 = process.hrtime.bigint();
      info = await appendVerityTree(f, { salt });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      rmSync(f);
    }
    let vs = '';
    try {
      const f = join(work, 'plain');
      copyFileSync(src, f);
      truncateSync(f, info.hashOffset);
      const t0 = process.hrtime.bigint();
      execFileSync('veritysetup', ['format', f, f, `--hash-offset=${info.hashOffset}`, `--salt=${salt.toString('hex')}`], { stdio: 'ignore' });
      vs = `, veritysetup format ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`;
      rmSync(f);
    } catch {
      /* no veritysetup */
    }
    const pct = ((100 * info.treeBytes) / size).toFixed(2);
    console.log(`${src}: ${(size / 2 ** 20).toFixed(1)} MiB -> tree ${info.treeBytes} bytes (+${pct}%), ${median(times).toFixed(0)} ms (median of ${runs})${vs}`);
  }
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (the random file is written by this process too)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
