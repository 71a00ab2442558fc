// The built CLI, for tests that run it as a user would. `npm test` builds first; a developer
// running one test file alone may have an older dist/, so it is rebuilt when a source is newer.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const MAIN = join(REPO, 'dist', 'cli', 'main.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

export async function ensureDist(): Promise<void> {
  if (!existsSync(MAIN) || statSync(MAIN).mtimeMs < newestMtime(join(REPO, 'src'))) {
    await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, reject: false });
  }
}
