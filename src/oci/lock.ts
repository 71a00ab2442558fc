// An inter-process lock file: created exclusively, holding "pid time nonce". Stale locks (the
// holder died, or held it implausibly long) are broken by renaming them aside, so that two
// processes breaking the same stale lock cannot both win: only the rename that moved the stale
// content counts, and a fresh lock moved by mistake is put back.
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors.js';

export interface LockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock older than this (ms) is stale even if its pid is alive (the pid may be reused). */
  staleMs?: number;
  /** Where to move broken locks (same filesystem); defaults to beside the lock. */
  scratchDir?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isStale(path: string, content: string, staleMs: number): Promise<boolean> {
  const pid = Number(content.split(' ')[0]);
  if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) return true;
  try {
    return Date.now() - (await stat(path)).mtimeMs > staleMs;
  } catch {
    return false; // gone already: the next attempt will tell
  }
}

async function breakStale(path: string, seen: string, scratchDir: string): Promise<void> {
  const aside = join(scratchDir, `lock-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await rename(path, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== seen) {
    // We took a lock someone acquired after the stale one was broken: give it back.
    await link(aside, path).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const staleMs = opts.staleMs ?? 60_000;
  const scratchDir = opts.scratchDir ?? join(path, '..');
  const token = `${process.pid} ${Date.now()} ${randomBytes(8).toString('hex')}`;
  const start = Date.now();
  let delay = 2;
  for (;;) {
    try {
      await writeFile(path, token, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const content = await readFile(path, 'utf8').catch(() => undefined);
    if (content === undefined) continue; // released meanwhile
    if (await isStale(path, content, staleMs)) {
      await breakStale(path, content, scratchDir);
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      throw new StoreError('ELOCKED', `could not lock ${path} within ${timeoutMs} ms: held by "${content}" (pid time); if that process is gone, delete the file`);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  try {
    return await fn();
  } finally {
    // Remove only our own lock: if ours was broken as stale, the file now belongs to another.
    const content = await readFile(path, 'utf8').catch(() => undefined);
    if (content === token) await unlink(path).catch(() => undefined);
  }
}
