// Shared by the pkg tests: the download cache (kept between runs) and small tool wrappers.
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { Store } from '../../src/oci/store.js';

/** .debs and apt lists are reused between runs: the first run downloads ~100 MB. */
export const CACHE_DIR = process.env.OSBUILD_TEST_CACHE ?? path.join(homedir(), '.cache', 'osbuild-test');

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `osbuild-pkg-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function tempStore(prefix: string): Promise<{ store: Store; dir: string; cleanup: () => Promise<void> }> {
  const t = await tempDir(prefix);
  const store = await Store.open(path.join(t.dir, 'store'));
  return { store, dir: t.dir, cleanup: t.cleanup };
}

export async function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await execa(cmd, args, { cwd: opts.cwd, encoding: 'utf8' });
  return r.stdout;
}
