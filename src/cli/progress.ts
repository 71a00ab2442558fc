// How the CLI shows what the library reports: short human lines on stderr, or the raw event
// objects as JSON lines for tools. Formatting is separate from writing so it can be tested
// without a terminal.

import { relative, basename, isAbsolute } from 'node:path';
import type { BuildEvent } from '../build/events.js';
import { CONTROL_CLASS } from '../formats/names.js';
import type { PkgEvent } from '../pkg/events.js';
import type { PullEvent, PushEvent } from '../oci/registry/events.js';
import type { ArtifactEvent } from '../oci/artifact/events.js';

export type Mode = 'human' | 'verbose' | 'json' | 'quiet';

// The last line of defense for the terminal. The library escapes every name and image- or
// blueprint-provided value it puts in a message (showName); whatever still arrives raw (a message
// that forgot to, a tool's stderr, a guest's console line) must not drive the terminal: no ESC,
// CSI or OSC sequence, no other C0 or C1 control, no carriage return that rewrites a line, no
// bidi override that reorders one. Escapes are \uXXXX, which is also valid inside a JSON string,
// so the same guard serves --json; bytes that were not UTF-8 (lone surrogates U+DC80..U+DCFF)
// read \xNN as showName writes them. Backslashes are left alone: text the library already
// escaped reads the same. Newlines stay: they structure multi-line messages. Only the library
// can tell an injected newline from a structural one, and showName escapes injected ones.
const UNSAFE = new RegExp(`(?![\\t\\n])[${CONTROL_CLASS}]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]`, 'g');

function escapeUnit(c: string): string {
  const u = c.charCodeAt(0);
  if (u >= 0xdc80 && u <= 0xdcff) return `\\x${(u - 0xdc00).toString(16)}`;
  return `\\u${u.toString(16).padStart(4, '0')}`;
}

/** Text made safe for a terminal (or a JSON line): every control but newline and tab escaped. */
export function terminalText(s: string): string {
  return s.replace(UNSAFE, escapeUnit);
}

/** One line for a terminal: like terminalText, and a newline in it is escaped too. */
export function terminalLine(s: string): string {
  return terminalText(s).replace(/\n/g, '\\n');
}

/**
 * Routes every string written to `stream` through terminalText. Buffers pass as they are: the
 * one raw byte stream the CLI writes is QEMU's console under `osbuild run`, which inherits the
 * terminal and does not come through here.
 */
export function guardTerminal(stream: { write: (...args: never[]) => boolean }): void {
  const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
  (stream as Record<symbol, unknown>)[RAW] = write;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => write(typeof chunk === 'string' ? terminalText(chunk) : chunk, ...rest)) as typeof stream.write;
}

const RAW = Symbol('the write under guardTerminal');

/**
 * Rewrites the terminal's current line (a progress line): the two controls that do it (carriage
 * return, erase line) are the CLI's own and pass the guard; the text is guarded as always.
 */
export function rewriteLine(stream: { write: (...args: never[]) => boolean }, text: string): void {
  const raw = ((stream as Record<symbol, unknown>)[RAW] ?? stream.write.bind(stream)) as (chunk: string) => boolean;
  raw(`\r\x1b[K${terminalText(text)}`);
}

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
  if (mode === 'json') return (e) => out.write(jsonLine(e));
  const opts = { verbose: mode === 'verbose', tty };
  return (e) => {
    if (mode === 'quiet') return;
    const line = e.type.startsWith('push') ? pushLine(e as PushEvent, opts) : pullLine(e as PullEvent, opts);
    if (line !== undefined) out.write(terminalLine(line) + '\n');
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
      out.write(jsonLine(e));
      return;
    }
    const line = format(e);
    // quiet still shows warnings: they may explain a failure seen later
    if (line !== undefined && (mode !== 'quiet' || e.type === 'warning')) out.write(terminalLine(line) + '\n');
  };
}

/** The progress callback `buildComponent` takes; --json emits the pkg events themselves. */
export function pkgReporter(mode: Mode, out: Writer = process.stderr, cwd = process.cwd()): (e: PkgEvent) => void {
  if (mode === 'json') return (e) => out.write(jsonLine(e));
  const r = reporter(mode, out, cwd);
  return (event) => r({ type: 'pkg', event });
}

/**
 * An event as one JSON line. JSON.stringify escapes C0 controls and lone surrogates (\udcff) but
 * leaves DEL, C1 controls and bidi overrides raw, which a terminal would act on.
 */
export function jsonLine(e: unknown): string {
  return terminalText(JSON.stringify(e)) + '\n';
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

// Files at least this big show their progress on a terminal while they move.
const ARTIFACT_PROGRESS_MIN = 32 * 1024 * 1024;

/** Lines for artifact pushes and pulls: a start, one per file (and its progress) on a terminal, retries, the result. */
export function artifactLine(e: ArtifactEvent, opts: FormatOptions = {}): string | undefined {
  switch (e.type) {
    case 'artifact-start':
      return e.op === 'push' ? `pushing outputs to ${e.ref}` : `pulling ${e.ref}`;
    case 'artifact-file-start':
      return opts.verbose ? `  ${e.file} ${shortDigest(e.digest)} ${formatBytes(e.size)}` : undefined;
    case 'artifact-file-progress':
      return (opts.tty || opts.verbose) && e.size >= ARTIFACT_PROGRESS_MIN && e.bytes < e.size
        ? `  ${e.file}: ${formatBytes(e.bytes)} of ${formatBytes(e.size)} (${Math.floor((e.bytes / e.size) * 100)}%)`
        : undefined;
    case 'artifact-file-done':
      return opts.tty || opts.verbose ? `  ${e.file} ${formatBytes(e.size)}: ${e.how}` : undefined;
    case 'artifact-referrer':
      return `  ${e.file} attached as ${e.artifactType} (${e.via === 'referrers-api' ? 'referrers API' : 'referrers tag'})`;
    case 'artifact-retry':
      return `  ${e.registry}: ${e.what}: ${e.reason}; retrying in ${(e.delayMs / 1000).toFixed(1)} s`;
    case 'artifact-done':
      return `${e.ref} → ${shortDigest(e.digest)} (${e.artifactType}, ${e.files.length} ${e.files.length === 1 ? 'file' : 'files'})`;
  }
}

/** The callback pushArtifact/pullArtifact take, writing lines (or the events as JSON) to `out`. */
export function artifactReporter(mode: Mode, out: Writer = process.stderr, tty = process.stderr.isTTY === true): (e: ArtifactEvent) => void {
  if (mode === 'json') return (e) => out.write(jsonLine(e));
  const opts = { verbose: mode === 'verbose', tty };
  return (e) => {
    if (mode === 'quiet') return;
    const line = artifactLine(e, opts);
    if (line !== undefined) out.write(terminalLine(line) + '\n');
  };
}
