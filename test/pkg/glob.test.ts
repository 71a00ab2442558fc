import { describe, expect, test } from 'vitest';
import { expandArch } from '../../src/pkg/arch.js';
import { globToRegExp, normalizePath, pathMatcher } from '../../src/pkg/glob.js';

const m = (pattern: string, p: string) => globToRegExp(pattern).test(normalizePath(p));

describe('path globs', () => {
  test('* and ? stay within a segment', () => {
    expect(m('usr/lib/*/libseccomp.so.2*', 'usr/lib/x86_64-linux-gnu/libseccomp.so.2.5.4')).toBe(true);
    expect(m('usr/lib/*/libseccomp.so.2*', 'usr/lib/a/b/libseccomp.so.2')).toBe(false);
    expect(m('lib*/ld-linux-*.so.*', 'lib64/ld-linux-x86-64.so.2')).toBe(true);
    expect(m('lib*/ld-linux-*.so.*', 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')).toBe(false);
    expect(m('bin/b?sybox', 'bin/busybox')).toBe(true);
    expect(m('bin/b?sybox', 'bin/bsybox')).toBe(false);
  });

  test('** spans any number of segments', () => {
    expect(m('lib/modules/**', 'lib/modules/6.1/kernel/fs/overlayfs/overlay.ko')).toBe(true);
    expect(m('lib/modules/**', 'lib/modules')).toBe(false);
    expect(m('**/overlay.ko', 'overlay.ko')).toBe(true);
    expect(m('**/overlay.ko', 'kernel/fs/overlayfs/overlay.ko')).toBe(true);
    expect(m('kernel/**/overlay.ko', 'kernel/overlay.ko')).toBe(true);
    expect(m('kernel/**/overlay.ko', 'kernel/fs/overlayfs/overlay.ko')).toBe(true);
    expect(m('kernel/**/overlay.ko', 'kernelx/fs/overlay.ko')).toBe(false);
    expect(m('**', 'anything/at/all')).toBe(true);
  });

  test('regex characters are literal; leading ./ and / do not matter', () => {
    expect(m('usr/lib/libc++.so.1', './usr/lib/libc++.so.1')).toBe(true);
    expect(m('/usr/lib/a.so', 'usr/lib/aXso')).toBe(false);
    expect(m('/usr/sbin/runc', './usr/sbin/runc')).toBe(true);
  });

  test('unmatched patterns are reported', () => {
    const pm = pathMatcher(['usr/sbin/runc', 'usr/bin/nope']);
    expect(pm.matches('usr/sbin/runc')).toBe(true);
    expect(pm.matches('usr/share/doc/runc/copyright')).toBe(false);
    expect(pm.unmatched()).toEqual(['usr/bin/nope']);
  });

  test('{arch}, {triplet} and {uname} expand per architecture', () => {
    expect(expandArch('linux-image-cloud-{arch}', 'arm64')).toBe('linux-image-cloud-arm64');
    expect(expandArch('usr/lib/{triplet}/x', 'amd64')).toBe('usr/lib/x86_64-linux-gnu/x');
    expect(expandArch('{uname}', 'arm64')).toBe('aarch64');
  });
});
