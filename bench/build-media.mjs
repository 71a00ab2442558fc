// `osbuild build blueprints/minimal.yml -f FORMAT` for each boot-media format, one CLI run per
// format: output files and bytes, wall time, peak RSS and CPU; then one run of several media
// formats at once, which writes the initrd they embed once (compare with the sum of the singles).
//
//   npm run build && node bench/build-media.mjs [--arch amd64|arm64] [--runs 3] [--cache DIR]
//                                                [--formats uki,iso,...] [--multi iso,raw-efi,qcow2-efi,uki]
//                                                [--root initramfs|squashfs]
//
// --arch     target arch; only the formats that support it are built (arm64 has no BIOS formats).
// --formats  comma list (default: kernel+initrd as the reference, then every media format of the arch).
// --multi    the formats of the one-run-many-formats row ('' to skip it).
// --root     the layout of the media formats: initramfs (default) or squashfs.
// The store (bench cache, default ~/.cache/osbuild-bench) is warmed first: when it lacks the
// blueprint's images or the boot images for the arch, one unmeasured-in-the-table build makes them.
// Prints figures only.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, CORES, DIST, REPO, defaultBenchCache, median, parseArgs, printRuns, runCli, sec } from './lib.mjs';

const o = parseArgs(process.argv.slice(2), {
  arch: 'amd64',
  runs: '3',
  cache: defaultBenchCache(),
  formats: '',
  multi: 'iso,raw-efi,qcow2-efi,uki',
  root: 'initramfs',
});
const runs = Number(o.runs);
const blueprint = 'blueprints/minimal.yml';
const env = { SOURCE_DATE_EPOCH: '0' };

const { FORMATS } = await import(join(DIST, 'build', 'outputs.js'));
const { BOOT_BIOS_IMAGE, BOOT_EFI_IMAGE } = await import(join(DIST, 'plan', 'formats.js'));
const supports = (f) => !f.arches || f.arches.includes(o.arch);
const byName = new Map(FORMATS.map((f) => [f.name, f]));
const wanted = o.formats
  ? o.formats.split(',').filter(Boolean)
  : ['kernel+initrd', 'kernel+squashfs', ...FORMATS.filter((f) => f.usesMedia && supports(f)).map((f) => f.name)];
for (const n of wanted) {
  if (!byName.has(n)) throw new Error(`unknown format ${n} (known: ${[...byName.keys()].join(', ')})`);
  if (!supports(byName.get(n))) throw new Error(`format ${n} does not support ${o.arch}`);
}
const multi = o.multi.split(',').filter(Boolean);

const root = join(tmpdir(), `osbuild-bench-media-${process.pid}`);
const outFor = (label) => join(root, label.replace(/[^a-z0-9+-]/gi, '_'));
const baseArgs = ['build', blueprint, '--arch', o.arch, '--root', o.root, '--cache', o.cache, '-q'];

/** One CLI run into an empty output dir; returns the run figures and the files it left. */
function build(formats, label) {
  const out = outFor(label);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const r = runCli([...baseArgs, '-o', out, ...formats.flatMap((f) => ['-f', f])], { env });
  // Hidden names are scratch files (the shared initrd); a finished build leaves none.
  r.files = readdirSync(out).sort().map((name) => {
    const st = statSync(join(out, name));
    return { name, bytes: st.size, allocated: st.blocks * 512 };
  });
  return r;
}

/** Is every image this arch's media need already in the store? */
async function storeWarm() {
  const { Store } = await import(join(DIST, 'oci', 'store.js'));
  const { formatRef, parseRef } = await import(join(DIST, 'oci', 'ref.js'));
  const { loadBlueprints } = await import(join(DIST, 'build', 'build.js'));
  const { blueprintRefs } = await import(join(DIST, 'plan', 'system.js'));
  const bp = await loadBlueprints([join(REPO, blueprint)]);
  const refs = [...blueprintRefs(bp), BOOT_EFI_IMAGE, ...(o.arch === 'amd64' ? [BOOT_BIOS_IMAGE] : [])];
  try {
    const store = await Store.open(join(o.cache, 'store'));
    for (const ref of refs) await store.resolveImage(formatRef(parseRef(ref)), o.arch);
    return true;
  } catch {
    return false;
  }
}

const bytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
function filesCell(files) {
  return files
    .map((f) => `${f.name} ${f.bytes}${f.allocated < f.bytes * 0.9 ? ` (${bytes(f.allocated)} on disk)` : ''}`)
    .join(', ');
}

function table(rows) {
  const head = ['format', 'wall med/min s', 'RSS med/max MB', 'CPU s', 'load', 'files (bytes)'];
  const cells = rows.map(({ label, runs: rs }) => [
    label,
    `${sec(median(rs.map((r) => r.wall)))} / ${sec(Math.min(...rs.map((r) => r.wall)))}`,
    `${median(rs.map((r) => r.rssMb)).toFixed(0)} / ${Math.max(...rs.map((r) => r.rssMb)).toFixed(0)}`,
    sec(median(rs.map((r) => r.cpu))),
    `${Math.min(...rs.map((r) => r.load)).toFixed(1)}-${Math.max(...rs.map((r) => r.load)).toFixed(1)}`,
    filesCell(rs[0].files) + (sameSizes(rs) ? '' : ' [sizes differ between runs]'),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(w[i]))).join('  ');
  console.log(line(head));
  console.log(line(w.map((n) => '-'.repeat(Math.min(n, 40)))));
  for (const c of cells) console.log(line(c));
}

/** The newest src/ file when it is newer than the CLI being run (only for this repository's dist/). */
function staleDist() {
  if (DIST !== join(REPO, 'dist') || !existsSync(CLI)) return undefined;
  const built = statSync(CLI).mtimeMs;
  let newest;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (statSync(p).mtimeMs > built && (!newest || statSync(p).mtimeMs > statSync(newest).mtimeMs)) newest = p;
    }
  };
  walk(join(REPO, 'src'));
  return newest;
}

const sameSizes = (rs) => rs.every((r) => JSON.stringify(r.files.map((f) => f.bytes)) === JSON.stringify(rs[0].files.map((f) => f.bytes)));

console.log(`osbuild build ${blueprint} --arch ${o.arch} -f FORMAT; ${runs} runs each; cache ${o.cache}; ${CORES} cores; node ${process.version}; ${CLI}`);
const stale = staleDist();
if (stale) console.log(`WARNING: ${stale} is newer than ${CLI}: run \`npm run build\` first`);
try {
  if (!(await storeWarm())) {
    // Builds the missing blueprint images and boot images (from components/, Debian packages).
    const first = o.arch === 'amd64' ? ['iso'] : ['uki'];
    printRuns(`warm-up: store lacked images for ${o.arch}, built them (-f ${first.join(' -f ')}); not in the table`, [build(first, 'warmup')]);
  }
  const rows = [];
  for (const f of wanted) {
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(build([f], f));
    rows.push({ label: f, runs: rs });
    process.stderr.write(`  ${f}: ${rs.map((r) => sec(r.wall)).join(' ')} s\n`);
  }
  let multiRow;
  if (multi.length) {
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(build(multi, 'multi'));
    multiRow = { label: multi.map((f) => `-f ${f}`).join(' '), runs: rs };
    rows.push(multiRow);
  }
  console.log('');
  table(rows);

  if (multiRow) {
    const med = (label) => {
      const r = rows.find((x) => x.label === label);
      return r ? median(r.runs.map((x) => x.wall)) : undefined;
    };
    const singles = multi.map(med);
    const m = median(multiRow.runs.map((r) => r.wall));
    const ki = med('kernel+initrd');
    console.log('');
    if (singles.every((s) => s !== undefined)) {
      const sum = singles.reduce((a, b) => a + b, 0);
      console.log(
        `shared initrd: ${multi.length} formats in one run ${sec(m)} s vs ${sec(sum)} s for ${multi.length} separate runs ` +
          `(saved ${sec(sum - m)} s; each separate run writes the initrd and starts node again)` +
          (ki !== undefined ? `; kernel+initrd alone ${sec(ki)} s` : ''),
      );
    }
    const leftovers = multiRow.runs[0].files.filter((f) => f.name.startsWith('.'));
    console.log(`scratch initrd left in the output dir: ${leftovers.length ? leftovers.map((f) => f.name).join(', ') : 'none'}`);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
