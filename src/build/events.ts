// What a build reports while it runs. The library never prints; the CLI turns these into
// progress lines on a terminal (or JSON for tools).

import type { PkgEvent } from '../pkg/events.js';
import type { PullEvent } from '../oci/registry/events.js';

export type BuildEvent =
  | { type: 'build-component'; ref: string; dir: string }
  | { type: 'pkg'; event: PkgEvent }
  | { type: 'pull'; event: PullEvent }
  | { type: 'index-layer'; ref: string; digest: string; size: number }
  | { type: 'warning'; message: string }
  | { type: 'output-start'; format: string; files: string[] }
  | { type: 'output-done'; format: string; files: { path: string; bytes: number }[]; ms: number };
