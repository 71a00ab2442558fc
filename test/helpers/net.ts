// Host-side network helpers for boot tests: a free port for QEMU's hostfwd, and an HTTP GET
// with a deadline (what a user's curl through the port forward does).
import { get } from 'node:http';
import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const addr = srv.address();
  await new Promise((res) => srv.close(res));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

export interface HttpReply {
  status: number;
  body: string;
  /** the Date header, in ms since the epoch (NaN without one) */
  date: number;
}

/** GET http://127.0.0.1:PORT/PATH; rejects when no reply came within timeoutMs. */
export function httpGet(port: number, path: string, timeoutMs: number): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, date: Date.parse(res.headers.date ?? '') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no reply on port ${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
