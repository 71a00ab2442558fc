// Shared test helpers for the format tests: temp dirs, running the real tools, turning
// arrays into entry streams and back, and reading what a real filesystem says about a file.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll } from 'vitest';
import type { Entry, EntryStream } from '../../src/formats/entry.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'osbuild-formats-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Runs a command, failing the test with its stderr when it fails. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}) {
  return execa(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: 'buffer' as const });
}

export async function runText(cmd: string, args: string[], opts: { cwd?: string } = {}) {
  const r = await execa(cmd, args, { cwd: opts.cwd });
  return r.stdout;
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

export interface Item {
  entry: Entry;
  data?: Buffer;
}

/** An entry stream from plain items; file content is yielded in pieces of `chunk` bytes. */
export async function* streamOf(items: Item[], chunk = 7_000): EntryStream {
  for (const { entry, data } of items) {
    if (entry.type !== 'file') {
      yield { entry };
      continue;
    }
    const body = data ?? Buffer.alloc(0);
    yield {
      entry,
      content: (async function* () {
        for (let i = 0; i < body.length; i += chunk) yield body.subarray(i, i + chunk);
      })(),
    };
  }
}

/** Reads every entry and its full content. */
export async function readAllEntries(stream: EntryStream): Promise<Item[]> {
  const out: Item[] = [];
  for await (const { entry, content } of stream) {
    out.push({ entry, data: content ? await collect(content) : undefined });
  }
  return out;
}

/** Extended attributes of a path as getfattr reports them (binary-exact, via hex). */
export async function xattrsOf(path: string): Promise<Record<string, Buffer>> {
  const text = await runText('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', path]);
  const out: Record<string, Buffer> = {};
  for (const line of text.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim());
    if (m) out[m[1]] = Buffer.from(m[2], 'hex');
  }
  return out;
}

/** Linux dev_t split as glibc's major()/minor() do. */
export function devParts(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

export async function statOf(path: string) {
  return lstat(path);
}

/** A byte pattern that is not trivially compressible and differs per seed. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Items with content replaced by its digest: cheap to compare deeply (vitest compares Buffers byte by byte). */
export function digestItems(items: Item[]): Array<{ entry: Entry; sha256?: string }> {
  return items.map(({ entry, data }) => ({
    entry,
    sha256: data && createHash('sha256').update(data).digest('hex'),
  }));
}
