// A Debian archive read the way apt reads it, but by us, so each step can be checked and named
// in errors: InRelease (or Release + Release.gpg) verified by gpgv against the source's keyring,
// each Packages index checked against the SHA256 the signed Release lists, each .deb against
// the SHA256 its Packages stanza lists. Nothing of the host's apt configuration is read.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ARCHES, type Arch } from '../arch.js';
import { showName } from '../formats/names.js';
import { compareDebVersions } from './debversion.js';
import { PkgError } from './errors.js';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** One archive: a base URL, its suites and components, the keyring its Release is signed with. */
export const DebianSourceSchema = z
  .object({
    /** The archive's base URL, e.g. http://deb.debian.org/debian */
    url: z.string().regex(/^https?:\/\/[^/]/, 'an http:// or https:// URL'),
    suites: z.array(z.string().regex(/^[A-Za-z0-9._/-]+$/)).min(1),
    components: z.array(z.string().regex(/^[A-Za-z0-9._/-]+$/)).min(1).default(['main']),
    /** A binary OpenPGP keyring (`gpg --export`), as apt's signed-by. */
    keyring: z.string().min(1).default(DEBIAN_KEYRING),
    /**
     * Where a pinned .deb is looked for when the archive no longer has it: a base URL in which
     * `{timestamp}` becomes the lock's time for this archive (YYYYMMDDTHHMMSSZ).
     */
    snapshot: z.string().optional(),
  })
  .strict();
export type DebianSource = z.infer<typeof DebianSourceSchema>;
export const DebianSourcesSchema = z.array(DebianSourceSchema).min(1);

/**
 * A sources file (`--debian-sources FILE`): a YAML list of sources. A relative keyring is
 * relative to the file.
 */
export async function loadSources(file: string): Promise<DebianSource[]> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new PkgError('SOURCES_INVALID', `${showName(file)}: ${(e as Error).message}`, undefined, { where: file });
  }
  const r = DebianSourcesSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new PkgError('SOURCES_INVALID', `${showName(file)}: ${i ? `${i.path.join('.') || 'the file'}: ${i.message}` : 'invalid'} (a list of {url, suites, components, keyring, snapshot})`, undefined, { where: file });
  }
  return r.data.map((s) => ({ ...s, keyring: path.resolve(path.dirname(file), s.keyring) }));
}

/** Debian 12 and its updates, as Debian's own images configure them; snapshots from snapshot.debian.org. */
export const DEFAULT_SOURCES: readonly DebianSource[] = [
  {
    url: 'http://deb.debian.org/debian',
    suites: ['bookworm', 'bookworm-updates'],
    components: ['main'],
    keyring: DEBIAN_KEYRING,
    snapshot: 'https://snapshot.debian.org/archive/debian/{timestamp}/',
  },
  {
    url: 'http://deb.debian.org/debian-security',
    suites: ['bookworm-security'],
    components: ['main'],
    keyring: DEBIAN_KEYRING,
    snapshot: 'https://snapshot.debian.org/archive/debian-security/{timestamp}/',
  },
];

export interface DebInfo {
  package: string;
  version: string;
  architecture: string;
  /** Path in the archive (pool/...); its basename names the cached .deb. */
  filename: string;
  size: number;
  sha256: string;
  /** First alternative of each Pre-Depends and Depends item, without version constraints. */
  depends: string[];
  /** The archive's base URL (no trailing slash). */
  archive: string;
}

/** What one suite of one archive said when it was read: for the lock's snapshot times. */
export interface ReleaseInfo {
  archive: string;
  suite: string;
  /** The Release file's Date, as ISO 8601 UTC. */
  date: string;
}

export interface PackageIndex {
  /** The candidate (newest version; the first source wins a tie) of each package. */
  candidates: Map<string, DebInfo>;
  /** Virtual name -> the packages whose candidates provide it, sorted. */
  providers: Map<string, string[]>;
  releases: ReleaseInfo[];
}

export function archiveUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Parse one control stanza (Packages, Release). */
export function parseStanza(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let key = '';
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && key) fields[key] += `\n${line.trim()}`;
    else {
      const m = /^([A-Za-z0-9-]+):\s?(.*)$/.exec(line);
      if (m) {
        key = m[1];
        fields[key] = m[2];
      }
    }
  }
  return fields;
}

export function parseDepends(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((item) => item.split('|')[0].trim().split(/[\s(:]/)[0])
    .filter(Boolean);
}

/** The SHA256 section of a Release file: path -> { sha256, size }. */
export function releaseHashes(release: Record<string, string>): Map<string, { sha256: string; size: number }> {
  const out = new Map<string, { sha256: string; size: number }>();
  for (const line of (release.SHA256 ?? '').split('\n')) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (m) out.set(m[3], { sha256: m[1], size: Number(m[2]) });
  }
  return out;
}

/** The Release Date (RFC 2822) as ISO 8601 UTC; throws on a missing or unreadable Date. */
export function releaseDate(release: Record<string, string>, where: string): string {
  const t = Date.parse(release.Date ?? '');
  if (!Number.isFinite(t)) throw new PkgError('ARCHIVE_INDEX', `${where}: the Release file has no readable Date (${JSON.stringify(release.Date ?? '')})`);
  return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
}

// ---- HTTP ---------------------------------------------------------------------------------------

/** A file fetched to `dest` (a temporary name beside it, then a rename), hashed on the way. */
async function download(url: string, dest: string): Promise<{ status: 'ok'; sha256: string; size: number } | { status: 'missing'; code: number }> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new PkgError('DOWNLOAD_FAILED', `GET ${url} failed: ${cause?.message ?? (e as Error).message}; check the network and the archive URL`);
  }
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel();
    return { status: 'missing', code: res.status };
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PkgError('DOWNLOAD_FAILED', `GET ${url}: HTTP ${res.status}; retry later or check the archive URL`);
  }
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(tmp),
    );
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof PkgError) throw e;
    throw new PkgError('DOWNLOAD_FAILED', `GET ${url}: ${(e as Error).message}; retry`);
  }
  return { status: 'ok', sha256: hash.digest('hex'), size };
}

export async function sha256Bytes(b: Uint8Array): Promise<string> {
  return createHash('sha256').update(b).digest('hex');
}

// ---- signatures ---------------------------------------------------------------------------------

/**
 * The signed text of an InRelease (or `data` checked against a detached `signature`), as gpgv
 * outputs it: only what the signature covers is ever parsed.
 */
async function verifySigned(
  opts: { keyring: string; homedir: string; where: string },
  file: string,
  detachedData?: string,
): Promise<string> {
  const st = await stat(opts.keyring).catch(() => undefined);
  if (!st?.isFile()) {
    throw new PkgError('ARCHIVE_SIGNATURE', `${opts.where}: the keyring ${showName(opts.keyring)} does not exist`, undefined, {
      hint: `install debian-archive-keyring, or set the source's keyring to a binary OpenPGP keyring (gpg --export KEYID > FILE)`,
    });
  }
  await mkdir(opts.homedir, { recursive: true, mode: 0o700 });
  const args = ['--homedir', opts.homedir, '--status-fd', '2', '--keyring', path.resolve(opts.keyring)];
  const r = detachedData
    ? await execa('gpgv', [...args, file, detachedData], { reject: false, encoding: 'utf8', env: { LC_ALL: 'C' } })
    : await execa('gpgv', [...args, '--output', '-', file], { reject: false, encoding: 'utf8', env: { LC_ALL: 'C' } });
  const status = String(r.stderr);
  const good = /^\[GNUPG:\] GOODSIG /m.test(status) && /^\[GNUPG:\] VALIDSIG /m.test(status);
  const bad = /^\[GNUPG:\] (BADSIG|EXPKEYSIG|REVKEYSIG|ERRSIG|NO_PUBKEY) /m.test(status);
  if (r.exitCode !== 0 || !good || bad) {
    const why = /^\[GNUPG:\] NO_PUBKEY (\S+)/m.exec(status)
      ? `it is signed by key ${/^\[GNUPG:\] NO_PUBKEY (\S+)/m.exec(status)![1]}, which is not in ${showName(opts.keyring)}`
      : /^\[GNUPG:\] BADSIG /m.test(status)
        ? 'the signature does not match the text (the file was changed after signing)'
        : /NODATA|no signature found|no valid OpenPGP data/i.test(status)
          ? 'it carries no OpenPGP signature'
          : `gpgv says: ${status.split('\n').filter((l) => !l.startsWith('[GNUPG:]')).join(' ').trim() || `exit ${r.exitCode}`}`;
    throw new PkgError('ARCHIVE_SIGNATURE', `${opts.where}: signature check failed: ${why}`, undefined, {
      hint: 'the archive or a proxy served a file its keyring does not vouch for: use another mirror, or set the source\'s keyring to the key that signs it',
    });
  }
  return detachedData ? readFile(detachedData, 'utf8') : String(r.stdout);
}

// ---- the index ----------------------------------------------------------------------------------

interface SuiteFiles {
  source: DebianSource;
  suite: string;
  dir: string;
}

function slug(url: string): string {
  return archiveUrl(url).replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9.-]+/g, '_');
}

function suiteDir(root: string, source: DebianSource, suite: string): string {
  return path.join(root, 'indexes', slug(source.url), suite.replace(/\//g, '_'));
}

/** The Packages file of one component the Release lists (xz, gz or plain, in that preference). */
function packagesEntry(hashes: Map<string, { sha256: string; size: number }>, component: string, debArch: string): { name: string; sha256: string; size: number } | undefined {
  for (const ext of ['.xz', '.gz', '']) {
    const name = `${component}/binary-${debArch}/Packages${ext}`;
    const h = hashes.get(name);
    if (h) return { name, ...h };
  }
  return undefined;
}

async function decompress(bytes: Buffer, name: string): Promise<string> {
  if (name.endsWith('.gz')) return gunzipSync(bytes).toString('utf8');
  if (name.endsWith('.xz')) {
    const r = await execa('xz', ['-dc'], { input: bytes, encoding: 'buffer', maxBuffer: 1 << 30, stripFinalNewline: false });
    return Buffer.from(r.stdout).toString('utf8');
  }
  return bytes.toString('utf8');
}

/**
 * Downloads (when `refresh`) and verifies one suite: the Release's signature, then each
 * component's Packages against the Release's SHA256. Returns the signed Release and the verified
 * Packages texts.
 */
async function readSuite(s: SuiteFiles, arch: Arch, refresh: boolean, homedir: string): Promise<{ release: Record<string, string>; packages: PackagesFile[] }> {
  const base = archiveUrl(s.source.url);
  const dists = `${base}/dists/${s.suite}`;
  const inRelease = path.join(s.dir, 'InRelease');
  const plain = path.join(s.dir, 'Release');
  const detached = path.join(s.dir, 'Release.gpg');
  if (refresh) {
    const got = await download(`${dists}/InRelease`, inRelease);
    if (got.status === 'missing') {
      await rm(inRelease, { force: true });
      const r = await download(`${dists}/Release`, plain);
      if (r.status === 'missing') throw new PkgError('ARCHIVE_INDEX', `${dists}: neither InRelease nor Release exists (HTTP ${r.code}): check the source's url and suites`);
      const g = await download(`${dists}/Release.gpg`, detached);
      if (g.status === 'missing') throw new PkgError('ARCHIVE_SIGNATURE', `${dists}/Release is not signed: no InRelease and no Release.gpg (HTTP ${g.code})`);
    } else {
      await rm(plain, { force: true });
      await rm(detached, { force: true });
    }
  }
  const hasInRelease = await stat(inRelease).then(() => true, () => false);
  const signed = hasInRelease
    ? await verifySigned({ keyring: s.source.keyring, homedir, where: `${dists}/InRelease` }, inRelease)
    : await verifySigned({ keyring: s.source.keyring, homedir, where: `${dists}/Release` }, detached, plain);
  const release = parseStanza(signed.replace(/\r\n/g, '\n').split(/\n\n/)[0]);
  const names = [release.Suite, release.Codename].filter(Boolean);
  if (!names.includes(s.suite)) {
    throw new PkgError('ARCHIVE_INDEX', `${dists}: the signed Release is for ${names.join('/') || 'no suite'}, not ${s.suite} (a replayed or misplaced Release)`);
  }
  const debArch = ARCHES[arch].debian;
  const hashes = releaseHashes(release);
  const packages: PackagesFile[] = [];
  for (const component of s.source.components) {
    const entry = packagesEntry(hashes, component, debArch);
    if (!entry) throw new PkgError('ARCHIVE_INDEX', `${dists}: its Release lists no ${component}/binary-${debArch}/Packages: the archive has no ${component} for ${debArch}`);
    const file = path.join(s.dir, entry.name.replace(/\//g, '_'));
    const url = release['Acquire-By-Hash'] === 'yes' ? `${dists}/${path.posix.dirname(entry.name)}/by-hash/SHA256/${entry.sha256}` : `${dists}/${entry.name}`;
    let bytes = await readFile(file).catch(() => undefined);
    if (!bytes || (await sha256Bytes(bytes)) !== entry.sha256) {
      if (!refresh && bytes) throw new StaleIndex();
      const got = await download(url, file);
      if (got.status === 'missing' && url !== `${dists}/${entry.name}`) await download(`${dists}/${entry.name}`, file);
      else if (got.status === 'missing') throw new PkgError('ARCHIVE_INDEX', `${dists}/${entry.name}: HTTP ${got.code}, though the Release lists it; retry later (the mirror may be updating)`);
      bytes = await readFile(file);
      const digest = await sha256Bytes(bytes);
      if (digest !== entry.sha256) {
        await rm(file, { force: true });
        throw new PkgError('ARCHIVE_INDEX', `${url}: SHA256 ${digest}, but the signed Release says ${entry.sha256}: the index was changed or is mid-update`, undefined, {
          hint: 'retry later; if it persists, the mirror (or a proxy) serves a tampered index: use another mirror',
        });
      }
    }
    packages.push({ file, name: entry.name, sha256: entry.sha256, bytes });
  }
  return { release, packages };
}

interface PackagesFile {
  file: string;
  name: string;
  sha256: string;
  bytes: Buffer;
}

/** A Packages stanza, the fields a build reads. */
type Stanza = Omit<DebInfo, 'archive'> & { provides: string[] };

/**
 * The stanzas of a verified Packages file. Decompressing and parsing Debian's main index takes
 * seconds, so the result is kept beside it, named by the SHA256 the signed Release gave: it is
 * reused only for exactly that file.
 */
async function packagesStanzas(p: PackagesFile): Promise<Stanza[]> {
  const parsed = `${p.file}.${p.sha256}.json`;
  const cached = await readFile(parsed, 'utf8').then(
    (t) => JSON.parse(t) as { sha256: string; stanzas: Stanza[] },
    () => undefined,
  );
  if (cached?.sha256 === p.sha256 && Array.isArray(cached.stanzas)) return cached.stanzas;
  const out: Stanza[] = [];
  for (const f of stanzas(await decompress(p.bytes, p.name))) {
    if (!f.Package || !f.Version || !f.Filename || !f.SHA256) continue;
    out.push({
      package: f.Package,
      version: f.Version,
      architecture: f.Architecture,
      filename: f.Filename,
      size: Number(f.Size),
      sha256: f.SHA256,
      depends: [...parseDepends(f['Pre-Depends']), ...parseDepends(f.Depends)],
      provides: parseDepends(f.Provides),
    });
  }
  // drop what older indexes left, then write whole (temporary name, rename)
  const dir = path.dirname(p.file);
  for (const old of await readdir(dir)) if (old.startsWith(`${path.basename(p.file)}.`) && old.endsWith('.json')) await rm(path.join(dir, old), { force: true });
  const tmp = `${parsed}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify({ sha256: p.sha256, stanzas: out }));
  await rename(tmp, parsed);
  return out;
}

class StaleIndex extends Error {}

/** The fields a build needs from each Packages stanza, read without splitting the 40 MB text twice. */
function* stanzas(text: string): Generator<Record<string, string>> {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n\n', start);
    if (end < 0) end = text.length;
    if (end > start) yield parseStanza(text.slice(start, end));
    start = end + 2;
  }
}

function addPackages(index: PackageIndex, list: Stanza[], archive: string, provides: Map<string, Set<string>>): void {
  for (const { provides: virtuals, ...f } of list) {
    const old = index.candidates.get(f.package);
    if (old && compareDebVersions(old.version, f.version) >= 0) continue;
    index.candidates.set(f.package, { ...f, archive });
    for (const v of virtuals) {
      if (!provides.has(v)) provides.set(v, new Set());
      provides.get(v)!.add(f.package);
    }
  }
}

/**
 * The verified index of every source for one arch. Fetched again when older than `maxAgeMs`
 * (or missing, or no longer matching its Release); verified on every load either way.
 */
export async function loadIndex(opts: {
  root: string;
  arch: Arch;
  sources: readonly DebianSource[];
  maxAgeMs: number;
  withLock: <T>(fn: () => Promise<T>) => Promise<T>;
  onUpdate?: () => void;
}): Promise<PackageIndex> {
  const homedir = path.join(opts.root, 'gnupg');
  const suites: SuiteFiles[] = opts.sources.flatMap((source) => source.suites.map((suite) => ({ source, suite, dir: suiteDir(opts.root, source, suite) })));
  const stamp = path.join(opts.root, 'indexes', 'updated');
  const key = JSON.stringify(opts.sources);
  const fresh = async () => {
    const text = await readFile(stamp, 'utf8').catch(() => '');
    const s = await stat(stamp).catch(() => undefined);
    return s !== undefined && text === key && Date.now() - s.mtimeMs < opts.maxAgeMs;
  };
  const read = async (refresh: boolean) => {
    const out = [];
    for (const s of suites) out.push({ s, ...(await readSuite(s, opts.arch, refresh, homedir)) });
    return out;
  };
  let results;
  if (await fresh()) {
    try {
      // files are replaced whole (rename); a reader racing an update sees a mismatch and retries under the lock
      results = await read(false);
    } catch (e) {
      if (!(e instanceof StaleIndex)) throw e;
    }
  }
  if (!results) {
    results = await opts.withLock(async () => {
      opts.onUpdate?.();
      const r = await read(true);
      await mkdir(path.dirname(stamp), { recursive: true });
      await writeFile(stamp, key);
      return r;
    });
  }
  const index: PackageIndex = { candidates: new Map(), providers: new Map(), releases: [] };
  const provides = new Map<string, Set<string>>();
  for (const { s, release, packages } of results) {
    const archive = archiveUrl(s.source.url);
    index.releases.push({ archive, suite: s.suite, date: releaseDate(release, `${archive}/dists/${s.suite}`) });
    for (const p of packages) addPackages(index, await packagesStanzas(p), archive, provides);
  }
  for (const [name, set] of provides) {
    index.providers.set(name, [...set].filter((p) => index.candidates.has(p)).sort());
  }
  return index;
}

/** The snapshot base URL for an archive at a time: the pattern with {timestamp} filled in. */
export function snapshotUrl(pattern: string, isoDate: string): string {
  const ts = isoDate.replace(/[-:]/g, '').replace(/\.\d+/, '');
  return archiveUrl(pattern.replaceAll('{timestamp}', ts));
}

/**
 * Downloads `url` to `dest` and checks it is the file the index names: size and SHA256.
 * Returns false when the server does not have it (404/410).
 */
export async function downloadDeb(url: string, dest: string, want: { sha256: string; size?: number; what: string }): Promise<boolean> {
  const got = await download(url, dest);
  if (got.status === 'missing') return false;
  if (got.sha256 !== want.sha256 || (want.size !== undefined && Number.isFinite(want.size) && got.size !== want.size)) {
    await rm(dest, { force: true });
    throw new PkgError('DOWNLOAD_CORRUPT', `${want.what}: ${url} has SHA256 ${got.sha256} (${got.size} bytes), the archive's index says ${want.sha256}${want.size !== undefined ? ` (${want.size} bytes)` : ''}`, undefined, {
      hint: 'the mirror or a proxy served another file: retry, or use another mirror',
    });
  }
  return true;
}
