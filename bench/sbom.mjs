// What the SBOM costs a build: the documents' sizes, what they add to the outputs, the SBOM
// step's own time (in process, the store warm), and the build's wall time with --sbom none,
// spdx and spdx,cyclonedx (medians).
//
//   npm run build && node bench/sbom.mjs [--blueprint blueprints/minimal.yml] [--format kernel+initrd]
//                                        [--arch amd64] [--runs 3] [--cache DIR]
//
// The store must hold the blueprint's images (the first build makes the components). Prints figures only.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CORES, DIST, REPO, defaultBenchCache, median, parseArgs, runCli, sec } from './lib.mjs';

const o = parseArgs(process.argv.slice(2), { blueprint: 'blueprints/minimal.yml', format: 'kernel+initrd', arch: 'amd64', runs: '3', cache: defaultBenchCache() });
const runs = Number(o.runs);
const env = { SOURCE_DATE_EPOCH: '0' };
const work = mkdtempSync(join(tmpdir(), 'osbuild-bench-sbom-'));
const sizes = (dir) => Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));

console.log(`osbuild build ${o.blueprint} -f ${o.format} --arch ${o.arch}; cache ${o.cache}; ${CORES} cores; node ${process.version}`);
try {
  // warm the store (components built once if missing)
  runCli(['build', o.blueprint, '-f', o.format, '--arch', o.arch, '--cache', o.cache, '-o', join(work, 'warm'), '-q', '--sbom', 'none'], { env });

  // the SBOM step alone, in process: what build() does between resolving and planning
  const lib = await import(join(DIST, 'index.js'));
  const { sbomDocuments } = await import(join(DIST, 'build', 'sbom.js'));
  const files = [join(REPO, o.blueprint)];
  const blueprint = await lib.loadBlueprints(files);
  const store = await lib.Store.open(join(o.cache, 'store'));
  const formats = [lib.findFormat(o.format)];
  const images = await lib.resolveImages(lib.planRefs(blueprint, formats, o.arch), { store, arch: o.arch, cacheDir: o.cache, componentDirs: lib.defaultComponentDirs(REPO, files) });
  const fileList = await lib.filesEntries(blueprint.files ?? [], { epoch: 0, cwd: REPO, blueprint });
  const name = blueprint.name ?? basename(o.blueprint, '.yml');
  for (const list of [['spdx'], ['spdx', 'cyclonedx']]) {
    const ms = [];
    let docs;
    for (let i = 0; i < Math.max(runs, 5); i++) {
      const t = performance.now();
      docs = await sbomDocuments({ name, arch: o.arch, epoch: 0, blueprint, images, files: fileList }, list);
      ms.push(performance.now() - t);
    }
    const doc = JSON.parse(docs[0].text);
    console.log(`sbom step (${list.join(',')}): median ${median(ms).toFixed(1)} ms; ${doc.packages.length} SPDX packages, ${doc.files?.length ?? 0} files; ${docs.map((d) => `${d.format.name} ${d.text.length} B`).join(', ')}`);
  }

  // rounds of none, spdx, both: whatever warms up (the segment cache, the page cache) helps each alike
  const lists = ['none', 'spdx', 'spdx,cyclonedx'];
  const wall = Object.fromEntries(lists.map((l) => [l, []]));
  const results = {};
  for (let i = 0; i < runs; i++) {
    for (const sbom of lists) {
      const out = join(work, `${sbom}-${i}`);
      wall[sbom].push(runCli(['build', o.blueprint, '-f', o.format, '--arch', o.arch, '--cache', o.cache, '-o', out, '-q', '--sbom', sbom], { env }).wall);
      results[sbom] = { sizes: sizes(out) };
    }
  }
  for (const sbom of lists) {
    results[sbom].wall = median(wall[sbom]);
    console.log(`--sbom ${sbom}: median wall ${sec(results[sbom].wall)} s (${wall[sbom].map(sec).join(', ')}); ${Object.entries(results[sbom].sizes).map(([f, b]) => `${f} ${b} B`).join(', ')}`);
  }
  const none = results.none.sizes;
  for (const sbom of ['spdx', 'spdx,cyclonedx']) {
    const delta = Object.entries(results[sbom].sizes).filter(([f]) => f in none).map(([f, b]) => `${f} ${b - none[f] >= 0 ? '+' : ''}${b - none[f]} B`);
    console.log(`--sbom ${sbom} vs none: wall ${results[sbom].wall - results.none.wall >= 0 ? '+' : ''}${sec(results[sbom].wall - results.none.wall)} s; outputs ${delta.join(', ')}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
