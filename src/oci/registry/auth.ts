// Authorization for one registry: nothing until it asks, then Basic with the credential, or a
// Bearer token fetched from the realm its 401 challenge names (docker's token protocol), for the
// scopes a request needs. Tokens are reused until shortly before they expire; concurrent requests
// for the same scopes share one token request.
import { RegistryError } from '../errors.js';
import { parseChallenge, type Challenge } from './challenge.js';
import type { Credential } from './options.js';
import { readBody, type Transport } from './transport.js';

interface Token {
  value: string;
  expiresAt: number;
}

// docker's token spec: a token without expires_in lives 60 s
const DEFAULT_TOKEN_LIFETIME_S = 60;
// refresh a little early so that a token does not expire between our check and its use
const EXPIRY_MARGIN_MS = 10_000;

export interface AuthenticatorOptions {
  registry: string;
  transport: Transport;
  credential: () => Promise<Credential | undefined>;
  /** Whether a realm on this host may be reached over plain HTTP. */
  plainHttpAllowed: (host: string) => boolean;
  insecureTls: (host: string) => boolean;
  now?: () => number;
}

export class Authenticator {
  private challenge?: Challenge;
  private readonly tokens = new Map<string, Token>();
  private readonly pending = new Map<string, Promise<Token>>();
  private cred?: Promise<Credential | undefined>;

  constructor(private readonly opts: AuthenticatorOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private credential(): Promise<Credential | undefined> {
    return (this.cred ??= this.opts.credential());
  }

  /** Remembers how the registry wants to be authenticated (from a 401's WWW-Authenticate). */
  learn(header: string | undefined): void {
    const c = parseChallenge(header);
    if (c) this.challenge = c;
  }

  /** Drops a token the registry refused, so the next header() fetches a new one. */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopeKey(scopes));
  }

  get knowsChallenge(): boolean {
    return this.challenge !== undefined;
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async header(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const cred = await this.credential();
      if (!cred) {
        throw new RegistryError('EAUTH', `${this.opts.registry} requires a username and password: log in with \`docker login ${this.opts.registry}\`, or give --creds USER:PASSWORD`);
      }
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') {
      throw new RegistryError('EAUTH', `${this.opts.registry} asks for ${c.scheme} authentication, which osbuild does not speak (only Basic and Bearer)`);
    }
    const key = scopeKey(scopes);
    const have = this.tokens.get(key);
    if (have && have.expiresAt - EXPIRY_MARGIN_MS > this.now()) return `Bearer ${have.value}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(c, scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    const token = await p;
    this.tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<Token> {
    const registry = this.opts.registry;
    if (!c.params.realm) throw new RegistryError('EPROTOCOL', `${registry} asked for a Bearer token but named no realm to get it from`);
    let realm: URL;
    try {
      realm = new URL(c.params.realm);
    } catch {
      throw new RegistryError('EPROTOCOL', `${registry} named a token realm that is not a URL`);
    }
    if (realm.protocol === 'http:' && !this.opts.plainHttpAllowed(realm.host)) {
      throw new RegistryError('EINSECURE', `${registry} wants tokens from ${realm.host} over plain HTTP; allow it with --insecure-registry ${realm.host} if you trust the network`);
    }
    const cred = await this.credential();
    const startedAt = this.now();
    const insecureTls = this.opts.insecureTls(realm.host);
    let res;
    if (cred && cred.username === '<token>') {
      // an identity (refresh) token from `docker login` is exchanged with OAuth2's POST form
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.password, client_id: 'osbuild' });
      if (c.params.service) form.set('service', c.params.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      res = await this.opts.transport.request({
        method: 'POST',
        url: realm,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        insecureTls,
      });
    } else {
      const url = new URL(realm);
      if (c.params.service) url.searchParams.set('service', c.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (cred) headers.Authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString('base64')}`;
      res = await this.opts.transport.request({ method: 'GET', url, headers, insecureTls });
    }
    const body = await readBody(res, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(
        'EAUTH',
        cred
          ? `the token service of ${registry} (${realm.host}) refused the credentials for ${scopes.join(' ') || 'this registry'}: check them (docker login ${registry}, or --creds)`
          : `the token service of ${registry} (${realm.host}) refused anonymous access to ${scopes.join(' ') || 'this registry'}: log in with \`docker login ${registry}\` or give --creds USER:PASSWORD`,
        { status: res.status },
      );
    }
    if (res.status !== 200) {
      throw new RegistryError('EHTTP', `the token service of ${registry} (${realm.host}) answered HTTP ${res.status}`, { status: res.status });
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new RegistryError('EPROTOCOL', `the token service of ${registry} (${realm.host}) did not answer JSON`);
    }
    const value = parsed.token || parsed.access_token;
    if (!value) throw new RegistryError('EPROTOCOL', `the token service of ${registry} (${realm.host}) answered without a token`);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : NaN;
    // the local clock decides: issued_at only shortens the lifetime when it lies in the past
    const base = Number.isFinite(issued) ? Math.min(issued, startedAt) : startedAt;
    return { value, expiresAt: base + lifetime * 1000 };
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}
