// The WWW-Authenticate header of a 401 (RFC 7235): `Bearer realm="…",service="…",scope="…"` or
// `Basic realm="…"`. Pure.

export interface Challenge {
  /** Lowercase: 'bearer' or 'basic' (others are reported, not handled). */
  scheme: string;
  params: Record<string, string>;
}

/** The first challenge of a header (registries send one). Undefined for an empty header. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  let rest = m[2];
  const pair = /^\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/s;
  for (;;) {
    const p = pair.exec(rest);
    if (!p) break;
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    rest = rest.slice(p[0].length);
  }
  return { scheme: m[1].toLowerCase(), params };
}

/** `repository:<name>:<actions>` scopes as the token server wants them. */
export function repositoryScope(repository: string, actions: ('pull' | 'push')[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}
