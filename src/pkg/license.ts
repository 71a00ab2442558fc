// A Debian package's license as an SPDX expression, from its machine-readable copyright file
// (DEP-5, https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/): the License of the
// `Files: *` paragraph (else the header's), its Debian short names mapped to SPDX identifiers.
// Pure, and a leaf: an SBOM must not claim a license it is not sure of, so anything not
// machine-readable, or any name or exception not in the tables below, gives undefined (the SBOM
// then says NOASSERTION).

/** Debian short names (lowercase) that are not spelled as SPDX spells them, or not versioned the GNU way. */
const NAMES: Record<string, string> = {
  expat: 'MIT',
  mit: 'MIT',
  'mit/x11': 'MIT',
  x11: 'X11',
  isc: 'ISC',
  zlib: 'Zlib',
  libpng: 'Libpng',
  'libpng-2.0': 'libpng-2.0',
  curl: 'curl',
  ftl: 'FTL',
  openssl: 'OpenSSL',
  postgresql: 'PostgreSQL',
  sleepycat: 'Sleepycat',
  unlicense: 'Unlicense',
  wtfpl: 'WTFPL',
  '0bsd': '0BSD',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-4-clause': 'BSD-4-Clause',
  'bsd-3-clause-clear': 'BSD-3-Clause-Clear',
  'apache-1.0': 'Apache-1.0',
  'apache-1.1': 'Apache-1.1',
  'apache-2.0': 'Apache-2.0',
  'apache-2': 'Apache-2.0',
  artistic: 'Artistic-1.0-Perl',
  'artistic-1.0': 'Artistic-1.0',
  'artistic-2.0': 'Artistic-2.0',
  'bsl-1.0': 'BSL-1.0',
  cc0: 'CC0-1.0',
  'cc0-1.0': 'CC0-1.0',
  'cc-by-3.0': 'CC-BY-3.0',
  'cc-by-4.0': 'CC-BY-4.0',
  'cc-by-sa-3.0': 'CC-BY-SA-3.0',
  'cc-by-sa-4.0': 'CC-BY-SA-4.0',
  'cddl-1.0': 'CDDL-1.0',
  'epl-1.0': 'EPL-1.0',
  'epl-2.0': 'EPL-2.0',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2.0': 'MPL-2.0',
  'ofl-1.1': 'OFL-1.1',
  'psf-2': 'PSF-2.0',
  'python-2.0': 'Python-2.0',
  'lppl-1.3c': 'LPPL-1.3c',
  'afl-2.1': 'AFL-2.1',
  'afl-3.0': 'AFL-3.0',
  'unicode-dfs-2016': 'Unicode-DFS-2016',
  'openldap-2.8': 'OLDAP-2.8',
  'sgi-2': 'SGI-B-2.0',
  'fsfap': 'FSFAP',
  'fsful': 'FSFUL',
  'fsfullr': 'FSFULLR',
  ruby: 'Ruby',
  'bitstream-vera': 'Bitstream-Vera',
};

/**
 * DEP-5 exception names (lowercase, before " exception") with an SPDX exception identifier. Not
 * "OpenSSL": each program words its own, and SPDX lists them apart (openvpn-openssl-exception, ...).
 */
const EXCEPTIONS: Record<string, string> = {
  font: 'Font-exception-2.0',
  'gcc-exception-3.1': 'GCC-exception-3.1',
  'gcc-3.1': 'GCC-exception-3.1',
  'gcc-exception-2.0': 'GCC-exception-2.0',
  'autoconf-exception-3.0': 'Autoconf-exception-3.0',
  'autoconf-3.0': 'Autoconf-exception-3.0',
  'bison-exception-2.2': 'Bison-exception-2.2',
  'bison-2.2': 'Bison-exception-2.2',
  classpath: 'Classpath-exception-2.0',
  'classpath-exception-2.0': 'Classpath-exception-2.0',
  'libtool': 'Libtool-exception',
  'llvm': 'LLVM-exception',
  'linux-syscall-note': 'Linux-syscall-note',
};

// GNU licenses are versioned `-only` / `-or-later` in SPDX; Debian writes GPL-2 and GPL-2+ (and
// sometimes the SPDX 2.0 spellings GPL-2.0 and GPL-2.0+).
const GNU = /^(a?gpl|lgpl|gfdl|gfdl-niv)-(\d(?:\.\d)?)(\+)?$/;
const GNU_VERSIONS: Record<string, readonly string[]> = {
  gpl: ['1.0', '2.0', '3.0'],
  agpl: ['3.0'],
  lgpl: ['2.0', '2.1', '3.0'],
  gfdl: ['1.1', '1.2', '1.3'],
  'gfdl-niv': ['1.1', '1.2', '1.3'],
};

/** One Debian license short name (with an optional `+`) as an SPDX identifier; undefined when unknown. */
function spdxName(debian: string): string | undefined {
  const name = debian.toLowerCase();
  const gnu = GNU.exec(name);
  if (gnu) {
    const [, family, v, plus] = gnu;
    const version = v.includes('.') ? v : `${v}.0`;
    if (!GNU_VERSIONS[family].includes(version)) return undefined;
    const suffix = plus ? 'or-later' : 'only';
    if (family === 'gfdl-niv') return `GFDL-${version}-no-invariants-${suffix}`;
    return `${family.toUpperCase()}-${version}-${suffix}`;
  }
  if (NAMES[name]) return NAMES[name];
  // a non-GNU license "or any later version": SPDX's `+` operator
  if (name.endsWith('+') && NAMES[name.slice(0, -1)]) return `${NAMES[name.slice(0, -1)]}+`;
  return undefined;
}

/** `NAME` or `NAME with X exception`. */
function term(text: string): string | undefined {
  const m = /^(\S+)(?:\s+with\s+(.+?)\s+exception)?$/i.exec(text.trim());
  if (!m) return undefined;
  const id = spdxName(m[1]);
  if (!id || m[2] === undefined) return id;
  const exception = EXCEPTIONS[m[2].toLowerCase()];
  return exception ? `${id} WITH ${exception}` : undefined;
}

/** ` or ` / ` and ` without commas: SPDX gives AND the tighter binding, as DEP-5 does. */
function plain(text: string): { expr: string; ors: boolean } | undefined {
  const alternatives = text.split(/\s+or\s+/i);
  const parts: string[] = [];
  for (const alt of alternatives) {
    const all = alt.split(/\s+and\s+/i).map(term);
    if (all.some((t) => t === undefined)) return undefined;
    parts.push(all.join(' AND '));
  }
  return { expr: parts.join(' OR '), ors: parts.length > 1 };
}

/**
 * A DEP-5 license line as an SPDX expression. DEP-5: "A or B, and C" means (A or B) and C: a
 * comma closes what stands before it.
 */
export function spdxExpression(line: string): string | undefined {
  const pieces = line.trim().split(/\s*,\s*(?=(?:and|or)\s)/i);
  let expr: string | undefined;
  let grouped = false;
  for (const [i, piece] of pieces.entries()) {
    let text = piece;
    let op = '';
    if (i > 0) {
      const m = /^(and|or)\s+/i.exec(text)!;
      op = m[1].toUpperCase();
      text = text.slice(m[0].length);
    }
    const p = plain(text);
    if (!p || p.expr === '') return undefined;
    if (i === 0) {
      expr = p.expr;
      grouped = p.ors;
      continue;
    }
    const left = grouped && op === 'AND' ? `(${expr})` : expr;
    const right = p.ors && op === 'AND' ? `(${p.expr})` : p.expr;
    expr = `${left} ${op} ${right}`;
    grouped = op === 'OR' || p.ors;
  }
  return expr;
}

/** The paragraphs of a deb822 file, each a map of lowercase field name -> value (continuation lines joined by '\n'). */
function paragraphs(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur: Map<string, string> | undefined;
  let last: string | undefined;
  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (raw.startsWith('#')) continue;
    if (raw.trim() === '') {
      cur = undefined;
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(raw)) {
      if (cur && last !== undefined) cur.set(last, `${cur.get(last)}\n${raw.trim()}`);
      continue;
    }
    const m = /^([^\s:]+):(.*)$/.exec(raw);
    if (!m) continue;
    if (!cur) out.push((cur = new Map()));
    last = m[1].toLowerCase();
    cur.set(last, m[2].trim());
  }
  return out;
}

/**
 * The SPDX expression of the license of a package whose copyright file is `copyrightText`:
 * the License of its `Files: *` paragraph, else the header paragraph's License; undefined when
 * the file is not machine-readable (no DEP-5 Format line) or a name in it is not known.
 */
export function licenseOf(copyrightText: string): string | undefined {
  const paras = paragraphs(copyrightText);
  const header = paras[0];
  const format = header?.get('format') ?? header?.get('format-specification');
  if (!format || !/copyright-format|dep-?5/i.test(format)) return undefined;
  const all = paras.find((p) => p.get('files')?.split(/\s+/).includes('*'));
  const line = (all ?? header).get('license')?.split('\n')[0];
  return line ? spdxExpression(line) : undefined;
}
