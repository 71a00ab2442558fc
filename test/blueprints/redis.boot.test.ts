// Boots blueprints/redis.yml (components built from components/ by the real pipeline) on amd64
// and arm64 under QEMU with the guest's port 6379 forwarded to the host, and talks to redis from
// the host as a client would, in RESP over TCP: PING, SET then GET of a value, SAVE (redis says
// "DB saved on disk" on the console), then BGSAVE, whose forked snapshot ends the boot.
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { Arch } from '../../src/arch.js';
import { testImage } from '../../src/run/boot.js';
import { componentCache, REPO } from '../helpers/components.js';
import { freePort } from '../oci/registry/harness.js';

let cacheDir: string;
let work: string;

beforeAll(async () => {
  ({ cacheDir } = await componentCache(['components/redis']));
  work = await mkdtemp(join(tmpdir(), 'osbuild-boot-redis-'));
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

type Reply = string | number | null | Error | Reply[];

/** A tiny RESP2 client: commands as arrays of bulk strings, one reply read per command. */
class Resp {
  private buf = Buffer.alloc(0);
  private waiting: (() => void)[] = [];
  private closed?: Error;
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting.splice(0).forEach((w) => w());
    });
    const end = (e?: Error) => {
      this.closed = e ?? new Error('connection closed');
      this.waiting.splice(0).forEach((w) => w());
    };
    sock.on('error', end);
    sock.on('close', () => end());
  }

  static async open(port: number): Promise<Resp> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((res, rej) => {
      sock.once('connect', res);
      sock.once('error', rej);
    });
    return new Resp(sock);
  }

  async command(...args: string[]): Promise<Reply> {
    this.send(...args);
    return this.reply();
  }

  /** A command whose reply nobody reads (the connection ends after it). */
  send(...args: string[]): void {
    const parts = [`*${args.length}\r\n`, ...args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`)];
    this.sock.write(parts.join(''));
  }

  /** Ends the connection once what was written has been sent. */
  close(): void {
    this.sock.end();
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.subarray(0, i).toString();
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      await this.more();
    }
  }

  private async bytes(n: number): Promise<Buffer> {
    while (this.buf.length < n + 2) await this.more();
    const b = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n + 2);
    return b;
  }

  private async more(): Promise<void> {
    if (this.closed) throw this.closed;
    await new Promise<void>((res) => this.waiting.push(res));
  }

  private async reply(): Promise<Reply> {
    const l = await this.line();
    const rest = l.slice(1);
    switch (l[0]) {
      case '+':
        return rest;
      case '-':
        return new Error(rest);
      case ':':
        return Number(rest);
      case '$':
        return rest === '-1' ? null : (await this.bytes(Number(rest))).toString();
      case '*': {
        if (rest === '-1') return null;
        const out: Reply[] = [];
        for (let i = 0; i < Number(rest); i++) out.push(await this.reply());
        return out;
      }
      default:
        throw new Error(`not a RESP reply: ${JSON.stringify(l)}`);
    }
  }
}

/** What a client sees: PING, then SET/GET of a value that crosses the forward both ways, then SAVE. */
async function talk(port: number): Promise<{ ping: Reply; set: Reply; get: Reply; save: Reply; error?: string }> {
  let error = '';
  for (let i = 0; i < 30; i++) {
    let c: Resp | undefined;
    try {
      c = await Resp.open(port);
      // QEMU accepts on the forward before the guest does: the first command tells
      const ping = await Promise.race([c.command('PING'), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no reply')), 10_000))]);
      const value = `osbuild \u00e9t\u00e9 ${'x'.repeat(3000)}`;
      const set = await c.command('SET', 'osbuild:test', value);
      const got = await c.command('GET', 'osbuild:test');
      const get = got === value ? 'same value' : got;
      const save = await c.command('SAVE');
      // the end of the boot: redis forks to write a snapshot and says so on the console
      // (the boot stops on that line, so its reply may never come back)
      c.send('BGSAVE');
      return { ping, set, get, save };
    } catch (e) {
      error = String(e);
      await new Promise((res) => setTimeout(res, 2000));
    } finally {
      c?.close();
    }
  }
  return { ping: null, set: null, get: null, save: null, error };
}

async function bootAndTalk(arch: Arch) {
  const name = `redis-${arch}`;
  const out = join(work, name);
  await build({ files: [join(REPO, 'blueprints/redis.yml')], arch, outDir: out, cacheDir, name });
  const port = await freePort();
  let session: ReturnType<typeof talk> | undefined;
  let leased = false;
  let ready = false;
  const r = await testImage({
    path: join(out, name),
    arch,
    timeoutSec: arch === 'arm64' ? 400 : 200,
    hostForward: [{ host: port, guest: 6379 }],
    onLine: (line) => {
      if (/eth0: leased 10\.0\.2\.15/.test(line)) leased = true;
      if (/Ready to accept connections/.test(line)) ready = true;
      if (leased && ready && !session) session = talk(port);
    },
    expect: [
      /vm\.overcommit_memory = 1/,
      /osbuild: onboot \d+-sysctl exit 0/,
      /osbuild: service redis started/,
      /Running mode=standalone, port=6379/,
      /Ready to accept connections/,
      /DB saved on disk/,
      /Background saving terminated with success/,
    ],
  });
  const s = await (session ?? Promise.resolve(undefined));
  return { r, s, tail: r.log.slice(-60).join('\n') };
}

// the two arches boot side by side: each has its own output dir and host port
describe.concurrent('blueprints/redis.yml boots', () => {
  for (const arch of ['amd64', 'arm64'] as const) {
    it(`on ${arch}: redis answers PING, SET/GET and SAVE through a port forward`, async ({ expect }) => {
      const { r, s, tail } = await bootAndTalk(arch);
      expect(s, `never talked to redis: no lease or no "Ready"\n${tail}`).toBeDefined();
      expect(s!.error, tail).toBeUndefined();
      expect(s).toEqual({ ping: 'PONG', set: 'OK', get: 'same value', save: 'OK' });
      expect(r.ok, r.ok ? '' : `${r.reason}\n${tail}`).toBe(true);
      // no warning left about the file-descriptor limit: the image's rlimit covers maxclients
      expect(r.log.join('\n')).not.toMatch(/maxclients has been reduced/);
    }, 900_000);
  }
});
