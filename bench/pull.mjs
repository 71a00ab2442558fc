// Cold pull of a multi-layer image from a local docker-registry over loopback: `osbuild pull`
// (verifying every digest and every layer's diff_id) beside `skopeo copy` of the same image to
// an OCI layout. Prints the figures and the ratio; asserts nothing.
//
//   node bench/pull.mjs [--layers 8] [--mb 16] [--runs 3]
//
// Layers are half random (incompressible) and half text (compressible), gzipped by umoci.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, DIST, parseArgs, startRegistry } from './lib.mjs';

const { pull } = await import(join(DIST, 'oci', 'registry', 'pull.js'));
const { Store } = await import(join(DIST, 'oci', 'store.js'));

const opts = parseArgs(process.argv.slice(2), { layers: '8', mb: '16', runs: '3' });
const layers = Number(opts.layers);
const mb = Number(opts.mb);
const runs = Number(opts.runs);

function run(cmd, args, o = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...o });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  run(cmd, args);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const work = mkdtempSync(join(tmpdir(), 'osbuild-bench-pull-'));
const { port, registry } = await startRegistry(work);
try {
  // the image: `layers` layers of `mb` MiB each, made by umoci, pushed by skopeo
  const layout = join(work, 'layout');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:bench`]);
  run('umoci', ['config', '--image', `${layout}:bench`, '--architecture', 'amd64', '--os', 'linux', '--no-history']);
  const half = Math.floor((mb * 1024 * 1024) / 2);
  for (let i = 0; i < layers; i++) {
    const dir = join(work, `l${i}`);
    mkdirSync(dir);
    run('sh', ['-c', `head -c ${half} /dev/urandom > random.bin && (seq 1 100000000 | head -c ${half}) > text.txt`], { cwd: dir });
    run('tar', ['--numeric-owner', '-C', dir, '-cf', join(work, `l${i}.tar`), '.']);
    run('umoci', ['raw', 'add-layer', '--no-history', '--image', `${layout}:bench`, join(work, `l${i}.tar`)]);
    rmSync(dir, { recursive: true });
    rmSync(join(work, `l${i}.tar`));
  }
  const ref = `127.0.0.1:${port}/bench/image:1`;
  run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`]);
  const size = Number(run('sh', ['-c', `du -sb ${join(layout, 'blobs')} | cut -f1`]).trim());

  const ours = [];
  const theirs = [];
  const lib = [];
  for (let i = 0; i < runs; i++) {
    const libCache = join(work, `lib-${i}`);
    const t0 = process.hrtime.bigint();
    await pull(await Store.open(libCache), ref, { arches: ['amd64'] });
    lib.push(Number(process.hrtime.bigint() - t0) / 1e6);
    rmSync(libCache, { recursive: true, force: true });
    const cache = join(work, `cache-${i}`);
    ours.push(timed('node', [CLI, 'pull', '-q', '--arch', 'amd64', '--cache', cache, ref]));
    rmSync(cache, { recursive: true, force: true });
    const out = join(work, `skopeo-${i}`);
    theirs.push(timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:x`]));
    rmSync(out, { recursive: true, force: true });
  }
  const startup = median([0, 1, 2].map(() => timed('node', [CLI, '--version'])));
  const l = median(lib);
  const o = median(ours);
  const s = median(theirs);
  const mib = size / 1024 / 1024;
  console.log(`image: ${layers} layers, ${mib.toFixed(1)} MiB compressed (${layers * mb} MiB uncompressed), loopback registry`);
  console.log(`osbuild pull (verify digests + diff_ids): median ${o.toFixed(0)} ms of ${ours.map((x) => x.toFixed(0)).join(', ')}  (${(mib / (o / 1000)).toFixed(0)} MiB/s)`);
  console.log(`skopeo copy to an OCI layout:            median ${s.toFixed(0)} ms of ${theirs.map((x) => x.toFixed(0)).join(', ')}  (${(mib / (s / 1000)).toFixed(0)} MiB/s)`);
  console.log(`  of which node start-up (osbuild --version): ${startup.toFixed(0)} ms`);
  console.log(`pull() in-process (library, no start-up):  median ${l.toFixed(0)} ms of ${lib.map((x) => x.toFixed(0)).join(', ')}  (${(mib / (l / 1000)).toFixed(0)} MiB/s)`);
  console.log(`ratio osbuild pull / skopeo copy: ${(o / s).toFixed(2)} (command), ${(l / s).toFixed(2)} (library)`);
} finally {
  registry.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
