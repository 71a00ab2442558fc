// What artifact pushes and pulls report while they run. The library never prints: the CLI shows
// one line per file on a terminal (and progress for long transfers), JSON lines for tools.

export type ArtifactEvent =
  | { type: 'artifact-start'; op: 'push' | 'pull'; ref: string }
  | { type: 'artifact-file-start'; ref: string; file: string; digest: string; size: number }
  /** Bytes of one file sent or received so far; a few per file (see progressThrottle). */
  | { type: 'artifact-file-progress'; ref: string; file: string; bytes: number; size: number }
  | { type: 'artifact-file-done'; ref: string; file: string; digest: string; size: number; how: 'exists' | 'mounted' | 'uploaded' | 'downloaded' }
  | { type: 'artifact-referrer'; ref: string; file: string; digest: string; artifactType: string; via: 'referrers-api' | 'referrers-tag' }
  | { type: 'artifact-retry'; registry: string; what: string; attempt: number; delayMs: number; reason: string }
  | { type: 'artifact-done'; op: 'push' | 'pull'; ref: string; digest: string; artifactType: string; files: string[] };
