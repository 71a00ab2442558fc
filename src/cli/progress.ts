// How the CLI shows what the library reports: short human lines on stderr, or the raw event
// objects as JSON lines for tools. Formatting is separate from writing so it can be tested
// without a terminal.

import { relative, basename, isAbsolute } from 'node:path';
import type { BuildEvent } from '../build/events.js';
import type { PkgEvent } from '../pkg/events.js';
import type { PullEvent, PushEvent } from '../oci/registry/events.js';

export type Mode = 'human' | 'verbose' | 'json' | 'quiet';

export interface FormatOptions {
  /** Also show steps that usually go unnoticed (cached downloads, layer indexing, per-arch manifests). */
  verbose?: boolean;
  /** Paths under this folder are shown relative to it. */
  cwd?: string;
  /** Output goes to a terminal: one line per pulled layer (CI logs get the summary only). */
  tty?: boolean;
}

/** Lines for registry pulls: a start, one per layer on a terminal, retries, and the result. */
export function pullLine(e: PullEvent, opts: FormatOptions = {}): string | undefined {
  switch (e.type) {
    case 'pull-start':
      return `pulling ${e.ref}`;
    case 'pull-blob-done':
      if (e.cached) return opts.verbose ? `  ${e.what} ${shortDigest(e.digest)} (in the store)` : undefined;
      return opts.tty || opts.verbose ? `  ${e.what} ${shortDigest(e.digest)} ${formatBytes(e.size)}` : undefined;
    case 'pull-retry':
      return `  ${e.registry}: ${e.what}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)} s`;
    case 'pull-done':
      return e.upToDate
        ? `${e.ref} is up to date (${shortDigest(e.digest)})`
        : `${e.ref} → ${shortDigest(e.digest)} (${e.arches.join(', ')}), ${formatBytes(e.downloaded)} downloaded`;
    case 'pull-manifest':
    case 'pull-blob-start':
    case 'pull-blob-progress':
      return undefined;
  }
}

export function pushLine(e: PushEvent, opts: FormatOptions = {}): string | undefined {
  switch (e.type) {
    case 'push-start':
      return `pushing ${e.ref} to ${e.dest}`;
    case 'push-blob':
      return opts.verbose || (opts.tty && e.how === 'uploaded') ? `  blob ${shortDigest(e.digest)} ${formatBytes(e.size)}: ${e.how}` : undefined;
    case 'push-manifest':
      return opts.verbose ? `  manifest ${shortDigest(e.digest)}` : undefined;
    case 'push-retry':
      return `  ${e.registry}: ${e.what}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)} s`;
    case 'push-done':
      return `${e.dest} → ${shortDigest(e.digest)}`;
  }
}

/** The callback pull/push take, writing lines (or the events as JSON) to `out`. */
export function registryReporter(mode: Mode, out: Writer = process.stderr, tty = process.stderr.isTTY === true): (e: PullEvent | PushEvent) => void {
  if (mode === 'json') return (e) => out.write(JSON.stringify(e) + '\n');
  const opts = { verbose: mode === 'verbose', tty };
  return (e) => {
    if (mode === 'quiet') return;
    const line = e.type.startsWith('push') ? pushLine(e as PushEvent, opts) : pullLine(e as PullEvent, opts);
    if (line !== undefined) out.write(line + '\n');
  };
}

export interface Writer {
  write(s: string): unknown;
}

/**
 * A formatter for one run: event in, line out (undefined: show nothing). It remembers only the
 * arches whose images were written since the last index, so that the index line can name them.
 */
export function progressFormatter(opts: FormatOptions = {}): (e: BuildEvent) => string | undefined {
  let arches: string[] = [];
  const pkg = (e: PkgEvent): string | undefined => {
    switch (e.type) {
      case 'apt-update':
        return `  ${e.arch}: updating Debian package lists`;
      case 'deb-download':
        return `  ${e.arch}: downloading ${e.package} ${e.version} (${formatBytes(e.size)})`;
      case 'deb-cached':
        return opts.verbose ? `  ${e.arch}: ${e.package} ${e.version} (cached)` : undefined;
      case 'layer':
        return `  ${e.arch}: layer ${formatBytes(e.descriptor.size)} (${e.entries} ${e.entries === 1 ? 'entry' : 'entries'})`;
      case 'image':
        arches.push(e.arch);
        return opts.verbose ? `  ${e.arch}: image ${shortDigest(e.descriptor.digest)}` : undefined;
      case 'index': {
        const line = `${e.ref} → ${shortDigest(e.descriptor.digest)}${arches.length ? ` (${arches.join(', ')})` : ''}`;
        arches = [];
        return line;
      }
    }
  };
  return (e) => {
    switch (e.type) {
      case 'build-component':
        return `building ${e.ref} from ${showPath(e.dir, opts.cwd)}`;
      case 'pkg':
        return pkg(e.event);
      case 'pull':
        return pullLine(e.event, opts);
      case 'index-layer':
        return opts.verbose ? `  reading ${e.ref} layer ${shortDigest(e.digest)} (${formatBytes(e.size)})` : undefined;
      case 'warning':
        return `osbuild: warning: ${e.message}`;
      case 'output-start':
        return `writing ${e.format}: ${e.files.map((f) => showPath(f, opts.cwd)).join(', ')}`;
      case 'output-done':
        return `  done in ${(e.ms / 1000).toFixed(1)} s: ${e.files.map((f) => `${basename(f.path)} ${formatBytes(f.bytes)}`).join(', ')}`;
    }
  };
}

/** The progress callback `build` takes, writing lines (or JSON) to `out`. */
export function reporter(mode: Mode, out: Writer = process.stderr, cwd = process.cwd()): (e: BuildEvent) => void {
  const format = progressFormatter({ verbose: mode === 'verbose', cwd, tty: out === process.stderr && process.stderr.isTTY === true });
  return (e) => {
    if (mode === 'json') {
      out.write(JSON.stringify(e) + '\n');
      return;
    }
    const line = format(e);
    // quiet still shows warnings: they may explain a failure seen later
    if (line !== undefined && (mode !== 'quiet' || e.type === 'warning')) out.write(line + '\n');
  };
}

/** The progress callback `buildComponent` takes; --json emits the pkg events themselves. */
export function pkgReporter(mode: Mode, out: Writer = process.stderr, cwd = process.cwd()): (e: PkgEvent) => void {
  if (mode === 'json') return (e) => out.write(JSON.stringify(e) + '\n');
  const r = reporter(mode, out, cwd);
  return (event) => r({ type: 'pkg', event });
}

/** 512 B, 345 KiB, 1.0 MiB, 2.3 GiB: whole KiB are precise enough, MiB and up keep one decimal. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  // below 1023.5 KiB: rounding must not print "1024 KiB"
  if (n < 1024 ** 2 - 512) return `${Math.round(n / 1024)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** sha256:0123456789ab… — enough to tell images apart on a screen; tools get the full digest in JSON. */
export function shortDigest(d: string): string {
  const m = /^([a-z0-9]+):([0-9a-f]+)$/.exec(d);
  return m && m[2].length > 12 ? `${m[1]}:${m[2].slice(0, 12)}…` : d;
}

function showPath(p: string, cwd: string | undefined): string {
  if (!cwd || !isAbsolute(p)) return p;
  const r = relative(cwd, p);
  return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? p : r;
}
