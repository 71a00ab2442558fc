#!/usr/bin/env -S node --max-semi-space-size=1 --heap-growing-percent=100 --expose-gc
// The `osbuild` command. It runs main.js as one file, main.bundle.cjs (`npm run build` makes it
// with esbuild), through V8's code cache: loading ~300 modules and compiling them took 0.15-0.2 s
// of every run, more than half of a rebuild after one service changed. With the bundle and the
// cache, a start costs about what bare Node does. Without a current bundle (tsc alone ran),
// main.js runs as it is.
//
// Streaming big images allocates buffers that live a few milliseconds (chunks in flight across
// awaits). --max-semi-space-size=1: a small young generation, scavenged often, keeps peak memory
// under 150 MB. --heap-growing-percent=100: the old generation may double between full
// collections (V8's default allows up to 4x), which bounds what promoted chunks pile up to,
// without the full collection every few MB that a tighter setting (15%) costs. Measured on the
// 1.3 GB root with bench/build-large.mjs: 132 MB peak and 28 s CPU; 15% gave 119-140 MB and 37-40 s
// CPU; no flags 188-196 MB and 27 s. --expose-gc: the segment cache's copy frees its dead buffers
// with young collections of its own (build/segment-cache.ts).
//
// This file imports only node: modules and defaults.ts: everything else is in the bundle.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { codeCacheDir } from '../defaults.js';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'main.bundle.cjs');

/** The bundle, when it is at least as new as main.js (else it was made from older sources). */
function currentBundle(): string | undefined {
  try {
    if (statSync(bundle).mtimeMs < statSync(join(here, 'main.js')).mtimeMs) return undefined;
    return readFileSync(bundle, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Where the code cache of this bundle, this Node and these V8 flags is kept, for one command:
 * V8 checks a cache against its own version and flags but knows the source only by its length,
 * so the bundle's sha256 names the file. Each command has its own, holding the functions that
 * command ran.
 */
function cacheFile(source: string): string {
  const key = createHash('sha256').update(source).update(`\0${process.version}\0${process.arch}\0${process.execArgv.join(' ')}`).digest('hex').slice(0, 32);
  const command = /^[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? '') ? process.argv[2] : 'other';
  return join(codeCacheDir(), `${key}-${command}.bin`);
}

// A cache file is the sha256 of V8's data, then the data: V8 takes damaged data for sound and
// aborts the process (a flipped byte in the file is a crash in its deserializer), so no byte of it
// reaches V8 unchecked.
const SUM = 32;

function readCache(file: string): Buffer | undefined {
  try {
    const b = readFileSync(file);
    const data = b.subarray(SUM);
    return b.length > SUM && createHash('sha256').update(data).digest().equals(b.subarray(0, SUM)) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** Caches kept: those written last (other bundles, other commands), about 1.5 MB each. */
const KEEP = 24;

/** Keeps what V8 compiled in this run, for the next; drops the oldest caches beyond KEEP. Best effort. */
function writeCache(script: Script, file: string): void {
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    const data = script.createCachedData();
    writeFileSync(tmp, Buffer.concat([createHash('sha256').update(data).digest(), data]));
    renameSync(tmp, file);
    const old = readdirSync(dir)
      .map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime)
      .slice(KEEP);
    for (const o of old) rmSync(o.path, { force: true });
  } catch {
    // a read-only or full cache directory, or another run's file gone under us: the next run compiles again
  }
}

function runBundle(source: string): void {
  const file = cacheFile(source);
  const cachedData = readCache(file);
  // CommonJS's own wrapper, so that the bundle sees require, module and __filename as node gives them
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData,
  });
  // what a failed run compiled is only part of what its command needs: kept only from a run that succeeded
  if (cachedData === undefined || script.cachedDataRejected) process.once('exit', (code) => code === 0 && writeCache(script, file));
  const module = { exports: {} };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, createRequire(bundle), module, bundle, here);
}

// no top-level binding holds the bundle's text: V8 keeps its own copy, which is enough
if (!runCurrentBundle()) await import('./main.js');

function runCurrentBundle(): boolean {
  const source = currentBundle();
  if (source === undefined) return false;
  runBundle(source);
  return true;
}
