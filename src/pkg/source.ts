// What a component image was built from: a digest over its folder (names, file contents,
// symlink targets). Stored as a label on the image, so a build can tell that a component folder
// changed since its image entered the store, even though its tag did not.
import { createHash } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export const COMPONENT_SOURCE_LABEL = 'org.osbuild.component.source';

/**
 * Mixed into the digest: bump it when the same folder makes a different image (a new label,
 * another layer layout), so images built by older code are built again, and worktrees with
 * different code sharing one store never take each other's images for their own.
 * v2: images carry the Debian package record (org.osbuild.debian.packages).
 * v3: each record carries its package's license, from a machine-readable copyright file.
 */
const BUILD_FORMAT = 'osbuild-component-v3';
/** Files of a component folder read at once (they are small, but one may not be). */
const READ_AHEAD = 8;

export async function componentSourceDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${BUILD_FORMAT}\0`);
  async function walk(rel: string): Promise<void> {
    const entries = (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // a few of a folder's files and links are read ahead, side by side, and hashed in name order
    const read: (Promise<Buffer | string> | undefined)[] = [];
    const readAhead = (i: number) => {
      const e = entries[i];
      if (!e || read[i] !== undefined || !(e.isSymbolicLink() || e.isFile())) return;
      const p = join(dir, rel, e.name);
      read[i] = e.isSymbolicLink() ? readlink(p) : readFile(p);
      // a failed read is reported in its turn; one read ahead of a failure must not go unhandled
      read[i].catch(() => undefined);
    };
    for (const [i, e] of entries.entries()) {
      for (let j = i; j < i + READ_AHEAD; j++) readAhead(j);
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        hash.update(`d ${p}\0`);
        await walk(p);
      } else if (e.isSymbolicLink()) {
        hash.update(`l ${p}\0${(await read[i]) as string}\0`);
      } else if (e.isFile()) {
        const data = (await read[i]) as Buffer;
        hash.update(`f ${p}\0${data.length}\0`);
        hash.update(data);
      }
    }
  }
  await walk('');
  return `sha256:${hash.digest('hex')}`;
}
