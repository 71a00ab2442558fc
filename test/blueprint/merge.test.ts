import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BlueprintError, locate, mergeBlueprints, parseBlueprint, type Blueprint } from '../../src/blueprint/index.js';
import { located, parseError, yaml } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'blueprints');
const load = (name: string): Blueprint => parseBlueprint(readFileSync(join(fixtures, name), 'utf8'), name);

describe('mergeBlueprints (LinuxKit AppendConfig)', () => {
  const base = load('compose-base.yml');
  const extra = load('compose-extra.yml');
  const before = JSON.stringify([base, extra]);
  const merged = mergeBlueprints([base, extra]);

  test('kernel fields set later override; lists append in file order', () => {
    expect(merged).toEqual({
      name: 'base',
      kernel: { image: 'osbuild/kernel:6.1', cmdline: 'console=ttyS0 quiet', tar: 'kernel.tar', modules: ['virtio_net'] },
      init: ['osbuild/init:latest', 'osbuild/runc:latest'],
      onboot: [
        { name: 'sysctl', image: 'osbuild/sysctl:latest' },
        { name: 'sysctl', image: 'osbuild/sysctl:latest', command: ['/sbin/sysctl', '-p', '/etc/sysctl.d/extra.conf'] },
      ],
      services: [
        { name: 'getty', image: 'osbuild/getty:latest' },
        { name: 'sshd', image: 'osbuild/sshd:latest', uid: 'getty' },
      ],
      files: [
        { path: 'etc/hostname', contents: 'base' },
        { path: 'etc/motd', contents: 'extra' },
      ],
    });
  });

  test('inputs are left as they were', () => {
    expect(JSON.stringify([base, extra])).toBe(before);
  });

  test('every part still points at the file it came from', () => {
    expect(locate(merged.kernel!, 'image')).toEqual({ file: 'compose-base.yml', line: 4, column: 10 });
    expect(locate(merged.kernel!, 'cmdline')).toEqual({ file: 'compose-extra.yml', line: 4, column: 12 });
    expect(locate(merged.services![1])).toEqual({ file: 'compose-extra.yml', line: 14, column: 5 });
    expect(locate(merged.services!, 1)).toEqual({ file: 'compose-extra.yml', line: 14, column: 5 });
    expect(locate(merged.init!, 1)).toEqual({ file: 'compose-extra.yml', line: 8, column: 5 });
  });

  test('an empty cmdline, image or binary does not override; tar and modules do whenever given', () => {
    const a = parseBlueprint(yaml('kernel:', '  image: k:1', '  cmdline: console=ttyS0', '  modules: [virtio_net]'), 'a.yml');
    const b = parseBlueprint(yaml('kernel:', '  image: ""', '  cmdline: ""', '  tar: none', '  modules: []'), 'b.yml');
    expect(mergeBlueprints([a, b]).kernel).toEqual({ image: 'k:1', cmdline: 'console=ttyS0', tar: 'none', modules: [] });
  });

  test('the last name wins; trust lists append', () => {
    const a = parseBlueprint(yaml('name: a', 'trust:', '  org: [linuxkit]'), 'a.yml');
    const b = parseBlueprint(yaml('name: b', 'trust:', '  org: [osbuild]', '  image: [alpine]'), 'b.yml');
    expect(mergeBlueprints([a, b])).toEqual({ name: 'b', trust: { image: ['alpine'], org: ['linuxkit', 'osbuild'] } });
  });

  test('nothing to merge is an empty blueprint; absent sections stay absent', () => {
    expect(mergeBlueprints([])).toEqual({});
    expect(Object.keys(mergeBlueprints([parseBlueprint('init: [a]\n', 'a.yml')]))).toEqual(['init']);
  });
});

describe('image names', () => {
  test('two services of one name across files: an error at the second, naming the first', () => {
    const err = (() => {
      try {
        mergeBlueprints([load('compose-base.yml'), load('compose-dup-service.yml')]);
      } catch (e) {
        return e;
      }
      throw new Error('expected a duplicate service error');
    })();
    expect(err).toBeInstanceOf(BlueprintError);
    expect((err as BlueprintError).message).toBe(
      'compose-dup-service.yml:3:11: services[0].name: duplicate service name `getty` (first defined at compose-base.yml:13:11); services run side by side and need distinct names',
    );
  });

  test('two services of one name in one file', () => {
    const err = parseError(yaml('services:', '  - name: a', '    image: a:1', '  - name: a', '    image: a:2'));
    expect(located(err)).toEqual([
      '4:11: services[1].name: duplicate service name `a` (first defined at bp.yml:2:11); services run side by side and need distinct names',
    ]);
  });

  test('onboot and onshutdown names may repeat, and may equal a service name (as in LinuxKit)', () => {
    const a = parseBlueprint(
      yaml('onboot:', '  - {name: dhcpcd, image: d:1}', '  - {name: dhcpcd, image: d:1}', 'onshutdown:', '  - {name: dhcpcd, image: d:1}'),
      'a.yml',
    );
    const b = parseBlueprint(yaml('services:', '  - {name: dhcpcd, image: d:1}'), 'b.yml');
    expect(mergeBlueprints([a, b]).onboot).toHaveLength(2);
  });
});
