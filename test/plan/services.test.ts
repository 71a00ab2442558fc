// osbuild's service keys (`restart`, `after`) and LinuxKit's `runtime` section, from the blueprint
// to the bundle files the init reads (service.conf, runtime.conf): validation with located errors,
// and the plan's bundles. Pure: no store, no network.
import { describe, expect, test } from 'vitest';
import { BlueprintError, mergeBlueprints, parseBlueprint, validateTexts } from '../../src/blueprint/index.js';
import { planBuild } from '../../src/plan/plan.js';
import type { ResolvedImage } from '../../src/plan/images.js';
import type { Entry } from '../../src/formats/entry.js';
import { serviceConfText, type RootSection } from '../../src/rootfs/plan.js';
import { runtimeConfig, runtimeConfText } from '../../src/rootfs/runtime-conf.js';
import { RuntimeSpecError } from '../../src/rootfs/runtime-spec-error.js';
import { located, parseError, yaml } from '../blueprint/helpers.js';

/** An image as the resolver would return it: one layer with /bin/busybox, a Cmd and maybe a label. */
function image(ref: string, label?: object): ResolvedImage {
  const digest = `sha256:${Buffer.from(ref).toString('hex').padEnd(64, '0').slice(0, 64)}`;
  const toc: Entry[] = [{ path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 10 }];
  return {
    ref,
    manifestDigest: digest,
    manifest: {} as ResolvedImage['manifest'],
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/busybox', 'sh'], ...(label ? { Labels: { 'org.mobyproject.config': JSON.stringify(label) } } : {}) },
    } as ResolvedImage['config'],
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 100 }],
    tocs: [toc],
  };
}

function plan(text: string, images: ResolvedImage[] = [image('bb:1')]) {
  const blueprint = parseBlueprint(text, 'bp.yml');
  return planBuild({ name: 't', arch: 'amd64', epoch: 0, blueprint, images: new Map(images.map((i) => [i.ref, i])), files: [] });
}

/** The files of each bundle directory (containers/<kind>/<dir>/<file> -> text), config.json aside. */
function bundleFiles(sections: RootSection[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sections) {
    if (s.kind !== 'entries') continue;
    for (const e of s.entries) {
      if (!/^containers\/[^/]+\/[^/]+\/[^/]+$/.test(e.entry.path) || e.entry.type !== 'file') continue;
      if (e.content?.kind === 'bytes') out[e.entry.path] = e.content.data.toString();
    }
  }
  return out;
}

describe('restart and after in the blueprint', () => {
  test('are accepted on services, with restart one of always, on-failure, never', () => {
    const bp = parseBlueprint(yaml('services:', '  - name: a', '    image: bb:1', '    restart: on-failure', '    after: [b]', '  - name: b', '    image: bb:1', '    restart: never'), 'bp.yml');
    expect(bp.services!.map((s) => [s.restart, s.after])).toEqual([['on-failure', ['b']], ['never', undefined]]);
    expect(located(parseError(yaml('services:', '  - name: a', '    image: bb:1', '    restart: sometimes')))).toEqual([
      expect.stringMatching(/^4:14: services\[0\]\.restart: .*`always`, `on-failure`, `never`/),
    ]);
  });

  test('are refused on onboot and onshutdown entries, where they mean nothing', () => {
    const err = parseError(yaml('onboot:', '  - name: a', '    image: bb:1', '    restart: never', 'onshutdown:', '  - name: b', '    image: bb:1', '    after: [a]'));
    expect(located(err)).toEqual([
      '4:14: onboot[0].restart: `restart` applies to services only: onboot containers run once each, one after the other; remove it, or make this container a service',
      '8:12: onshutdown[0].after: `after` applies to services only: onshutdown containers run once each, one after the other; remove it, or make this container a service',
    ]);
  });

  test('after names other services of the merged blueprint, with a hint for a typo or an onboot name', () => {
    const r = validateTexts([
      { file: 'base.yml', text: yaml('onboot:', '  - name: setup', '    image: bb:1', 'services:', '  - name: syslog', '    image: bb:1') },
      { file: 'more.yml', text: yaml('services:', '  - name: web', '    image: bb:1', '    after: [syslog, sylog, setup, web]') },
    ]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message.split('\n')).toEqual([
      'more.yml:4:21: services[0].after[1]: no service named `sylog`; did you mean `syslog`?',
      'more.yml:4:28: services[0].after[2]: no service named `setup`; `setup` is an onboot container: onboot containers all finish before any service starts, so there is nothing to wait for',
      'more.yml:4:35: services[0].after[3]: service `web` cannot wait for itself; remove it from `after`',
    ]);
    // across files, a name defined in another file is fine
    const ok = validateTexts([
      { file: 'base.yml', text: yaml('services:', '  - name: syslog', '    image: bb:1') },
      { file: 'more.yml', text: yaml('services:', '  - name: web', '    image: bb:1', '    after: [syslog]') },
    ]);
    expect(ok.ok).toBe(true);
  });

  test('services waiting for each other in a circle are refused, once per circle, and by the build too', () => {
    const text = yaml(
      'services:',
      '  - name: a',
      '    image: bb:1',
      '    after: [b]',
      '  - name: b',
      '    image: bb:1',
      '    after: [c]',
      '  - name: c',
      '    image: bb:1',
      '    after: [a]',
      '  - name: d',
      '    image: bb:1',
      '    after: [a]',
    );
    const r = validateTexts([{ file: 'bp.yml', text }]);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toBe('bp.yml:10:13: services[2].after[0]: services wait for each other and none would start: `a` after `b`, `b` after `c`, `c` after `a`; remove one of these `after` entries');
    }
    expect(() => plan(text)).toThrow(BlueprintError);
    expect(() => plan(text)).toThrow(/bp\.yml:10:13: .*`c` after `a`/);
  });
});

describe('runtime keys the init does not support are refused, located', () => {
  test('in the blueprint: a warning from validate (a LinuxKit file stays valid), an error from the build', () => {
    const text = yaml(
      'services:',
      '  - name: a',
      '    image: bb:1',
      '    runtime:',
      '      mkdir: [/var/lib/a]',
      '      interfaces:',
      '        - name: eth1',
      '      bindNS:',
      '        net: /run/netns/a',
      '      namespace: other',
    );
    const r = validateTexts([{ file: 'bp.yml', text }]);
    expect(r.ok && r.warnings.map((w) => `${w.line}:${w.column}: ${w.path}`)).toEqual([
      '7:9: services[0].runtime.interfaces',
      '9:9: services[0].runtime.bindNS',
      '10:18: services[0].runtime.namespace',
    ]);
    expect(() => plan(text)).toThrow(/^bp\.yml:7:9: services a: runtime\.interfaces is not supported by osbuild's init yet/);
    // empty ones ask for nothing (as LinuxKit's defaults are written out)
    const empty = yaml('services:', '  - name: a', '    image: bb:1', '    runtime: {interfaces: [], bindNS: {net: ""}, namespace: ""}');
    expect(validateTexts([{ file: 'bp.yml', text: empty }])).toMatchObject({ ok: true, warnings: [] });
    expect(() => plan(empty)).not.toThrow();
  });

  test('in an image label, at the build, naming the label and pointing at the blueprint entry', () => {
    const lk = image('lk:1', { runtime: { bindNS: { net: '/run/netns/x' } } });
    expect(() => plan(yaml('onboot:', '  - name: x', '    image: lk:1'), [lk])).toThrow(
      /^bp\.yml:2:5: onboot x: runtime\.bindNS \(set by the org\.mobyproject\.config label of lk:1\) is not supported by osbuild's init yet/,
    );
  });
});

describe('bundle files for the init', () => {
  test('service.conf holds restart and after, only for services that set them; config.json never does', () => {
    const p = plan(yaml(
      'onboot:',
      '  - name: first',
      '    image: bb:1',
      'services:',
      '  - name: logger',
      '    image: bb:1',
      '  - name: web',
      '    image: bb:1',
      '    restart: on-failure',
      '    after: [logger]',
    ));
    const files = bundleFiles(p.root.sections);
    expect(Object.keys(files).sort()).toEqual([
      'containers/onboot/000-first/config.json',
      'containers/services/logger/config.json',
      'containers/services/web/config.json',
      'containers/services/web/service.conf',
    ]);
    expect(files['containers/services/web/service.conf'].split('\n').filter((l) => !l.startsWith('#'))).toEqual(['restart on-failure', 'after logger', '']);
    const config = JSON.parse(files['containers/services/web/config.json']);
    expect(JSON.stringify(config)).not.toMatch(/restart|after|on-failure/);
    // a LinuxKit file (no osbuild keys) gets exactly the bundles it got before: config.json only
    expect(serviceConfText({})).toBeUndefined();
  });

  test('runtime.conf from the blueprint overrides the label list by list, in LinuxKit\'s order', () => {
    const lk = image('lk:1', { runtime: { mkdir: ['/var/lib/from-label'], cgroups: ['from-label'] }, binds: ['/var/lib/from-label:/data'] });
    const p = plan(
      yaml(
        'services:',
        '  - name: lk',
        '    image: lk:1',
        '  - name: mine',
        '    image: lk:1',
        '    runtime:',
        '      mkdir: [/var/lib/mine, relative/dir]',
        '      mounts:',
        '        - {type: tmpfs, destination: /run/mine, options: [size=1m, mode=0700]}',
        '        - {type: bind, source: /var/lib/mine, destination: /srv/mine}',
      ),
      [lk],
    );
    const files = bundleFiles(p.root.sections);
    const body = (f: string) => files[f].split('\n').filter((l) => l && !l.startsWith('#'));
    expect(body('containers/services/lk/runtime.conf')).toEqual(['mkdir /var/lib/from-label', 'cgroup from-label']);
    // mounts first (a directory can be made under one), then mkdir, then cgroups (kept from the label)
    expect(body('containers/services/mine/runtime.conf')).toEqual([
      'mount tmpfs tmpfs /run/mine size=1m,mode=0700',
      'mount bind /var/lib/mine /srv/mine bind',
      'mkdir /var/lib/mine',
      'mkdir relative/dir',
      'cgroup from-label',
    ]);
    // the label's binds still reach config.json: runtime is the init's, binds are runc's
    const config = JSON.parse(files['containers/services/lk/config.json']);
    expect(config.mounts).toContainEqual({ destination: '/data', type: 'bind', source: '/var/lib/from-label', options: ['rw', 'rbind', 'rshared'] });
    expect(JSON.stringify(config)).not.toContain('from-label"]');
  });

  test('runtime.conf refuses what the shell form cannot carry, pointing at the runtime key', () => {
    expect(() => plan(yaml('services:', '  - name: a', '    image: bb:1', '    runtime:', '      mkdir: ["/var/lib/two words"]'))).toThrow(
      /^bp\.yml:5:7: services a: container "a": runtime mkdir path "\/var\/lib\/two words" must be a non-empty path without white space/,
    );
    const rc = (r: object) => runtimeConfig(undefined, { runtime: r });
    expect(() => runtimeConfText(rc({ mounts: [{ destination: '/x' }] }), 'a')).toThrow(/runtime mount on \/x has no type/);
    expect(() => runtimeConfText(rc({ mounts: [{ type: 'bind', destination: '/x' }] }), 'a')).toThrow(/bind mount on \/x has no source/);
    expect(() => runtimeConfText(rc({ mounts: [{ type: 'tmpfs', destination: '/x', options: ['a b'] }] }), 'a')).toThrow(RuntimeSpecError);
    expect(() => runtimeConfText(rc({ interfaces: [{ name: 'eth1' }] }), 'a')).toThrow(/runtime\.interfaces is not supported/);
    // bind options alone imply a bind; nothing to do gives no file
    expect(runtimeConfText(rc({ mounts: [{ source: '/a', destination: '/b', options: ['rbind', 'ro'] }] }), 'a')).toMatch(/^mount bind \/a \/b rbind,ro$/m);
    expect(runtimeConfText(rc({}), 'a')).toBeUndefined();
  });

  test('merging keeps the origin of after entries for errors', () => {
    const a = parseBlueprint(yaml('services:', '  - name: a', '    image: bb:1'), 'a.yml');
    const b = parseBlueprint(yaml('services:', '  - name: b', '    image: bb:1', '    after: [nope]'), 'b.yml');
    expect(() => planBuild({ name: 't', arch: 'amd64', epoch: 0, blueprint: mergeBlueprints([a, b]), images: new Map([['bb:1', image('bb:1')]]), files: [] })).toThrow(
      /^b\.yml:4:13: services\[0\]\.after\[0\]: no service named `nope`/,
    );
  });
});
