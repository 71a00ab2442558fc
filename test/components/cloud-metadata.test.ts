// The metadata component's script (components/metadata/metadata.sh) run on the host by the same
// tools it has in its image, busybox and jq (a directory of applet links is its PATH), against
// metadata services emulated by node on 127.0.0.1: GCP, Azure and OpenStack over HTTP, with the
// headers each requires, LinuxKit's JSON config tree with its edge cases, and the cases where
// nothing answers. EC2 and the disk and fw_cfg providers are booted in cloud.boot.test.ts.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/components.js';

const SCRIPT = join(REPO, 'components/metadata/metadata.sh');
const APPLETS = ['sh', 'awk', 'base64', 'cat', 'chmod', 'cp', 'echo', 'findfs', 'grep', 'head', 'hostname', 'mkdir', 'mktemp', 'mount', 'nc', 'printf', 'rm', 'sed', 'sort', 'timeout', 'tr', 'umount', 'wc', 'wget'];
const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtleSBhIGZvciB0aGUgbWV0YWRhdGEgdGVzdHMhISE a@test';
const KEY_B = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGtleWI= b@test';

let work: string;
let bin: string;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'osbuild-metadata-'));
  bin = join(work, 'bin');
  await mkdir(bin);
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) throw new Error('busybox not found: apt-get install busybox-static');
  for (const a of APPLETS) await symlink(busybox, join(bin, a));
  const jq = (await execa('sh', ['-c', 'command -v jq'], { reject: false })).stdout.trim();
  if (!jq) throw new Error('jq not found: apt-get install jq');
  await symlink(jq, join(bin, 'jq'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serve `handler` on 127.0.0.1 while `fn` runs with the server's base URL. */
async function serving<T>(handler: Handler, fn: (url: string) => Promise<T>): Promise<T> {
  const srv = createServer(handler);
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  try {
    return await fn(`http://127.0.0.1:${(srv.address() as { port: number }).port}`);
  } finally {
    srv.closeAllConnections();
    await new Promise((res) => srv.close(res));
  }
}

/** Run the script with `providers`, the kernel command line naming `url`; the files it wrote. */
async function metadata(url: string | undefined, providers: string[], timeout = 2) {
  const out = join(work, `out${++n}`);
  const cmdline = join(work, `cmdline${n}`);
  await writeFile(cmdline, `console=ttyS0 ${url ? `osbuild.metadata.url=${url}` : ''}\n`);
  const r = await execa(join(bin, 'sh'), [SCRIPT, ...providers], {
    env: { PATH: bin, METADATA_OUT: out, METADATA_CMDLINE: cmdline, METADATA_TIMEOUT: String(timeout), METADATA_SET_HOSTNAME: '0', TMPDIR: work },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
  const files: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else files[relative(out, p)] = `${((await stat(p)).mode & 0o777).toString(8)} ${await readFile(p, 'utf8')}`;
    }
  };
  await walk(out);
  return { exitCode: r.exitCode, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr, files };
}

/** A handler from a table of path (with query) -> body, answering only requests that carry `header`. */
function table(paths: Record<string, string>, header: [string, string], seen: string[]): Handler {
  return (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const body = paths[req.url ?? ''];
    if (body === undefined) return res.writeHead(404).end();
    if (req.headers[header[0]] !== header[1]) return res.writeHead(403).end('missing header');
    res.writeHead(200).end(body);
  };
}

describe('metadata providers over HTTP (the script on the host, busybox + jq)', () => {
  it('gcp: Metadata-Flavor header, instance and project ssh-keys without their user names, user-data, short hostname', async () => {
    const seen: string[] = [];
    const m = '/computeMetadata/v1';
    const r = await serving(
      table(
        {
          [`${m}/instance/id`]: '4711',
          [`${m}/instance/hostname`]: 'gcp-vm.c.my-project.internal',
          [`${m}/instance/attributes/ssh-keys`]: `root:${KEY_A}\n`,
          [`${m}/project/attributes/ssh-keys`]: `alice:${KEY_B}\n`,
          [`${m}/instance/attributes/user-data`]: 'gcp user data\n',
        },
        ['metadata-flavor', 'Google'],
        seen,
      ),
      (url) => metadata(url, ['gcp']),
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('metadata: found gcp');
    expect(r.files).toEqual({
      provider: '644 gcp\n',
      hostname: '644 gcp-vm\n',
      userdata: '644 gcp user data\n',
      'ssh/authorized_keys': `600 ${[KEY_A, KEY_B].sort().join('\n')}\n`,
    });
    expect(seen).toContain(`GET ${m}/instance/attributes/block-project-ssh-keys`);
  });

  it('azure: Metadata: true header, api-version, keys and computerName from the JSON, userData decoded from base64', async () => {
    const seen: string[] = [];
    const instance = {
      compute: { name: 'vm-resource', osProfile: { computerName: 'azure-vm' }, publicKeys: [{ keyData: KEY_A, path: '/home/x/.ssh/authorized_keys' }, { keyData: KEY_B }] },
      network: {},
    };
    const r = await serving(
      table(
        {
          '/metadata/instance?api-version=2021-02-01': JSON.stringify(instance),
          '/metadata/instance/compute/userData?api-version=2021-01-01&format=text': Buffer.from('#cloud-config\nazure: yes\n').toString('base64'),
        },
        ['metadata', 'true'],
        seen,
      ),
      (url) => metadata(url, ['azure']),
    );
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.files.provider).toBe('644 azure\n');
    expect(r.files.hostname).toBe('644 azure-vm\n');
    expect(r.files.userdata).toBe('644 #cloud-config\nazure: yes\n');
    expect(r.files['ssh/authorized_keys']).toBe(`600 ${[KEY_A, KEY_B].sort().join('\n')}\n`);
    expect(JSON.parse(r.files.metadata.slice(4))).toEqual(instance);
  });

  it('openstack: meta_data.json and user_data; a JSON user-data becomes a config tree', async () => {
    const tree = {
      app: { perm: '0750', entries: { 'config.ini': { perm: '0600', content: 'a=1\n' }, empty: { content: '' } } },
      'bad..name': { content: 'kept: dots inside a name are fine' },
      '..': { content: 'escapes' },
      both: { content: 'x', entries: {} },
      neither: { perm: '0644' },
      notastring: { content: 42 },
    };
    // OpenStack's service asks for no header
    const ok = await serving(
      (req, res) => {
        const body = { '/openstack/latest/meta_data.json': JSON.stringify({ uuid: 'x', name: 'os-vm', public_keys: { k1: KEY_A } }), '/openstack/latest/user_data': JSON.stringify(tree) }[req.url ?? ''];
        if (body === undefined) return res.writeHead(404).end();
        res.writeHead(200).end(body);
      },
      (url) => metadata(url, ['openstack']),
    );
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    expect(ok.files).toMatchObject({
      provider: '644 openstack\n',
      hostname: '644 os-vm\n',
      'ssh/authorized_keys': `600 ${KEY_A}\n`,
      'app/config.ini': '600 a=1\n',
      'app/empty': '644 ',
      'bad..name': '644 kept: dots inside a name are fine',
    });
    expect(Object.keys(ok.files).sort()).toEqual(['app/config.ini', 'app/empty', 'bad..name', 'hostname', 'metadata', 'provider', 'ssh/authorized_keys', 'userdata']);
    expect(((await stat(join(work, `out${n}`, 'app'))).mode & 0o777).toString(8)).toBe('750');
    for (const bad of ['..', 'both', 'neither', 'notastring']) expect(ok.stdout).toContain(`userdata: ${bad}:`);
  });

  it('tries the providers in the order given and stops at the first that answers', async () => {
    const seen: string[] = [];
    const r = await serving(
      (req, res) => {
        seen.push(`${req.method} ${req.url}`);
        if (req.url === '/openstack/latest/meta_data.json') return res.writeHead(200).end('{"name": "first"}');
        res.writeHead(404).end();
      },
      (url) => metadata(url, ['gcp', 'openstack', 'azure']),
    );
    expect(r.files.provider).toBe('644 openstack\n');
    expect(seen.some((s) => s.includes('/computeMetadata/'))).toBe(true);
    expect(seen.some((s) => s.includes('/metadata/instance'))).toBe(false);
  });

  it('nothing listening: every HTTP provider is skipped at once, nothing is written, exit 0', async () => {
    const port = await new Promise<number>((res) => {
      const s = createTcpServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const r = await metadata(`http://127.0.0.1:${port}`, ['ec2', 'gcp', 'azure', 'openstack']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`nothing answers at http://127.0.0.1:${port}`);
    expect(r.stdout.match(/nothing answers/g)).toHaveLength(1);
    expect(r.stdout).toContain('no provider answered');
    expect(r.files).toEqual({});
  });

  it('a service that accepts connections and never answers: metadata gives up after its timeouts', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    try {
      const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
      const r = await metadata(url, ['ec2', 'gcp', 'azure', 'openstack'], 1);
      expect(r.timedOut).toBe(false);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain('nothing answers');
      expect(r.files).toEqual({});
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((res) => silent.close(res));
    }
  });

  it('an unknown provider is an error before anything is tried', async () => {
    const bad = await metadata(undefined, ['nocloud', 'aws']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout).toContain('unknown provider "aws": the providers are nocloud configdrive fw_cfg ec2 gcp azure openstack');
    expect(bad.files).toEqual({});
  });
});
