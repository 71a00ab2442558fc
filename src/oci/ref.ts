// Image references, parsed and normalized the way docker does (distribution/reference and
// go-containerregistry's pkg/name): `[registry/]repository[:tag][@digest]`, where the first
// path component is a registry only if it looks like a host (has a '.' or ':', or is
// 'localhost'), Docker Hub is the default registry and its single-name repositories live under
// 'library/'. Unlike newer docker we do not take 'Foo/bar' as registry 'Foo': the user almost
// certainly meant a repository, and "must be lowercase" is the useful answer.
import { RefError } from './errors.js';

export interface ImageRef {
  /** Registry host[:port], 'docker.io' by default. */
  registry: string;
  /** Repository path, lowercase, e.g. 'library/alpine' or 'osbuild/init'. */
  repository: string;
  /** Tag; 'latest' when the reference gives neither a tag nor a digest. */
  tag?: string;
  /** Content digest 'sha256:<64 hex>' when the reference pins one. */
  digest?: string;
}

export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_NAMESPACE = 'library';
const DEFAULT_TAG = 'latest';
// docker limits the whole name (registry + repository) to 255 characters.
const NAME_MAX = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function fail(input: string, why: string): never {
  throw new RefError(`invalid image reference ${JSON.stringify(input)}: ${why}`, input);
}

/** True when the first path component names a registry rather than part of the repository. */
function isRegistryComponent(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost';
}

export function parseRef(input: string): ImageRef {
  if (input.length === 0) fail(input, 'it is empty');
  if (/\s/.test(input)) fail(input, 'it contains whitespace');
  if (input.includes('://')) fail(input, 'a reference has no URL scheme; write host/repository:tag');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      fail(input, `digest ${JSON.stringify(digest)} is not sha256:<64 lowercase hex digits>`);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      fail(input, `tag ${JSON.stringify(tag)} must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'`);
    }
  }

  if (rest.length === 0) fail(input, 'the repository name is missing');
  if (rest.length > NAME_MAX) fail(input, `the name is longer than ${NAME_MAX} characters`);

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && isRegistryComponent(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
    if (!DOMAIN_RE.test(registry)) fail(input, `registry ${JSON.stringify(registry)} is not a valid host[:port]`);
    if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  }
  if (repository.length === 0) fail(input, 'the repository name is missing');
  for (const component of repository.split('/')) {
    if (component.length === 0) fail(input, 'the repository has an empty path component');
    if (component !== component.toLowerCase()) fail(input, `repository name ${JSON.stringify(repository)} must be lowercase`);
    if (!PATH_COMPONENT_RE.test(component)) {
      fail(input, `repository component ${JSON.stringify(component)} must be lowercase letters and digits separated by '.', '_', '__' or '-'`);
    }
  }
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `${OFFICIAL_NAMESPACE}/${repository}`;
  if (registry.length + 1 + repository.length > NAME_MAX) fail(input, `the name is longer than ${NAME_MAX} characters`);

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: ImageRef = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function suffix(r: ImageRef): string {
  return (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** The fully qualified form, e.g. docker.io/library/alpine:3.20; the store's key for a ref. */
export function formatRef(r: ImageRef): string {
  return `${r.registry}/${r.repository}${suffix(r)}`;
}

/** The short form people type, e.g. alpine:3.20 or osbuild/init:0.1.0; for display only. */
export function familiarRef(r: ImageRef): string {
  if (r.registry !== DEFAULT_REGISTRY) return formatRef(r);
  const parts = r.repository.split('/');
  const repo = parts.length === 2 && parts[0] === OFFICIAL_NAMESPACE ? parts[1] : r.repository;
  return `${repo}${suffix(r)}`;
}

/** parseRef then formatRef: the canonical string for any accepted spelling. */
export function normalizeRef(input: string): string {
  return formatRef(parseRef(input));
}

/** The repository part alone, e.g. docker.io/library/alpine. */
export function repositoryName(r: ImageRef): string {
  return `${r.registry}/${r.repository}`;
}

/** True when `s` is a tag on its own ("latest", "3.20") rather than a reference with a name. */
export function isBareTag(s: string): boolean {
  return TAG_RE.test(s) && !s.includes('/') && !s.includes(':') && !s.includes('@');
}

/** True when `input` spells a tag or digest explicitly (parseRef fills in 'latest' otherwise). */
export function hasExplicitVersion(input: string): boolean {
  const lastPart = input.slice(input.lastIndexOf('/') + 1);
  return lastPart.includes(':') || lastPart.includes('@');
}
