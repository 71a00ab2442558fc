// One registry endpoint speaking the OCI distribution API: finds its scheme (HTTPS, or plain HTTP
// where allowed), authorizes each request for the scopes it needs, retries transient failures,
// and turns HTTP answers into values or RegistryErrors that say what to do.
import { RegistryError } from '../errors.js';
import { Authenticator } from './auth.js';
import { repositoryScope } from './challenge.js';
import type { Credential } from './options.js';
import { isTransientStatus, withRetries, type RetryInfo, type RetryPolicy } from './retry.js';
import { drain, readBody, type HttpRequest, type HttpResponse, type Transport } from './transport.js';

export interface ClientContext {
  transport: Transport;
  retry: RetryPolicy;
  credential: (registry: string) => Promise<Credential | undefined>;
  /** Hosts that may use plain HTTP (loopback, --insecure-registry). */
  plainHttpAllowed: (host: string) => boolean;
  /** Hosts whose certificates are not checked (--insecure-registry). */
  insecureTls: (host: string) => boolean;
  onRetry?: (info: RetryInfo & { registry: string; what: string }) => void;
}

export interface SendOptions {
  method: HttpRequest['method'];
  /** Path under /v2/ (e.g. `library/alpine/manifests/latest`), or an absolute URL (upload locations). */
  path: string | URL;
  /** Token scopes the request needs. */
  scopes: string[];
  headers?: Record<string, string>;
  body?: HttpRequest['body'];
  /** Describes the request in errors and retry events, e.g. "manifest latest of library/alpine". */
  what: string;
  followRedirects?: boolean;
  /** Retry transient failures (default true). */
  retry?: boolean;
}

// Hosts whose registry API lives elsewhere than their name.
const API_HOST: Record<string, string> = { 'docker.io': 'registry-1.docker.io' };
const TLS_MISMATCH = /EPROTO|ERR_SSL|wrong version number|ECONNRESET|socket hang up/i;

export class RegistryClient {
  readonly auth: Authenticator;
  /** The host[:port] contacted: the endpoint, or where its API lives (docker.io → registry-1.docker.io). */
  readonly host: string;
  private base?: Promise<URL>;

  /**
   * @param registry the name in references (docker.io, ghcr.io, 127.0.0.1:5000)
   * @param endpoint the host[:port] actually contacted (the registry itself or a mirror)
   */
  constructor(
    readonly registry: string,
    readonly endpoint: string,
    private readonly ctx: ClientContext,
  ) {
    this.host = API_HOST[endpoint] ?? endpoint;
    this.auth = new Authenticator({
      registry: endpoint,
      transport: ctx.transport,
      credential: () => ctx.credential(endpoint),
      plainHttpAllowed: ctx.plainHttpAllowed,
      insecureTls: ctx.insecureTls,
    });
  }

  private get insecureTls(): boolean {
    return this.ctx.insecureTls(this.endpoint);
  }

  /** https://host/v2/, or http://host/v2/ for a host allowed plain HTTP that does not speak TLS. */
  baseUrl(): Promise<URL> {
    return (this.base ??= this.ping().catch((e: unknown) => {
      this.base = undefined;
      throw e;
    }));
  }

  private async ping(): Promise<URL> {
    const https = new URL(`https://${this.host}/v2/`);
    try {
      await this.pingAt(https);
      return https;
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      const text = `${String((e as NodeJS.ErrnoException).code)} ${(e as Error).message}`;
      if (/CERT|certificate|self.signed|UNABLE_TO_VERIFY/i.test(text)) {
        throw new RegistryError('EINSECURE', `${this.endpoint}: its TLS certificate is not trusted (${(e as Error).message}): give its authority with --ca-cert FILE, or --insecure-registry ${this.endpoint} to skip the check`, { cause: e });
      }
      // a registry allowed plain HTTP that does not speak TLS answers the handshake with garbage
      if (!this.ctx.plainHttpAllowed(this.endpoint) || !TLS_MISMATCH.test(text)) throw this.unreachable(e);
      const http = new URL(`http://${this.host}/v2/`);
      try {
        await this.pingAt(http);
      } catch (e2) {
        throw this.unreachable(e2);
      }
      return http;
    }
  }

  private unreachable(e: unknown): RegistryError {
    if (e instanceof RegistryError) return e;
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return new RegistryError('ENETWORK', `cannot reach registry ${this.endpoint} (${code}): check the name and your network`, { cause: e });
  }

  private async pingAt(url: URL): Promise<void> {
    const res = await withRetries(
      async () => {
        const r = await this.ctx.transport.request({ method: 'GET', url, insecureTls: this.insecureTls });
        drain(r);
        if (isTransientStatus(r.status)) throw new RegistryError('EHTTP', `${this.endpoint} answered HTTP ${r.status}`, { status: r.status });
        return r;
      },
      // a TLS mismatch is not worth retrying: the plain-HTTP attempt follows at once
      { ...this.ctx.retry, attempts: url.protocol === 'https:' && this.ctx.plainHttpAllowed(this.endpoint) ? 1 : this.ctx.retry.attempts },
      (info) => this.ctx.onRetry?.({ ...info, registry: this.endpoint, what: 'the registry API' }),
    );
    if (res.status === 401) this.auth.learn(headerOf(res, 'www-authenticate'));
    else if (res.status !== 200) {
      throw new RegistryError('EPROTOCOL', `${this.endpoint} does not look like a registry: ${url.href} answered HTTP ${res.status}`, { status: res.status });
    }
  }

  /** Sends an authorized request; 401 is answered once with fresh authorization, transient failures retried. */
  async send(opts: SendOptions): Promise<HttpResponse> {
    const base = await this.baseUrl();
    const url = opts.path instanceof URL ? opts.path : new URL(opts.path, base);
    const attempt = async (): Promise<HttpResponse> => {
      for (let authTry = 0; ; authTry++) {
        const authorization = url.origin === base.origin ? await this.auth.header(opts.scopes) : undefined;
        const res = await this.ctx.transport.request({
          method: opts.method,
          url,
          headers: { ...opts.headers, ...(authorization ? { Authorization: authorization } : {}) },
          body: opts.body,
          insecureTls: this.insecureTls,
          followRedirects: opts.followRedirects,
        });
        if (res.status === 401 && authTry === 0) {
          drain(res);
          this.auth.learn(headerOf(res, 'www-authenticate'));
          this.auth.invalidate(opts.scopes);
          continue;
        }
        if (isTransientStatus(res.status)) {
          drain(res);
          throw new RegistryError('EHTTP', `${this.endpoint}: ${opts.what}: HTTP ${res.status}`, { status: res.status });
        }
        if (res.status === 401) throw await this.refused(res, opts, authorization !== undefined);
        if (res.status === 403) throw await this.denied(res, opts);
        return res;
      }
    };
    if (opts.retry === false) return attempt();
    return withRetries(attempt, this.ctx.retry, (info) => this.ctx.onRetry?.({ ...info, registry: this.endpoint, what: opts.what }));
  }

  private async refused(res: HttpResponse, opts: SendOptions, sentAuth: boolean): Promise<RegistryError> {
    const detail = await errorDetail(res);
    const cred = await this.ctx.credential(this.endpoint);
    const msg = sentAuth && cred
      ? `${this.endpoint} refused the credentials for ${opts.what}${detail}: check them (docker login ${this.endpoint}, or --creds USER:PASSWORD)`
      : `${this.endpoint} requires authentication for ${opts.what}${detail}: log in with \`docker login ${this.endpoint}\` or give --creds USER:PASSWORD`;
    return new RegistryError('EAUTH', msg, { status: 401 });
  }

  private async denied(res: HttpResponse, opts: SendOptions): Promise<RegistryError> {
    const detail = await errorDetail(res);
    return new RegistryError('EDENIED', `${this.endpoint} denied ${opts.what}${detail}: the account may lack access to this repository`, { status: 403 });
  }

  /** An error for an answer the caller did not expect, with the registry's own error text. */
  async unexpected(res: HttpResponse, what: string): Promise<RegistryError> {
    const detail = await errorDetail(res);
    if (res.status === 404) return new RegistryError('ENOTFOUND', `${this.endpoint}: ${what} not found${detail}`, { status: 404 });
    return new RegistryError('EHTTP', `${this.endpoint}: ${what}: unexpected HTTP ${res.status}${detail}`, { status: res.status });
  }

  get retryPolicy(): RetryPolicy {
    return this.ctx.retry;
  }

  reportRetry(info: RetryInfo, what: string): void {
    this.ctx.onRetry?.({ ...info, registry: this.endpoint, what });
  }

  static pullScope(repository: string): string[] {
    return [repositoryScope(repository, ['pull'])];
  }
}

export function headerOf(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** " (MANIFEST_UNKNOWN: manifest unknown)" from the registry's JSON error body, or "". */
async function errorDetail(res: HttpResponse): Promise<string> {
  let body: Buffer;
  try {
    body = await readBody(res, 64 * 1024);
  } catch {
    return '';
  }
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    if (first) return ` (${[first.code, first.message].filter(Boolean).join(': ')})`;
  } catch {
    // not the distribution API's error JSON
  }
  return '';
}
