// Everything one pull or push run shares: the transport (agents, certificate authorities), one
// client per endpoint (so tokens and schemes are learned once), mirrors, credentials and the
// retry policy. close() releases the connections.
import { readFile } from 'node:fs/promises';
import { RegistryError } from '../errors.js';
import { RegistryClient, type ClientContext } from './client.js';
import { findCredential } from './credentials.js';
import { DEFAULTS, isLoopback, parseMirrors, type Credential, type RegistryOptions } from './options.js';
import type { RetryInfo } from './retry.js';
import { Transport } from './transport.js';

export type RetryEvent = RetryInfo & { registry: string; what: string };

export class Registries {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly credentials = new Map<string, Promise<Credential | undefined>>();
  private readonly deadMirrors = new Set<string>();
  private readonly mirrors: Map<string, string[]>;
  private readonly insecure: Set<string>;
  private readonly ctx: ClientContext;
  onRetry?: (e: RetryEvent) => void;

  private constructor(
    readonly options: RegistryOptions,
    private readonly transport: Transport,
  ) {
    this.mirrors = parseMirrors(options.mirrors);
    this.insecure = new Set(options.insecureRegistries ?? []);
    this.ctx = {
      transport,
      retry: { attempts: options.retries ?? DEFAULTS.retries, baseMs: options.retryBaseMs ?? DEFAULTS.retryBaseMs },
      credential: (registry) => this.credential(registry),
      plainHttpAllowed: (host) => isLoopback(host) || this.insecure.has(host),
      insecureTls: (host) => this.insecure.has(host),
      onRetry: (e) => this.onRetry?.(e),
    };
  }

  static async open(options: RegistryOptions = {}): Promise<Registries> {
    const extraCa: string[] = [];
    for (const file of options.caCertFiles ?? []) {
      try {
        extraCa.push(await readFile(file, 'utf8'));
      } catch (e) {
        throw new RegistryError('EINSECURE', `--ca-cert ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
    const transport = new Transport({ extraCa, idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs });
    return new Registries(options, transport);
  }

  get concurrency(): number {
    return Math.max(1, this.options.concurrency ?? DEFAULTS.concurrency);
  }

  get chunkSize(): number {
    return Math.max(1, this.options.chunkSize ?? DEFAULTS.chunkSize);
  }

  get retry() {
    return this.ctx.retry;
  }

  private credential(registry: string): Promise<Credential | undefined> {
    let c = this.credentials.get(registry);
    if (!c) {
      c = findCredential(registry, { creds: this.options.creds, env: this.options.env });
      this.credentials.set(registry, c);
    }
    return c;
  }

  /** The client for an endpoint (a registry or a mirror), made once per run. */
  client(endpoint: string): RegistryClient {
    let c = this.clients.get(endpoint);
    if (!c) {
      c = new RegistryClient(endpoint, endpoint, this.ctx);
      this.clients.set(endpoint, c);
    }
    return c;
  }

  /**
   * Runs a read against the registry's mirrors in order, then the registry itself. A mirror that
   * fails is skipped for the rest of the run; the registry's own failure is the one reported.
   */
  async read<T>(registry: string, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
    for (const mirror of this.mirrors.get(registry) ?? []) {
      if (this.deadMirrors.has(mirror)) continue;
      try {
        return await fn(this.client(mirror));
      } catch (e) {
        if (e instanceof RegistryError && (e.code === 'ENOTFOUND' || e.code === 'ENETWORK' || e.code === 'EHTTP' || e.code === 'EAUTH' || e.code === 'EDENIED' || e.code === 'EINSECURE')) {
          if (e.code !== 'ENOTFOUND') this.deadMirrors.add(mirror);
          continue;
        }
        throw e;
      }
    }
    return fn(this.client(registry));
  }

  close(): void {
    this.transport.close();
  }
}
