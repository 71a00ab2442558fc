// Where the credentials for a registry come from, in this order: --creds, the environment
// (OSBUILD_REGISTRY_CREDS=user:password), the containers auth file (REGISTRY_AUTH_FILE, as
// skopeo and podman read it), then docker's config.json (DOCKER_CONFIG or ~/.docker): its
// credHelpers entry for the registry, its credsStore, then its auths. Secrets stay in memory;
// messages name the source, never the content.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { RegistryError } from '../errors.js';
import type { Credential } from './options.js';

/** Docker Hub's key in config.json and for credential helpers. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export interface CredentialSource {
  creds?: string;
  env?: NodeJS.ProcessEnv;
}

/** "user:password" → a credential; the password may itself contain ':'. */
export function parseUserPass(value: string, source: string): Credential {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new RegistryError('ECREDS', `${source}: expected USER:PASSWORD`);
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/** The host[:port] a config.json key names ("https://index.docker.io/v1/" → "docker.io"). */
export function normalizeAuthKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

function decodeEntry(entry: AuthEntry, source: string): Credential | undefined {
  if (entry.identitytoken) return { username: '<token>', password: entry.identitytoken };
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (entry.auth) return parseUserPass(Buffer.from(entry.auth, 'base64').toString('utf8'), `the "auth" entry in ${source}`);
  return undefined;
}

function lookupAuths(auths: Record<string, AuthEntry> | undefined, registry: string, source: string): Credential | undefined {
  if (!auths) return undefined;
  for (const [key, entry] of Object.entries(auths)) {
    if (normalizeAuthKey(key) === registry) {
      const c = decodeEntry(entry, source);
      if (c) return c;
    }
  }
  return undefined;
}

async function readJsonFile<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new RegistryError('ECREDS', `${path} is not valid JSON (${(e as Error).message}): fix or remove it`);
  }
}

/** Runs `docker-credential-<helper> get`; undefined when the helper has nothing for this registry. */
async function fromHelper(helper: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credential | undefined> {
  const server = registry === 'docker.io' ? DOCKER_HUB_KEY : registry;
  const bin = `docker-credential-${helper}`;
  const r = await execa(bin, ['get'], { input: server, env, reject: false, timeout: 30_000, extendEnv: false });
  if (r.failed && (r as { code?: string }).code === 'ENOENT') {
    throw new RegistryError('ECREDS', `credential helper ${bin} (named in docker's config.json) is not installed: install it or remove it from the config`);
  }
  if (r.exitCode !== 0) {
    // "credentials not found in native keychain" is the protocol's way of saying "none"
    if (/not found/i.test(String(r.stdout) + String(r.stderr))) return undefined;
    throw new RegistryError('ECREDS', `credential helper ${bin} failed for ${registry} (exit ${r.exitCode}); run \`echo ${server} | ${bin} get\` to see why`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(String(r.stdout)) as { Username?: string; Secret?: string };
  } catch {
    throw new RegistryError('ECREDS', `credential helper ${bin} printed something that is not JSON for ${registry}`);
  }
  if (!parsed.Secret) return undefined;
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

/** The docker config directory: $DOCKER_CONFIG, else ~/.docker. */
export function dockerConfigDir(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

/** The credential to use for `registry` (host[:port]), or undefined for anonymous access. */
export async function findCredential(registry: string, src: CredentialSource = {}): Promise<Credential | undefined> {
  const env = src.env ?? process.env;
  if (src.creds !== undefined) return parseUserPass(src.creds, '--creds');
  if (env.OSBUILD_REGISTRY_CREDS) return parseUserPass(env.OSBUILD_REGISTRY_CREDS, 'OSBUILD_REGISTRY_CREDS');
  if (env.REGISTRY_AUTH_FILE) {
    const file = await readJsonFile<DockerConfig>(env.REGISTRY_AUTH_FILE);
    const c = lookupAuths(file?.auths, registry, env.REGISTRY_AUTH_FILE);
    if (c) return c;
  }
  const path = join(dockerConfigDir(env), 'config.json');
  const config = await readJsonFile<DockerConfig>(path);
  if (!config) return undefined;
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (normalizeAuthKey(key) === registry) return fromHelper(helper, registry, env);
  }
  if (config.credsStore) {
    const c = await fromHelper(config.credsStore, registry, env);
    if (c) return c;
  }
  return lookupAuths(config.auths, registry, path);
}
