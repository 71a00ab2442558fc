// The two plain sources of a component layer: files selected from a .deb, and the spec's
// `files` section (from the component folder or inline).
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { cleanPath } from '../rootfs/paths.js';
import type { EntryStream } from '../formats/entry.js';
import { PkgError } from './errors.js';
import { pathMatcher } from './glob.js';
import type { FileItem } from './spec.js';
import type { Spool, SpoolRef } from './spool.js';
import type { Tree } from './tree.js';
import { showName } from '../formats/names.js';

/**
 * Adds the entries of a package's data stream that match `patterns` (all when undefined).
 * Hard links become copies of their target: tar order (sorted by path) could otherwise put a
 * link before the file it names.
 */
export async function addPackage(
  tree: Tree,
  spool: Spool,
  data: EntryStream,
  opts: {
    name: string;
    where: string;
    patterns?: string[];
    skip?: (path: string) => boolean;
    /** A file of the package to return the text of, selected or not (its copyright file). */
    read?: string;
  },
): Promise<{ read?: string }> {
  const match = pathMatcher(opts.patterns);
  const origin = `package ${opts.name}`;
  const contents = new Map<string, SpoolRef>();
  let read: string | undefined;
  for await (const { entry, content } of data) {
    const p = cleanPath(entry.path);
    let body: AsyncIterable<Uint8Array> | Uint8Array | undefined = content;
    if (p === opts.read && entry.type === 'file' && entry.size <= READ_MAX) {
      const parts: Uint8Array[] = [];
      for await (const c of content ?? []) parts.push(c);
      body = Buffer.concat(parts);
      read = Buffer.from(body).toString('utf8');
    }
    if (p === '' || opts.skip?.(p) || !match.matches(p)) continue;
    switch (entry.type) {
      case 'file': {
        const ref = await spool.put(body ?? new Uint8Array(0));
        contents.set(p, ref);
        tree.add(p, { type: 'file', mode: entry.mode, content: ref, origin });
        break;
      }
      case 'hardlink': {
        const ref = contents.get(cleanPath(entry.linkname ?? ''));
        if (!ref) {
          throw new PkgError(
            'PATH_NOT_MATCHED',
            `${opts.where}: /${showName(p)} in ${opts.name} is a hard link to /${showName(entry.linkname ?? '')}, which is not selected: add it to paths`,
          );
        }
        tree.add(p, { type: 'file', mode: entry.mode, content: ref, origin });
        break;
      }
      default:
        tree.add(p, {
          type: entry.type,
          mode: entry.mode,
          linkname: entry.linkname,
          devmajor: entry.devmajor,
          devminor: entry.devminor,
          origin,
        });
    }
  }
  const missed = match.unmatched();
  if (missed.length > 0) {
    throw new PkgError(
      'PATH_NOT_MATCHED',
      `${opts.where}: ${missed.map((m) => `"${showName(m)}"`).join(', ')} matched nothing in ${opts.name} (list its files with dpkg-deb -c)`,
    );
  }
  return { read };
}

/** The largest file addPackage reads as text: copyright files are a few KB, a few reach 100s of KB. */
const READ_MAX = 4 * 1024 * 1024;

/** Adds the spec's `files` section; these override what packages put at the same path. */
export async function addFiles(tree: Tree, spool: Spool, files: FileItem[], dir: string, specFile: string): Promise<void> {
  for (const [i, f] of files.entries()) {
    const p = cleanPath(f.path);
    const origin = `files[${i}] in ${specFile}`;
    const owner = { uid: f.uid, gid: f.gid };
    if (f.directory) {
      tree.add(p, { type: 'dir', mode: f.mode ?? 0o755, origin, ...owner }, true);
    } else if (f.symlink !== undefined) {
      tree.add(p, { type: 'symlink', mode: 0o777, linkname: f.symlink, origin, ...owner }, true);
    } else if (f.contents !== undefined) {
      const content = await spool.put(Buffer.from(f.contents, 'utf8'));
      tree.add(p, { type: 'file', mode: f.mode ?? 0o644, content, origin, ...owner }, true);
    } else if (f.source !== undefined) {
      const src = path.resolve(dir, f.source);
      if (path.relative(dir, src).startsWith('..')) {
        throw new PkgError('SOURCE_MISSING', `${origin}: source ${showName(f.source)} lies outside the component folder ${showName(dir)}`);
      }
      const st = await stat(src).catch(() => undefined);
      if (!st?.isFile()) {
        throw new PkgError('SOURCE_MISSING', `${origin}: source ${showName(f.source)} is not a file in ${showName(dir)}`);
      }
      // Mode from the spec, not the host file: git and umask must not change the image.
      const content = await spool.put(await readFile(src));
      tree.add(p, { type: 'file', mode: f.mode ?? 0o644, content, origin, ...owner }, true);
    }
  }
}
