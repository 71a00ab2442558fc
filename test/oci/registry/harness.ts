// Real registries for the tests: Debian's docker-registry (CNCF distribution) on 127.0.0.1 with
// its own config per test file (no auth, htpasswd made by `htpasswd -B`, or token auth with a
// token server here signing RS256 JWTs under an openssl-made certificate the registry trusts
// through rootcertbundle), a fault-injecting proxy in front, and images made by umoci and pushed
// with skopeo. Nothing here contacts any host but 127.0.0.1.
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { makeImage, type LayerScript } from '../../helpers/oci-image.js';

export const USER = 'tester';
export const PASSWORD = 'secret-pw-1';

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      return;
    } catch {
      if (Date.now() - start > timeoutMs) throw new Error(`${url} did not come up in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const { connect } = await import('node:net');
  const start = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() - start > timeoutMs) throw new Error(`port ${port} did not open in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Running {
  /** host:port for references, e.g. 127.0.0.1:41234 */
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export interface TokenServer {
  url: string;
  /** Token requests seen, with the scopes asked for. */
  requests: { scopes: string[]; user?: string }[];
  stop(): Promise<void>;
}

/** A JWT token server: Basic-authenticated users get what they ask for; anonymous users get pull on public/*. */
export async function startTokenServer(work: string, opts: { issuer: string; service: string; lifetimeS?: number }): Promise<TokenServer & { certFile: string }> {
  const key = join(work, 'token.key');
  const certFile = join(work, 'token.crt');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '2', '-subj', '/CN=osbuild-test-token-issuer']);
  const privateKey = createPrivateKey(await readFile(key));
  const der = new X509Certificate(await readFile(certFile)).raw.toString('base64');
  const requests: TokenServer['requests'] = [];
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const auth = req.headers.authorization;
    let user: string | undefined;
    if (auth?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (u !== USER || p !== PASSWORD) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      user = u;
    }
    requests.push({ scopes, user });
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':');
      const allowed = actions.split(',').filter((a) => user !== undefined || (a === 'pull' && name.startsWith('public/')));
      return { type, name, actions: allowed };
    });
    const now = Math.floor(Date.now() / 1000);
    const lifetime = opts.lifetimeS ?? 300;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der] };
    const claims = { iss: opts.issuer, sub: user ?? '', aud: opts.service, exp: now + lifetime, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signing}.${b64url(sign('sha256', Buffer.from(signing), privateKey))}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, expires_in: lifetime, issued_at: new Date().toISOString() }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    certFile,
    stop: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

export type AuthMode = { kind: 'none' } | { kind: 'htpasswd' } | { kind: 'token' } | { kind: 'tls' };

/** Starts docker-registry with a config of its own on a free port of 127.0.0.1. */
export async function startRegistry(mode: AuthMode = { kind: 'none' }): Promise<Running & { token?: TokenServer; certFile?: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'osbuild-registry-'));
  const port = await freePort();
  let auth = '';
  let token: (TokenServer & { certFile: string }) | undefined;
  if (mode.kind === 'htpasswd') {
    await execa('htpasswd', ['-B', '-b', '-c', join(dir, 'htpasswd'), USER, PASSWORD]);
    auth = `auth:\n  htpasswd:\n    realm: osbuild-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (mode.kind === 'tls') {
    // HTTPS with a self-signed certificate for 127.0.0.1: clients need --ca-cert (or --insecure-registry)
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    auth = `  tls:\n    certificate: ${join(dir, 'tls.crt')}\n    key: ${join(dir, 'tls.key')}\n`;
  } else if (mode.kind === 'token') {
    token = await startTokenServer(dir, { issuer: 'osbuild-test-issuer', service: 'osbuild-test-registry' });
    auth = `auth:\n  token:\n    realm: ${token.url}\n    service: osbuild-test-registry\n    issuer: osbuild-test-issuer\n    rootcertbundle: ${token.certFile}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    auth,
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config);
  await mkdir(join(dir, 'data'));
  const child: ResultPromise = execa('docker-registry', ['serve', join(dir, 'config.yml')], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    if (mode.kind === 'tls') await waitForPort(port);
    else await waitForHttp(`http://127.0.0.1:${port}/v2/`);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not start: ${stderr}`, { cause: e });
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    token,
    certFile: mode.kind === 'tls' ? join(dir, 'tls.crt') : undefined,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
      await token?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- fault-injecting proxy ------------------------------------------------------------------

export type Fault =
  | { kind: 'status'; status: number }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'truncate'; keepBytes: number }
  | { kind: 'corrupt' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'redirect'; to: string };

export interface FaultRule {
  method?: string;
  /** Matched against the request path. */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (then it is spent); default 1. */
  times?: number;
}

export interface Proxy extends Running {
  rules: FaultRule[];
  /** Every request: method, path and Range header. */
  log: { method: string; path: string; range?: string; fault?: string }[];
}

/** An HTTP proxy to `upstream` (host:port) that applies the first matching rule to a request. */
export async function startProxy(upstream: string): Promise<Proxy> {
  const [uhost, uport] = upstream.split(':');
  const rules: FaultRule[] = [];
  const log: Proxy['log'] = [];
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const rule = rules.find((r) => (r.times ?? 1) > 0 && (!r.method || r.method === req.method) && r.path.test(path));
    if (rule) rule.times = (rule.times ?? 1) - 1;
    const fault = rule?.fault;
    log.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}), ...(fault ? { fault: fault.kind } : {}) });
    if (fault?.kind === 'redirect') {
      req.resume();
      res.writeHead(307, { Location: `${fault.to}${path}` }).end();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'Content-Type': 'text/plain' }).end('injected failure');
      return;
    }
    const up = http.request({ host: uhost, port: Number(uport), method: req.method, path, headers: req.headers }, (ures) => {
      const headers = { ...ures.headers };
      if (fault?.kind === 'truncate') {
        // a body that ends early but cleanly: the announced length agrees with what is sent
        headers['content-length'] = String(Math.min(fault.keepBytes, Number(headers['content-length'] ?? fault.keepBytes)));
      }
      res.writeHead(ures.statusCode ?? 502, headers);
      let sent = 0;
      let flipped = false;
      const start = Date.now();
      ures.on('data', async (chunk: Buffer) => {
        let c = chunk;
        if (fault?.kind === 'slow' && Date.now() - start < fault.delayMs) {
          ures.pause();
          await new Promise((r) => setTimeout(r, fault.delayMs));
          ures.resume();
        }
        if (fault?.kind === 'reset' && sent + c.length > fault.afterBytes) {
          res.write(c.subarray(0, fault.afterBytes - sent));
          ures.destroy();
          res.socket?.destroy();
          return;
        }
        if (fault?.kind === 'truncate' && sent + c.length >= fault.keepBytes) {
          res.end(c.subarray(0, fault.keepBytes - sent));
          ures.destroy();
          return;
        }
        if (fault?.kind === 'corrupt' && !flipped && c.length > 0) {
          c = Buffer.from(c);
          c[c.length >> 1] ^= 0xff;
          flipped = true;
        }
        sent += c.length;
        if (!res.destroyed && !res.writableEnded) res.write(c);
      });
      ures.on('end', () => {
        if (!res.writableEnded && !res.destroyed) res.end();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir: '',
    rules,
    log,
    stop: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

// ---- images ---------------------------------------------------------------------------------

export interface PushedImage {
  /** host/repo:tag */
  ref: string;
  /** Digest of the top document as pushed. */
  digest: string;
  layout: string;
}

/** A random, incompressible file of `bytes`: layers big enough to be interrupted mid-way. */
export function randomFileLayer(name: string, bytes: number): LayerScript {
  return { script: `mkdir -p data && head -c ${bytes} /dev/urandom > data/${name} && echo ${name} > data/${name}.txt` };
}

/**
 * A two-arch image (an OCI index over amd64 and arm64 manifests made by umoci), each arch with
 * `layers` layers, in an OCI layout tagged `multi`.
 */
export async function multiArchLayout(work: string, layers: (arch: string) => LayerScript[]): Promise<string> {
  const layout = join(work, `layout-${randomBytes(4).toString('hex')}`);
  await execa('umoci', ['init', '--layout', layout]);
  for (const arch of ['amd64', 'arm64'] as const) {
    await makeImage({ layout, tag: arch, arch, layers: layers(arch), cmd: ['/bin/sh'] });
  }
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }[] };
  const byTag = (t: string) => index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === t)!;
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: byTag('amd64').mediaType, digest: byTag('amd64').digest, size: byTag('amd64').size, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: byTag('arm64').mediaType, digest: byTag('arm64').digest, size: byTag('arm64').size, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
    ],
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  const { createHash } = await import('node:crypto');
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(layout, 'blobs', 'sha256', hex), bytes);
  index.manifests.push({ mediaType: doc.mediaType, digest: `sha256:${hex}`, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  return layout;
}

/** skopeo copy of a layout image to the registry; returns the digest the registry has for it. */
export async function skopeoPush(layout: string, tag: string, dest: string, opts: { creds?: string; all?: boolean; format?: 'v2s2' | 'oci' } = {}): Promise<string> {
  const args = ['copy', '-q', '--dest-tls-verify=false'];
  if (opts.all !== false) args.push('--all');
  if (opts.format) args.push('--format', opts.format);
  if (opts.creds) args.push('--dest-creds', opts.creds);
  args.push(`oci:${layout}:${tag}`, `docker://${dest}`);
  await execa('skopeo', args);
  return skopeoDigest(dest, opts.creds);
}

/** The digest of the top document (index or manifest) of `ref` as skopeo sees it in the registry. */
export async function skopeoDigest(ref: string, creds?: string): Promise<string> {
  const raw = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`], { encoding: 'buffer', stripFinalNewline: false });
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(raw.stdout as Uint8Array).digest('hex')}`;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function workDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'osbuild-reg-test-'));
}
