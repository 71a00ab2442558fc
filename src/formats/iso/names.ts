// ISO 9660 file identifiers for POSIX names. The real names travel in Rock Ridge NM entries;
// these identifiers are what readers without Rock Ridge see (and what isolinux falls back to).
// They follow level 2/3 rules (ECMA-119 7.5, 7.6): d-characters (A-Z 0-9 _), at most 30
// characters of name + extension for files, then ";1"; at most 31 characters for directories.
// Names that collide after mapping get a "~N" suffix, in the order of their POSIX names, so the
// result does not depend on input order.

const FILE_MAX = 30;
const DIR_MAX = 31;
const EXT_MAX = 8;

function dchars(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

function fileParts(name: string): [string, string] {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return [dchars(name), ''];
  return [dchars(name.slice(0, dot)), dchars(name.slice(dot + 1)).slice(0, EXT_MAX)];
}

function fileId(base: string, ext: string, suffix: string): string {
  const room = FILE_MAX - ext.length - suffix.length;
  return `${base.slice(0, Math.max(0, room))}${suffix}.${ext};1`;
}

function dirId(base: string, suffix: string): string {
  return base.slice(0, DIR_MAX - suffix.length) + suffix;
}

export interface NamedChild {
  name: string;
  isDir: boolean;
}

/**
 * ISO identifiers for the children of one directory, in the order given. `children` must be
 * sorted by POSIX name (the caller does it) so that "~N" suffixes are deterministic.
 */
export function isoIdentifiers(children: NamedChild[]): string[] {
  const taken = new Set<string>();
  return children.map((c) => {
    const [base, ext] = c.isDir ? [dchars(c.name), ''] : fileParts(c.name);
    const make = (suffix: string) => (c.isDir ? dirId(base || '_', suffix) : fileId(base, ext, suffix));
    let id = make('');
    // an all-empty identifier ('.;1') is legal but confusing: give it a name
    if (!c.isDir && base === '' && ext === '') id = make('_');
    for (let n = 1; taken.has(id); n++) id = make(`~${n}`);
    taken.add(id);
    return id;
  });
}

function splitId(id: string): [string, string, number] {
  const semi = id.lastIndexOf(';');
  const version = semi >= 0 ? Number(id.slice(semi + 1)) : 0;
  const body = semi >= 0 ? id.slice(0, semi) : id;
  const dot = body.indexOf('.');
  return dot >= 0 ? [body.slice(0, dot), body.slice(dot + 1), version] : [body, '', version];
}

function cmpPadded(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  const pa = a.padEnd(n, ' ');
  const pb = b.padEnd(n, ' ');
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** Order of directory records (ECMA-119 9.3): name, then extension (space-padded), then version descending. */
export function compareIdentifiers(a: string, b: string): number {
  const [an, ae, av] = splitId(a);
  const [bn, be, bv] = splitId(b);
  return cmpPadded(an, bn) || cmpPadded(ae, be) || bv - av;
}
