// Shared pieces of the build benchmarks: running the CLI as a child under /usr/bin/time,
// the "gunzip the layers once + compress the output once" baseline, and printing.
// Figures only: nothing here asserts.

import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = new URL('..', import.meta.url).pathname;
export const DIST = process.env.OSBUILD_DIST ?? join(REPO, 'dist');
export const CLI = join(DIST, 'cli', 'start.js');
export const CORES = availableParallelism();

/** Tiny flag parser: --name value, --flag; numbers stay strings. */
export function parseArgs(argv, defaults) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (!(k in defaults)) throw new Error(`unknown option ${a} (known: ${Object.keys(defaults).map((x) => '--' + x).join(' ')})`);
    if (typeof defaults[k] === 'boolean') o[k] = true;
    else o[k] = argv[++i];
  }
  return o;
}

export function defaultBenchCache() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'osbuild-bench');
}

/**
 * Copies a Debian download cache (<other cache>/debian) into the bench cache when it has none,
 * so a "cold" build measures building components, not the mirror's bandwidth.
 */
export function seedDebian(cache, from) {
  if (!from) return;
  const dst = join(cache, 'debian');
  if (existsSync(dst)) return;
  mkdirSync(cache, { recursive: true });
  cpSync(join(from, 'debian'), dst, { recursive: true });
}

/**
 * Runs `node [nodeArgs] dist/cli/start.js args` (the installed command) under GNU time. Returns wall seconds (measured
 * here), peak RSS in MB (the child's maxrss, as GNU time reports it), user+sys CPU seconds,
 * and the 1-minute load average before the run.
 */
/** The node options the installed command runs with: those on start.js's `#!/usr/bin/env -S node ...` line. */
export function shebangNodeArgs() {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

export function runCli(args, { nodeArgs = shebangNodeArgs(), env = {}, cwd = REPO } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'osbuild-bench-run-'));
  const timeFile = join(dir, 'time');
  const load = loadavg()[0];
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %M %U %S', process.execPath, ...nodeArgs, CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`osbuild ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  }
  const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop();
  const [, maxKb, user, sys] = last.split(/\s+/).map(Number);
  rmSync(dir, { recursive: true, force: true });
  return { wall, rssMb: (maxKb * 1024) / 1e6, cpu: user + sys, load };
}

/** Seconds a shell command takes (its output discarded by the command itself). */
export function timeShell(cmd) {
  return timeShellCpu(cmd).wall;
}

/** Wall and CPU (user+sys of the shell and what it ran) seconds of a shell command. */
export function timeShellCpu(cmd) {
  const dir = mkdtempSync(join(tmpdir(), 'osbuild-bench-sh-'));
  const timeFile = join(dir, 'time');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%U %S', 'sh', '-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number);
  rmSync(dir, { recursive: true, force: true });
  return { wall, cpu: user + sys };
}

/** The distinct layer blobs of every image a blueprint names, for one arch, through the store. */
export async function blueprintLayers(blueprintFiles, cache, arch) {
  const { loadBlueprints } = await import(join(DIST, 'build', 'build.js'));
  const { blueprintRefs } = await import(join(DIST, 'plan', 'system.js'));
  const { formatRef, parseRef } = await import(join(DIST, 'oci', 'ref.js'));
  const { Store } = await import(join(DIST, 'oci', 'store.js'));
  const bp = await loadBlueprints(blueprintFiles.map((f) => resolve(REPO, f)));
  const store = await Store.open(join(cache, 'store'));
  const seen = new Map();
  for (const ref of blueprintRefs(bp)) {
    const img = await store.resolveImage(formatRef(parseRef(ref)), arch);
    for (const l of img.layers) {
      if (!seen.has(l.digest)) seen.set(l.digest, { ...l, ref, path: blobPath(store, l.digest) });
    }
  }
  return [...seen.values()];
}

function blobPath(store, digest) {
  const [alg, hex] = digest.split(':');
  return join(store.dir, 'blobs', alg, hex);
}

/**
 * The baseline the target is stated against: gunzip every layer once (pigz -dc, one after the
 * other) plus compress the uncompressed initramfs once with pigz -6 on all cores. Median of
 * `runs`. Returns seconds for each part and the uncompressed sizes.
 */
export function baseline(layers, initrdGz, runs) {
  const dir = mkdtempSync(join(tmpdir(), 'osbuild-bench-base-'));
  try {
    const cpio = join(dir, 'x.cpio');
    spawnSync('sh', ['-c', `gzip -dc '${initrdGz}' > '${cpio}'`]);
    const gun = [];
    const comp = [];
    const cpu = [];
    for (let i = 0; i < runs; i++) {
      let s = 0;
      let c = 0;
      for (const l of layers) {
        const cmd = l.mediaType.endsWith('gzip') ? `pigz -dc '${l.path}' > /dev/null` : `cat '${l.path}' > /dev/null`;
        const t = timeShellCpu(cmd);
        s += t.wall;
        c += t.cpu;
      }
      gun.push(s);
      const z = timeShellCpu(`pigz -6 -p ${CORES} < '${cpio}' > /dev/null`);
      comp.push(z.wall);
      cpu.push(c + z.cpu);
    }
    let layerBytes = 0;
    for (const l of layers) {
      const r = spawnSync('sh', ['-c', l.mediaType.endsWith('gzip') ? `pigz -dc '${l.path}' | wc -c` : `wc -c < '${l.path}'`], { encoding: 'utf8' });
      layerBytes += Number(r.stdout.trim());
    }
    return {
      gunzip: median(gun),
      compress: median(comp),
      total: median(gun.map((g, i) => g + comp[i])),
      cpu: median(cpu),
      layerBytes,
      layerBlobBytes: layers.reduce((a, l) => a + l.size, 0),
      cpioBytes: statSync(cpio).size,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const mb = (bytes) => (bytes / 1e6).toFixed(1);
export const sec = (s) => s.toFixed(2);

export function printRuns(label, runs) {
  const walls = runs.map((r) => r.wall);
  console.log(
    `${label}: wall median ${sec(median(walls))} s, min ${sec(Math.min(...walls))} s; ` +
      `peak RSS median ${median(runs.map((r) => r.rssMb)).toFixed(0)} MB, max ${Math.max(...runs.map((r) => r.rssMb)).toFixed(0)} MB; ` +
      `CPU (user+sys) median ${sec(median(runs.map((r) => r.cpu)))} s; load before runs ${runs.map((r) => r.load.toFixed(1)).join(' ')}`,
  );
  for (const [i, r] of runs.entries()) {
    console.log(`  run ${i + 1}: ${sec(r.wall)} s, ${r.rssMb.toFixed(0)} MB, cpu ${sec(r.cpu)} s, load ${r.load.toFixed(2)}`);
  }
}

export function printOutputs(outDir, names) {
  for (const n of names) {
    const p = join(outDir, n);
    if (existsSync(p)) console.log(`  ${n}: ${statSync(p).size} bytes (${mb(statSync(p).size)} MB)`);
  }
}

export function printBaseline(b, buildMedian, buildCpu) {
  console.log(
    `baseline: gunzip layers ${sec(b.gunzip)} s (${mb(b.layerBlobBytes)} MB gz -> ${mb(b.layerBytes)} MB) + ` +
      `pigz -6 -p ${CORES} of the ${mb(b.cpioBytes)} MB cpio ${sec(b.compress)} s = ${sec(b.total)} s`,
  );
  console.log(`ratio build/baseline: ${(buildMedian / b.total).toFixed(2)} (target <= 1.3)`);
  if (buildCpu !== undefined) {
    // CPU time is what a loaded machine steals least from: the same ratio counted in CPU seconds
    console.log(`CPU (user+sys): build ${sec(buildCpu)} s, baseline ${sec(b.cpu)} s; ratio ${(buildCpu / b.cpu).toFixed(2)}`);
  }
}

/**
 * Debian's docker-registry on a free port of 127.0.0.1, storing under `work`/data (deletes
 * allowed when asked), once it answers. Returns its port and its process (kill it when done).
 */
export async function startRegistry(work, { deletes = false } = {}) {
  const srv = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  mkdirSync(join(work, 'data'), { recursive: true });
  const del = deletes ? '  delete:\n    enabled: true\n' : '';
  writeFileSync(
    join(work, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'data')}\n${del}http:\n  addr: 127.0.0.1:${port}\n`,
  );
  const registry = spawn('docker-registry', ['serve', join(work, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/v2/`);
      return { port, registry };
    } catch {
      if (i > 200) {
        registry.kill('SIGTERM');
        throw new Error('docker-registry did not start');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
