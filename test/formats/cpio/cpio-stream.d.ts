// cpio-stream ships no types; the tests use only its extract().
declare module 'cpio-stream' {
  import type { Readable, Writable } from 'node:stream';
  export interface CpioHeader {
    name: string;
    size: number;
    mode: number;
    type: string;
    linkname?: string;
  }
  export function extract(): Writable & {
    on(event: 'entry', fn: (header: CpioHeader, stream: Readable, next: () => void) => void): unknown;
    on(event: 'finish' | 'error', fn: (err?: Error) => void): unknown;
  };
}
