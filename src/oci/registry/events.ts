// What pulls and pushes report while they run. The library never prints: the CLI turns these
// into one line per layer on a terminal, nothing in quiet mode, JSON lines for tools.
import type { Arch } from '../../arch.js';

export type PullEvent =
  | { type: 'pull-start'; ref: string }
  | { type: 'pull-manifest'; ref: string; digest: string; mediaType: string; arch?: Arch }
  | { type: 'pull-blob-start'; ref: string; digest: string; size: number; what: string }
  | { type: 'pull-blob-progress'; ref: string; digest: string; received: number; size: number }
  | { type: 'pull-blob-done'; ref: string; digest: string; size: number; what: string; cached: boolean }
  | { type: 'pull-retry'; registry: string; what: string; attempt: number; delayMs: number; reason: string }
  | { type: 'pull-done'; ref: string; digest: string; arches: Arch[]; downloaded: number; upToDate: boolean };

export type PushEvent =
  | { type: 'push-start'; ref: string; dest: string }
  | { type: 'push-blob'; dest: string; digest: string; size: number; how: 'exists' | 'mounted' | 'uploaded' }
  | { type: 'push-manifest'; dest: string; digest: string; mediaType: string }
  | { type: 'push-retry'; registry: string; what: string; attempt: number; delayMs: number; reason: string }
  | { type: 'push-done'; ref: string; dest: string; digest: string };

/** Progress events for one blob: the first byte, then every `step` bytes, and the last. */
export function progressThrottle(size: number, emit: (received: number) => void, step = Math.max(1 << 20, Math.ceil(size / 20))): (received: number) => void {
  let next = step;
  return (received) => {
    if (received >= next || received === size) {
      next = received + step;
      emit(received);
    }
  };
}
