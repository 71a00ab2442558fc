// Debian packages for any architecture, from the archives of `sources` (default: Debian 12),
// read and verified by archive.ts, with a private state per arch (<cacheDir>/debian/<arch>/:
// verified indexes, downloaded .debs). The host's apt configuration is neither read nor changed.
import { sha256File } from '../oci/digest.js';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Arch } from '../arch.js';
import { withLock } from '../oci/lock.js';
import { archiveUrl, DEFAULT_SOURCES, downloadDeb, loadIndex, snapshotUrl, type DebianSource, type DebInfo, type PackageIndex, type ReleaseInfo } from './archive.js';
import { PkgError } from './errors.js';
import type { PkgEvent } from './events.js';
import type { DebRecord } from './record.js';

export { parseDepends, parseStanza, type DebInfo } from './archive.js';

export interface FetchedDeb {
  path: string;
  info: DebInfo;
  /** The archive's base URL the .deb comes from (its URL minus the Filename). */
  archive: string;
}

/** Where a pinned .deb may still be found when its archive dropped it. */
export interface SnapshotPlan {
  /** Archive URL -> the lock's time for it (ISO 8601). */
  times: ReadonlyMap<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

// One verified index per arch and sources per process: several components share it.
const loaded = new Map<string, Promise<PackageIndex>>();

export class AptRepo {
  readonly root: string;
  private index?: Promise<PackageIndex>;

  constructor(
    cacheDir: string,
    readonly arch: Arch,
    private readonly onProgress?: (e: PkgEvent) => void,
    private readonly maxListAgeMs = DAY_MS,
    readonly sources: readonly DebianSource[] = DEFAULT_SOURCES,
  ) {
    this.root = path.join(path.resolve(cacheDir), 'debian', arch);
  }

  private get debs(): string {
    return path.join(this.root, 'debs');
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    // index downloads can take minutes: a live holder's lock is never stale before 15 min.
    return withLock(path.join(this.root, 'apt.lock'), fn, { timeoutMs: 15 * 60_000, staleMs: 15 * 60_000 });
  }

  /** The verified index: downloaded when missing or older than a day, checked either way. */
  private load(): Promise<PackageIndex> {
    if (this.index) return this.index;
    const key = `${this.root}\0${JSON.stringify(this.sources)}`;
    const cached = this.maxListAgeMs > 0 ? loaded.get(key) : undefined;
    const p =
      cached ??
      (async () => {
        await mkdir(this.root, { recursive: true });
        return loadIndex({
          root: this.root,
          arch: this.arch,
          sources: this.sources,
          maxAgeMs: this.maxListAgeMs,
          withLock: (fn) => this.lock(fn),
          onUpdate: () => this.onProgress?.({ type: 'apt-update', arch: this.arch }),
        });
      })();
    if (!cached && this.maxListAgeMs > 0) {
      loaded.set(key, p);
      p.catch(() => loaded.delete(key));
    }
    this.index = p;
    return p;
  }

  async ensureLists(): Promise<void> {
    await this.load();
  }

  /** Each suite's Release date as read: the lock's snapshot times. */
  async releases(): Promise<ReleaseInfo[]> {
    return (await this.load()).releases;
  }

  private notFound(pkg: string): PkgError {
    const where = this.sources.map((s) => `${archiveUrl(s.url)} ${s.suites.join(',')}`).join('; ');
    return new PkgError('PACKAGE_NOT_FOUND', `package "${pkg}" not found for ${this.arch} in ${where} (check the name on packages.debian.org)`);
  }

  /** The candidate version of a package for this arch. */
  async show(pkg: string): Promise<DebInfo> {
    const info = (await this.load()).candidates.get(pkg);
    if (!info) throw this.notFound(pkg);
    return info;
  }

  /** The candidates of several packages; names without one (virtual or unknown) are absent. */
  async showMany(pkgs: string[]): Promise<Map<string, DebInfo>> {
    const index = await this.load();
    const found = new Map<string, DebInfo>();
    for (const p of pkgs) {
      const info = index.candidates.get(p);
      if (info) found.set(p, info);
    }
    return found;
  }

  /** The real packages that provide a (virtual) name, sorted by name. */
  async providers(name: string): Promise<string[]> {
    return (await this.load()).providers.get(name) ?? [];
  }

  /** A metapackage (linux-image-cloud-amd64) resolved to the versioned kernel image package it depends on. */
  async resolveKernelPackage(pkg: string): Promise<string> {
    const info = await this.show(pkg);
    return info.depends.find((d) => /^linux-image-\d/.test(d)) ?? info.package;
  }

  /** The cached .deb when it is the one wanted (size when known, and SHA256). */
  private async cached(info: { filename: string; sha256: string; size?: number }): Promise<string | undefined> {
    const file = path.join(this.debs, path.basename(info.filename));
    const st = await stat(file).catch(() => undefined);
    if (!st || (info.size !== undefined && st.size !== info.size)) return undefined;
    return (await sha256File(file)) === info.sha256 ? file : undefined;
  }

  /** The candidate .deb of a package, downloaded once into <root>/debs, verified against its index's SHA256. */
  async fetch(pkg: string): Promise<FetchedDeb> {
    const info = await this.show(pkg);
    const hit = await this.cached(info);
    if (hit) {
      this.onProgress?.({ type: 'deb-cached', arch: this.arch, package: info.package, version: info.version });
      return { path: hit, info, archive: info.archive };
    }
    this.onProgress?.({ type: 'deb-download', arch: this.arch, package: info.package, version: info.version, size: info.size });
    const file = path.join(this.debs, path.basename(info.filename));
    const url = `${info.archive}/${info.filename}`;
    const what = `${info.package} ${info.version} (${this.arch})`;
    if (!(await downloadDeb(url, file, { sha256: info.sha256, size: info.size, what }))) {
      throw new PkgError('DOWNLOAD_FAILED', `${what}: ${url} is gone though the index lists it; the index is out of date: retry (it is fetched again after a day, or remove ${path.join(this.root, 'indexes')})`);
    }
    return { path: file, info, archive: info.archive };
  }

  /**
   * Exactly the .deb a record pins (a lockfile's): from the cache, else its archive, else the
   * archive's snapshot at the lock's time; its SHA256 is checked wherever it comes from.
   */
  async fetchPinned(rec: DebRecord, snapshots?: SnapshotPlan): Promise<FetchedDeb> {
    const info: DebInfo = { package: rec.package, version: rec.version, architecture: rec.architecture, filename: rec.filename, size: NaN, sha256: rec.sha256, depends: [], archive: rec.archive };
    const hit = await this.cached(rec);
    if (hit) {
      this.onProgress?.({ type: 'deb-cached', arch: this.arch, package: rec.package, version: rec.version });
      const st = await stat(hit);
      return { path: hit, info: { ...info, size: st.size }, archive: rec.archive };
    }
    const file = path.join(this.debs, path.basename(rec.filename));
    const what = `${rec.package} ${rec.version} (${this.arch}, pinned by the lock)`;
    this.onProgress?.({ type: 'deb-download', arch: this.arch, package: rec.package, version: rec.version, size: 0 });
    const tried = [`${archiveUrl(rec.archive)}/${rec.filename}`];
    if (await downloadDeb(tried[0], file, { sha256: rec.sha256, what })) return { path: file, info: { ...info, size: (await stat(file)).size }, archive: rec.archive };
    const source = this.sources.find((s) => archiveUrl(s.url) === archiveUrl(rec.archive));
    const time = snapshots?.times.get(archiveUrl(rec.archive));
    if (source?.snapshot && time) {
      for (const at of snapshotAttempts(time)) {
        const url = `${snapshotUrl(source.snapshot, at)}/${rec.filename}`;
        tried.push(url);
        if (await downloadDeb(url, file, { sha256: rec.sha256, what })) return { path: file, info: { ...info, size: (await stat(file)).size }, archive: rec.archive };
      }
    }
    const why = !source ? `no configured source has the archive ${rec.archive}` : !source.snapshot ? `the source ${source.url} has no snapshot URL` : !time ? `the lock has no time for ${rec.archive}` : 'neither has it';
    throw new PkgError('NOT_IN_ARCHIVE', `${what}: not found at ${tried.join(' nor at ')} (${why})`, undefined, {
      hint: 'set the source\'s snapshot URL to an archive that keeps old versions, or run `osbuild lock` (or build with --update-lock) to move to the versions the archive has now',
    });
  }
}

/**
 * The times a snapshot is asked at: the lock's time (the archive's Release date), then 6 hours
 * and a day later. snapshot.debian.org answers a time with the last import at or before it, and
 * imports the archive some hours after it is published: a package new in that very publication
 * is only in a later import (while the archive still had it: Debian keeps a superseded .deb for
 * days). Each answer is checked against the pinned sha256 either way.
 */
export function snapshotAttempts(iso: string): string[] {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return [iso];
  return [0, 6, 24].map((h) => new Date(t + h * 3600_000).toISOString().replace(/\.000Z$/, 'Z'));
}

