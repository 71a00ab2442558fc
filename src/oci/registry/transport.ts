// HTTP(S) requests to registries and blob storage, on node:http/https rather than fetch: we need
// our own certificate authorities per agent, redirects we follow ourselves (blob storage must not
// see the registry's Authorization header), streaming bodies and socket idle timeouts.
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';
import { RegistryError } from '../errors.js';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** A request body: bytes, or a function making a fresh stream (requests may be sent again). */
  body?: Buffer | (() => AsyncIterable<Uint8Array>);
  /** Accept a certificate no trusted authority signed (for --insecure-registry hosts). */
  insecureTls?: boolean;
  /** Follow 3xx redirects (GET and HEAD only). Default true. */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Where the answer came from, after redirects. */
  url: URL;
  body: IncomingMessage;
}

export interface TransportOptions {
  /** Extra PEM certificate authorities (contents, not paths). */
  extraCa?: string[];
  idleTimeoutMs: number;
}

// Debian, Fedora and Alpine keep the system's trusted authorities here; Node's built-in list
// does not include certificates an administrator added.
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
const MAX_REDIRECTS = 10;

function systemCa(): string[] {
  for (const path of SYSTEM_BUNDLES) {
    try {
      return [readFileSync(path, 'utf8')];
    } catch {
      // try the next place
    }
  }
  return [];
}

/** Keep-alive agents shared by every request of one run; close() lets the process exit. */
export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private httpsAgent?: https.Agent;
  private insecureAgent?: https.Agent;

  constructor(private readonly opts: TransportOptions) {}

  private agentFor(url: URL, insecureTls: boolean): http.Agent {
    if (url.protocol === 'http:') return this.httpAgent;
    if (insecureTls) return (this.insecureAgent ??= new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }));
    return (this.httpsAgent ??= new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: [...tls.rootCertificates, ...systemCa(), ...(this.opts.extraCa ?? [])],
    }));
  }

  /** Sends a request, following redirects for GET/HEAD; the caller reads or drains the body. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.once({ ...req, url, headers });
      const location = res.headers.location;
      const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
      if (!redirect || req.followRedirects === false || (req.method !== 'GET' && req.method !== 'HEAD')) return res;
      res.body.resume();
      if (hop >= MAX_REDIRECTS) throw new RegistryError('EPROTOCOL', `${req.url.host}: more than ${MAX_REDIRECTS} redirects for ${req.url.pathname}`);
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError('EPROTOCOL', `${req.url.host} redirected ${req.url.pathname} to a ${next.protocol} URL`);
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw new RegistryError('EINSECURE', `${req.url.host} redirected ${req.url.pathname} from HTTPS to plain HTTP (${next.host}): refusing to downgrade`);
      }
      // Blob storage (S3, a CDN) authenticates by the signed URL; the registry's token is not for it.
      if (next.origin !== url.origin) {
        const { authorization: _a, Authorization: _b, ...rest } = headers;
        headers = rest;
      }
      url = next;
    }
  }

  private once(req: HttpRequest): Promise<HttpResponse> {
    const { url } = req;
    const mod = url.protocol === 'https:' ? https : http;
    const body = req.body;
    const headers: Record<string, string> = { 'User-Agent': 'osbuild', ...req.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
    return new Promise<HttpResponse>((resolve, reject) => {
      const r = mod.request(url, { method: req.method, headers, agent: this.agentFor(url, req.insecureTls === true) });
      r.setTimeout(this.opts.idleTimeoutMs, () => {
        const e = new Error(`no data for ${this.opts.idleTimeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        r.destroy(e);
      });
      r.on('error', reject);
      r.on('response', (res) => {
        // the idle timeout keeps watching the socket while the body streams
        res.on('error', () => undefined);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      });
      if (body === undefined || Buffer.isBuffer(body)) r.end(body);
      else pipeline(Readable.from(body(), { objectMode: false }), r).catch((e: unknown) => r.destroy(e as Error));
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent?.destroy();
    this.insecureAgent?.destroy();
  }
}

/** Reads a whole (small) response body, refusing more than `max` bytes. */
export async function readBody(res: HttpResponse, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      res.body.destroy();
      throw new RegistryError('EPROTOCOL', `${res.url.host}: response to ${res.url.pathname} is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Throws away a body we do not need, so the connection can be reused. */
export function drain(res: HttpResponse): void {
  res.body.resume();
}
