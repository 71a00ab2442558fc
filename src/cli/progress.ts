// How the CLI shows what the library reports: human lines on stderr, or JSON lines for tools.

import type { BuildEvent } from '../build/events.js';
import type { PkgEvent } from '../pkg/events.js';

export type Mode = 'human' | 'json' | 'quiet';

export function reporter(mode: Mode, out: NodeJS.WriteStream = process.stderr): (e: BuildEvent) => void {
  return (e) => {
    if (mode === 'quiet') {
      if (e.type === 'warning') out.write(`osbuild: warning: ${e.message}\n`);
      return;
    }
    if (mode === 'json') {
      out.write(JSON.stringify(e) + '\n');
      return;
    }
    const line = describe(e);
    if (line) out.write(line + '\n');
  };
}

export function pkgReporter(mode: Mode, out: NodeJS.WriteStream = process.stderr): (e: PkgEvent) => void {
  const r = reporter(mode, out);
  return (event) => r({ type: 'pkg', event });
}

function describe(e: BuildEvent): string | undefined {
  switch (e.type) {
    case 'build-component':
      return `building component ${e.ref} from ${e.dir}`;
    case 'pkg':
      return describePkg(e.event);
    case 'index-layer':
      return undefined;
    case 'warning':
      return `warning: ${e.message}`;
    case 'output-start':
      return `writing ${e.format}: ${e.files.join(', ')}`;
    case 'output-done':
      return `  done in ${(e.ms / 1000).toFixed(1)} s: ${e.files.map((f) => `${f.path} (${mib(f.bytes)})`).join(', ')}`;
  }
}

function describePkg(e: PkgEvent): string | undefined {
  const ev = e as unknown as Record<string, unknown>;
  const parts = Object.entries(ev).filter(([k]) => k !== 'type').map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return `  ${String(ev.type)} ${parts.join(' ')}`;
}

function mib(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}
