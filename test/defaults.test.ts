// src/defaults.ts: the one place the cache directory and SOURCE_DATE_EPOCH defaults are resolved.

import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultCacheDir, sourceDateEpoch } from '../src/defaults.js';
import { defaultStoreDir } from '../src/oci/store.js';

describe('defaults', () => {
  it('the cache directory: an absolute XDG_CACHE_HOME, else ~/.cache; the store lives in it', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/osbuild');
    expect(defaultCacheDir({ HOME: '/h' })).toBe('/h/.cache/osbuild');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/osbuild');
    expect(defaultCacheDir({})).toBe(`${homedir()}/.cache/osbuild`);
    expect(defaultStoreDir({ XDG_CACHE_HOME: '/c' })).toBe(`${defaultCacheDir({ XDG_CACHE_HOME: '/c' })}/store`);
  });

  it('SOURCE_DATE_EPOCH: whole seconds, else 0', () => {
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1_700_000_000);
    expect(sourceDateEpoch({})).toBe(0);
    for (const bad of ['', '-1', '1.5', 'soon', '99999999999999999999']) expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: bad }), bad).toBe(0);
  });
});
