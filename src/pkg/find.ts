// Which component folder builds a given image reference.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { normalizeRef } from '../oci/ref.js';
import { PkgError } from './errors.js';
import { loadComponent, SPEC_FILE } from './spec.js';

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
 * The component folders under some search dirs, each spec read once: a build looks up every one
 * of its images, and search dirs often name the same folder several times.
 */
export interface ComponentIndex {
  /**
   * The folder whose image:tag names `ref` (docker-style normalization: osbuild/runc:0.1.0 is
   * docker.io/osbuild/runc:0.1.0). A folder whose spec is invalid cannot say what it builds:
   * when nothing matches and such folders exist, the error names them, since one of them may
   * be the component the user meant.
   */
  find(ref: string): string | undefined;
}

export async function indexComponents(searchDirs: string[]): Promise<ComponentIndex> {
  const byRef = new Map<string, string>();
  const broken: string[] = [];
  const seen = new Set<string>();
  for (const searchDir of searchDirs) {
    for (const dir of await listComponents(searchDir)) {
      if (seen.has(dir)) continue;
      seen.add(dir);
      let spec;
      try {
        spec = await loadComponent(dir);
      } catch (e) {
        broken.push((e as Error).message);
        continue;
      }
      const ref = safeNormalize(spec.ref);
      if (ref && !byRef.has(ref)) byRef.set(ref, dir); // the first search dir wins
    }
  }
  return {
    find(ref) {
      const dir = byRef.get(normalizeRef(ref));
      if (dir || broken.length === 0) return dir;
      throw new PkgError('SPEC_INVALID', `no valid component folder builds ${ref}, and these component specs are invalid:\n${[...new Set(broken)].join('\n')}`);
    },
  };
}

/** One lookup; see ComponentIndex.find. */
export async function findComponent(ref: string, searchDirs: string[]): Promise<string | undefined> {
  return (await indexComponents(searchDirs)).find(ref);
}

function safeNormalize(ref: string): string | undefined {
  try {
    return normalizeRef(ref);
  } catch {
    return undefined;
  }
}
