// Authenticode signing of UKIs, checked by the tools people verify Secure Boot binaries with:
// sbverify (sbsigntool) verifies the signature against the certificate and refuses another one;
// osslsigncode recomputes the digest and the PE checksum and verifies the signature against the
// certificate as CA; pesign lists the signature and computes the same digest. Debian's systemd 252
// stubs and cloud kernels on x86-64 and AArch64.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeUki, type UkiOptions } from '../../../src/formats/efi/uki.js';
import { signUki } from '../../../src/formats/efi/uki-sign.js';
import { authenticodeDigest, PeChecksum, signPe } from '../../../src/formats/efi/authenticode.js';
import { parseSigner, SignError, type SignerKey } from '../../../src/formats/efi/signer.js';
import type { Arch } from '../../../src/arch.js';
import { debianKernel, debianPackage } from '../../helpers/debian-kernel.js';
import { collect, tempDir } from '../helpers.js';
import { makeKeyPair, type KeyPair } from './keys.js';

const dir = tempDir('osbuild-authenticode-');
let rsa: KeyPair;
let other: KeyPair;
let ec: KeyPair;
let signer: SignerKey;

const loadSigner = async (p: KeyPair) => parseSigner({ key: await readFile(p.key), keyName: p.key, cert: await readFile(p.cert), certName: p.cert });

beforeAll(async () => {
  [rsa, other, ec] = await Promise.all([makeKeyPair(dir, 'db'), makeKeyPair(dir, 'other'), makeKeyPair(dir, 'ec', 'ec')]);
  signer = await loadSigner(rsa);
}, 60_000);

async function ukiOptions(arch: Arch): Promise<Omit<UkiOptions, 'kernel' | 'initrd'> & { kernelPath: string; initrdPath: string }> {
  const stub = await readFile(join(await debianPackage(arch, 'systemd-boot-efi'), 'usr/lib/systemd/boot/efi', arch === 'amd64' ? 'linuxx64.efi.stub' : 'linuxaa64.efi.stub'));
  const initrdPath = join(dir, `initrd-${arch}`);
  // an odd length, so that the checksum's words straddle the section boundaries
  await writeFile(initrdPath, Buffer.alloc(100_001, 0xa5));
  return { stub, kernelPath: (await debianKernel(arch)).vmlinuz, initrdPath, cmdline: 'console=ttyS0 osbuild.sign=1', osRelease: 'ID=osbuild\n', uname: '6.1.0-test' };
}

async function ukiWith(arch: Arch, key: SignerKey): Promise<{ signed: Buffer; unsigned: Buffer }> {
  const o = await ukiOptions(arch);
  const src = async () => ({
    kernel: { size: (await stat(o.kernelPath)).size, stream: createReadStream(o.kernelPath, { highWaterMark: 65_537 }) },
    initrd: { size: (await stat(o.initrdPath)).size, stream: createReadStream(o.initrdPath, { highWaterMark: 4099 }) },
  });
  const s = await signUki({ ...o, ...(await src()) }, key);
  const signed = await makeUki({ ...o, ...(await src()), compact: true, signature: s.signature });
  const signedBytes = await collect(signed.stream);
  expect(signedBytes.length).toBe(signed.size);
  expect(signed.size).toBe(s.size);
  const unsigned = await collect((await makeUki({ ...o, ...(await src()), compact: true })).stream);
  return { signed: signedBytes, unsigned };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(['amd64', 'arm64'] as const)('signed UKI %s', (arch) => {
  let file: string;
  let signed: Buffer;
  let unsigned: Buffer;
  beforeAll(async () => {
    ({ signed, unsigned } = await ukiWith(arch, signer));
    file = join(dir, `${arch}.efi`);
    await writeFile(file, signed);
  }, 120_000);

  it('sbverify accepts it with the signing certificate and refuses it with another', async () => {
    const ok = await execa('sbverify', ['--cert', rsa.cert, file], { reject: false, all: true });
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.all).toContain('Signature verification OK');
    const bad = await execa('sbverify', ['--cert', other.cert, file], { reject: false, all: true });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.all).toContain('Signature verification failed');
  });

  it('osslsigncode verifies the signature and finds the digest and PE checksum it computes itself', async () => {
    const r = await execa('osslsigncode', ['verify', '-CAfile', rsa.cert, '-in', file], { reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/Signature verification: ok/);
    // it prints "PE checksum : X" when the stored one is what it computes, both and a warning otherwise
    expect(r.all).not.toContain('invalid PE checksum');
    const stored = signed.readUInt32LE(signed.readUInt32LE(0x3c) + 24 + 64);
    expect(stored).not.toBe(0);
    expect(r.all).toMatch(new RegExp(`^PE checksum\\s*:\\s*${stored.toString(16).toUpperCase().padStart(8, '0')}$`, 'm'));
    const md = /Current message digest\s*:\s*([0-9A-Fa-f]+)/.exec(r.all!)?.[1];
    expect(md?.toLowerCase()).toBe(authenticodeDigest(signed).toString('hex'));
    expect(/Calculated message digest\s*:\s*([0-9A-Fa-f]+)/.exec(r.all!)?.[1]).toBe(md);
  });

  it('pesign lists the signature by our certificate and computes the same digest', async () => {
    const list = await execa('pesign', ['-S', '-i', file], { reject: false, all: true });
    expect(list.exitCode, list.all).toBe(0);
    expect(list.all).toContain('certificate address is');
    expect(list.all).toContain(`osbuild test db`);
    const h = await execa('pesign', ['-h', '-i', file, '-d', 'sha256'], { reject: false, all: true });
    expect(h.exitCode, h.all).toBe(0);
    expect(h.all).toContain(authenticodeDigest(signed).toString('hex'));
  });

  it('is the unsigned compact UKI plus the signature: the same digest, and the checksum that counts the signature', () => {
    expect(authenticodeDigest(signed)).toEqual(authenticodeDigest(unsigned));
    const tableAt = unsigned.length;
    expect(signed.subarray(tableAt + 4, tableAt + 8)).toEqual(Buffer.from([0x00, 0x02, 0x02, 0x00])); // revision 2.0, PKCS_SIGNED_DATA
    expect(signed.length % 8).toBe(0);
  });

  it('the same key gives the same bytes; signPe of the unsigned UKI gives them too', async () => {
    expect(sha256((await ukiWith(arch, signer)).signed)).toBe(sha256(signed));
    expect(sha256(signPe(unsigned, signer))).toBe(sha256(signed));
  });

  it('one flipped byte in the .linux section fails sbverify', async () => {
    const bad = Buffer.from(signed);
    bad[unsigned.length - 10_000] ^= 1;
    const f = join(dir, `${arch}-flipped.efi`);
    await writeFile(f, bad);
    const r = await execa('sbverify', ['--cert', rsa.cert, f], { reject: false, all: true });
    expect(r.exitCode).not.toBe(0);
  });
});

describe('ECDSA P-256', () => {
  it('sbverify and osslsigncode accept a UKI signed with an EC key', async () => {
    const { signed } = await ukiWith('amd64', await loadSigner(ec));
    const f = join(dir, 'ec.efi');
    await writeFile(f, signed);
    const sb = await execa('sbverify', ['--cert', ec.cert, f], { reject: false, all: true });
    expect(sb.exitCode, sb.all).toBe(0);
    const os = await execa('osslsigncode', ['verify', '-CAfile', ec.cert, '-in', f], { reject: false, all: true });
    expect(os.exitCode, os.all).toBe(0);
  }, 120_000);
});

describe('PE checksum', () => {
  it('matches the checksum of a PE file that carries one (Debian\'s x86-64 stub)', async () => {
    const stub = await readFile(join(await debianPackage('amd64', 'systemd-boot-efi'), 'usr/lib/systemd/boot/efi/linuxx64.efi.stub'));
    const stored = stub.readUInt32LE(stub.readUInt32LE(0x3c) + 24 + 64);
    expect(stored).not.toBe(0);
    const zeroed = Buffer.from(stub);
    zeroed.writeUInt32LE(0, stub.readUInt32LE(0x3c) + 24 + 64);
    const c = new PeChecksum();
    // uneven pieces: the words straddle them
    for (let i = 0; i < zeroed.length; i += 777) c.update(zeroed.subarray(i, i + 777));
    expect(c.value()).toBe(stored);
  });
});

describe('signing key and certificate errors', () => {
  const files = async (key: string, cert: string) => ({ key: await readFile(key), keyName: key, cert: await readFile(cert), certName: cert });

  it('a key that does not match the certificate', async () => {
    const err = await files(rsa.key, other.cert).then(parseSigner).catch((e) => e);
    expect(err).toBeInstanceOf(SignError);
    expect(err.message).toContain(`signing key ${rsa.key} does not match the certificate ${other.cert}`);
    expect(err.exitCode).toBe(1);
  });

  it('an encrypted key', async () => {
    const enc = join(dir, 'enc.key');
    await execa('openssl', ['pkey', '-in', rsa.key, '-aes256', '-passout', 'pass:x', '-out', enc]);
    const err = await files(enc, rsa.cert).then(parseSigner).catch((e) => e);
    expect(err).toBeInstanceOf(SignError);
    expect(err.message).toBe(`signing key ${enc}: it is encrypted`);
    expect(err.hint).toContain('openssl pkey');
  });

  it('files that are not PEM, or hold the wrong thing', async () => {
    const junk = join(dir, 'junk.bin');
    await writeFile(junk, Buffer.from([0x30, 0x82, 1, 2, 3]));
    await expect(files(junk, rsa.cert).then(parseSigner)).rejects.toThrow(`signing key ${junk}: it is not a PEM file`);
    await expect(files(rsa.key, junk).then(parseSigner)).rejects.toThrow(`signing certificate ${junk}: it is not a PEM file`);
    await expect(files(rsa.key, rsa.key).then(parseSigner)).rejects.toThrow(`signing certificate ${rsa.key}: it holds no PEM certificate`);
    await expect(files(rsa.cert, rsa.cert).then(parseSigner)).rejects.toThrow(`signing key ${rsa.cert}: it holds no PEM private key`);
  });

  it('an RSA key of fewer than 2048 bits', async () => {
    const small = await makeKeyPair(dir, 'small', 'rsa:1024');
    await expect(files(small.key, small.cert).then(parseSigner)).rejects.toThrow(/RSA of 1024 bits; Secure Boot signing needs 2048 bits or more/);
  });
});
