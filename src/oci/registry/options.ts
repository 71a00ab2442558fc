// What a user can say about how registries are reached: the knobs of the CLI flags (--creds,
// --insecure-registry, --ca-cert, --mirror) and the robustness settings tests turn down.

/** A username and password (or token) for one registry. Never printed or logged. */
export interface Credential {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** `user:password` for every registry named in this run (the --creds flag). */
  creds?: string;
  /** Registries (host[:port]) that may be reached over plain HTTP or with an unverified certificate. */
  insecureRegistries?: string[];
  /** PEM files of extra certificate authorities, trusted beside the system's. */
  caCertFiles?: string[];
  /** `registry=mirror-host[:port]` pairs, e.g. `docker.io=mirror.local:5000`; tried before the registry for pulls. */
  mirrors?: string[];
  /** Environment for credential lookups (DOCKER_CONFIG, REGISTRY_AUTH_FILE, OSBUILD_REGISTRY_CREDS, HOME). */
  env?: NodeJS.ProcessEnv;
  /** Attempts per request before giving up (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled per attempt with jitter (default 250). */
  retryBaseMs?: number;
  /** A request with no bytes moving for this long is abandoned and retried (default 30 s). */
  idleTimeoutMs?: number;
  /** Blobs downloaded or uploaded at once (default 3). */
  concurrency?: number;
  /** Uploads larger than this go in chunks of this size (default 32 MiB). */
  chunkSize?: number;
}

export const DEFAULTS = {
  retries: 5,
  retryBaseMs: 250,
  idleTimeoutMs: 30_000,
  concurrency: 3,
  chunkSize: 32 * 1024 * 1024,
} as const;

/** localhost and loopback addresses may always use plain HTTP, as docker allows. */
export function isLoopback(registry: string): boolean {
  const host = hostOf(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of host[:port], [v6]:port included. */
export function hostOf(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

/** Parses `--mirror` values into registry → mirrors (in the order given). */
export function parseMirrors(values: string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new RangeError(`--mirror ${JSON.stringify(v)}: expected REGISTRY=MIRROR, e.g. docker.io=mirror.local:5000`);
    const registry = v.slice(0, eq) === 'index.docker.io' ? 'docker.io' : v.slice(0, eq);
    const mirror = v.slice(eq + 1).replace(/^https?:\/\//, '').replace(/\/+$/, '');
    out.set(registry, [...(out.get(registry) ?? []), mirror]);
  }
  return out;
}
