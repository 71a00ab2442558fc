// Content digests and the canonical bytes of JSON documents.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { StoreError } from './errors.js';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The sha256 (hex) of a file's bytes, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The hex part of a sha256 digest; throws EINVALID for anything else (a digest becomes a path). */
export function digestHex(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) {
    throw new StoreError('EINVALID', `${JSON.stringify(digest)} is not a sha256 digest (sha256:<64 lowercase hex digits>)`);
  }
  return m[1];
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Canonical bytes of a document we write: JSON.stringify without whitespace, so equal inputs hash equal. */
export function canonicalJSON(obj: unknown): Buffer {
  return Buffer.from(JSON.stringify(obj), 'utf8');
}

/** A digest and size mismatch described the same way everywhere. */
export function mismatch(what: string, expected: { digest?: string; size?: number }, actual: { digest: string; size: number }): StoreError {
  const exp = [expected.digest, expected.size !== undefined ? `${expected.size} bytes` : undefined].filter(Boolean).join(', ');
  return new StoreError('EDIGEST', `${what}: content does not match: expected ${exp}, got ${actual.digest}, ${actual.size} bytes`);
}
