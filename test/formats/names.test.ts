import { describe, expect, it } from 'vitest';
import { decodeName, encodeName, nameByteLength, showName } from '../../src/formats/names.js';

describe('names are bytes', () => {
  it('reads valid UTF-8 as text and ASCII as itself', () => {
    expect(decodeName(Buffer.from('etc/hosts'))).toBe('etc/hosts');
    expect(decodeName(Buffer.from('usr/share/zoneinfo/América/São_Paulo 🌴'))).toBe('usr/share/zoneinfo/América/São_Paulo 🌴');
  });

  it('keeps two different non-UTF-8 names apart and writes each back byte for byte', () => {
    const a = Buffer.from([0x61, 0xff, 0x62]);
    const b = Buffer.from([0x61, 0xfe, 0x62]);
    expect(decodeName(a)).not.toBe(decodeName(b));
    expect(encodeName(decodeName(a)).equals(a)).toBe(true);
    expect(encodeName(decodeName(b)).equals(b)).toBe(true);
  });

  it('round-trips every kind of malformed sequence', () => {
    const cases = [
      [0xc0, 0x80], // overlong NUL
      [0xe0, 0x80, 0x80], // overlong
      [0xed, 0xa0, 0x80], // an encoded surrogate
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0xe2, 0x82], // truncated
      [0x80, 0xbf, 0x41, 0xc3, 0xa9, 0xc3], // strays, valid é, truncated lead
    ];
    for (const c of cases) {
      const bytes = Buffer.from(c);
      const name = decodeName(bytes);
      expect(encodeName(name).equals(bytes), c.join(',')).toBe(true);
      expect(nameByteLength(name)).toBe(bytes.length);
    }
  });

  it('round-trips random bytes', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.from(Array.from({ length: 1 + (n % 17) }, rnd).map((x) => x || 1));
      expect(encodeName(decodeName(bytes)).equals(bytes)).toBe(true);
    }
  });

  it('shows control characters, bad bytes and bidi overrides as escapes', () => {
    expect(showName('a\u001b]0;pwned\u0007b')).toBe('a\\e]0;pwned\\x07b');
    expect(showName('x\nerror: forged')).toBe('x\\nerror: forged');
    expect(showName(decodeName(Buffer.from([0x66, 0xff])))).toBe('f\\xff');
    expect(showName('evil\u202etxt.exe')).toBe('evil\\u{202e}txt.exe');
    expect(showName('café 🌴')).toBe('café 🌴');
    expect(showName('a\\xff')).toBe('a\\\\xff');
    expect(showName('C:\\dir')).toBe('C:\\dir');
  });
});
