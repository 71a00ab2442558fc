// Compression throughput: osbuild's gzipParallel vs pigz -6 (2 threads) vs gzip -6.
//   npm run build && node bench/gzip.mjs [input.tar]
// Without an input, makes a ~200 MB tar from /usr/lib and /usr/share. Prints figures only.
// OSBUILD_DIST=/path/to/dist overrides where the compiled library is found.

import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const dist = process.env.OSBUILD_DIST ?? new URL('../dist', import.meta.url).pathname;
const { gzipParallel } = await import(join(dist, 'formats/compress/gzip.js'));

const dir = mkdtempSync(join(tmpdir(), 'osbuild-bench-gzip-'));
try {
  let input = process.argv[2];
  if (!input) {
    input = join(dir, 'usr.tar');
    spawnSync('sh', ['-c', `tar -C /usr -cf - lib share 2>/dev/null | head -c 200M > ${input}`]);
  }
  const mb = statSync(input).size / 1e6;
  const out = join(dir, 'out.gz');
  const row = (name, seconds, extra = '') =>
    console.log(
      `${name.padEnd(22)} ${seconds.toFixed(2).padStart(6)} s ${(mb / seconds).toFixed(1).padStart(6)} MB/s ` +
        `${(statSync(out).size / 1e6).toFixed(1).padStart(7)} MB out ${extra}`,
    );
  console.log(`input ${input}: ${mb.toFixed(1)} MB, ${process.env.UV_THREADPOOL_SIZE ?? 4} libuv threads`);

  for (const concurrency of [2, 3]) {
    let peak = 0;
    const tick = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    await pipeline(gzipParallel(createReadStream(input), { concurrency }), createWriteStream(out));
    const s = (performance.now() - t0) / 1000;
    clearInterval(tick);
    row(`gzipParallel conc=${concurrency}`, s, `peak RSS ${(peak / 1e6).toFixed(0)} MB`);
  }
  for (const [name, cmd] of [
    ['pigz -6 -p 2', `pigz -6 -p 2 -c ${input} > ${out}`],
    ['gzip -6', `gzip -6 -c ${input} > ${out}`],
  ]) {
    const t0 = performance.now();
    spawnSync('sh', ['-c', cmd]);
    row(name, (performance.now() - t0) / 1000);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
