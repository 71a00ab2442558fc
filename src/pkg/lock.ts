// A cross-process lock on a directory (mkdir is atomic), so that parallel builds do not run
// apt on the same private state at once. A lock whose holder died is taken over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PkgError } from './errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(lockDir: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  await mkdir(path.dirname(lockDir), { recursive: true });
  const start = Date.now();
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(path.join(lockDir, 'pid'), 'utf8').catch(() => ''));
      // No pid yet: the holder is between mkdir and writeFile, or died there; give it a moment.
      if (pid > 0 && !alive(pid)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > timeoutMs) {
        throw new PkgError('LOCK_TIMEOUT', `${lockDir}: held by process ${pid || '?'} for too long; if no build is running, remove it`);
      }
      if (!pid && Date.now() - start > 10_000) await rm(lockDir, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}
