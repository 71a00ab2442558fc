import { expect } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { StoreError } from '../../src/oci/errors.js';
// Test fixtures for src/oci, made by real tools (umoci, skopeo, GNU tar) or by code here.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function tempDir(prefix = 'osbuild-oci-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await execa(cmd, args, { cwd: opts.cwd });
  return r.stdout;
}

/** An OCI layout made by umoci holding one image tagged `tag`, with `files` in one layer. */
export async function umociImage(layout: string, tag: string, opts: { arch?: string; files: Record<string, string> }): Promise<void> {
  const exists = await readFile(join(layout, 'oci-layout')).then(() => true, () => false);
  if (!exists) await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:${tag}`]);
  // unpack + repack (umoci 0.4.7's `insert` writes layer tars without their end-of-archive blocks).
  const work = await mkdtemp(join(tmpdir(), 'osbuild-oci-bundle-'));
  const bundle = join(work, 'bundle');
  try {
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
    for (const [path, content] of Object.entries(opts.files)) {
      await mkdir(dirname(join(bundle, 'rootfs', path)), { recursive: true });
      await writeFile(join(bundle, 'rootfs', path), content);
    }
    await run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  } finally {
    await removeDir(work);
  }
  await run('umoci', ['config', '--image', `${layout}:${tag}`, '--architecture', opts.arch ?? 'amd64', '--os', 'linux', '--config.entrypoint', '/bin/true']);
}

export interface LayoutIndex {
  schemaVersion: number;
  manifests: { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: Record<string, string> }[];
}

export async function readLayoutIndex(layout: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as LayoutIndex;
}

/** Writes `bytes` as a blob of a layout (no verification: fixtures may be broken on purpose). */
export async function writeLayoutBlob(layout: string, bytes: Buffer | string): Promise<{ digest: string; size: number }> {
  const b = Buffer.from(bytes);
  const digest = sha256(b);
  await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), b);
  return { digest, size: b.length };
}

/** Flips one byte in the middle of a file. */
export async function corrupt(path: string): Promise<void> {
  const b = await readFile(path);
  b[b.length >> 1] ^= 0xff;
  await writeFile(path, b);
}

export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/**
 * src compiled to plain ESM in a temp dir (node 20 cannot run .ts), for tests that need the
 * store in real child processes. All of src, since src/oci imports a few modules beside it
 * (formats/names, arch). Imports resolve through a node_modules symlink to the repo's.
 */
export async function compileOciForChildren(): Promise<{ dir: string; storeModule: string }> {
  const ts = (await import('typescript')).default;
  const dir = await tempDir('osbuild-oci-js-');
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  const srcRoot = join(REPO_ROOT, 'src');
  for (const rel of await listFiles(srcRoot)) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    const source = await readFile(join(srcRoot, rel), 'utf8');
    const out = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    });
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel.replace(/\.ts$/, '.js')), out.outputText);
  }
  return { dir, storeModule: join(dir, 'oci', 'store.js') };
}

/** Fresh, empty stores under `root`, one per call. */
export function storeMaker(root: () => string): () => Promise<Store> {
  let n = 0;
  return () => Store.open(join(root(), `store-${n++}`));
}

/** The StoreError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function caught(p: Promise<unknown>): Promise<StoreError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StoreError);
  return e as StoreError;
}
