import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  Blueprint,
  BlueprintError,
  Device,
  FileSpec,
  ImageOptions,
  KernelSpec,
  Mount,
  Resources,
  Runtime,
  VolumeSpec,
  loadBlueprint,
  locate,
  locateKey,
  parseBlueprint,
} from '../../src/blueprint/index.js';
import { located, parseError, yaml } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'blueprints');
const fixture = (name: string): string => readFileSync(join(fixtures, name), 'utf8');

describe('LinuxKit files are blueprints', () => {
  const text = fixture('linuxkit-every-key.yml');
  const bp = parseBlueprint(text, 'linuxkit-every-key.yml');
  const everything = bp.services!.find((s) => s.name === 'everything')!;

  test('the fixture uses every key LinuxKit knows (so the next test covers them all)', () => {
    const keysOf = (objs: object[]): string[] => [...new Set(objs.flatMap((o) => Object.keys(o)))].sort();
    const shapeKeys = (s: { shape: object }, except: string[] = []): string[] =>
      Object.keys(s.shape).filter((k) => !except.includes(k)).sort();
    // name, root and kernel.modules are osbuild's additions, not LinuxKit's.
    expect(Object.keys(bp).sort()).toEqual(shapeKeys(Blueprint, ['name', 'root']));
    expect(Object.keys(bp.kernel!).sort()).toEqual(shapeKeys(KernelSpec, ['modules']));
    expect(Object.keys(everything).sort()).toEqual(['image', 'name', ...Object.keys(ImageOptions.shape)].sort());
    expect(keysOf(bp.files!)).toEqual(shapeKeys(FileSpec));
    expect(keysOf(bp.volumes!)).toEqual(shapeKeys(VolumeSpec));
    expect(Object.keys(everything.resources!).sort()).toEqual(shapeKeys(Resources));
    expect(Object.keys(everything.runtime!).sort()).toEqual(shapeKeys(Runtime));
    expect(keysOf(everything.mounts!)).toEqual(shapeKeys(Mount));
    expect(keysOf(everything.devices!)).toEqual(shapeKeys(Device));
    expect(Object.keys(bp.onboot!.find((i) => i.name === 'netns')!.runtime!.bindNS!)).toHaveLength(7);
  });

  test('validation keeps every value as written (nothing dropped, renamed or defaulted)', () => {
    // The oracle: the same YAML read as plain data, in LinuxKit's YAML 1.1 dialect.
    expect(bp).toEqual(parseYaml(text, { version: '1.1' }));
    expect(everything.uid).toBe(1000);
    expect(everything.gid).toBe('getty');
    expect(everything.additionalGids).toEqual([100, 'rngd']);
    expect(everything['binds.add']).toEqual(['/lib/modules:/lib/modules:ro']);
    expect(everything.sysctl).toEqual({ 'net.ipv4.ip_forward': '1', 'net.core.somaxconn': '1024' });
    expect(bp.files![1].contents).toBe('Welcome to osbuild\n');
  });

  test('parsed objects remember where they were written', () => {
    const lines = text.split('\n');
    const lineOf = (s: string): number => lines.indexOf(s) + 1;
    expect(locate(everything)).toEqual({ file: 'linuxkit-every-key.yml', line: lineOf('  - name: everything'), column: 5 });
    expect(locateKey(everything, 'binds')).toEqual({ file: 'linuxkit-every-key.yml', line: lineOf('    binds:'), column: 5 });
    // A list value starts at its first `- `, on the line after the key.
    expect(locate(everything, 'binds')).toEqual({ file: 'linuxkit-every-key.yml', line: lineOf('    binds:') + 1, column: 7 });
    expect(locate(everything.binds!, 2)).toEqual({ file: 'linuxkit-every-key.yml', line: lineOf('      - vola:/vola'), column: 9 });
    expect(locate(bp.kernel!, 'cmdline')?.line).toBe(lineOf('  cmdline: "console=tty0 console=ttyS0 console=ttyAMA0"'));
  });

  test('osbuild additions: name and kernel.modules', async () => {
    const minimal = await loadBlueprint(join(fixtures, 'minimal.yml'));
    expect(minimal.name).toBe('minimal');
    expect(minimal.kernel?.modules).toEqual(['virtio_net', 'virtio_blk']);
    expect(minimal.services?.map((s) => s.name)).toEqual(['getty']);
  });

  test('LinuxKit YAML 1.1 scalars: yes/on are booleans', () => {
    const bp2 = parseBlueprint(yaml('services:', '  - name: a', '    image: a:1', '    readonly: yes', '    noNewPrivileges: on'), 'bp.yml');
    expect(bp2.services![0].readonly).toBe(true);
    expect(bp2.services![0].noNewPrivileges).toBe(true);
  });

  test('an empty file or one of comments only is an empty blueprint', () => {
    expect(parseBlueprint('', 'empty.yml')).toEqual({});
    expect(parseBlueprint('# nothing yet\n', 'empty.yml')).toEqual({});
  });

  test('anchors and merge keys are followed', () => {
    const bp2 = parseBlueprint(
      yaml('onboot:', '  - &base', '    name: a', '    image: a:1', '    net: host', 'services:', '  - <<: *base', '    name: b'),
      'bp.yml',
    );
    expect(bp2.services![0]).toEqual({ name: 'b', image: 'a:1', net: 'host' });
  });
});

describe('errors are located at file:line:column', () => {
  test('unknown top-level key, with the near-miss suggested', () => {
    const err = parseError(yaml('kernel:', '  image: k:1', 'onbot:', '  - name: a', '    image: a:1'));
    expect(err).toBeInstanceOf(BlueprintError);
    expect(err.code).toBe('EBLUEPRINT');
    expect(err.message).toBe('bp.yml:3:1: unknown key `onbot` at the top level; did you mean `onboot`?');
    expect(err.issues).toEqual([
      { file: 'bp.yml', line: 3, column: 1, path: 'onbot', message: 'unknown key `onbot` at the top level', hint: 'did you mean `onboot`?' },
    ]);
  });

  test('unknown key in an image and deep in resources', () => {
    const err = parseError(
      yaml(
        'services:',
        '  - name: getty',
        '    image: g:1',
        '    capabilites:',
        '      - CAP_SYS_ADMIN',
        '    resources:',
        '      memory:',
        '        limt: 1024',
      ),
    );
    expect(located(err)).toEqual([
      '4:5: unknown key `capabilites` in services[0]; did you mean `capabilities`?',
      '8:9: unknown key `limt` in services[0].resources.memory; did you mean `limit`?',
    ]);
  });

  test('an unknown key with no near miss lists the known keys', () => {
    const err = parseError(yaml('kernel:', '  image: k:1', '  flavour: small'));
    expect(err.issues[0]).toMatchObject({ line: 3, column: 3, message: 'unknown key `flavour` in kernel' });
    expect(err.issues[0].hint).toBe('known keys: `image`, `cmdline`, `binary`, `tar`, `ucode`, `modules`');
  });

  test('a kernel key written at the top level is pointed under kernel', () => {
    const err = parseError(yaml('kernel:', '  image: k:1', 'cmdline: console=ttyS0'));
    expect(located(err)).toEqual(['3:1: unknown key `cmdline` at the top level; `cmdline` belongs under `kernel:`']);
  });

  test('a missing required key is shown at the mapping that lacks it', () => {
    const err = parseError(yaml('onboot:', '  - name: a', '    image: a:1', '  - name: b', '    net: host'));
    expect(located(err)).toEqual(['4:5: missing required key `image` in onboot[1]']);
    expect(err.issues[0].path).toBe('onboot[1].image');
  });

  test('wrong types, each at its value, saying what was written', () => {
    const err = parseError(
      yaml(
        'kernel:',
        '  image: k:1',
        '  cmdline: 42',
        'init: osbuild/init:1',
        'services:',
        '  - name: a',
        '    image: a:1',
        '    readonly: "no"',
        '    oomScoreAdj: high',
        '    sysctl:',
        '      net.ipv4.ip_forward: 1',
        '    uid: [1]',
        'files:',
        '  - path: etc/issue',
        '    mode: 0644',
        '    contents: hi',
      ),
    );
    expect(located(err)).toEqual([
      '3:12: kernel.cmdline: expected a string, got the number 42; quote it to keep it as text: "42"',
      '4:7: init: expected a list, got the string "osbuild/init:1"; write a list, one item per line starting with `- `',
      '8:15: services[0].readonly: expected true or false, got the string "no"',
      '9:18: services[0].oomScoreAdj: expected an integer, got the string "high"',
      '11:28: services[0].sysctl["net.ipv4.ip_forward"]: expected a string, got the number 1; quote it to keep it as text: "1"',
      '12:10: services[0].uid: expected an integer id or a name, got a list',
      // YAML 1.1 reads an unquoted 0644 as the octal number 420: say what was written.
      '15:11: files[0].mode: expected a string, got the number 420 (written `0644`); quote it to keep it as text: "0644"',
    ]);
  });

  test('an empty value is shown at its key', () => {
    const err = parseError(yaml('onboot:', 'services:', '  - name: a', '    image: a:1'));
    expect(located(err)).toEqual(['1:1: onboot: expected a list, got an empty value']);
  });

  test('a volume format outside the enum gets a suggestion', () => {
    const err = parseError(yaml('volumes:', '  - name: v', '    image: a:1', '    format: OCI'));
    expect(located(err)).toEqual(['4:13: volumes[0].format: expected one of `filesystem`, `oci`, got the string "OCI"; did you mean `oci`?']);
  });

  test('a document that is not a mapping', () => {
    const err = parseError(yaml('- kernel', '- init'));
    expect(located(err)).toEqual(['1:1: the top level: expected a mapping (key: value), got a list']);
  });

  test('an error inside merged-in content is shown where that content is written', () => {
    const err = parseError(
      yaml('onboot:', '  - &base', '    name: a', '    image: a:1', '    nett: host', 'services:', '  - <<: *base', '    name: b'),
    );
    // Once for onboot[0] where it is written, once for services[0] which merges it in.
    expect(located(err)).toEqual([
      '5:5: unknown key `nett` in onboot[0]; did you mean `net`?',
      '5:5: unknown key `nett` in services[0]; did you mean `net`?',
    ]);
  });

  test('duplicate keys', () => {
    const err = parseError(yaml('services:', '  - name: a', '    image: a:1', '    name: b'));
    expect(located(err)).toEqual(['4:5: duplicate key `name` in the same mapping (first at line 2 column 5); each key may appear once; remove or merge one of them']);
  });

  test('YAML syntax errors', () => {
    expect(located(parseError(yaml('services:', '  - name: a', '\timage: a:1')))).toEqual([
      '3:1: YAML syntax: tabs are not allowed as indentation; indent with spaces',
    ]);
    expect(located(parseError(yaml('onboot:', '  - name: a', '    image: b', '   - name: c')))).toEqual([
      '4:4: YAML syntax: All sequence items must start at the same column',
    ]);
    expect(located(parseError(yaml('kernel: image: k:1')))).toEqual([
      '1:9: YAML syntax: Nested mappings are not allowed in compact mappings',
    ]);
    expect(located(parseError(yaml('kernel:', '  image: k:1', '---', 'init: []')))).toEqual([
      '3:1: YAML syntax: a second document in the file; a blueprint file is one YAML document: remove the `---` line, or put the rest in a file of its own',
    ]);
  });

  test('every problem of a file is reported at once, in file order, under the file name given', () => {
    const err = parseError(fixture('bad-several.yml'), 'test/fixtures/blueprints/bad-several.yml');
    expect(err.message.split('\n')).toEqual([
      'test/fixtures/blueprints/bad-several.yml:3:1: unknown key `onbot` at the top level; did you mean `onboot`?',
      'test/fixtures/blueprints/bad-several.yml:9:15: services[0].readonly: expected true or false, got the string "true"',
      'test/fixtures/blueprints/bad-several.yml:12:11: files[0].mode: expected a string, got the number 420 (written `0644`); quote it to keep it as text: "0644"',
    ]);
  });

  test('loadBlueprint on a missing file names it', async () => {
    const err = await loadBlueprint(join(fixtures, 'no-such.yml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlueprintError);
    expect((err as BlueprintError).message).toBe(`${join(fixtures, 'no-such.yml')}: cannot read blueprint: no such file`);
  });

  test('label-style image options reject name and image (the org.mobyproject.config rule)', () => {
    expect(ImageOptions.safeParse({ capabilities: ['all'], net: 'host' }).success).toBe(true);
    expect(ImageOptions.safeParse({ name: 'x', capabilities: ['all'] }).success).toBe(false);
  });
});
