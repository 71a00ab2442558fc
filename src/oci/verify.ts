// `osbuild cache verify`: reads every blob of the store (or of some images) and checks it
// against its name, parses the documents, and checks that everything a manifest references is
// there. Reads already verify each blob they use; this finds damage before a build trips on it,
// and --repair makes the store whole again: corrupt blobs are removed, and so are the refs that
// reach a corrupt or missing blob, so that the next pull, import or build fetches them anew
// (a blob already present is never fetched again, corrupt or not).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { DerivedCache, parseDerivedName } from './derived.js';
import { isDigest } from './digest.js';
import { StoreError } from './errors.js';
import { documentKind } from './media.js';
import { formatRef, parseRef } from './ref.js';
import type { Store } from './store.js';
import { ImageConfig as ImageConfigSchema, Index as IndexSchema, Manifest as ManifestSchema } from './types.js';
import type { Descriptor } from './types.js';

export interface VerifyOptions {
  /** Only these refs (and the blobs they reach); default: every ref and every blob. */
  refs?: string[];
  /** Remove corrupt blobs and the refs that reach a corrupt or missing blob. */
  repair?: boolean;
  onProgress?: (e: VerifyProgress) => void;
}

export interface VerifyProgress {
  /** Blobs checked so far, of `total`. */
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  digest: string;
}

export interface VerifyProblem {
  /** corrupt: content does not match the name; missing: referenced but absent; invalid: a document that does not parse. */
  kind: 'corrupt' | 'missing' | 'invalid' | 'derived';
  digest: string;
  /** What the blob is, e.g. "layer 1 of docker.io/osbuild/busybox:0.1.0". */
  what: string;
  /** The refs that reach it. */
  refs: string[];
  message: string;
  /** Set by --repair: the blob (or derived file) was removed. */
  removed?: boolean;
}

export interface DroppedRef {
  ref: string;
  /** The command that gets it back. */
  howToGet: string;
}

export interface VerifyResult {
  blobs: number;
  bytes: number;
  derivedFiles: number;
  problems: VerifyProblem[];
  /** --repair: refs removed because they reach a corrupt or missing blob. */
  dropped: DroppedRef[];
}

interface Check {
  ok: boolean;
  problem?: VerifyProblem;
  /** dev:ino of the file that was hashed, so repair removes that file and not a good copy written since. */
  id?: string;
}

const sameFile = (a: { dev: number; ino: number }) => `${a.dev}:${a.ino}`;

export async function verifyStore(store: Store, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const all = await store.list();
  let roots = all;
  if (opts.refs && opts.refs.length > 0) {
    const wanted = opts.refs.map((r) => formatRef(parseRef(r)));
    const unknown = wanted.filter((w) => !all.some((a) => a.ref === w));
    if (unknown.length > 0) throw new StoreError('ENOIMAGE', `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not in the store (${store.dir}): \`osbuild cache ls\` lists what it holds`);
    roots = all.filter((a) => wanted.includes(a.ref));
  }
  const blobDir = join(store.dir, 'blobs', 'sha256');
  const names = (await readdir(blobDir).catch(() => [] as string[])).filter((n) => isDigest(`sha256:${n}`));
  // sizes up front, for progress in bytes
  const sizes = new Map<string, number>();
  for (const n of names) {
    const st = await stat(join(blobDir, n)).catch(() => undefined);
    if (st?.isFile()) sizes.set(`sha256:${n}`, st.size);
  }

  const checks = new Map<string, Check>();
  const problems: VerifyProblem[] = [];
  const reachers = new Map<string, Set<string>>(); // digest -> refs
  const whatOf = new Map<string, string>();
  let done = 0;
  let bytesDone = 0;
  let total = opts.refs?.length ? 0 : sizes.size;
  let bytesTotal = opts.refs?.length ? 0 : [...sizes.values()].reduce((a, b) => a + b, 0);

  const note = (digest: string, ref: string, what: string) => {
    if (!reachers.has(digest)) reachers.set(digest, new Set());
    reachers.get(digest)!.add(ref);
    if (!whatOf.has(digest)) whatOf.set(digest, what);
  };

  /** Hashes a blob once; undefined when absent. */
  const hashBlob = async (digest: string, expectSize?: number): Promise<Check | undefined> => {
    const prior = checks.get(digest);
    if (prior) return prior;
    const path = store.blobPath(digest);
    const st = await stat(path).catch(() => undefined);
    if (!st) return undefined;
    if (opts.refs?.length) {
      total++;
      bytesTotal += st.size;
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      bytesDone += chunk.length;
    }
    done++;
    opts.onProgress?.({ done, total, bytesDone, bytesTotal, digest });
    const actual = `sha256:${hash.digest('hex')}`;
    const check: Check = { ok: actual === digest, id: sameFile(st) };
    if (!check.ok) {
      check.problem = { kind: 'corrupt', digest, what: whatOf.get(digest) ?? 'blob', refs: [], message: `content hashes to ${actual} (${size} bytes), not to its name` };
    } else if (expectSize !== undefined && size !== expectSize) {
      check.ok = false;
      check.problem = { kind: 'corrupt', digest, what: whatOf.get(digest) ?? 'blob', refs: [], message: `${size} bytes, but its descriptor says ${expectSize}` };
    }
    checks.set(digest, check);
    if (check.problem) problems.push(check.problem);
    return check;
  };

  const missing = new Map<string, VerifyProblem>();
  const markMissing = (digest: string, what: string) => {
    if (missing.has(digest)) return;
    const p: VerifyProblem = { kind: 'missing', digest, what, refs: [], message: 'referenced but not in the store' };
    missing.set(digest, p);
    problems.push(p);
  };

  const parseDoc = async <T,>(d: Descriptor, schema: z.ZodType<T>, ref: string, what: string): Promise<T | undefined> => {
    try {
      return await store.readJSON(d.digest, schema, { ref, what });
    } catch (e) {
      if (e instanceof StoreError && e.code === 'EINVALID') {
        const c = checks.get(d.digest)!;
        if (!c.problem) {
          c.ok = false;
          c.problem = { kind: 'invalid', digest: d.digest, what, refs: [], message: e.message };
          problems.push(c.problem);
        }
        return undefined;
      }
      throw e;
    }
  };

  // From each ref down: documents parse, and what they reference is there and intact.
  const walk = async (d: Descriptor, ref: string, what: string, optional: boolean): Promise<void> => {
    note(d.digest, ref, what);
    const check = await hashBlob(d.digest, d.size);
    if (!check) {
      // an index may list platforms the store was never given (a partial pull or import)
      if (!optional && !(d.urls && d.urls.length > 0)) markMissing(d.digest, what);
      return;
    }
    if (!check.ok) return;
    const kind = documentKind(d.mediaType, undefined);
    if (kind === 'index') {
      const index = await parseDoc(d, IndexSchema, ref, what);
      for (const [i, m] of (index?.manifests ?? []).entries()) await walk(m, ref, `manifest ${i + 1} of ${ref}`, true);
    } else if (kind === 'manifest') {
      const m = await parseDoc(d, ManifestSchema, ref, what);
      if (!m) return;
      await walk(m.config, ref, `config of ${ref}`, false);
      const cfg = checks.get(m.config.digest);
      if (cfg?.ok) await parseDoc(m.config, ImageConfigSchema, ref, `config of ${ref}`);
      for (const [i, l] of m.layers.entries()) await walk(l, ref, `layer ${i + 1} of ${ref}`, false);
    }
  };
  for (const { ref, descriptor } of roots) await walk(descriptor, ref, ref, false);
  // then every blob no ref reached (whole-store runs only)
  if (!opts.refs?.length) for (const digest of sizes.keys()) await hashBlob(digest);

  for (const p of problems) p.refs = [...(reachers.get(p.digest) ?? [])].sort();

  // derived data: each file proves itself (derived.ts); a bad one is only recomputed work
  let derivedFiles = 0;
  const derivedRoot = join(store.derivedDir('toc'), '..');
  for (const kind of await readdir(derivedRoot).catch(() => [] as string[])) {
    let cache: DerivedCache;
    try {
      cache = store.derived(kind);
    } catch {
      continue;
    }
    for (const name of await readdir(cache.dir).catch(() => [] as string[])) {
      // temp files and names of older osbuilds are prune's business
      const parsed = parseDerivedName(name);
      if (!parsed) continue;
      derivedFiles++;
      const path = join(cache.dir, name);
      if ((await cache.check(path)) !== 'bad') continue;
      const p: VerifyProblem = { kind: 'derived', digest: parsed.digest, what: `${kind} data`, refs: [], message: `${path} is damaged (it would have been recomputed, not used)` };
      problems.push(p);
      if (opts.repair) {
        await unlink(path).catch(() => undefined);
        p.removed = true;
      }
    }
  }

  const dropped: DroppedRef[] = [];
  if (opts.repair) {
    for (const p of problems) {
      if (p.kind !== 'corrupt' && p.kind !== 'invalid') continue;
      p.removed = await removeIfSame(store, p.digest, checks.get(p.digest)?.id);
    }
    const broken = new Set(problems.filter((p) => p.kind !== 'derived').flatMap((p) => p.refs));
    const descriptors = new Map(roots.map((r) => [r.ref, r.descriptor.digest]));
    for (const ref of [...broken].sort()) {
      const howToGet = await store.howToGet(ref);
      // only if it still names what we checked: a pull may have replaced it meanwhile
      const current = await store.resolve(ref).catch(() => undefined);
      if (current && current.digest === descriptors.get(ref)) {
        await store.untag(ref);
        dropped.push({ ref, howToGet });
      }
    }
  }
  return { blobs: done, bytes: bytesDone, derivedFiles, problems, dropped };
}

/** Removes a blob file if it is still the one that was hashed (a writer may have replaced it with a good copy). */
async function removeIfSame(store: Store, digest: string, id: string | undefined): Promise<boolean> {
  const path = store.blobPath(digest);
  const aside = join(store.dir, '.tmp', `corrupt-${randomBytes(6).toString('hex')}`);
  try {
    await rename(path, aside);
  } catch {
    return false; // gone already
  }
  const st = await stat(aside).catch(() => undefined);
  if (id !== undefined && st && sameFile(st) !== id) {
    await link(aside, path).catch(() => undefined); // a fresh copy: put it back
    await unlink(aside).catch(() => undefined);
    return false;
  }
  await unlink(aside).catch(() => undefined);
  return true;
}
