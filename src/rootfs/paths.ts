// Path arithmetic for image roots. Every path is relative to the root it belongs to and is
// resolved the way a chroot would resolve it: `..` never climbs above the root and symlinks are
// followed inside it. That is what keeps a hostile layer inside the image.

/** Lexically clean a layer path: drop '.', '' and leading '/', apply '..' clamped at the root. */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

export function baseOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** All proper ancestors of a clean path, outermost first: 'a/b/c' -> ['a', 'a/b']. */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  let i = p.indexOf('/');
  while (i >= 0) {
    out.push(p.slice(0, i));
    i = p.indexOf('/', i + 1);
  }
  return out;
}

export function isUnder(p: string, dir: string): boolean {
  return dir === '' || p === dir || p.startsWith(dir + '/');
}

/**
 * Resolve the directory part of `p` inside a root whose symlinks are given, as chroot would:
 * each symlink met among the ancestors is replaced by its target (absolute targets start again
 * at the root, relative ones at the link's directory), `..` is clamped at the root. The last
 * component is kept as it is (an entry *is* that name; it is not followed).
 * Returns the clean path, or undefined when the links loop.
 */
export function resolveParentsInRoot(p: string, symlinkTarget: (path: string) => string | undefined): string | undefined {
  const clean = cleanPath(p);
  if (clean === '') return clean;
  const parent = parentOf(clean);
  const dir = resolveInRoot(parent, symlinkTarget);
  if (dir === undefined) return undefined;
  return dir === '' ? baseOf(clean) : `${dir}/${baseOf(clean)}`;
}

/** Resolve a whole path inside the root, following symlinks in every component. */
export function resolveInRoot(p: string, symlinkTarget: (path: string) => string | undefined): string | undefined {
  const todo = cleanPathKeepDots(p).reverse();
  const done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const seg = todo.pop()!;
    if (seg === '..') { done.pop(); continue; }
    const here = done.length ? `${done.join('/')}/${seg}` : seg;
    const target = symlinkTarget(here);
    if (target === undefined) { done.push(seg); continue; }
    if (++hops > 40) return undefined; // ELOOP, as the kernel counts
    if (target.startsWith('/')) done.length = 0;
    todo.push(...cleanPathKeepDots(target).reverse());
  }
  return done.join('/');
}

function cleanPathKeepDots(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/** Join a prefix (e.g. 'containers/onboot/000-x/rootfs') and a clean relative path; both are clean, so no normalizing. */
export function joinPath(prefix: string, p: string): string {
  if (prefix === '') return p;
  if (p === '') return prefix;
  return `${prefix}/${p}`;
}

/**
 * Whether `p` is a name every unpacker puts inside its target directory as it is: relative,
 * not empty, no empty, `.` or `..` component, no NUL.
 */
export function isCleanName(p: string): boolean {
  if (p === '' || p.includes('\0')) return false;
  for (const seg of p.split('/')) if (seg === '' || seg === '.' || seg === '..') return false;
  return true;
}
