// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// and self time grouped by source file. Only the main JS thread is profiled: zlib work on
// libuv's threadpool shows up as "(idle)" or "(program)" time there, not as functions.
//
//   node bench/cpuprofile-summary.mjs FILE.cpuprofile [top=25]

import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.log('usage: node bench/cpuprofile-summary.mjs FILE.cpuprofile [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, 'utf8'));

// Sample i lasted timeDeltas[i+1] microseconds (the last one has no successor: ignored).
const selfUs = new Map();
for (let i = 0; i < p.samples.length - 1; i++) {
  const id = p.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + p.timeDeltas[i + 1]);
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const byFn = new Map();
const byFile = new Map();
for (const n of p.nodes) {
  const us = selfUs.get(n.id) ?? 0;
  if (!us) continue;
  const cf = n.callFrame;
  const url = (cf.url || '').replace(/^file:\/\//, '').replace(/.*\/(dist|node_modules)\//, '$1/');
  const where = url ? `${url}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const fkey = url ? url.replace(/^node:.*/, 'node: internals') : cf.functionName;
  byFile.set(fkey, (byFile.get(fkey) ?? 0) + us);
}

const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
console.log(`profiled ${(total / 1e6).toFixed(2)} s of the main thread`);
console.log(`top ${top} functions by self time:`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(us)} ${pct(us)}  ${k}`);
console.log('self time by file:');
for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${ms(us)} ${pct(us)}  ${k}`);
