// The internal currency of osbuild: one filesystem entry, with its content as a stream.
// Every stage (layer readers, root assembly, format writers) consumes or produces these,
// so nothing is ever extracted onto the host disk.

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface Entry {
  /** Relative to the root it belongs to: no leading '/' or './', no trailing '/', no '..' or '.' segments. Never ''. */
  path: string;
  type: EntryType;
  /** Permission bits only (07777: rwx plus setuid/setgid/sticky), never the S_IFMT type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, integer. */
  mtime: number;
  /** Content length in bytes: regular files only, 0 for every other type. */
  size: number;
  /** Symlink target (as stored, may be absolute), or for 'hardlink' the normalized path of the entry it links to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, binary-safe (security.capability is binary). */
  xattrs?: Record<string, Buffer>;
  /**
   * Link count hint for writers that must know it up front (cpio newc): a regular file that
   * later 'hardlink' entries point at carries nlink = 1 + number of such links.
   */
  nlink?: number;
}

/**
 * An entry and, for regular files, its content. A consumer reads `content` to the end (or not at
 * all) before asking the stream for the next entry; producers drain unread content themselves.
 */
export interface EntryWithContent {
  entry: Entry;
  content?: AsyncIterable<Uint8Array>;
}

export type EntryStream = AsyncIterable<EntryWithContent>;

export const S_IFMT = 0o170000;
export const TYPE_BITS: Record<EntryType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  hardlink: 0o100000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};
