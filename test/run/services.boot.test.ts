// Service supervision under the osbuild init, in one amd64 boot of a blueprint built by the real
// pipeline: a service killed from outside comes back; `restart: never` and `on-failure` keep a
// service down when they should; `after` orders starts; LinuxKit's runtime section (mkdir, mounts,
// cgroups) is done on the host before the container starts; an image made LinuxKit's way (umoci,
// its config only in the org.mobyproject.config label) behaves as its label says; and once a
// syslog daemon serves /dev/log (here busybox syslogd in a service of this test), services' output
// reaches syslog tagged with the service name, and still the console; getty keeps its terminal.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import { importLayout } from '../../src/oci/import.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache } from '../helpers/components.js';
import { makeImage } from '../helpers/oci-image.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  const c = await componentCache();
  cacheDir = c.cacheDir;
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-services-'));
  // LinuxKit's way: everything in the label, nothing osbuild-specific; the host's static busybox
  const lk = await makeImage({
    tag: 'lk',
    layers: [{ script: 'mkdir -p bin proc sys dev tmp data && cp /bin/busybox bin/busybox' }],
    cmd: ['/bin/busybox', 'sh', '-c',
      'echo LK-CAPEFF $(/bin/busybox awk \'/^CapEff/{print $2}\' /proc/self/status); ' +
      '/bin/busybox grep -q " /data " /proc/mounts && echo LK-DATA-MOUNTED; ' +
      'echo hi >/data/f && echo LK-DATA-WRITABLE'],
    labels: {
      'org.mobyproject.config': JSON.stringify({
        capabilities: ['CAP_NET_ADMIN'],
        binds: ['/var/lib/lk-data:/data'],
        runtime: { mkdir: ['/var/lib/lk-data'] },
      }),
    },
  });
  await importLayout(c.store, lk.layout, { ref: 'test/lk-label' });
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const sh = (script: string) => JSON.stringify(['/bin/sh', '-c', script]);
const bb = '/bin/busybox';

// Names are chosen so that the dependent sorts first: the init launches supervisors in name
// order, so without `after` killer and chatty would start before victim and syslog.
const BLUEPRINT = `
kernel:
  image: osbuild/kernel-debian-cloud:6.1
  cmdline: "console=ttyS0 quiet"
  modules: []
init:
  - osbuild/init:0.1.0
  - osbuild/runc:0.1.0
onboot:
  - name: lk
    image: test/lk-label:lk
services:
  # the logging side: /dev/log on the host's devtmpfs; reports the first line it got from chatty
  - name: syslog
    image: osbuild/busybox:0.1.0
    binds: ["/dev:/dev", "/tmp:/state"]
    command: ${sh(`trap 'exit 0' TERM; ${bb} syslogd -n -O /state/messages & i=0; while [ $i -lt 600 ]; do if ${bb} grep -q 'chatty: CHATTY-LINE' /state/messages 2>/dev/null; then echo "SYSLOG-GOT $(${bb} grep -m1 'chatty: CHATTY-LINE' /state/messages)"; break; fi; sleep 0.1; i=$((i+1)); done; wait`)}
  # fails once (restarted), then succeeds (not restarted); its output goes to syslog too
  - name: chatty
    image: osbuild/busybox:0.1.0
    restart: on-failure
    after: [syslog]
    binds: ["/tmp:/state"]
    command: ${sh('n=$(cat /state/chatty 2>/dev/null || echo 0); n=$((n+1)); echo $n >/state/chatty; echo CHATTY-LINE $n; [ $n -ge 2 ]')}
  - name: victim
    image: osbuild/busybox:0.1.0
    pid: host
    binds: ["/tmp:/state"]
    command: ${sh(`echo $$ >/state/victim.pid; echo VICTIM-UP; trap 'exit 0' TERM; while :; do sleep 1; done`)}
  # kills victim's first run from outside its container (SIGKILL), then exits 5 for good
  - name: killer
    image: osbuild/busybox:0.1.0
    pid: host
    restart: never
    after: [victim]
    binds: ["/tmp:/state"]
    command: ${sh('i=0; while [ ! -s /state/victim.pid ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; p=$(cat /state/victim.pid); kill -KILL $p && echo KILLED-VICTIM; exit 5')}
  # LinuxKit's runtime section, done by the init on the host before the container starts: the
  # binds below would fail (runc: no such file) without the directory and the mount point
  - name: rt
    image: osbuild/busybox:0.1.0
    restart: never
    runtime:
      mounts:
        - {type: tmpfs, source: tmpfs, destination: /run/rt-tmpfs, options: [size=1m]}
      mkdir: [/var/lib/rt-made]
      cgroups: [osbuild-rt]
    binds: ["/var/lib/rt-made:/made", "/run/rt-tmpfs:/rt", "/sys/fs/cgroup:/hostcg"]
    command: ${sh(`${bb} grep -q ' /rt tmpfs ' /proc/mounts && echo RT-TMPFS-MOUNTED; [ -d /hostcg/osbuild-rt ] && echo RT-CGROUP-MADE; echo x >/made/f && echo RT-MKDIR-BOUND`)}
  # opens the serial line itself: must still give a shell (its first line goes through the pipe)
  - name: getty
    image: osbuild/getty:0.1.0
    after: [syslog]
`;

// getty's shell prompt has no newline, so the next console line may follow it on the same line
const is = (l: string, line: string) => l === line || l.endsWith(`# ${line}`) || l.endsWith(`\x1b[6n${line}`);
const count = (log: string[], line: string) => log.filter((l) => is(l, line)).length;
const at = (log: string[], line: string, from = 0) => log.findIndex((l, i) => i >= from && is(l, line));
const has = (log: string[], line: string) => at(log, line) >= 0;

describe('services under the osbuild init', () => {
  it('on amd64: restart policies, after, runtime section, a LinuxKit-label image, logs to syslog', async () => {
    const bp = join(work, 'services.yml');
    await writeFile(bp, BLUEPRINT);
    const out = join(work, 'out');
    await build({ files: [bp], arch: 'amd64', outDir: out, cacheDir, name: 'services' });
    const res = await testImage({
      path: join(out, 'services'),
      arch: 'amd64',
      timeoutSec: 240,
      appendCmdline: 'osbuild.poweroff=12',
      onLine: process.env.OSBUILD_TEST_CONSOLE ? (l) => console.log(`[guest] ${l}`) : undefined,
      expect: [/^osbuild: onboot 000-lk exit 0$/, /^osbuild: ready$/, /^osbuild: poweroff$/],
    });
    const log = res.log.map((l) => l.replace(/\r$/, ''));
    const tail = log.filter((l) => /osbuild|[A-Z]{3,}-/.test(l)).join('\n');
    expect(res.ok, `${res.reason}\n${tail}`).toBe(true);
    const must = (line: string) => expect(has(log, line), `no line "${line}" in\n${tail}`).toBe(true);

    // the LinuxKit-label image: capabilities (CAP_NET_ADMIN is bit 12), binds, runtime.mkdir
    must('LK-CAPEFF 0000000000001000');
    must('LK-DATA-MOUNTED');
    must('LK-DATA-WRITABLE');

    // after: victim started before killer, syslog before chatty (and getty)
    const victimUp = at(log, 'osbuild: service victim started');
    expect(victimUp, tail).toBeGreaterThanOrEqual(0);
    expect(at(log, 'osbuild: service killer started'), tail).toBeGreaterThan(victimUp);
    const syslogUp = at(log, 'osbuild: service syslog started');
    expect(syslogUp, tail).toBeGreaterThanOrEqual(0);
    expect(at(log, 'osbuild: service chatty started'), tail).toBeGreaterThan(syslogUp);
    expect(at(log, 'osbuild: service getty started'), tail).toBeGreaterThan(syslogUp);

    // killed from outside: restarted (runc reports 128+9), and started again
    const killed = at(log, 'KILLED-VICTIM');
    expect(killed, tail).toBeGreaterThan(victimUp);
    const restarting = at(log, 'osbuild: service victim exited 137, restarting in 1s', victimUp);
    expect(restarting, tail).toBeGreaterThan(victimUp);
    expect(at(log, 'osbuild: service victim started', restarting), tail).toBeGreaterThan(restarting);

    // restart: never stays down, whatever the exit code
    must('osbuild: service killer exited 5, not restarted (restart: never)');
    expect(count(log, 'osbuild: service killer started')).toBe(1);
    must('osbuild: service rt exited 0, not restarted (restart: never)');

    // restart: on-failure: restarted after exit 1, not after exit 0
    const failed = at(log, 'osbuild: service chatty exited 1, restarting in 1s');
    expect(failed, tail).toBeGreaterThan(syslogUp);
    expect(at(log, 'osbuild: service chatty exited 0, not restarted (restart: on-failure)'), tail).toBeGreaterThan(failed);
    expect(count(log, 'osbuild: service chatty started')).toBe(2);

    // the runtime section took effect before the container started
    must('RT-TMPFS-MOUNTED');
    must('RT-MKDIR-BOUND');
    must('RT-CGROUP-MADE');

    // chatty's output on the console and in syslog, tagged with its name
    must('CHATTY-LINE 2');
    expect(log.some((l) => /^SYSLOG-GOT .* chatty: CHATTY-LINE [12]$/.test(l)), tail).toBe(true);

    // getty: its own line, then a shell prompt on the serial line it opened itself
    must('getty: shell on /dev/ttyS0');
    expect(log.some((l) => l.includes(':/# ')), tail).toBe(true);

    // shutdown: running services stopped; those already over are not reported again
    const poweroff = at(log, 'osbuild: poweroff');
    for (const s of ['victim', 'syslog', 'getty']) {
      const stopped = at(log, `osbuild: service ${s} stopped`);
      expect(stopped, `${s}\n${tail}`).toBeGreaterThan(0);
      expect(stopped).toBeLessThan(poweroff);
    }
    for (const s of ['killer', 'rt', 'chatty']) expect(has(log, `osbuild: service ${s} stopped`), s).toBe(false);
    expect(log.some((l) => /did not stop|not started|not run|Kernel panic/.test(l)), tail).toBe(false);
  }, 900_000);
});
