// The blueprint's `files` section as root entries, with LinuxKit's meaning: paths are in the root,
// files default to mode 0600 and directories to 0755, `source` is a host file (relative to the
// working directory, `~/` expanded), `optional` sources may be missing, `metadata: yaml` writes
// the blueprint itself.

import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Blueprint, FileSpec } from '../blueprint/schema.js';
import type { Entry } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { cleanPath } from '../rootfs/paths.js';
import type { PlainEntry } from '../rootfs/plan.js';

import { OsbuildError } from '../errors.js';
export class FilesError extends OsbuildError {
  readonly code = 'EFILES';
}

export interface FilesContext {
  epoch: number;
  cwd: string;
  /** The merged blueprint, for `metadata: yaml`. */
  blueprint: Blueprint;
}

export async function filesEntries(specs: FileSpec[], ctx: FilesContext): Promise<PlainEntry[]> {
  const out: PlainEntry[] = [];
  for (const f of specs) {
    const e = await fileEntry(f, ctx);
    if (e) out.push(e);
  }
  return out;
}

async function fileEntry(f: FileSpec, ctx: FilesContext): Promise<PlainEntry | undefined> {
  const path = cleanPath(f.path);
  const where = `files: ${showName(f.path)}`;
  if (path === '') throw new FilesError(`${where}: the root itself cannot be a file entry`);
  const base = { path, uid: numericId(f.uid, where, 'uid'), gid: numericId(f.gid, where, 'gid'), mtime: ctx.epoch };
  const mode = (dflt: number) => (f.mode !== undefined ? parseMode(f.mode, where) : dflt);

  if (f.directory) return { entry: { ...base, type: 'dir', mode: mode(0o755), size: 0 } };
  if (f.symlink !== undefined) return { entry: { ...base, type: 'symlink', mode: 0o777, size: 0, linkname: f.symlink } };
  if (f.contents !== undefined) return bytes(base, mode(0o600), Buffer.from(f.contents, 'utf8'));
  if (f.metadata !== undefined) {
    if (f.metadata !== 'yaml') throw new FilesError(`${where}: metadata must be "yaml" (got "${showName(String(f.metadata))}")`);
    return bytes(base, mode(0o600), Buffer.from(stringify(ctx.blueprint), 'utf8'));
  }
  if (f.source !== undefined) {
    const src = f.source.startsWith('~/') ? join(homedir(), f.source.slice(2)) : resolve(ctx.cwd, f.source);
    let st;
    try {
      st = await stat(src);
    } catch {
      if (f.optional) return undefined;
      throw new FilesError(`${where}: source ${showName(src)} does not exist (mark it \`optional: true\` if that is fine)`);
    }
    if (st.isDirectory()) throw new FilesError(`${where}: source ${showName(src)} is a directory; only files can be copied`);
    return { entry: { ...base, type: 'file', mode: mode(0o600), size: st.size }, content: { kind: 'host', path: src } };
  }
  // LinuxKit: a bare path makes an empty file.
  return bytes(base, mode(0o600), Buffer.alloc(0));
}

function bytes(base: Omit<Entry, 'type' | 'mode' | 'size'>, mode: number, data: Buffer): PlainEntry {
  return { entry: { ...base, type: 'file', mode, size: data.length }, content: { kind: 'bytes', data } };
}

export function parseMode(s: string, where: string): number {
  if (!/^0?[0-7]{1,4}$/.test(s)) throw new FilesError(`${where}: mode "${showName(s)}" is not an octal mode like "0644"`);
  return parseInt(s, 8);
}

function numericId(v: unknown, where: string, what: string): number {
  if (v === undefined) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  throw new FilesError(`${where}: ${what} ${showName(JSON.stringify(v) ?? String(v))}: only numeric ids are supported in the files section`);
}
