// The filesystem of a .deb (its data.tar.*) as a stream of entries. dpkg-deb does the ar and
// xz/zstd unpacking (Node has no xz); our own tar reader turns the stream into entries, so
// nothing is extracted onto the host.
import { execa } from 'execa';
import { readTar } from '../formats/tar/read.js';
import type { EntryStream } from '../formats/entry.js';
import { showName } from '../formats/names.js';
import { PkgError } from './errors.js';

function invalid(debPath: string, detail: string): PkgError {
  return new PkgError('DEB_INVALID', `${showName(debPath)}: dpkg-deb cannot read it: ${detail} (delete the file to download it again)`);
}

/** dpkg-deb's complaints quote member names from the package: each line shown escaped. */
function showStderr(s: string): string {
  return s.split('\n').map(showName).join('\n');
}

export async function* readDebData(debPath: string): EntryStream {
  const proc = execa('dpkg-deb', ['--fsys-tarfile', debPath], { buffer: { stdout: false, stderr: true }, reject: false, stdin: 'ignore' });
  let finished = false;
  try {
    for await (const item of readTar(proc.stdout)) {
      if (item.entry.path === '') continue; // the archive's "./"
      yield item;
    }
    finished = true;
  } catch (e) {
    proc.kill();
    const stderr = String((await proc).stderr).trim();
    throw stderr ? invalid(debPath, `${showStderr(stderr)}; ${(e as Error).message}`) : e;
  } finally {
    // The consumer stopped early: do not leave dpkg-deb blocked on a full pipe.
    if (!finished) proc.kill();
  }
  const r = await proc;
  if (r.exitCode !== 0) throw invalid(debPath, showStderr(String(r.stderr).trim()) || `exit code ${r.exitCode}`);
}
