// The defaults osbuild resolves from the environment, each in one function: the cache directory
// (and the CLI's code cache in it) and SOURCE_DATE_EPOCH. Library functions take both as inputs; when a caller leaves one out,
// the default comes from here, and nowhere else. Imports only node: modules.

import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * The cache directory (content store, downloads, derived data): $XDG_CACHE_HOME/osbuild when
 * XDG_CACHE_HOME is an absolute path (the XDG spec ignores a relative one), else
 * $HOME/.cache/osbuild (the user's home directory when HOME is unset).
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.cache');
  return join(base, 'osbuild');
}

/** Where the CLI keeps V8's code cache of its bundle (cli/start.ts): not data, only compiled code. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultCacheDir(env), 'code-cache');
}

/**
 * SOURCE_DATE_EPOCH, the reproducible-builds convention for "now", in whole seconds since
 * 1970: every timestamp osbuild makes up. 0 when unset or not a whole number.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  const s = env.SOURCE_DATE_EPOCH;
  return s && /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : 0;
}
