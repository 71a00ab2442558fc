// The components of this checkout, built once per test run into a store shared by the test
// files that need them (each vitest worker asks; a lock makes the first one build and the
// others wait and reuse).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';
import { withLock } from '../../src/oci/lock.js';
import { Store } from '../../src/oci/store.js';
import { buildComponent } from '../../src/pkg/build.js';
import { testCacheDir } from './debian-kernel.js';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const COMPONENTS = ['components/init', 'components/runc', 'components/busybox', 'components/getty', 'components/dhcpcd', 'components/sysctl', 'components/sshd', 'components/acpid', 'kernel/debian-cloud', 'components/boot-bios', 'components/boot-efi'];

/** A cache dir whose store holds every component for both arches; Debian downloads are shared. */
export async function componentCache(): Promise<{ cacheDir: string; store: Store; downloads: string }> {
  const cacheDir = join(inject('runDir'), 'cache');
  const store = await Store.open(join(cacheDir, 'store'));
  const done = join(cacheDir, 'components.done');
  if (!existsSync(done)) {
    await withLock(join(inject('runDir'), 'components.lock'), async () => {
      if (existsSync(done)) return;
      for (const c of COMPONENTS) await buildComponent(join(REPO, c), { store, cacheDir: testCacheDir() });
      await writeFile(done, '');
    }, { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 });
  }
  return { cacheDir, store, downloads: testCacheDir() };
}
