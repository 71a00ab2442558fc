// The content store: an OCI image layout on disk (oci-layout, index.json, blobs/sha256/<hex>).
// Every blob is verified against its digest when written and when read; a blob appears only
// complete (temp file in the layout's .tmp/, fsync, rename); index.json changes under an
// inter-process lock so concurrent builds never lose a tag. Tools (skopeo, umoci) can read the
// layout: refs are index.json entries annotated with the full normalized reference. A blob that
// is missing or corrupt when read is reported with the image that needs it and the command that
// gets it back (each tag records the one that brought it: ORIGIN_ANNOTATION).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { z } from 'zod';
import { showName } from '../formats/names.js';
import { DerivedCache } from './derived.js';
import { canonicalJSON, digestHex, mismatch } from './digest.js';
import { imageConfigDocument, indexDocument, manifestDocument, parseJsonDocument, zodSummary } from './documents.js';
import { StoreError } from './errors.js';
import { withLock } from './lock.js';
import { OWNER_TOKEN_RE, ownerState, ownerToken } from './owner.js';
import { diskFullError, isNoSpace } from './space.js';
import { documentKind, mediaTypeFor, SCHEMA1_TYPES } from './media.js';
import { formatPlatform, listPlatforms, platformFor, platformMatches, selectManifest } from './platform.js';
import { formatRef, parseRef, type ImageRef } from './ref.js';
import {
  Descriptor as DescriptorSchema,
  ImageConfig as ImageConfigSchema,
  Index as IndexSchema,
  Manifest as ManifestSchema,
  MediaType,
  REF_NAME_ANNOTATION,
} from './types.js';
import type { Arch } from '../arch.js';
import { defaultCacheDir } from '../defaults.js';
import type { Descriptor, ImageConfig, ImageRuntimeConfig, Index, Manifest } from './types.js';

/** What a writer knows about a blob in advance; every given field is checked. */
export interface BlobExpect {
  digest?: string;
  size?: number;
  mediaType?: string;
  /** Names the blob in error messages, e.g. "layer 2 of docker.io/library/alpine:3.20". */
  what?: string;
}

/** What a reader knows: the size from the descriptor, and who needs the blob (for messages). */
export interface BlobContext {
  size?: number;
  ref?: string;
  what?: string;
}

/** A verified blob waiting in a temp file: commit() moves it into the store, discard() drops it. */
export interface StagedBlob {
  readonly descriptor: Descriptor;
  /** Reads the staged content back (e.g. to look inside a layer before committing it). */
  open(): AsyncIterable<Uint8Array>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export interface ResolvedImage {
  /** The full normalized reference that was resolved. */
  ref: string;
  /** The index (manifest list) the manifest was chosen from, when there was one. */
  indexDigest?: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
  layers: Descriptor[];
}

export interface StoreOptions {
  /** Appended to "image X is not in the store" errors, e.g. how to build or import it. */
  missingImageHint?: (ref: string) => string;
  /**
   * Keep the small blobs read whole (manifests, indexes, configs), verified, and what they were
   * parsed into, for the life of this Store object: a build looks each image up several times.
   * For a Store that lives as long as one build: a blob damaged after its first read is not
   * noticed again by this object (content-addressed, it cannot have changed legitimately).
   */
  rememberDocuments?: boolean;
}

/** Blobs larger than this are not kept by StoreOptions.rememberDocuments (documents are a few KiB). */
const REMEMBER_MAX = 1 << 20;

/**
 * Annotation on a tag (index.json entry): the osbuild command that put the image there, e.g.
 * `osbuild pull docker.io/library/alpine:3.20`. Messages about a missing or corrupt blob quote it
 * as the way to get the image back.
 */
export const ORIGIN_ANNOTATION = 'org.osbuild.origin';

const OCI_LAYOUT_VERSION = '1.0.0';
// index.json holds only the tags: without it the blobs stay, and each image comes back by the
// way it came (a build pulls or builds its own)
const INDEX_FIX = '; mend it by hand, or delete it: every ref is then forgotten (blobs stay until `osbuild cache prune`) and images come back by pull, import or build';
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;
const MAX_INDEX_DEPTH = 4;
/**
 * Bytes per read of a blob. A chunk lives until the inflater has used it up: at 1 MiB that is
 * long enough (dozens of small files of output) for young-generation GCs to promote it, and
 * promoted buffers pile up (~60 MB on a large root) until a full GC; 128 KiB chunks die young,
 * at no measured cost in time.
 */
const BLOB_CHUNK = 1 << 17;
// Names a fresh store may already contain (a concurrent process creating the same store).
const OWN_NAMES = new Set(['blobs', '.tmp', 'index.json', 'oci-layout', '.index.lock']);

/** The store in the default cache directory (src/defaults.ts): $XDG_CACHE_HOME/osbuild/store, else ~/.cache/osbuild/store. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultCacheDir(env), 'store');
}

function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

function withoutRefName(d: Descriptor): Descriptor {
  const { annotations, ...rest } = d;
  if (!annotations) return { ...rest };
  const { [REF_NAME_ANNOTATION]: _drop, [ORIGIN_ANNOTATION]: _origin, ...others } = annotations;
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : { ...rest };
}

/** Named entries sorted by name after unnamed ones (kept in their order): stable bytes. */
function sortEntries(ms: Descriptor[]): Descriptor[] {
  const unnamed = ms.filter((m) => refNameOf(m) === undefined);
  const named = ms.filter((m) => refNameOf(m) !== undefined);
  named.sort((a, b) => (refNameOf(a)! < refNameOf(b)! ? -1 : refNameOf(a)! > refNameOf(b)! ? 1 : 0));
  return [...unnamed, ...named];
}

/** A word of a shell command line, quoted when it needs to be (origins are commands to copy). */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === code;
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    off += bytesWritten;
  }
}

/** What identifies one version of a file that is only ever replaced (renamed over), never rewritten. */
async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

function toRef(ref: string | ImageRef): ImageRef {
  return typeof ref === 'string' ? parseRef(ref) : ref;
}

export class Store {
  private constructor(
    readonly dir: string,
    private readonly options: StoreOptions,
  ) {}

  /** Opens the layout at `dir`, creating it if needed, and sweeps temp files older than an hour. */
  static async open(dir: string, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(resolvePath(dir), options);
    await store.init();
    return store;
  }

  private get tmpDir(): string {
    return join(this.dir, '.tmp');
  }

  private get indexPath(): string {
    return join(this.dir, 'index.json');
  }

  private async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const layoutPath = join(this.dir, 'oci-layout');
    let layoutText = await readFile(layoutPath, 'utf8').catch((e) => {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (layoutText === undefined) {
      const foreign = (await readdir(this.dir)).filter((n) => !OWN_NAMES.has(n));
      if (foreign.length > 0) {
        throw new StoreError(
          'EINVALID',
          `${this.dir} is not an OCI image layout (no oci-layout file) and is not empty (${foreign.slice(0, 3).join(', ')}): choose an empty or new directory for the store`,
        );
      }
    }
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await mkdir(this.tmpDir, { recursive: true });
    if (layoutText === undefined) {
      await this.createOnce(layoutPath, canonicalJSON({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
      layoutText = await readFile(layoutPath, 'utf8');
    }
    let version: unknown;
    try {
      version = (JSON.parse(layoutText) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== OCI_LAYOUT_VERSION) {
      throw new StoreError('EINVALID', `${layoutPath}: expected imageLayoutVersion ${OCI_LAYOUT_VERSION}, found ${JSON.stringify(version)}`);
    }
    const empty: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    // checked first: creating it costs a synced temp file, and a store has one after its first use
    if ((await fileStamp(this.indexPath)) === undefined) await this.createOnce(this.indexPath, canonicalJSON(empty));
    await this.cleanTemp();
  }

  // ---- temp files ----------------------------------------------------------------------------

  // the owner token lets cleanTemp remove a killed process's files at once, and never a live one's
  private tempPath(): string {
    return join(this.tmpDir, `${ownerToken()}-${randomBytes(8).toString('hex')}`);
  }

  /** A full disk under the store, described (mount, free space, what was needed). */
  private async noSpace(e: unknown, what: string, needed?: number): Promise<unknown> {
    if (!isNoSpace(e)) return e;
    return diskFullError(this.dir, { what: `${what} into the store`, needed, remedy: 'use another cache directory (--cache DIR)', cause: e });
  }

  private async writeTemp(bytes: Uint8Array): Promise<string> {
    const path = this.tempPath();
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'wx', 0o644);
      await writeAll(fh, bytes);
      await fh.sync();
      await fh.close();
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw await this.noSpace(e, `${bytes.byteLength} bytes of store metadata`, bytes.byteLength);
    }
    return path;
  }

  /** Creates `path` with `bytes` unless it exists; never overwrites (link fails on EEXIST). */
  private async createOnce(path: string, bytes: Uint8Array): Promise<void> {
    const tmp = await this.writeTemp(bytes);
    try {
      await link(tmp, path);
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Removes temp files left by killed processes: at once when the name says whose they were and
   * that process is gone, else once older than `maxAgeMs` (files of a live process are kept
   * whatever their age). Returns how many were removed.
   */
  async cleanTemp(maxAgeMs: number = TEMP_MAX_AGE_MS): Promise<number> {
    let removed = 0;
    const names = await readdir(this.tmpDir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(this.tmpDir, name);
      const token = new RegExp(`^${OWNER_TOKEN_RE.source}-`).exec(name)?.[0].slice(0, -1);
      const owner = token ? ownerState(token) : 'unknown';
      if (owner === 'alive') continue;
      try {
        if (owner === 'dead' || Date.now() - (await stat(path)).mtimeMs > maxAgeMs) {
          await rm(path, { recursive: true, force: true });
          removed++;
        }
      } catch {
        // removed by another process meanwhile
      }
    }
    return removed;
  }

  // ---- blobs ---------------------------------------------------------------------------------

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /**
   * Streams `source` into a temp file while hashing, fsyncs, and checks digest and size against
   * `expected`. Nothing enters the store until commit(). The source is always read to its end
   * (or to the first excess byte), so a tar entry can be passed directly.
   */
  async stageBlob(source: Uint8Array | AsyncIterable<Uint8Array>, expected: BlobExpect = {}): Promise<StagedBlob> {
    if (expected.digest !== undefined) digestHex(expected.digest);
    const what = expected.what ?? (expected.digest !== undefined ? `blob ${expected.digest}` : 'blob');
    // Content we already hold still has to match, but need not be written again.
    const present = expected.digest !== undefined && (await this.hasBlob(expected.digest));
    const tmp = this.tempPath();
    const fh = present ? undefined : await open(tmp, 'wx', 0o644).catch(async (e: unknown) => { throw await this.noSpace(e, what, expected.size); });
    const hash = createHash('sha256');
    let size = 0;
    try {
      const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = source instanceof Uint8Array ? [source] : source;
      for await (const chunk of chunks) {
        size += chunk.byteLength;
        if (expected.size !== undefined && size > expected.size) {
          throw new StoreError('EDIGEST', `${what}: content is longer than the expected ${expected.size} bytes${expected.digest ? ` (${expected.digest})` : ''}`);
        }
        hash.update(chunk);
        if (fh) await writeAll(fh, chunk);
      }
      if (fh) await fh.sync();
      await fh?.close();
    } catch (e) {
      await fh?.close().catch(() => undefined);
      if (fh) await unlink(tmp).catch(() => undefined);
      throw await this.noSpace(e, what, expected.size);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if ((expected.digest !== undefined && digest !== expected.digest) || (expected.size !== undefined && size !== expected.size)) {
      if (fh) await unlink(tmp).catch(() => undefined);
      throw mismatch(what, expected, { digest, size });
    }
    const descriptor: Descriptor = { mediaType: expected.mediaType ?? 'application/octet-stream', digest, size };
    let settled = false;
    return {
      descriptor,
      open: () => (fh ? (createReadStream(tmp) as AsyncIterable<Buffer>) : this.openBlob(digest, { size })),
      commit: async () => {
        if (settled) return;
        settled = true;
        if (fh) await rename(tmp, this.blobPath(digest));
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        if (fh) await unlink(tmp).catch(() => undefined);
      },
    };
  }

  /** Writes a verified blob (see stageBlob) and returns its descriptor. */
  async putBlob(source: Uint8Array | AsyncIterable<Uint8Array>, expected: BlobExpect = {}): Promise<Descriptor> {
    const staged = await this.stageBlob(source, expected);
    await staged.commit();
    return staged.descriptor;
  }

  /** Writes a document as canonical JSON bytes (no whitespace) and returns its descriptor. */
  async putJSON(obj: unknown, mediaType: string): Promise<Descriptor> {
    return this.putBlob(canonicalJSON(obj), { mediaType });
  }

  // Blobs of the images resolved through this Store object, so that a failure reading one (from
  // code that has only the descriptor: a layer reader) can name the image and how to get it back.
  private readonly owners = new Map<string, { ref: string; what: string }>();

  private whose(digest: string, ctx: BlobContext): { ref?: string; what?: string } {
    const o = this.owners.get(digest);
    return { ref: ctx.ref ?? o?.ref, what: ctx.what ?? (ctx.ref === undefined || ctx.ref === o?.ref ? o?.what : undefined) };
  }

  /**
   * The command that gets `ref` back into the store: the one recorded when it was tagged (pull,
   * cache import, pkg build), else the three ways an image can come.
   */
  async originOf(ref: string): Promise<string | undefined> {
    const entry = (await this.readIndex().catch(() => undefined))?.manifests.find((m) => refNameOf(m) === ref);
    return entry?.annotations?.[ORIGIN_ANNOTATION];
  }

  async howToGet(ref: string): Promise<string> {
    const origin = await this.originOf(ref);
    if (origin) return `\`${showName(origin)}\``;
    return `\`osbuild pull ${ref}\`, \`osbuild cache import PATH\` or \`osbuild pkg build DIR\`, whichever it came from (a build gets images from a registry or a component folder by itself)`;
  }

  private async missing(digest: string, ctx: BlobContext): Promise<StoreError> {
    const { ref, what } = this.whose(digest, ctx);
    const about = what ? ` (${what}${ref ? ` of image ${ref}` : ''})` : ref ? ` (of image ${ref})` : '';
    const fix = ref ? `; get the image back with ${await this.howToGet(ref)}` : '; run `osbuild cache verify` to see which images need it';
    return new StoreError('ENOBLOB', `blob ${digest}${about} is not in the store (${showName(this.dir)})${fix}`);
  }

  private async corrupt(digest: string, ctx: BlobContext, actual: { digest: string; size: number }): Promise<StoreError> {
    const { ref, what } = this.whose(digest, ctx);
    const about = what ? ` (${what}${ref ? ` of image ${ref}` : ''})` : ref ? ` (of image ${ref})` : '';
    const err = mismatch(`blob ${digest}${about} is corrupt in the store: its file ${showName(this.blobPath(digest))}`, { digest, size: ctx.size }, actual);
    const back = ref ? `, then get ${ref} back with ${await this.howToGet(ref)}` : ', then get those images back as it says';
    err.message += `. Repair: \`osbuild cache verify --repair\` removes the corrupt blob and the refs that reach it${back}`;
    err.where = `${digest}${about}`;
    err.hint = `\`osbuild cache verify --repair\` removes the corrupt blob and the refs that reach it${back}`;
    return err;
  }

  /**
   * A blob read through a parser (a decompressor, a tar reader) that may give up on the way.
   * Garbage makes parsers fail before the digest check at the end could speak, with messages
   * that name nothing (zlib's "incorrect header check"); so when `parse` fails or stops early,
   * the rest of the blob is read and hashed, and a corrupt blob is reported as such (EDIGEST,
   * naming the digest, the image and the repair). A parse error on an intact blob is rethrown.
   */
  async *readThrough<T>(digest: string, ctx: BlobContext, parse: (bytes: AsyncIterable<Buffer>) => AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
    const raw = this.openBlob(digest, ctx);
    let ended = false;
    // the blob's own verdict; a parser that read ahead may have met it and dropped it (a
    // destroyed stream swallows later errors), so it is kept here
    let verdict: unknown;
    const drain = async (failure: unknown): Promise<void> => {
      if (!ended) {
        ended = true;
        try {
          while (!(await raw.next()).done) { /* openBlob hashes what passes */ }
        } catch (d) {
          verdict = d;
        }
      }
      if (verdict === undefined) return;
      // what the parser made of the garbage is no news to the user, but may be to a developer
      if (verdict instanceof Error && verdict.cause === undefined && failure !== undefined && failure !== verdict) verdict.cause = failure;
      throw verdict;
    };
    // pulled by hand: a parser closing its source must not close the blob before it is hashed
    const bytes: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<Buffer>> => {
          if (ended) return { done: true, value: undefined };
          try {
            const r = await raw.next();
            if (r.done) ended = true;
            return r;
          } catch (e) {
            ended = true;
            verdict = e;
            throw e;
          }
        },
        return: async (): Promise<IteratorResult<Buffer>> => ({ done: true, value: undefined }),
      }),
    };
    try {
      yield* parse(bytes);
    } catch (e) {
      if (e instanceof StoreError) throw e;
      await drain(e);
      const { ref, what } = this.whose(digest, ctx);
      const about = what ? ` (${what}${ref ? ` of image ${ref}` : ''})` : ref ? ` (of image ${ref})` : '';
      throw new StoreError(
        'EINVALID',
        `blob ${digest}${about} cannot be read: ${(e as Error).message}; its content matches its digest, so the image itself is broken: build, pull or import a good one`,
        { cause: e },
      );
    } finally {
      // stopped early (a consumer done, or one that failed on what we gave it): verify the rest
      await drain(undefined);
    }
  }

  /**
   * Streams a blob, hashing as it goes; throws EDIGEST after the last chunk if the content does
   * not match its digest (or the expected size), ENOBLOB if it is absent.
   */
  async *openBlob(digest: string, ctx: BlobContext = {}): AsyncGenerator<Buffer, void, undefined> {
    const path = this.blobPath(digest);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: BLOB_CHUNK }) as AsyncIterable<Buffer>) {
        size += chunk.byteLength;
        if (ctx.size !== undefined && size > ctx.size) throw await this.corrupt(digest, ctx, { digest: 'unknown (too long)', size });
        hash.update(chunk);
        yield chunk;
      }
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw await this.missing(digest, ctx);
      throw e;
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest || (ctx.size !== undefined && size !== ctx.size)) throw await this.corrupt(digest, ctx, { digest: actual, size });
  }

  /** Whether this object keeps the documents it reads (StoreOptions.rememberDocuments): a second lookup costs no reads. */
  get remembersDocuments(): boolean {
    return this.options.rememberDocuments === true;
  }

  // StoreOptions.rememberDocuments: digest -> its verified bytes (being read, or undefined when
  // that read failed or the blob is too big to keep), and what each schema parsed them into
  private readonly documents = new Map<string, Promise<Buffer | undefined>>();
  private readonly parsed = new Map<string, Map<z.ZodType<unknown>, unknown>>();

  /** Reads a (small) blob whole, verified before it is returned. */
  async readBlob(digest: string, ctx: BlobContext = {}): Promise<Buffer> {
    const kept = await this.documents.get(digest);
    // a descriptor giving another size reads the file again, to say what is wrong as before
    if (kept && (ctx.size === undefined || kept.length === ctx.size)) return kept;
    const read = this.readBlobFile(digest, ctx);
    // concurrent readers wait for this read; a failed one is each reader's own (its names)
    if (this.options.rememberDocuments && !kept) this.documents.set(digest, read.then((b) => (b.length <= REMEMBER_MAX ? b : undefined), () => undefined));
    return read;
  }

  private async readBlobFile(digest: string, ctx: BlobContext): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw await this.missing(digest, ctx);
      throw e;
    }
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest || (ctx.size !== undefined && bytes.length !== ctx.size)) {
      throw await this.corrupt(digest, ctx, { digest: actual, size: bytes.length });
    }
    return bytes;
  }

  /** Reads a verified blob and parses it as JSON validated by `schema`. */
  async readJSON<T>(digest: string, schema: z.ZodType<T>, ctx: BlobContext = {}): Promise<T> {
    const bytes = await this.readBlob(digest, ctx);
    return this.parseDocument(bytes, digest, schema, ctx);
  }

  private parseDocument<T>(bytes: Buffer, digest: string, schema: z.ZodType<T>, ctx: BlobContext): T {
    // `bytes` are the verified content of `digest`; only a valid document is kept: an invalid one
    // throws (with this ctx's names) every time
    const kept = this.parsed.get(digest);
    if (kept?.has(schema)) return kept.get(schema) as T;
    const where = `blob ${digest}${ctx.what ? ` (${ctx.what})` : ''}${ctx.ref ? ` of ${ctx.ref}` : ''}`;
    const doc = parseJsonDocument(bytes, schema, where, 'EINVALID');
    if (this.options.rememberDocuments && bytes.length <= REMEMBER_MAX) {
      if (!kept) this.parsed.set(digest, new Map([[schema, doc]]));
      else kept.set(schema, doc);
    }
    return doc;
  }

  // ---- references (index.json) ---------------------------------------------------------------

  // index.json as last read, with the stamp of the file it came from: each image lookup reads the
  // index, and a build looks up each image several times. Writers replace the file (rename), so a
  // file with another content has another stamp (inode, times), whichever process wrote it.
  private index?: { stamp: string; index: Promise<Index> };

  /** The parsed index.json: shared with other callers, not to be changed. */
  private async readIndex(): Promise<Index> {
    // stamped before reading: a file replaced meanwhile is read again next time
    const stamp = await fileStamp(this.indexPath);
    if (stamp === undefined) return { schemaVersion: 2, manifests: [] };
    if (this.index?.stamp === stamp) return this.index.index;
    const kept = { stamp, index: this.readIndexFile() };
    this.index = kept;
    // a failure is not kept: the next reader reads the file again
    kept.index.catch(() => {
      if (this.index === kept) this.index = undefined;
    });
    return kept.index;
  }

  private async readIndexFile(): Promise<Index> {
    let text: string;
    try {
      text = await readFile(this.indexPath, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return { schemaVersion: 2, manifests: [] };
      throw e;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new StoreError('EINVALID', `${this.indexPath} is not valid JSON: ${(e as Error).message}${INDEX_FIX}`);
    }
    const parsed = IndexSchema.safeParse(data);
    if (!parsed.success) throw new StoreError('EINVALID', `${this.indexPath} is not a valid OCI index: ${zodSummary(parsed.error)}${INDEX_FIX}`);
    return parsed.data;
  }

  /** Read-modify-write of index.json under the store lock; the new file replaces the old atomically. */
  private async updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    await withLock(
      join(this.dir, '.index.lock'),
      async () => {
        const current = await this.readIndex();
        const next: Index = {
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: sortEntries(change(current.manifests)),
          ...(current.annotations ? { annotations: current.annotations } : {}),
        };
        const tmp = await this.writeTemp(canonicalJSON(next));
        this.index = undefined;
        await rename(tmp, this.indexPath);
      },
      { scratchDir: this.tmpDir },
    );
  }

  /**
   * Names `desc` (a manifest or index in the store) by the full normalized form of `ref`.
   * `origin`: the osbuild command that got it (see ORIGIN_ANNOTATION).
   */
  async tag(ref: string | ImageRef, desc: Descriptor, opts: { origin?: string } = {}): Promise<void> {
    const name = formatRef(toRef(ref));
    const checked = DescriptorSchema.safeParse(desc);
    if (!checked.success) throw new StoreError('EINVALID', `cannot tag ${name}: invalid descriptor: ${zodSummary(checked.error)}`);
    if (!(await this.hasBlob(desc.digest))) throw await this.missing(desc.digest, { ref: name, what: 'the document to tag' });
    const entry: Descriptor = {
      ...withoutRefName(checked.data),
      annotations: {
        ...withoutRefName(checked.data).annotations,
        ...(opts.origin !== undefined ? { [ORIGIN_ANNOTATION]: opts.origin } : {}),
        [REF_NAME_ANNOTATION]: name,
      },
    };
    await this.updateIndex((ms) => [...ms.filter((m) => refNameOf(m) !== name), entry]);
  }

  /** Removes a reference; returns whether it existed. Blobs stay (content may be shared). */
  async untag(ref: string | ImageRef): Promise<boolean> {
    const name = formatRef(toRef(ref));
    let found = false;
    await this.updateIndex((ms) => {
      const kept = ms.filter((m) => refNameOf(m) !== name);
      found = kept.length !== ms.length;
      return kept;
    });
    return found;
  }

  /** All references, sorted by name. */
  async list(): Promise<{ ref: string; descriptor: Descriptor }[]> {
    const { manifests } = await this.readIndex();
    return sortEntries(manifests)
      .filter((m) => refNameOf(m) !== undefined)
      .map((m) => ({ ref: refNameOf(m)!, descriptor: withoutRefName(m) }));
  }

  /**
   * The descriptor a reference names, or undefined. A reference with a digest is resolved by the
   * digest (the pin wins over the tag) if the store holds that document.
   */
  async resolve(ref: string | ImageRef): Promise<Descriptor | undefined> {
    const r = toRef(ref);
    const name = formatRef(r);
    const { manifests } = await this.readIndex();
    const hit = manifests.find((m) => refNameOf(m) === name);
    if (hit) return withoutRefName(hit);
    if (r.digest === undefined || !(await this.hasBlob(r.digest))) return undefined;
    const bytes = await this.readBlob(r.digest, { ref: name });
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new StoreError('EMEDIATYPE', `${name}: blob ${r.digest} is not a manifest or index (not JSON)`);
    }
    const kind = documentKind(undefined, doc);
    if (kind === 'unknown') throw new StoreError('EMEDIATYPE', `${name}: blob ${r.digest} is not a manifest or index`);
    return { mediaType: mediaTypeFor(kind, doc), digest: r.digest, size: bytes.length };
  }

  // ---- images --------------------------------------------------------------------------------

  /**
   * Follows `ref` to the image for linux/<arch>: through an index (manifest list) to the matching
   * manifest, or a single manifest whose config must be for that architecture.
   */
  async resolveImage(ref: string | ImageRef, arch: Arch, opts: { hint?: string } = {}): Promise<ResolvedImage> {
    const name = formatRef(toRef(ref));
    const top = await this.resolve(name);
    if (!top) {
      const hint = opts.hint ?? this.options.missingImageHint?.(name);
      throw new StoreError('ENOIMAGE', `image ${name} is not in the store (${this.dir})${hint ? `: ${hint}` : ''}`);
    }
    let current = top;
    let indexDigest: string | undefined;
    let viaPlatform = false;
    for (let depth = 0; ; depth++) {
      if (depth > MAX_INDEX_DEPTH) throw new StoreError('EINVALID', `image ${name}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
      if (SCHEMA1_TYPES.has(current.mediaType)) {
        throw new StoreError('EMEDIATYPE', `image ${name} uses a Docker schema 1 manifest, which osbuild does not read: push it again with a current tool`);
      }
      const bytes = await this.readBlob(current.digest, { ref: name, size: current.size, what: viaPlatform ? 'manifest' : 'image' }).catch((e: unknown) => {
        if (viaPlatform && e instanceof StoreError && e.code === 'ENOBLOB') {
          throw new StoreError(
            'ENOBLOB',
            `image ${name}: its manifest for ${formatPlatform(platformFor(arch))} (${current.digest}) is not in the store (${this.dir}); the store holds only some of its platforms: import or pull it again with ${formatPlatform(platformFor(arch))} included`,
          );
        }
        throw e;
      });
      let doc: unknown;
      try {
        doc = JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        throw new StoreError('EINVALID', `image ${name}: blob ${current.digest} is not valid JSON: ${(e as Error).message}`);
      }
      const kind = documentKind(current.mediaType, doc);
      if (kind === 'index') {
        const index = this.parseDocument(bytes, current.digest, IndexSchema, { ref: name, what: 'index' });
        const chosen = selectManifest(index.manifests, arch);
        if (!chosen) {
          throw new StoreError(
            'EPLATFORM',
            `image ${name} has no manifest for ${formatPlatform(platformFor(arch))} (it has: ${listPlatforms(index.manifests)})`,
          );
        }
        indexDigest ??= current.digest;
        current = chosen;
        viaPlatform = true;
        continue;
      }
      if (kind !== 'manifest') {
        throw new StoreError('EMEDIATYPE', `image ${name}: blob ${current.digest} has media type ${JSON.stringify(current.mediaType)}, not an image manifest or index`);
      }
      const manifest = this.parseDocument(bytes, current.digest, ManifestSchema, { ref: name, what: 'manifest' });
      this.owners.set(current.digest, { ref: name, what: 'manifest' });
      this.owners.set(manifest.config.digest, { ref: name, what: 'image config' });
      for (const [i, l] of manifest.layers.entries()) this.owners.set(l.digest, { ref: name, what: `layer ${i + 1}` });
      const config = await this.readJSON(manifest.config.digest, ImageConfigSchema, { ref: name, size: manifest.config.size, what: 'image config' });
      if (!platformMatches(config, arch)) {
        const where = viaPlatform ? 'its index lists it for that platform but its config says' : 'its config says';
        throw new StoreError(
          'EPLATFORM',
          `image ${name} is not for ${formatPlatform(platformFor(arch))}: ${where} ${formatPlatform(config)}`,
        );
      }
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new StoreError(
          'EINVALID',
          `image ${name}: manifest ${current.digest} has ${manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`,
        );
      }
      return {
        ref: name,
        ...(indexDigest !== undefined ? { indexDigest } : {}),
        manifestDigest: current.digest,
        manifest,
        config,
        configDigest: manifest.config.digest,
        layers: manifest.layers,
      };
    }
  }

  /**
   * Writes the config and manifest of a single-architecture image whose layers are already in the
   * store, and returns the manifest's descriptor (with its platform, ready for putIndex).
   */
  async putImage(opts: { arch: Arch; layers: Descriptor[]; diffIds: string[]; config: ImageRuntimeConfig; created?: string }): Promise<Descriptor> {
    if (opts.layers.length !== opts.diffIds.length) {
      throw new RangeError(`putImage: ${opts.layers.length} layers but ${opts.diffIds.length} diffIds`);
    }
    for (const [i, layer] of opts.layers.entries()) {
      if (!(await this.hasBlob(layer.digest))) throw await this.missing(layer.digest, { what: `layer ${i + 1} of the new image` });
      digestHex(opts.diffIds[i]);
    }
    const configDesc = await this.putJSON(imageConfigDocument(opts), MediaType.ociConfig);
    const manifest = await this.putJSON(manifestDocument(configDesc, opts.layers), MediaType.ociManifest);
    return { ...manifest, platform: platformFor(opts.arch) };
  }

  /** Writes an index over per-architecture manifests (ordered by architecture). */
  async putIndex(manifests: { descriptor: Descriptor; arch: Arch }[]): Promise<Descriptor> {
    for (const { descriptor } of manifests) {
      if (!(await this.hasBlob(descriptor.digest))) throw await this.missing(descriptor.digest, { what: 'a manifest of the new index' });
    }
    return this.putJSON(indexDocument(manifests), MediaType.ociIndex);
  }

  // ---- beside the layout ---------------------------------------------------------------------

  /** The cache of data of one kind computed from blobs (layer TOCs, kernel module lists). */
  derived(kind: string): DerivedCache {
    return new DerivedCache(this.derivedDir(kind), kind, (e, what, needed) => this.noSpace(e, what, needed));
  }

  /** `<parent of the layout>/segments`: compressed initramfs pieces of earlier builds (build/segment-cache.ts). */
  segmentsDir(): string {
    return join(dirname(this.dir), 'segments');
  }

  /** `<parent of the layout>/derived/<kind>`: data computed from blobs, kept out of the OCI layout. */
  derivedDir(kind: string): string {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(kind)) throw new RangeError(`derived data kind ${JSON.stringify(kind)} must be a simple lowercase name`);
    return join(dirname(this.dir), 'derived', kind);
  }
}
