// The Debian dependency closure of a package (`depends: true` in a component spec): what its
// files need at run time, resolved for one arch through the private apt state. apt's own
// resolver would need a dpkg database to install into; a container layer only needs the
// files, so the walk is ours: Pre-Depends + Depends, first alternative of each `a | b`.
import type { AptRepo, DebInfo } from './apt.js';
import { PkgError } from './errors.js';

/**
 * Dependencies a container image never uses: they serve dpkg's maintainer scripts (which never
 * run here) or a full system's init. Pruned from the walk, so what only they need (passwd ->
 * PAM for adduser) stays out too. A spec that really wants one names it as a package.
 * - adduser, passwd: create system users in postinst; an image ships its /etc/passwd as a file
 * - debconf, cdebconf (debconf-2.0): configuration questions asked by maintainer scripts
 * - dpkg, perl-base: the package manager and the language of its scripts
 * - init-system-helpers, lsb-base, sysvinit-utils: systemd/sysv service glue; our init runs containers
 * - libc-bin: ldconfig, getent, locale; the layer has no ld.so.cache to rebuild, libraries sit
 *   in the loader's default paths
 */
export const CLOSURE_EXCLUDED: readonly string[] = [
  'adduser',
  'cdebconf',
  'debconf',
  'debconf-2.0',
  'dpkg',
  'init-system-helpers',
  'libc-bin',
  'lsb-base',
  'passwd',
  'perl-base',
  'sysvinit-utils',
];

/** Paths of a dependency that an image does not need (documentation, translations). */
export const DEPENDENCY_SKIPPED_DIRS: readonly string[] = ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian'];

/**
 * glibc's gconv modules (usr/lib/<triplet>/gconv, ~9 MB): iconv(3) converters for legacy
 * charsets, loaded only by programs that convert from or to them (UTF-8 and ASCII are built into
 * libc). Every container with a dynamically linked program would carry a copy; a spec that needs
 * them names libc6 with `paths` that include them.
 */
const GCONV = /^usr\/lib\/[^/]+\/gconv(\/|$)/;

export function skippedDependencyPath(p: string): boolean {
  return DEPENDENCY_SKIPPED_DIRS.some((d) => p === d || p.startsWith(`${d}/`)) || GCONV.test(p);
}

/**
 * The packages `roots` depend on, recursively, without the roots themselves and without
 * `exclude`, sorted by name. A virtual name resolves to a provider already in the closure,
 * else to the first provider by name; a name nothing provides is an error (the lists are
 * inconsistent or a dependency was misspelt upstream).
 */
export async function dependencyClosure(apt: AptRepo, roots: string[], exclude: readonly string[] = CLOSURE_EXCLUDED): Promise<DebInfo[]> {
  const skip = new Set(exclude);
  const seen = new Map<string, DebInfo>();
  const rootInfos = await apt.showMany(roots);
  for (const r of roots) {
    if (!rootInfos.has(r)) throw new PkgError('PACKAGE_NOT_FOUND', `package "${r}" not found for ${apt.arch} in Debian's lists (check the name on packages.debian.org)`);
  }
  const rootSet = new Set(roots);
  let frontier = [...rootInfos.values()];
  const from = new Map<string, string>(); // dependency -> a package that needs it, for messages
  while (frontier.length > 0) {
    const wanted: string[] = [];
    for (const info of frontier) {
      for (const d of info.depends) {
        if (skip.has(d) || rootSet.has(d) || seen.has(d) || wanted.includes(d)) continue;
        wanted.push(d);
        if (!from.has(d)) from.set(d, info.package);
      }
    }
    wanted.sort();
    const got = await apt.showMany(wanted);
    const next: DebInfo[] = [];
    const add = (info: DebInfo) => {
      if (seen.has(info.package) || rootSet.has(info.package) || skip.has(info.package)) return;
      seen.set(info.package, info);
      next.push(info);
    };
    for (const name of wanted) {
      const info = got.get(name);
      if (info) {
        add(info);
        continue;
      }
      // a virtual package: reuse a provider we already have, else pick one deterministically
      const providers = await apt.providers(name);
      if (providers.length === 0) {
        throw new PkgError('PACKAGE_NOT_FOUND', `dependency "${name}" of ${from.get(name)} (${apt.arch}) is neither a package nor provided by one in Debian's lists`);
      }
      if (providers.some((p) => seen.has(p) || rootSet.has(p) || skip.has(p) || wanted.includes(p))) continue;
      const chosen = (await apt.showMany([providers[0]])).get(providers[0]);
      if (!chosen) throw new PkgError('PACKAGE_NOT_FOUND', `provider ${providers[0]} of "${name}" has no candidate for ${apt.arch}`);
      add(chosen);
    }
    frontier = next;
  }
  return [...seen.values()].sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
}
