// A large root (~275 MB uncompressed, the size of LinuxKit's 14 s figure) built as
// kernel+initrd and as tar: wall time, peak RSS, and the ratio to the baseline.
//
//   npm run build && node bench/build-large.mjs [--runs 3] [--cache DIR] [--formats kernel+initrd,tar]
//                                                [--profile DIR] [--rebuild-fixture]
//
// The fixture is an OCI image made by GNU tar + umoci from host files: layer 0 /usr/lib/gcc and
// /usr/lib/python3.11, layer 1 /usr/share/{man,vim}, layer 2 whiteouts (a removed
// directory, an opaque directory, removed files) and a few replacements. It is imported once
// into <cache>/store as bench/large-root:1 and kept there (the layout under <cache>/fixtures).
// The components (kernel, init, runc) come from the same store: run build-minimal.mjs first,
// or the first build makes them from Debian packages.
// A different host gives a different size: the figures print it.
// --profile DIR: one more run of each format under `node --cpu-prof`, summarized with
// bench/cpuprofile-summary.mjs. Prints figures only.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CORES, DIST, REPO, baseline, blueprintLayers, defaultBenchCache, mb, median, parseArgs, printBaseline,
  printOutputs, printRuns, runCli, sec,
} from './lib.mjs';

const o = parseArgs(process.argv.slice(2), {
  runs: '3', cache: defaultBenchCache(), formats: 'kernel+initrd,tar', profile: '', 'rebuild-fixture': false,
});
const runs = Number(o.runs);
const REF = 'bench/large-root:1';
const fixtures = join(o.cache, 'fixtures');
const blueprint = join(fixtures, 'large.yml');
const env = { SOURCE_DATE_EPOCH: '0' };

const LAYERS = [
  // [name, shell script run in an empty dir that becomes the layer]
  ['lib', 'mkdir -p usr/lib && cp -a /usr/lib/gcc /usr/lib/python3.11 usr/lib/'],
  ['share', 'mkdir -p usr/share && cp -a /usr/share/man /usr/share/vim usr/share/'],
  [
    'whiteouts',
    [
      'mkdir -p usr/share usr/lib/python3.11/email usr/share/man',
      'touch usr/share/.wh.vim', // the whole vim tree goes
      'touch usr/lib/python3.11/email/.wh..wh..opq', // email/ is replaced by what follows
      'echo "replaced" > usr/lib/python3.11/email/__init__.py',
      'for d in /usr/share/man/man1/*.gz; do b=$(basename $d); case $b in a*) touch usr/share/man/man1/.wh.$b;; esac; done 2>/dev/null || true',
      'mkdir -p usr/share/man/man1 etc && head -c 10000000 /dev/urandom > usr/share/random.bin && echo large > etc/hostname',
    ].join('\n'),
  ],
];

async function ensureFixture() {
  const { Store } = await import(join(DIST, 'oci', 'store.js'));
  const store = await Store.open(join(o.cache, 'store'));
  if (!o['rebuild-fixture'] && (await store.resolve(REF))) return;
  rmSync(fixtures, { recursive: true, force: true });
  mkdirSync(fixtures, { recursive: true });
  const layout = join(fixtures, 'layout');
  const image = `${layout}:large`;
  const sh = (cmd, cwd) => {
    const r = spawnSync('bash', ['-c', `set -e\n${cmd}`], { cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`fixture step failed: ${cmd}\n${r.stderr}`);
  };
  const t0 = performance.now();
  sh(`umoci init --layout '${layout}' && umoci new --image '${image}' && umoci config --image '${image}' --architecture amd64 --os linux --no-history`);
  for (const [name, script] of LAYERS) {
    const dir = join(fixtures, name);
    mkdirSync(dir);
    sh(script, dir);
    sh(`tar --numeric-owner --format=pax -C '${dir}' -cf '${dir}.tar' . && umoci raw add-layer --no-history --image '${image}' '${dir}.tar' && rm -rf '${dir}' '${dir}.tar'`);
  }
  const r = spawnSync(process.execPath, [join(DIST, 'cli', 'main.js'), 'cache', 'import', '--ref', REF, '--cache', o.cache, '-q', layout], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('osbuild cache import failed');
  console.log(`fixture ${REF} made and imported in ${sec((performance.now() - t0) / 1000)} s`);
}

function writeBlueprint() {
  mkdirSync(fixtures, { recursive: true });
  writeFileSync(
    blueprint,
    [
      '# bench/build-large.mjs: a ~275 MB root as an init image, the Debian cloud kernel, no modules.',
      'kernel:',
      '  image: osbuild/kernel-debian-cloud:6.1',
      '  cmdline: "console=ttyS0"',
      '  modules: []',
      'init:',
      '  - osbuild/init:0.1.0',
      '  - osbuild/runc:0.1.0',
      `  - ${REF}`,
      '',
    ].join('\n'),
  );
}

const FILES = { 'kernel+initrd': ['large-kernel', 'large-initrd.img', 'large-cmdline'], tar: ['large.tar'] };

console.log(`large root: ${REF} from host files; cache ${o.cache}; ${CORES} cores; node ${process.version}`);
await ensureFixture();
writeBlueprint();
const out = mkdtempSync(join(tmpdir(), 'osbuild-bench-large-'));
try {
  const base = ['build', blueprint, '--arch', 'amd64', '--cache', o.cache, '-o', out, '--name', 'large', '-q'];
  // One untimed run: builds missing components and the layers' tables of contents.
  runCli([...base, '-f', 'kernel+initrd'], { env });
  const medians = {};
  for (const f of o.formats.split(',')) {
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(runCli([...base, '-f', f], { env }));
    printRuns(`${f} (${runs} runs, warm store)`, rs);
    printOutputs(out, FILES[f]);
    medians[f] = median(rs.map((r) => r.wall));
  }

  const layers = await blueprintLayers([blueprint], o.cache, 'amd64');
  const b = baseline(layers, join(out, 'large-initrd.img'), Math.min(runs, 3));
  if (medians['kernel+initrd'] !== undefined) {
    console.log('kernel+initrd:');
    printBaseline(b, medians['kernel+initrd']);
  }
  if (medians.tar !== undefined) {
    // The tar output is not compressed: its floor is gunzipping the layers once.
    console.log(`tar: ratio build/gunzip-layers-once ${(medians.tar / b.gunzip).toFixed(2)} (${sec(medians.tar)} s / ${sec(b.gunzip)} s)`);
  }

  if (o.profile) {
    mkdirSync(o.profile, { recursive: true });
    for (const f of o.formats.split(',')) {
      const dir = join(o.profile, f.replace(/[^a-z]/g, '-'));
      rmSync(dir, { recursive: true, force: true });
      const r = runCli([...base, '-f', f], { env, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
      const prof = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
      console.log(`\nprofile of ${f} (${sec(r.wall)} s, ${r.rssMb.toFixed(0)} MB): ${join(dir, prof)}`);
      spawnSync(process.execPath, [join(REPO, 'bench', 'cpuprofile-summary.mjs'), join(dir, prof)], { stdio: 'inherit' });
    }
  }
  console.log(`layers read: ${layers.length}, ${mb(b.layerBlobBytes)} MB compressed, ${mb(b.layerBytes)} MB uncompressed`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
