// Path globs for selecting files out of a .deb: `*` and `?` stay within one path segment,
// a `**` segment spans any number of segments (including none). Paths and patterns are
// compared in normalized form: no leading '/' or './', no trailing '/'.

export function normalizePath(p: string): string {
  let s = p.replace(/\/+/g, '/');
  while (s.startsWith('./')) s = s.slice(2);
  s = s.replace(/^\/+/, '').replace(/\/+$/, '');
  return s === '.' ? '' : s;
}

function segmentSource(seg: string): string {
  let out = '';
  for (const ch of seg) {
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

export function globToRegExp(pattern: string): RegExp {
  const segs = normalizePath(pattern).split('/');
  let src = '';
  let needSep = false;
  segs.forEach((seg, i) => {
    if (seg !== '**') {
      src += (needSep ? '/' : '') + segmentSource(seg);
      needSep = true;
    } else if (i === segs.length - 1) {
      src += needSep ? '/.+' : '.+'; // `a/**`: everything below a
    } else {
      // zero or more whole segments; the separator before the next segment is part of them
      src += needSep ? '(?:/[^/]+)*' : '(?:[^/]+/)*';
    }
  });
  return new RegExp(`^${src}$`);
}

export interface PathMatcher {
  matches(path: string): boolean;
  /** Patterns that matched nothing so far: a typo, or a path that differs on this arch. */
  unmatched(): string[];
}

export function pathMatcher(patterns: string[] | undefined): PathMatcher {
  if (!patterns) return { matches: () => true, unmatched: () => [] };
  const compiled = patterns.map((p) => ({ p, re: globToRegExp(p), hit: false }));
  return {
    matches(path) {
      const n = normalizePath(path);
      let any = false;
      for (const c of compiled) {
        if (c.re.test(n)) {
          c.hit = true;
          any = true;
        }
      }
      return any;
    },
    unmatched: () => compiled.filter((c) => !c.hit).map((c) => c.p),
  };
}
