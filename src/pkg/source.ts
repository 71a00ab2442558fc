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
 */
const BUILD_FORMAT = 'osbuild-component-v2';

export async function componentSourceDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${BUILD_FORMAT}\0`);
  async function walk(rel: string): Promise<void> {
    const entries = (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        hash.update(`d ${p}\0`);
        await walk(p);
      } else if (e.isSymbolicLink()) {
        hash.update(`l ${p}\0${await readlink(join(dir, p))}\0`);
      } else if (e.isFile()) {
        const data = await readFile(join(dir, p));
        hash.update(`f ${p}\0${data.length}\0`);
        hash.update(data);
      }
    }
  }
  await walk('');
  return `sha256:${hash.digest('hex')}`;
}
