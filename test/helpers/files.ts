// Small file helpers the tests share.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The sha256 (hex) of a file, streamed (outputs can be large disks). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}
