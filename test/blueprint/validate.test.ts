import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseBlueprint, suggest, validateFiles, validateTexts } from '../../src/blueprint/index.js';
import { located, parseError, yaml } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'blueprints');
const f = (name: string): string => join(fixtures, name);

// A service with what the test needs after the required keys; `lines` start at line 4.
const service = (...lines: string[]): string => yaml('services:', '  - name: svc', '    image: svc:1', ...lines);

describe('checks beyond the schema, located', () => {
  test('image names must be valid container ids', () => {
    const err = parseError(yaml('onboot:', '  - name: my service', '    image: a:1', '  - name: -dash', '    image: a:1'));
    expect(located(err)).toEqual([
      '2:11: onboot[0].name: `my service` is not a valid container name; use letters, digits, `_`, `.` and `-`, starting with a letter or digit',
      '4:11: onboot[1].name: `-dash` is not a valid container name; use letters, digits, `_`, `.` and `-`, starting with a letter or digit',
    ]);
  });

  test('image references must not be empty or contain spaces', () => {
    const err = parseError(yaml('init:', '  - ""', 'services:', '  - name: a', '    image: alpine latest'));
    expect(located(err)).toEqual([
      '2:5: init[0]: empty image reference',
      '5:12: services[0].image: image reference `alpine latest` contains white space',
    ]);
  });

  test('capabilities are known ones, with a suggestion for a typo or a missing CAP_', () => {
    const err = parseError(service('    capabilities:', '      - CAP_SYS_ADMN', '      - NET_ADMIN', '    ambient: [all, CAP_CHOWN]'));
    expect(located(err)).toEqual([
      '5:9: services[0].capabilities[0]: unknown capability `CAP_SYS_ADMN`; did you mean `CAP_SYS_ADMIN`?',
      '6:9: services[0].capabilities[1]: unknown capability `NET_ADMIN`; did you mean `CAP_NET_ADMIN`?',
      '7:15: services[0].ambient[0]: `all` must be the only entry of ambient',
    ]);
    // `all` and `none` alone are LinuxKit's shorthands.
    const ok = parseBlueprint(service('    capabilities: [all]', '    capabilities.add: [none]'), 'bp.yml');
    expect(ok.services![0].capabilities).toEqual(['all']);
  });

  test('binds, tmpfs and rlimits have LinuxKit’s formats', () => {
    const err = parseError(
      service(
        '    binds: [/var]',
        '    binds.add: ["/a:/b:ro:x"]',
        '    tmpfs: ["/tmp:size=1m:x"]',
        '    rlimits:',
        '      - nofile,1024',
        '      - nofiles,1,2',
        '      - nofile,lots,unlimited',
        '      - core,unlimited,unlimited',
      ),
    );
    const hint = 'write `name,soft,hard`, e.g. `nofile,1024,4096` (soft and hard: a number or `unlimited`)';
    expect(located(err)).toEqual([
      '4:13: services[0].binds[0]: bind `/var` is not `source:destination[:options]`',
      '5:17: services[0]["binds.add"][0]: bind `/a:/b:ro:x` is not `source:destination[:options]`',
      '6:13: services[0].tmpfs[0]: tmpfs `/tmp:size=1m:x` is not `destination[:options]`',
      `8:9: services[0].rlimits[0]: rlimit \`nofile,1024\` does not have three comma-separated fields; ${hint}`,
      `9:9: services[0].rlimits[1]: unknown rlimit \`nofiles\`; ${hint}`,
      `10:9: services[0].rlimits[2]: rlimit value \`lots\` is neither a number nor \`unlimited\`; ${hint}`,
    ]);
  });

  test('mounts need a type and a destination, unless LinuxKit can infer them', () => {
    const err = parseError(
      service(
        '    mounts:',
        '      - destination: /data',
        '      - type: bind',
        '      - type: proc',
        '      - source: sysfs',
        '      - destination: /dev',
        '    runtime:',
        '      mounts:',
        '        - source: /x',
      ),
    );
    expect(located(err)).toEqual([
      '5:9: services[0].mounts[0]: mount on /data has no type; add `type:` (e.g. bind, tmpfs, proc)',
      '6:9: services[0].mounts[1]: bind mount has no destination; add `destination:`',
      '12:11: services[0].runtime.mounts[0]: mount has no type; add `type:` (e.g. bind, tmpfs, proc)',
    ]);
  });

  test('files: exactly one kind of content, json/yaml metadata, octal mode', () => {
    const err = parseError(
      yaml(
        'files:',
        '  - path: etc/empty',
        '  - path: etc/both',
        '    contents: x',
        '    source: ./x',
        '  - path: etc/meta',
        '    metadata: toml',
        '  - path: etc/mode',
        '    contents: ""',
        '    mode: "0999"',
        '  - path: etc/dir',
        '    directory: true',
        '    symlink: /x',
        '  - path: etc/ok',
        '    directory: false',
        '    contents: ok',
        '    mode: "644"',
      ),
    );
    expect(located(err)).toEqual([
      '2:5: files[0]: file etc/empty has no content; give one of `contents`, `source`, `metadata`, `symlink` or `directory: true`',
      '5:13: files[1].source: file etc/both has both `contents` and `source`; give only one of them',
      '7:15: files[2].metadata: metadata `toml` is neither `json` nor `yaml`',
      '10:11: files[3].mode: mode `0999` is not an octal permission mode; write it quoted, e.g. mode: "0644"',
      '12:16: files[4].directory: file etc/dir has both `symlink` and `directory`; give only one of them',
    ]);
  });

  test('ids are in range; volume names are valid and unique', () => {
    const err = parseError(
      yaml('volumes:', '  - name: v', '  - name: v', '  - name: a/b', 'services:', '  - name: a', '    image: a:1', '    uid: -1'),
    );
    expect(located(err)).toEqual([
      '3:11: volumes[1].name: duplicate volume name `v` (first defined at bp.yml:2:11)',
      '4:11: volumes[2].name: volume name `a/b` is not valid; use letters, digits, `_`, `.` and `-`, starting with a letter or digit',
      '8:10: services[0].uid: id -1 is out of range (0 to 4294967295)',
    ]);
  });

  test('kernel module names', () => {
    const err = parseError(yaml('kernel:', '  modules: [virtio_net, drivers/net/virtio_net.ko]'));
    expect(located(err)).toEqual([
      '2:25: kernel.modules[1]: `drivers/net/virtio_net.ko` is not a module name; give the name modprobe uses, e.g. `virtio_net`',
    ]);
  });
});

describe('validateFiles', () => {
  test('good files: the merged blueprint, and warnings for what osbuild accepts but ignores', async () => {
    const r = await validateFiles([f('linuxkit-every-key.yml')]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.blueprint.services?.map((s) => s.name)).toEqual(['getty', 'rngd', 'everything']);
    const refused = (at: string, key: string) => `${at}.runtime.${key}: runtime.${key} is not supported by osbuild's init yet: \`osbuild build\` refuses it (the init applies runtime.mkdir, runtime.mounts and runtime.cgroups only)`;
    expect(r.warnings.map((w) => `${w.line}:${w.column}: ${w.message}`)).toEqual([
      refused('44:9: onboot[2]', 'interfaces'),
      refused('36:9: onboot[2]', 'bindNS'),
      refused('208:9: services[2]', 'interfaces'),
      refused('213:9: services[2]', 'bindNS'),
      refused('214:18: services[2]', 'namespace'),
      '235:3: trust: Docker Content Trust is not used: osbuild pins every image by digest and verifies every blob instead',
    ]);
    const composed = await validateFiles([f('compose-base.yml'), f('compose-extra.yml')]);
    expect(composed.ok && composed.blueprint.services?.map((s) => s.name)).toEqual(['getty', 'sshd']);
  });

  test('problems of every file are reported together', async () => {
    const r = await validateFiles([f('bad-several.yml'), f('no-such.yml'), f('minimal.yml')]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message.split('\n')).toEqual([
      `${f('bad-several.yml')}:3:1: unknown key \`onbot\` at the top level; did you mean \`onboot\`?`,
      `${f('bad-several.yml')}:9:15: services[0].readonly: expected true or false, got the string "true"`,
      `${f('bad-several.yml')}:12:11: files[0].mode: expected a string, got the number 420 (written \`0644\`); quote it to keep it as text: "0644"`,
      `${f('no-such.yml')}: cannot read blueprint: no such file`,
    ]);
  });

  test('duplicate services across files', async () => {
    const r = await validateFiles([f('compose-base.yml'), f('compose-dup-service.yml')]);
    expect(!r.ok && r.error.issues.map((i) => [i.file, i.line, i.column])).toEqual([[f('compose-dup-service.yml'), 3, 11]]);
  });

  test('uid/gid names must be containers of the merged blueprint', () => {
    const a = yaml('services:', '  - name: getty', '    image: g:1', '  - name: sshd', '    image: s:1', '    uid: gety', '    gid: root');
    const b = yaml('files:', '  - path: etc/x', '    contents: x', '    uid: sshd', '    gid: nobody', '  - path: etc/y', '    contents: why', '    uid: "1000"');
    const r = validateTexts([
      { file: 'a.yml', text: a },
      { file: 'b.yml', text: b },
    ]);
    expect(!r.ok && r.error.message.split('\n')).toEqual([
      'a.yml:6:10: services[1].uid: no container named `gety` (a name here stands for the id allocated to that container); did you mean `getty`?',
      'b.yml:5:10: files[0].gid: no container named `nobody` (a name here stands for the id allocated to that container); use a number, `root`, or the name of an onboot, onshutdown or service container',
      'b.yml:8:10: files[1].uid: no container named `1000` (a name here stands for the id allocated to that container); write it without quotes to mean the number 1000',
    ]);
    // The name may come from another file of the composition.
    const ok = validateTexts([
      { file: 'b.yml', text: yaml('files:', '  - path: etc/x', '    contents: x', '    uid: sshd') },
      { file: 'a.yml', text: a.replace('gety', 'getty') },
    ]);
    expect(ok.ok).toBe(true);
  });

  test('kernel.modules needs the modules tarball, whichever file turned it off', () => {
    const r = validateTexts([
      { file: 'a.yml', text: yaml('kernel:', '  image: k:1', '  modules: [virtio_net]') },
      { file: 'b.yml', text: yaml('kernel:', '  tar: none') },
    ]);
    expect(!r.ok && r.error.message).toBe(
      'a.yml:3:12: kernel.modules: modules are asked for but `kernel.tar` is `none`, so the kernel image provides no modules; remove `tar: none` or `modules`',
    );
  });

  test('no file at all', async () => {
    const r = await validateFiles([]);
    expect(!r.ok && r.error.message).toBe('<none>: no blueprint file given');
  });
});

describe('suggest', () => {
  test('near misses only', () => {
    expect(suggest('onbot', ['onboot', 'onshutdown', 'services'])).toBe('onboot');
    expect(suggest('serivces', ['onboot', 'services'])).toBe('services'); // transposition
    expect(suggest('MaskedPaths', ['maskedPaths'])).toBe('maskedPaths');
    expect(suggest('network', ['net', 'pid'])).toBeUndefined();
    expect(suggest('x', ['net'])).toBeUndefined();
  });
});
