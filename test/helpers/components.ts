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

/**
 * A cache dir whose store holds every component for both arches; Debian downloads are shared.
 * `extra` names further component folders (e.g. 'components/nginx') a test needs: each is built
 * once per test run, whichever test file asks first.
 */
export async function componentCache(extra: string[] = []): Promise<{ cacheDir: string; store: Store; downloads: string }> {
  const cacheDir = join(inject('runDir'), 'cache');
  const store = await Store.open(join(cacheDir, 'store'));
  const wanted = [...new Set([...COMPONENTS, ...extra])];
  const marker = (c: string) => join(cacheDir, `built-${c.replace(/[^A-Za-z0-9]+/g, '-')}`);
  if (wanted.some((c) => !existsSync(marker(c)))) {
    await withLock(join(inject('runDir'), 'components.lock'), async () => {
      for (const c of wanted) {
        if (existsSync(marker(c))) continue;
        await buildComponent(join(REPO, c), { store, cacheDir: testCacheDir() });
        await writeFile(marker(c), '');
      }
    }, { timeoutMs: 20 * 60_000, staleMs: 20 * 60_000 });
  }
  return { cacheDir, store, downloads: testCacheDir() };
}
