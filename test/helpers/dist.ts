// The built CLI, for tests that run it as a user would: the installed command (start.js, which
// runs the bundle of main.js). `npm test` builds first; a developer running one test file alone
// may have an older dist/, so it is rebuilt when a source is newer.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const MAIN = join(REPO, 'dist', 'cli', 'start.js');
const BUNDLE = join(REPO, 'dist', 'cli', 'main.bundle.cjs');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function ensureDist(): Promise<void> {
  const newest = newestMtime(join(REPO, 'src'));
  if ([MAIN, BUNDLE].some((f) => !existsSync(f) || statSync(f).mtimeMs < newest)) {
    await execa('npm', ['run', 'build'], { cwd: REPO, reject: false });
  }
}
