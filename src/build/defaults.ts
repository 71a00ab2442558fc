// Defaults every entry point needs, kept apart from the build itself so that reading them
// (e.g. for `osbuild --help`) loads nothing heavy.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's own folder: its components/ and kernel/ are always searched. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME || '/tmp', '.cache');
  return join(base, 'osbuild');
}

/** SOURCE_DATE_EPOCH, the reproducible-builds convention for "now"; 0 when unset. */
export function epochFromEnv(): number {
  const s = process.env.SOURCE_DATE_EPOCH;
  return s && /^\d+$/.test(s) ? Number(s) : 0;
}
