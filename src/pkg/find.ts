// Which component folder builds a given image reference.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { normalizeRef } from '../oci/ref.js';
import { PkgError } from './errors.js';
import { loadComponent, parseComponentSpec, SPEC_FILE, type ComponentSpec } from './spec.js';
import type { DerivedCache } from '../oci/derived.js';

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Component folders in a search dir: the dir itself if it holds a spec, else its subfolders that do. */
export async function listComponents(searchDir: string): Promise<string[]> {
  const abs = path.resolve(searchDir);
  if (await isFile(path.join(abs, SPEC_FILE))) return [abs];
  const names = await readdir(abs).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names.sort()) {
    const dir = path.join(abs, name);
    if (await isFile(path.join(dir, SPEC_FILE))) out.push(dir);
  }
  return out;
}

/**
 * The component folders under some search dirs, each spec read at most once: a build looks up
 * every one of its images, and search dirs often name the same folder several times. Lazy: a
 * warm build must not parse every spec of a big components/ folder (27 here, ~100 ms of YAML
 * and hashing), so a lookup first tries the folder named after the image (components/getty for
 * osbuild/getty; kernel/debian-cloud for osbuild/kernel-debian-cloud) in every search dir, and
 * reads whole search dirs, in order, only when no such folder builds it.
 */
export interface ComponentIndex {
  /**
   * The folder whose image:tag names `ref` (docker-style normalization: osbuild/runc:0.1.0 is
   * docker.io/osbuild/runc:0.1.0). A folder whose spec is invalid cannot say what it builds:
   * when nothing matches and such folders exist, the error names them, since one of them may
   * be the component the user meant.
   */
  find(ref: string): Promise<string | undefined>;
}

export interface IndexOptions {
  /**
   * Where what each spec names is kept, by the sha256 of its path and text (opened on first
   * use): a build whose images are not all components reads every spec of the search dirs, and
   * parsing one costs ~5 ms (the yaml document API and zod, cold), reading it ~0.1 ms.
   */
  memo?: () => DerivedCache;
}

/** The derived-data kind (oci/derived.ts) of IndexOptions.memo. */
export const SPEC_MEMO_KIND = 'component-refs';
const SPEC_MEMO_VERSION = 1;

export function indexComponents(searchDirs: string[], opts: IndexOptions = {}): ComponentIndex {
  const dirs = [...new Set(searchDirs.map((d) => path.resolve(d)))];
  // folder -> the normalized ref it builds, or an Error for an invalid spec
  const specs = new Map<string, Promise<string | Error | undefined>>();
  let memo: DerivedCache | undefined;
  const refOf = (dir: string) => {
    let r = specs.get(dir);
    if (!r) {
      r = specRef(dir, opts.memo && (memo ??= opts.memo()));
      specs.set(dir, r);
    }
    return r;
  };
  const listed = new Map<string, Promise<string[]>>();
  const list = (d: string) => {
    let l = listed.get(d);
    if (!l) listed.set(d, (l = listComponents(d)));
    return l;
  };

  return {
    async find(ref) {
      const want = normalizeRef(ref);
      const name = want.slice(want.lastIndexOf('/') + 1).replace(/[:@].*$/, '');
      for (const d of dirs) {
        const guesses = [name, name.startsWith(`${path.basename(d)}-`) ? name.slice(path.basename(d).length + 1) : ''].filter(Boolean);
        for (const g of guesses) {
          const dir = path.join(d, g);
          if ((await list(d)).includes(dir) && (await refOf(dir)) === want) return dir;
        }
      }
      const broken: string[] = [];
      for (const d of dirs) {
        const folders = await list(d);
        // read the specs side by side (each costs a few file reads), then look in order
        for (const dir of folders) void refOf(dir);
        for (const dir of folders) {
          const r = await refOf(dir);
          if (r === want) return dir;
          if (r instanceof Error) broken.push(r.message);
        }
      }
      if (broken.length === 0) return undefined;
      throw new PkgError('SPEC_INVALID', `no valid component folder builds ${ref}, and these component specs are invalid:\n${[...new Set(broken)].join('\n')}`);
    },
  };
}

/** What the spec in `dir` names: its normalized ref, or the Error that makes it invalid. */
async function specRef(dir: string, memo?: DerivedCache): Promise<string | Error | undefined> {
  const file = path.join(dir, SPEC_FILE);
  const text = memo && (await readFile(file, 'utf8').catch(() => undefined));
  const parse = async (source: () => Promise<ComponentSpec>) =>
    source().then(
      (spec) => safeNormalize(spec.ref),
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
  // no memo, or a spec not there to read: loadComponent says what is wrong
  if (!memo || text === undefined) return parse(() => loadComponent(dir));
  const fresh = () => parse(async () => parseComponentSpec(text, file, dir));
  // what a spec names follows from its text; its messages name its file
  const digest = `sha256:${createHash('sha256').update(`${file}\0${text}`).digest('hex')}`;
  try {
    const kept = await memo.get<{ ref: string | null } | { invalid: string }>(digest, SPEC_MEMO_VERSION, async () => {
      const r = await fresh();
      return r instanceof Error ? { invalid: r.message } : { ref: r ?? null };
    });
    if (kept && 'invalid' in kept && typeof kept.invalid === 'string') return new Error(kept.invalid);
    if (kept && 'ref' in kept && (typeof kept.ref === 'string' || kept.ref === null)) return kept.ref ?? undefined;
  } catch {
    // the memo could not be written (a read-only or full cache): parsing is only slower
  }
  return fresh();
}

/** One lookup; see ComponentIndex.find. */
export async function findComponent(ref: string, searchDirs: string[]): Promise<string | undefined> {
  return indexComponents(searchDirs).find(ref);
}

function safeNormalize(ref: string): string | undefined {
  try {
    return normalizeRef(ref);
  } catch {
    return undefined;
  }
}
