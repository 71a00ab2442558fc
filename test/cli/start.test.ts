// The installed command (dist/cli/start.js): it runs the bundle of main.js through V8's code cache
// kept under $XDG_CACHE_HOME/osbuild/code-cache, falls back to main.js when the bundle is older,
// and survives a damaged cache file (V8 itself would abort on one).
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, MAIN, REPO } from '../helpers/dist.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
let work: string;

beforeAll(async () => {
  await ensureDist();
  work = mkdtempSync(join(tmpdir(), 'osbuild-start-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const run = (xdg: string, args: string[], main = MAIN) =>
  execa('node', [main, ...args], { reject: false, env: { XDG_CACHE_HOME: xdg, OSBUILD_DEBUG: '' }, extendEnv: true });
const cacheFiles = (xdg: string) => {
  try {
    return readdirSync(join(xdg, 'osbuild', 'code-cache')).sort();
  } catch {
    return [];
  }
};

describe('the code cache', () => {
  it('is written by a run that succeeded, one file per command, and reused as it is', async () => {
    const xdg = join(work, 'ok');
    const first = await run(xdg, ['--version']);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toBe(`osbuild ${VERSION}`);
    const [file, ...more] = cacheFiles(xdg);
    expect(more).toEqual([]);
    expect(file).toMatch(/^[0-9a-f]{32}-other\.bin$/);
    const path = join(xdg, 'osbuild', 'code-cache', file);
    const bytes = readFileSync(path);
    // the sha256 of V8's data, then the data
    expect(createHash('sha256').update(bytes.subarray(32)).digest().equals(bytes.subarray(0, 32))).toBe(true);
    const mtime = statSync(path).mtimeMs;

    const again = await run(xdg, ['--version']);
    expect(again.stdout).toBe(`osbuild ${VERSION}`);
    expect(statSync(path).mtimeMs).toBe(mtime); // accepted by V8, so not written again

    const validate = await run(xdg, ['validate', join(REPO, 'blueprints', 'minimal.yml')]);
    expect(validate.exitCode).toBe(0);
    expect(cacheFiles(xdg)).toEqual([file, file.replace('-other', '-validate')].sort());
  });

  it('is not written by a run that failed (it compiled only part of what its command needs)', async () => {
    const xdg = join(work, 'failed');
    const r = await run(xdg, ['validate', join(work, 'missing.yml')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('missing.yml');
    expect(cacheFiles(xdg)).toEqual([]);
  });

  it('a damaged cache file is not given to V8: the run succeeds and writes a sound one', async () => {
    const xdg = join(work, 'damaged');
    expect((await run(xdg, ['--version'])).exitCode).toBe(0);
    const path = join(xdg, 'osbuild', 'code-cache', cacheFiles(xdg)[0]);
    const bytes = readFileSync(path);
    for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 4096; i++) bytes[i] ^= 0x5a;
    writeFileSync(path, bytes);
    const r = await run(xdg, ['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`osbuild ${VERSION}`);
    const healed = readFileSync(path);
    expect(healed.equals(bytes)).toBe(false);
    expect(createHash('sha256').update(healed.subarray(32)).digest().equals(healed.subarray(0, 32))).toBe(true);
  });

  it('a cache directory that cannot be written costs nothing but the cache', async () => {
    const xdg = join(work, 'readonly');
    writeFileSync(xdg, 'a file where the cache directory would be');
    const r = await run(xdg, ['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
  });
});

describe('the bundle', () => {
  it('runs when it is current; main.js runs when the bundle is older (tsc ran alone)', async () => {
    // a copy of the package whose bundle only says so, to tell which of the two ran
    const pkg = join(work, 'pkg');
    cpSync(join(REPO, 'dist'), join(pkg, 'dist'), { recursive: true });
    cpSync(join(REPO, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(join(REPO, 'node_modules'), join(pkg, 'node_modules'));
    const bundle = join(pkg, 'dist', 'cli', 'main.bundle.cjs');
    const mainJs = join(pkg, 'dist', 'cli', 'main.js');
    writeFileSync(bundle, "process.stdout.write('the bundle ran\\n');\n");
    const start = join(pkg, 'dist', 'cli', 'start.js');
    const xdg = join(work, 'pkg-cache');

    utimesSync(mainJs, new Date(2000, 0, 1), new Date(2000, 0, 1));
    expect((await run(xdg, ['--version'], start)).stdout).toBe('the bundle ran');

    utimesSync(bundle, new Date(1999, 0, 1), new Date(1999, 0, 1));
    const r = await run(xdg, ['--version'], start);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`osbuild ${VERSION}`);
  });
});
