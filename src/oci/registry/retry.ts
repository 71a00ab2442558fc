// Which failures are worth another attempt, and how long to wait before it. Pure apart from the
// sleep: 5xx, 429, resets, timeouts and truncated bodies are transient; 4xx, bad certificates,
// unknown hosts and content that does not match its digest are not.
import { RegistryError } from '../errors.js';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'ETRUNCATED',
]);
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** An error our own code raises for a body that ended before its announced or expected size. */
export function truncated(message: string): Error {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = 'ETRUNCATED';
  return e;
}

export function isTransient(e: unknown): boolean {
  if (e instanceof RegistryError) return e.status !== undefined && TRANSIENT_STATUS.has(e.status);
  const err = e as NodeJS.ErrnoException | undefined;
  if (!err || typeof err !== 'object') return false;
  if (err.code !== undefined && TRANSIENT_CODES.has(err.code)) return true;
  // "socket hang up" and "aborted" come without a useful code on some Node paths
  return err.message === 'socket hang up' || err.message === 'aborted';
}

export function isTransientStatus(status: number): boolean {
  return TRANSIENT_STATUS.has(status);
}

/** Exponential backoff with full jitter between half and all of the step, capped at 10 s. */
export function backoffMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const step = Math.min(baseMs * 2 ** (attempt - 1), 10_000);
  return Math.round(step / 2 + (random() * step) / 2);
}

/** A short description of a failure for retry events (no headers, no URLs with tokens). */
export function describeFailure(e: unknown): string {
  if (e instanceof RegistryError) return e.status !== undefined ? `HTTP ${e.status}` : e.code;
  const err = e as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(e);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` until it succeeds, a failure is not transient, or attempts run out. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, onRetry?: (info: RetryInfo) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= policy.attempts || !isTransient(e)) throw e;
      const delayMs = backoffMs(attempt, policy.baseMs);
      onRetry?.({ attempt, delayMs, reason: describeFailure(e) });
      await sleep(delayMs);
    }
  }
}
