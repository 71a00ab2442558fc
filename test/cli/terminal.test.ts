// The CLI's last line of defense: whatever a message holds, nothing that drives a terminal (ESC,
// CSI, OSC, other C0 and C1 controls, bidi overrides) is written, and JSON lines stay valid.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardTerminal, jsonLine, reporter, rewriteLine, terminalLine, terminalText } from '../../src/cli/progress.js';
import { decodeName, showName } from '../../src/formats/names.js';
import { ensureDist, MAIN } from '../helpers/dist.js';

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const HOSTILE = 'x\u001b]0;pwned\u0007\u001b[2J\r\nerror: forged\u009b1m\u202etxt\t';

describe('terminalText and terminalLine', () => {
  it('escape every control but newline and tab, and leave backslashes and printable text alone', () => {
    const t = terminalText(HOSTILE);
    expect(t).not.toMatch(CONTROLS);
    expect(t).toBe('x\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\nerror: forged\\u009b1m\\u202etxt\t');
    expect(terminalText('C:\\dir a\\xff café 🌴')).toBe('C:\\dir a\\xff café 🌴');
  });

  it('show bytes that were not UTF-8 as \\xNN, as showName does', () => {
    expect(terminalText(decodeName(Buffer.from([0x61, 0xff])))).toBe('a\\xff');
  });

  it('leave what showName already escaped as it is', () => {
    const shown = showName(HOSTILE);
    expect(terminalText(shown)).toBe(shown);
  });

  it('terminalLine makes one line of anything', () => {
    expect(terminalLine('a\nerror: b')).toBe('a\\nerror: b');
  });
});

describe('the reporter', () => {
  function collect() {
    const chunks: string[] = [];
    return { chunks, write: (s: string) => chunks.push(s) };
  }

  it('writes a warning with a raw hostile message as one safe line', () => {
    const out = collect();
    reporter('human', out, '/')({ type: 'warning', message: `entry ${HOSTILE} dropped` });
    expect(out.chunks).toHaveLength(1);
    const text = out.chunks[0];
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).not.toMatch(/[\n]/);
    expect(text).not.toMatch(CONTROLS);
    expect(text.startsWith('osbuild: warning: entry x\\u001b]0;pwned')).toBe(true);
  });

  it('--json: lines parse back to the very message, with no raw C1 control or bidi override', () => {
    const out = collect();
    const message = `${HOSTILE} ${decodeName(Buffer.from([0xfe]))}`;
    reporter('json', out, '/')({ type: 'warning', message });
    expect(out.chunks[0]).not.toMatch(CONTROLS);
    expect((JSON.parse(out.chunks[0]) as { message: string }).message).toBe(message);
    expect(jsonLine({ m: '\u009b' })).toBe('{"m":"\\u009b"}\n');
  });
});

describe('guardTerminal', () => {
  it('sanitizes strings written to a stream and passes buffers through', () => {
    const seen: unknown[] = [];
    const stream = { write: (chunk: unknown) => (seen.push(chunk), true) };
    guardTerminal(stream);
    stream.write('a\u001b[2Jb\n');
    const bytes = Buffer.from([0x1b, 0x5b]);
    stream.write(bytes);
    expect(seen).toEqual(['a\\u001b[2Jb\n', bytes]);
  });

  it('lets the CLI rewrite a progress line in place, and guards the line\'s text', () => {
    const seen: unknown[] = [];
    const stream = { write: (chunk: unknown) => (seen.push(chunk), true) };
    guardTerminal(stream);
    rewriteLine(stream, 'verifying: 1/2 \u001b[2J');
    stream.write('\r\u001b[K');
    expect(seen).toEqual(['\r\u001b[Kverifying: 1/2 \\u001b[2J', '\\u000d\\u001b[K']);
  });
});

describe('the built CLI', () => {
  let work: string;
  beforeAll(async () => {
    await ensureDist();
    work = await mkdtemp(join(tmpdir(), 'osbuild-terminal-'));
  }, 300_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('escapes a hostile file name in its error messages', async () => {
    const name = join(work, 'x\u001b]0;pwned\u0007\u009b.yml');
    for (const args of [['validate', name], ['build', name, '--cache', join(work, 'cache')]]) {
      const r = await execa('node', [MAIN, ...args], { reject: false, encoding: 'buffer', env: { XDG_CACHE_HOME: join(work, 'xdg') } });
      expect(r.exitCode, args[0]).not.toBe(0);
      const stderr = Buffer.from(r.stderr);
      expect(stderr.includes(0x1b), args[0]).toBe(false);
      expect(stderr.includes(0x07), args[0]).toBe(false);
      expect(stderr.toString('utf8'), args[0]).not.toMatch(CONTROLS);
      expect(stderr.toString('utf8'), args[0]).toContain('pwned');
    }
  });
});
