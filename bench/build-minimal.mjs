// `osbuild build blueprints/minimal.yml` (kernel+initrd): cold and warm wall time, peak RSS,
// output sizes, and the ratio to the baseline (gunzip the layers once + pigz the output once).
//
//   npm run build && node bench/build-minimal.mjs [--arch arm64] [--runs 5] [--cache DIR]
//                                                  [--cold] [--seed-debian OTHER_CACHE]
//
// --cache     bench cache (default ~/.cache/osbuild-bench); its store is kept between runs.
// --cold      empty <cache>/store and <cache>/derived (layer TOCs) first, so run 0 builds the components from Debian packages.
//             Without it, a cold run happens only when the store lacks the images for --arch.
// --seed-debian  copy OTHER_CACHE/debian (downloaded .debs, apt lists) into the bench cache if
//             it has none, so a cold build does not measure the mirror.
// Prints figures only.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI, CORES, baseline, blueprintLayers, defaultBenchCache, median, parseArgs, printBaseline,
  printOutputs, printRuns, runCli, seedDebian,
} from './lib.mjs';

const o = parseArgs(process.argv.slice(2), { arch: 'amd64', runs: '5', cache: defaultBenchCache(), cold: false, 'seed-debian': '' });
const runs = Number(o.runs);
const blueprint = 'blueprints/minimal.yml';
const out = mkdtempSync(join(tmpdir(), 'osbuild-bench-minimal-'));
const args = ['build', blueprint, '--arch', o.arch, '--cache', o.cache, '-o', out, '-q'];
const env = { SOURCE_DATE_EPOCH: '0' };

console.log(`osbuild build ${blueprint} --arch ${o.arch} (kernel+initrd); cache ${o.cache}; ${CORES} cores; node ${process.version}; ${CLI}`);
try {
  seedDebian(o.cache, o['seed-debian']);
  if (o.cold) for (const d of ['store', 'derived']) rmSync(join(o.cache, d), { recursive: true, force: true });
  // Cold when the store lacks any of the blueprint's images for this arch (they get built).
  const missing = await blueprintLayers([blueprint], o.cache, o.arch).then(() => false, () => true);
  if (missing) {
    const cold = runCli(args, { env });
    printRuns(`cold (components built from Debian packages into the store${o.cold ? ', emptied first' : ''})`, [cold]);
  }
  const warm = [];
  for (let i = 0; i < runs; i++) warm.push(runCli(args, { env }));
  printRuns(`warm (${runs} runs)`, warm);
  printOutputs(out, ['minimal-kernel', 'minimal-initrd.img', 'minimal-cmdline']);

  const layers = await blueprintLayers([blueprint], o.cache, o.arch);
  const b = baseline(layers, join(out, 'minimal-initrd.img'), Math.min(runs, 3));
  printBaseline(b, median(warm.map((r) => r.wall)));
} finally {
  rmSync(out, { recursive: true, force: true });
}
