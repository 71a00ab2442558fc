// `osbuild validate` on large and hostile blueprints: wall time, peak RSS and the rate per MB,
// and whether the time per key stays flat as unknown keys grow (it was quadratic: 8,000 keys
// took 12 s). Figures only: nothing here asserts.
//
//   npm run build && node bench/validate.mjs [--runs 3] [--keep]
//
// Each case is a file generated into a temporary folder and validated by the CLI as a child
// process under GNU time (the installed command's node options included).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO, median, parseArgs, shebangNodeArgs } from './lib.mjs';

const o = parseArgs(process.argv.slice(2), { runs: '3', keep: false });
const runs = Number(o.runs);
const dir = mkdtempSync(join(tmpdir(), 'osbuild-bench-validate-'));

/** `osbuild validate FILE` under GNU time: wall s, peak RSS MB, CPU s, exit code, stderr lines. */
function validate(file) {
  const timeFile = join(dir, 'time');
  const load = loadavg()[0];
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M %U %S', process.execPath, ...shebangNodeArgs(), CLI, 'validate', file], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const wall = (performance.now() - t0) / 1000;
  const [, maxKb, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number);
  return { wall, rssMb: (maxKb * 1024) / 1e6, cpu: user + sys, load, code: r.status, lines: r.stderr ? r.stderr.trimEnd().split('\n').length : 0, first: r.stderr.split('\n', 1)[0] };
}

// A valid blueprint of about `bytes`: a few hundred services, and files whose contents (block
// scalars, what makes a real blueprint big) fill the rest.
function realistic(bytes) {
  const out = ['kernel:', '  image: osbuild/kernel-debian-cloud:6.1', '  cmdline: "console=ttyS0"', 'init:', '  - osbuild/init:0.1.0', '  - osbuild/runc:0.1.0', 'services:'];
  for (let i = 0; i < 500; i++) {
    out.push(
      `  - name: svc${i}`,
      `    image: osbuild/svc${i}:0.1.0`,
      '    capabilities: [CAP_NET_ADMIN, CAP_SYS_ADMIN]',
      '    binds:',
      '      - /var/run:/var/run',
      '      - /etc/resolv.conf:/etc/resolv.conf:ro',
      `    env: [SVC=${i}, MODE=production]`,
      '    net: host',
    );
  }
  out.push('files:');
  const line = '    # the quick brown fox jumps over the lazy dog, 0123456789 abcdefghijklmnopqrstuvwxyz\n';
  let size = out.join('\n').length;
  for (let i = 0; size < bytes; i++) {
    const body = line.repeat(Math.min(200, Math.ceil((bytes - size) / line.length)));
    const entry = `  - path: etc/app/conf${i}.txt\n    mode: "0644"\n    contents: |\n${body}`;
    out.push(entry.trimEnd());
    size += entry.length;
  }
  return out.join('\n') + '\n';
}

function unknownKeys(n) {
  const out = ['kernel:', '  image: osbuild/kernel-debian-cloud:6.1'];
  for (let i = 0; i < n; i++) out.push(`unknown${i}: ${i}`);
  return out.join('\n') + '\n';
}

function measure(label, text) {
  const file = join(dir, `${label.replace(/\W+/g, '-')}.yml`);
  writeFileSync(file, text);
  const bytes = statSync(file).size;
  const rs = Array.from({ length: runs }, () => validate(file));
  const wall = median(rs.map((r) => r.wall));
  const row = { label, bytes, wall, rss: Math.max(...rs.map((r) => r.rssMb)), cpu: median(rs.map((r) => r.cpu)), code: rs[0].code, lines: rs[0].lines, first: rs[0].first, loads: rs.map((r) => r.load) };
  console.log(
    `${label.padEnd(34)} ${(bytes / 1e6).toFixed(2).padStart(6)} MB  wall ${wall.toFixed(2).padStart(6)} s  ` +
      `${bytes >= 1e5 ? (wall / (bytes / 1e6)).toFixed(2).padStart(5) : '    -'} s/MB  cpu ${row.cpu.toFixed(2).padStart(6)} s  peak RSS ${row.rss.toFixed(0).padStart(4)} MB  ` +
      `exit ${row.code}, ${row.lines} lines  (load ${row.loads.map((l) => l.toFixed(1)).join(' ')})`,
  );
  if (row.code !== 0) console.log(`${''.padEnd(36)}${row.first.slice(0, 150)}`);
  return row;
}

console.log(`osbuild validate: median of ${runs} runs; wall and CPU are the child's; MB = 10^6 bytes`);
const startup = measure('empty blueprint (startup)', 'kernel:\n  image: osbuild/kernel-debian-cloud:6.1\n');
measure('realistic 10 MB (valid)', realistic(10e6));

const keyRows = [10_000, 50_000, 100_000].map((n) => ({ n, ...measure(`${n} unknown keys`, unknownKeys(n)) }));
// CPU time is the steadier figure on a busy machine; wall time is what a user waits
console.log('linearity: time per key with the startup subtracted, against 10000 keys (1.00 = linear)');
const perKey = (r, what) => (r[what] - startup[what]) / r.n;
for (const r of keyRows.slice(1)) {
  const [base] = keyRows;
  console.log(
    `  ${String(r.n).padStart(6)} keys: cpu ${(perKey(r, 'cpu') * 1e6).toFixed(1)} µs/key, ratio ${(perKey(r, 'cpu') / perKey(base, 'cpu')).toFixed(2)}; ` +
      `wall ${(perKey(r, 'wall') * 1e6).toFixed(1)} µs/key, ratio ${(perKey(r, 'wall') / perKey(base, 'wall')).toFixed(2)}`,
  );
}

console.log('refused at a limit (the time to say so):');
measure('dense 10 MB flow list (tokens)', `init: [${'a,'.repeat(5e6)}]\n`);
measure('1000-level nesting', `x: ${'['.repeat(1000)}${']'.repeat(1000)}\n`);
measure('billion laughs', ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)].join('\n') + '\n');
measure('17 MB file (size)', `# ${'x'.repeat(17e6)}\n`);

if (o.keep) console.log(`files kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
