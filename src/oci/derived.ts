// Data computed from a blob (a layer's table of contents, a kernel's module list), cached beside
// the store under derived/<kind>/. It is only a cache, but what it says goes into outputs, so a
// file is trusted only if it proves itself: each carries a header with the blob's digest, the
// kind, the format version and the sha256 of its body, and anything that does not check out
// (damaged, truncated, another version, someone else's blob) is computed again and replaced.
//
// Names: sha256-<hex of the blob>[.<key>].v<version>.json. prune reads the same names: a file
// whose blob is gone goes, and so do older versions of a file kept in a newer one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from './digest.js';

const NAME_RE = /^sha256-([a-f0-9]{64})(?:\.([A-Za-z0-9_-][A-Za-z0-9._-]*?))?\.v(\d+)\.json$/;
// Names this cache used before it checked its files; prune still clears them.
const LEGACY_RE = /^(?:v\d+-)?sha256-([a-f0-9]{64})/;
const TEMP_RE = /\.tmp-[0-9a-f]+$/;
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface DerivedName {
  digest: string;
  key?: string;
  version: number;
}

/** Parses a derived file's name; undefined for temp files and names of no version. */
export function parseDerivedName(name: string): DerivedName | undefined {
  const m = NAME_RE.exec(name);
  if (!m) return undefined;
  return { digest: `sha256:${m[1]}`, ...(m[2] !== undefined ? { key: m[2] } : {}), version: Number(m[3]) };
}

/** The digest a derived (or legacy derived) file was computed from, else undefined. */
export function derivedDigest(name: string): string | undefined {
  const m = NAME_RE.exec(name) ?? LEGACY_RE.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

export function isDerivedTemp(name: string): boolean {
  return TEMP_RE.test(name);
}

interface Header {
  kind: string;
  blob: string;
  key?: string;
  v: number;
  sha256: string;
}

export type NoSpaceMapper = (e: unknown, what: string, needed?: number) => Promise<unknown>;

export class DerivedCache {
  constructor(
    readonly dir: string,
    readonly kind: string,
    private readonly noSpace: NoSpaceMapper = async (e) => e,
  ) {}

  path(digest: string, version: number, key?: string): string {
    if (!Number.isInteger(version) || version < 0) throw new RangeError(`derived data version ${version} must be a whole number`);
    if (key !== undefined && !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(key)) throw new RangeError(`derived data key ${JSON.stringify(key)} must be a simple name`);
    return join(this.dir, `sha256-${digestHex(digest)}${key !== undefined ? `.${key}` : ''}.v${version}.json`);
  }

  /**
   * The cached value for (digest, version, key) if its file checks out, else compute() (which
   * must read the blob, verified) stored for next time. `undefined` from compute is not stored.
   */
  async get<T>(digest: string, version: number, compute: () => Promise<T | undefined>, opts: { key?: string } = {}): Promise<T | undefined> {
    const file = this.path(digest, version, opts.key);
    const cached = await this.read<T>(file, { kind: this.kind, blob: digest, v: version, key: opts.key });
    if (cached.ok) return cached.value;
    const value = await compute();
    if (value !== undefined) await this.write(file, { kind: this.kind, blob: digest, v: version, key: opts.key }, value);
    return value;
  }

  /** Whether a cached file is intact (for `cache verify`): 'ok', 'bad', or 'absent'. */
  async check(file: string): Promise<'ok' | 'bad' | 'absent'> {
    const name = parseDerivedName(file.slice(file.lastIndexOf('/') + 1));
    if (!name) return 'bad';
    const r = await this.read(file, { kind: this.kind, blob: name.digest, v: name.version, key: name.key });
    return r.ok ? 'ok' : r.absent ? 'absent' : 'bad';
  }

  private async read<T>(file: string, want: Omit<Header, 'sha256'>): Promise<{ ok: true; value: T } | { ok: false; absent: boolean }> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      return { ok: false, absent: true };
    }
    try {
      const nl = bytes.indexOf(0x0a);
      if (nl < 0) return { ok: false, absent: false };
      const header = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as Header;
      const body = bytes.subarray(nl + 1);
      const sum = createHash('sha256').update(body).digest('hex');
      const fits = header.kind === want.kind && header.blob === want.blob && header.v === want.v && (header.key ?? undefined) === (want.key ?? undefined);
      if (!fits || header.sha256 !== sum) return { ok: false, absent: false };
      return { ok: true, value: JSON.parse(body.toString('utf8')) as T };
    } catch {
      return { ok: false, absent: false };
    }
  }

  private async write(file: string, header: Omit<Header, 'sha256'>, value: unknown): Promise<void> {
    const body = Buffer.from(JSON.stringify(value), 'utf8');
    const head: Header = { kind: header.kind, blob: header.blob, ...(header.key !== undefined ? { key: header.key } : {}), v: header.v, sha256: createHash('sha256').update(body).digest('hex') };
    const bytes = Buffer.concat([Buffer.from(JSON.stringify(head) + '\n', 'utf8'), body]);
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw await this.noSpace(e, `${this.kind} data derived from ${header.blob}`, bytes.length);
    }
  }
}

/**
 * Cleans one derived kind's folder: files of blobs `keep` says are gone, older versions of a
 * (blob, key) kept in a newer one, and temp files older than an hour. Returns how many went.
 */
export async function pruneDerived(dir: string, keep: (digest: string) => Promise<boolean>): Promise<number> {
  let removed = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  const newest = new Map<string, number>();
  for (const n of names) {
    const p = parseDerivedName(n);
    if (!p) continue;
    const id = `${p.digest}.${p.key ?? ''}`;
    newest.set(id, Math.max(newest.get(id) ?? -1, p.version));
  }
  for (const n of names) {
    const path = join(dir, n);
    let drop = false;
    if (isDerivedTemp(n)) {
      const st = await stat(path).catch(() => undefined);
      drop = st !== undefined && Date.now() - st.mtimeMs > TEMP_MAX_AGE_MS;
    } else {
      const digest = derivedDigest(n);
      if (digest === undefined) continue; // not ours: leave it
      const p = parseDerivedName(n);
      drop = !(await keep(digest)) || !p || p.version < (newest.get(`${p.digest}.${p.key ?? ''}`) ?? p.version);
    }
    if (!drop) continue;
    await rm(path, { force: true, recursive: true });
    removed++;
  }
  return removed;
}
