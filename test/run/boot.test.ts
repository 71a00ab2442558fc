import { describe, expect, it } from 'vitest';
import { LineMatcher, testImage } from '../../src/run/boot.js';

describe('LineMatcher', () => {
  it('matches in order across chunk boundaries and strips \\r\\n', () => {
    const m = new LineMatcher([/osbuild: init/, /onboot hello exit (\d+)/]);
    expect(m.push('osbuild: in')).toEqual([]);
    expect(m.matched).toBe(0);
    expect(m.push('it amd64\r\nosbuild: onboot hello exit 0\r\n')).toEqual(['osbuild: init amd64', 'osbuild: onboot hello exit 0']);
    expect(m.done).toBe(true);
  });
  it('does not match out of order', () => {
    const m = new LineMatcher([/second/, /first/]);
    m.push('first\nsecond\n');
    expect(m.matched).toBe(1);
    expect(m.waitingFor).toEqual(/first/);
  });
  it('matches several expectations in one line, each after the previous', () => {
    const m = new LineMatcher([/a/, /b/, /a/]);
    m.push('ab\n');
    expect(m.matched).toBe(2);
    m.push('xa');
    expect(m.done).toBe(true);
  });
  it('matches a prompt without a newline, once', () => {
    const m = new LineMatcher([/login: $/, /login: $/]);
    m.push('osbuild login: ');
    expect(m.matched).toBe(1);
    m.push('\n');
    expect(m.matched).toBe(1);
    expect(m.rest()).toBe('');
  });
  it('ignores global/sticky flags of the regexes given', () => {
    const g = /x/g;
    g.lastIndex = 5;
    const m = new LineMatcher([g, /x/y]);
    m.push('x\n');
    m.push('ax\n');
    expect(m.done).toBe(true);
  });
});

describe('testImage errors', () => {
  it('rejects a path without artifacts before starting QEMU', async () => {
    await expect(testImage({ path: '/nonexistent/out/x', expect: [/x/], timeoutSec: 1 })).rejects.toMatchObject({ code: 'ARTIFACT_MISSING' });
  });
});
