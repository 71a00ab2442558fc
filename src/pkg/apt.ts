// Debian packages for any architecture, fetched with the host's apt tools but with a private
// state per arch (<cacheDir>/debian/<arch>/: lists, apt cache, downloaded .debs), so the host's
// apt configuration and dpkg database are neither read for packages nor changed.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ARCHES, type Arch } from '../arch.js';
import { PkgError } from './errors.js';
import type { PkgEvent } from './events.js';
import { withLock } from '../oci/lock.js';

export interface DebInfo {
  package: string;
  version: string;
  architecture: string;
  /** Path in the archive (pool/...); its basename names the cached .deb. */
  filename: string;
  size: number;
  sha256: string;
  /** First alternative of each Depends item, without version constraints. */
  depends: string[];
}

export interface FetchedDeb {
  path: string;
  info: DebInfo;
  /** The archive's base URL the .deb comes from (its URL minus the Filename). */
  archive: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Parse one stanza of `apt-cache show` output. */
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

/** A package's record from its `apt-cache show` stanza (Package, Filename and SHA256 present). */
function debInfo(f: Record<string, string>): DebInfo {
  return {
    package: f.Package,
    version: f.Version,
    architecture: f.Architecture,
    filename: f.Filename,
    size: Number(f.Size),
    sha256: f.SHA256,
    depends: [...parseDepends(f['Pre-Depends']), ...parseDepends(f.Depends)],
  };
}

export class AptRepo {
  readonly root: string;
  private listsChecked = false;

  constructor(
    cacheDir: string,
    readonly arch: Arch,
    private readonly onProgress?: (e: PkgEvent) => void,
    private readonly maxListAgeMs = DAY_MS,
  ) {
    this.root = path.join(path.resolve(cacheDir), 'debian', arch);
  }

  private get lists(): string {
    return path.join(this.root, 'lists');
  }
  private get debs(): string {
    return path.join(this.root, 'debs');
  }

  private options(): string[] {
    const opts = [
      '-q',
      `-oAPT::Architecture=${ARCHES[this.arch].debian}`,
      `-oAPT::Architectures=${ARCHES[this.arch].debian}`,
      `-oDir::State::Lists=${this.lists}`,
      `-oDir::Cache=${path.join(this.root, 'cache')}`,
      // an empty dpkg status: what the host has installed must not influence candidates
      `-oDir::State::Status=${path.join(this.root, 'status')}`,
      // keep apt's parsed package cache (Docker-style hosts turn it off): 0.2 s per query, not 1.5
      '-oDir::Cache::pkgcache=pkgcache.bin',
      '-oDir::Cache::srcpkgcache=srcpkgcache.bin',
    ];
    // As root apt drops to _apt for downloads, which cannot write into our cache dirs.
    if (process.getuid?.() === 0) opts.push('-oAPT::Sandbox::User=root');
    return opts;
  }

  private async apt(tool: 'apt-get' | 'apt-cache', args: string[], cwd?: string): Promise<string> {
    const r = await execa(tool, [...this.options(), ...args], {
      cwd,
      reject: false,
      env: { LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.exitCode !== 0) {
      throw new PkgError(
        'APT_FAILED',
        `${tool} ${args.join(' ')} (arch ${this.arch}) failed with exit code ${r.exitCode}:\n${String(r.stderr).trim()}`,
      );
    }
    return String(r.stdout);
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    // apt downloads can take minutes: a live holder's lock is never stale before 15 min.
    return withLock(path.join(this.root, 'apt.lock'), fn, { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 });
  }

  /** Run apt-get update when the lists are missing or older than a day. */
  async ensureLists(): Promise<void> {
    if (this.listsChecked) return;
    const stamp = path.join(this.lists, 'osbuild-updated');
    const fresh = async () => {
      const s = await stat(stamp).catch(() => undefined);
      return s !== undefined && Date.now() - s.mtimeMs < this.maxListAgeMs;
    };
    await mkdir(this.root, { recursive: true });
    await writeFile(path.join(this.root, 'status'), '', { flag: 'a' });
    if (!(await fresh())) {
      await this.lock(async () => {
        if (await fresh()) return;
        await mkdir(path.join(this.lists, 'partial'), { recursive: true });
        await mkdir(path.join(this.root, 'cache', 'archives', 'partial'), { recursive: true });
        this.onProgress?.({ type: 'apt-update', arch: this.arch });
        await this.apt('apt-get', ['update']);
        await writeFile(stamp, `${new Date().toISOString()}\n`);
      });
    }
    this.listsChecked = true;
  }

  /** The candidate version of a package for this arch. */
  async show(pkg: string): Promise<DebInfo> {
    await this.ensureLists();
    let out: string;
    try {
      // under the lock: the first query after an update writes apt's pkgcache.bin
      out = await this.lock(() => this.apt('apt-cache', ['show', '--no-all-versions', pkg]));
    } catch (e) {
      if (e instanceof PkgError && /No packages found|Unable to locate/.test(e.message)) out = '';
      else throw e;
    }
    const f = parseStanza(out.split(/\n\n/)[0] ?? '');
    if (!f.Package || !f.Filename || !f.SHA256) {
      throw new PkgError(
        'PACKAGE_NOT_FOUND',
        `package "${pkg}" not found for ${this.arch} in Debian's lists (check the name on packages.debian.org; lists in ${this.lists})`,
      );
    }
    return debInfo(f);
  }

  /**
   * The candidate versions of several packages in one apt-cache call (a dependency walk asks
   * level by level). Names without a candidate (virtual or unknown) are absent from the map.
   */
  async showMany(pkgs: string[]): Promise<Map<string, DebInfo>> {
    const found = new Map<string, DebInfo>();
    if (pkgs.length === 0) return found;
    await this.ensureLists();
    let out: string;
    try {
      out = await this.lock(() => this.apt('apt-cache', ['show', '--no-all-versions', ...pkgs]));
    } catch (e) {
      if (e instanceof PkgError && /No packages found|Unable to locate/.test(e.message)) return found;
      throw e;
    }
    for (const stanza of out.split(/\n\n+/)) {
      const f = parseStanza(stanza);
      if (!f.Package || !f.Filename || !f.SHA256 || found.has(f.Package)) continue;
      found.set(f.Package, debInfo(f));
    }
    return found;
  }

  /** The real packages that provide a (virtual) name, sorted by name. */
  async providers(name: string): Promise<string[]> {
    await this.ensureLists();
    const out = await this.lock(() => this.apt('apt-cache', ['showpkg', name])).catch(() => '');
    const section = out.split(/^Reverse Provides:\s*$/m)[1] ?? '';
    const names = section
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n ?? ''));
    return [...new Set(names)].sort();
  }

  /** A metapackage (linux-image-cloud-amd64) resolved to the versioned kernel image package it depends on. */
  async resolveKernelPackage(pkg: string): Promise<string> {
    const info = await this.show(pkg);
    return info.depends.find((d) => /^linux-image-\d/.test(d)) ?? info.package;
  }

  /** The archive a package version is downloaded from: its URI with the pool path taken off. */
  private async archiveOf(info: DebInfo): Promise<string> {
    const out = await this.lock(() => this.apt('apt-get', ['download', '--print-uris', `${info.package}=${info.version}`]));
    const m = /^'([^']+)'/m.exec(out);
    const uri = m ? decodeURIComponent(m[1]) : '';
    if (!uri.endsWith(`/${info.filename}`)) throw new PkgError('APT_FAILED', `apt-get download --print-uris ${info.package}=${info.version} did not print the URI of ${info.filename}`);
    return uri.slice(0, -info.filename.length - 1);
  }

  /** The .deb of a package, downloaded once into <root>/debs and verified against the archive's SHA256. */
  async fetch(pkg: string): Promise<FetchedDeb> {
    const info = await this.show(pkg);
    const archive = await this.archiveOf(info);
    const file = path.join(this.debs, path.basename(info.filename));
    if ((await stat(file).catch(() => undefined))?.size === info.size && (await sha256File(file)) === info.sha256) {
      this.onProgress?.({ type: 'deb-cached', arch: this.arch, package: info.package, version: info.version });
      return { path: file, info, archive };
    }
    const tmp = path.join(this.debs, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
    await mkdir(tmp, { recursive: true });
    try {
      this.onProgress?.({ type: 'deb-download', arch: this.arch, package: info.package, version: info.version, size: info.size });
      await this.lock(() => this.apt('apt-get', ['download', `${info.package}=${info.version}`], tmp));
      const got = (await readdir(tmp)).filter((n) => n.endsWith('.deb'));
      if (got.length !== 1) throw new PkgError('APT_FAILED', `apt-get download ${info.package} left ${got.length} .deb files in ${tmp}`);
      const downloaded = path.join(tmp, got[0]);
      const digest = await sha256File(downloaded);
      if (digest !== info.sha256) {
        throw new PkgError('DOWNLOAD_CORRUPT', `${info.package} ${info.version}: SHA256 ${digest}, the archive says ${info.sha256}; retry the build`);
      }
      await rename(downloaded, file);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return { path: file, info, archive };
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
