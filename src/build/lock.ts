// osbuild.lock: a blueprint's inputs pinned. Every image reference -> its manifest digest per
// arch; for each image built from Debian packages, the component folder's digest and the exact
// .debs (package, version, architecture, sha256, archive, filename) per arch; for each archive,
// the time its snapshot is looked up at when the archive has dropped a pinned version.
// Sorted, one package per line: a diff shows what moved.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Document, isMap, parse, visit } from 'yaml';
import { z } from 'zod';
import { ARCH_NAMES, type Arch } from '../arch.js';
import { OsbuildError } from '../errors.js';
import { showName } from '../formats/names.js';
import { DebRecordSchema, sortRecords, type DebRecord } from '../pkg/record.js';

export const LOCK_FILE = 'osbuild.lock';
export const LOCK_VERSION = 1;

export class LockError extends OsbuildError {
  constructor(
    readonly code: 'ELOCKFILE' | 'ESTALELOCK',
    message: string,
    options?: { where?: string; hint?: string; cause?: unknown },
  ) {
    super(message, options);
  }
}

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const PerArch = <T extends z.ZodType>(t: T) => z.partialRecord(z.enum(ARCH_NAMES as unknown as [Arch, ...Arch[]]), t);

export const LockSchema = z
  .object({
    lockVersion: z.literal(LOCK_VERSION),
    /** Archive URL -> the snapshot time of its pinned packages (YYYY-MM-DDTHH:MM:SSZ). */
    archives: z.record(z.string(), z.object({ snapshot: z.string() }).strict()).default({}),
    /** Reference (normalized) -> arch -> manifest digest. */
    images: z.record(z.string(), PerArch(Digest)).default({}),
    /** Reference of an image built from a component folder -> its folder digest and .debs per arch. */
    components: z
      .record(
        z.string(),
        z
          .object({
            source: Digest.optional(),
            packages: PerArch(z.array(DebRecordSchema)).default({}),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();
export type Lock = z.infer<typeof LockSchema>;

export function emptyLock(): Lock {
  return { lockVersion: LOCK_VERSION, archives: {}, images: {}, components: {} };
}

/** Where the lock of a build lives: beside its first blueprint. */
export function lockPath(blueprintFiles: readonly string[]): string {
  return join(dirname(blueprintFiles[0]), LOCK_FILE);
}

export async function readLock(file: string): Promise<Lock | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new LockError('ELOCKFILE', `${showName(file)}: not valid YAML: ${(e as Error).message}`, { where: file, hint: 'write it again with `osbuild lock BLUEPRINT...`' });
  }
  const r = LockSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new LockError('ELOCKFILE', `${showName(file)}: ${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}`, { where: file, hint: 'write it again with `osbuild lock BLUEPRINT...`' });
  }
  return r.data;
}

const byKey = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The lock with every map sorted by key, every package list sorted, as it is written. */
export function normalizeLock(lock: Lock): Lock {
  const perArch = <T>(o: Partial<Record<Arch, T>>, f: (t: T) => T) => Object.fromEntries(ARCH_NAMES.filter((a) => o[a] !== undefined).map((a) => [a, f(o[a] as T)])) as Partial<Record<Arch, T>>;
  return {
    lockVersion: LOCK_VERSION,
    archives: byKey(lock.archives),
    images: byKey(Object.fromEntries(Object.entries(lock.images).map(([k, v]) => [k, perArch(v, (d) => d)]))),
    components: byKey(
      Object.fromEntries(
        Object.entries(lock.components).map(([k, c]) => [k, { ...(c.source ? { source: c.source } : {}), packages: perArch(c.packages, (l) => sortRecords(l)) }]),
      ),
    ),
  };
}

/** The lock as YAML: sorted, each package record one line. */
export function formatLock(lock: Lock, header: string): string {
  const doc = new Document(normalizeLock(lock));
  visit(doc, {
    Seq(_k, node) {
      for (const item of node.items) if (isMap(item)) item.flow = true;
    },
  });
  doc.commentBefore = header;
  return doc.toString({ lineWidth: 0, minContentWidth: 0 });
}

/** Writes the lock whole (a temporary file, then a rename). */
export async function writeLock(file: string, lock: Lock, header: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, formatLock(lock, header));
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** What one arch's build used: images by digest, and for Debian-built ones, the folder digest and the .debs. */
export interface ArchInputs {
  arch: Arch;
  images: Map<string, string>;
  components: Map<string, { source?: string; packages: DebRecord[] }>;
  /** Archive URL -> its newest Release date as read now (for archives of packages that changed). */
  archiveTimes: Map<string, string>;
}

const showRecord = (r: DebRecord) => `${r.package} ${r.version} (${r.architecture}, sha256 ${r.sha256.slice(0, 12)}…)`;

/** The differences between the lock and what one arch's build used, as lines a person reads. */
export function lockDifferences(lock: Lock, inputs: ArchInputs): string[] {
  const out: string[] = [];
  const a = inputs.arch;
  for (const [ref, digest] of [...inputs.images].sort()) {
    const was = lock.images[ref]?.[a];
    if (was === undefined) out.push(`${ref} (${a}): not in the lock; now ${digest}`);
    else if (was !== digest) out.push(`${ref} (${a}): the lock says ${was}, now ${digest}`);
  }
  for (const [ref, c] of [...inputs.components].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const locked = lock.components[ref];
    if (c.source !== undefined && locked?.source !== undefined && locked.source !== c.source) out.push(`${ref}: its component folder changed (the lock has ${locked.source}, the folder is now ${c.source})`);
    const before = new Map((locked?.packages[a] ?? []).map((r) => [`${r.package}\0${r.architecture}`, r]));
    const now = new Map(c.packages.map((r) => [`${r.package}\0${r.architecture}`, r]));
    for (const [k, r] of now) {
      const b = before.get(k);
      if (!b) out.push(`${ref} (${a}): package ${showRecord(r)} is not in the lock`);
      else if (b.version !== r.version || b.sha256 !== r.sha256) out.push(`${ref} (${a}): package ${r.package}: the lock has ${showRecord(b)}, now ${showRecord(r)}`);
    }
    for (const [k, b] of before) if (!now.has(k)) out.push(`${ref} (${a}): package ${showRecord(b)} is locked but no longer used`);
  }
  return out;
}

/** The lock with one arch's inputs put in (that arch's entries of those refs replaced). */
export function mergeInputs(lock: Lock, inputs: ArchInputs): Lock {
  const next: Lock = structuredClone(lock);
  const a = inputs.arch;
  for (const [ref, digest] of inputs.images) next.images[ref] = { ...next.images[ref], [a]: digest };
  for (const [ref, c] of inputs.components) {
    const old = next.components[ref];
    const changed = JSON.stringify(sortRecords(old?.packages[a] ?? [])) !== JSON.stringify(sortRecords(c.packages));
    next.components[ref] = { ...(c.source ? { source: c.source } : {}), packages: { ...(old?.source === c.source ? old?.packages : {}), [a]: c.packages } };
    // a changed package set takes the archive's current time: its snapshot then holds the new .debs
    if (changed) for (const r of c.packages) if (inputs.archiveTimes.has(r.archive)) next.archives[r.archive] = { snapshot: inputs.archiveTimes.get(r.archive)! };
    for (const r of c.packages) if (!next.archives[r.archive] && inputs.archiveTimes.has(r.archive)) next.archives[r.archive] = { snapshot: inputs.archiveTimes.get(r.archive)! };
  }
  return next;
}

/** The pins a build takes from the lock for one arch. */
export interface LockPins {
  lock: Lock;
  /** --locked: anything that would differ is an error. */
  locked: boolean;
}

export function pinnedDigest(pins: LockPins | undefined, ref: string, arch: Arch): string | undefined {
  return pins?.lock.images[ref]?.[arch];
}

export function snapshotTimes(lock: Lock): Map<string, string> {
  return new Map(Object.entries(lock.archives).map(([url, a]) => [url, a.snapshot]));
}

export function lockedError(file: string, diffs: string[]): LockError {
  return new LockError('ESTALELOCK', `${showName(file)} is out of date (--locked):\n${diffs.map((d) => `  ${d}`).join('\n')}`, {
    where: file,
    hint: 'run `osbuild lock BLUEPRINT...` (or build with --update-lock) to accept these, or restore what changed',
  });
}
