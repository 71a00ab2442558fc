// src/errors.ts: every error class of the library extends OsbuildError, and every code maps to
// one family of the exit code table.

import { describe, expect, it } from 'vitest';
import * as lib from '../src/index.js';
import { EXIT_CODES, exitCodeOf, familyOf, OsbuildError } from '../src/errors.js';
import { BlueprintError } from '../src/blueprint/errors.js';
import { DiskFullError, RegistryError, StoreError } from '../src/oci/errors.js';
import { RunError } from '../src/run/errors.js';
import { PkgError } from '../src/pkg/errors.js';
import { FatError } from '../src/formats/fat/write.js';
import { UsageError } from '../src/cli/commands.js';

describe('OsbuildError', () => {
  it('is the base of every error class the library exports', () => {
    const classes = Object.entries(lib).filter(([name, v]) => /Error$/.test(name) && typeof v === 'function' && name !== 'OsbuildError');
    expect(classes.length).toBeGreaterThanOrEqual(15);
    for (const [name, cls] of classes) expect((cls as { prototype: unknown }).prototype instanceof OsbuildError, name).toBe(true);
  });

  it('maps codes to families and exit codes, Node\'s own codes included', () => {
    expect(new BlueprintError([{ file: 'a.yml', line: 3, column: 5, path: 'x', message: 'bad', hint: 'fix it' }]).exitCode).toBe(1);
    expect(new UsageError('bad flag').exitCode).toBe(2);
    expect(new RegistryError('ENETWORK', 'unreachable').exitCode).toBe(3);
    expect(new PkgError('DOWNLOAD_CORRUPT', 'bad .deb').family).toBe('registry');
    expect(new PkgError('PACKAGE_NOT_FOUND', 'no such package').family).toBe('input');
    expect(new StoreError('EDIGEST', 'corrupt').exitCode).toBe(4);
    expect(new StoreError('ENOIMAGE', 'not there').exitCode).toBe(1);
    expect(new DiskFullError('full', { path: '/out/x' }).exitCode).toBe(4);
    expect(new RunError('QEMU_FAILED', 'no qemu').exitCode).toBe(5);
    expect(new RunError('ARTIFACT_MISSING', 'no kernel').exitCode).toBe(1);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toBe(4);
    expect(exitCodeOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(3);
    expect(exitCodeOf(new Error('plain'))).toBe(1);
    expect(exitCodeOf('a string')).toBe(1);
    expect(familyOf('toString')).toBe('input'); // not a prototype key
    for (const e of EXIT_CODES.slice(1)) expect(e.exit).toBe(exitCodeOf(Object.assign(new Error(), { code: { input: 'X', usage: 'EUSAGE', registry: 'EAUTH', store: 'EDIGEST', boot: 'ETEST' }[e.family as string] })));
  });

  it('carries where and hint as fields, and shows them in JSON', () => {
    const b = new BlueprintError([{ file: 'a.yml', line: 3, column: 5, path: 'x', message: 'bad', hint: 'fix it' }]);
    expect([b.where, b.hint]).toEqual(['a.yml:3:5', 'fix it']);
    expect(b.message).toBe('a.yml:3:5: bad; fix it'); // the message is unchanged
    expect(new DiskFullError('full', { path: '/out/x', mount: '/out' }).toJSON()).toMatchObject({ code: 'ENOSPC', family: 'store', exitCode: 4, where: '/out/x', hint: 'free space on /out, or write elsewhere' });
    expect(new FatError('EFATNAME', 'bad name', 'EFI/x').where).toBe('EFI/x');
    expect(new RunError('QEMU_FAILED', 'x').toJSON()).toEqual({ name: 'RunError', code: 'QEMU_FAILED', family: 'boot', exitCode: 5, message: 'x' });
  });
});
