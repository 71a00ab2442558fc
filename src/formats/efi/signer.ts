// The Secure Boot signing key and certificate, from their PEM files' bytes: checked once, before a
// build writes anything, so that a wrong key fails at once with the file it came from named.
// Accepted: RSA keys of 2048 bits or more (PKCS#1 v1.5 with SHA-256, what UEFI firmware verifies),
// and EC P-256 keys (ECDSA with SHA-256, which not every firmware verifies). The certificate file
// may hold intermediate certificates after the signer's; they are carried in the signature.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { OsbuildError } from '../../errors.js';
import { showName } from '../names.js';
import type { SignerKey } from './pkcs7.js';

export type { SignerKey } from './pkcs7.js';

/** A signing key or certificate that cannot be used. */
export class SignError extends OsbuildError {
  readonly code = 'ESIGN';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const MIN_RSA_BITS = 2048;

export interface SignerFiles {
  key: Buffer;
  /** The key's file name, for messages. */
  keyName: string;
  cert: Buffer;
  certName: string;
}

function parseCerts(pem: Buffer, name: string): X509Certificate[] {
  const text = pem.toString('latin1');
  const blocks = text.match(PEM_CERT) ?? [];
  const fail = (what: string, cause?: unknown) =>
    new SignError(`signing certificate ${showName(name)}: ${what}`, {
      where: name,
      hint: 'give an X.509 certificate in PEM (-----BEGIN CERTIFICATE-----), e.g. from `openssl req -x509 -newkey rsa:2048 -keyout db.key -out db.crt -nodes -subj /CN=db/`',
      cause,
    });
  if (blocks.length === 0) throw fail(text.includes('-----BEGIN') ? 'it holds no PEM certificate' : 'it is not a PEM file');
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw fail(`a certificate in it cannot be read (${(err as Error).message})`, err);
    }
  });
}

function parseKey(pem: Buffer, name: string): KeyObject {
  const fail = (what: string, hint: string, cause?: unknown) => new SignError(`signing key ${showName(name)}: ${what}`, { where: name, hint, cause });
  const plain = 'give an unencrypted private key in PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)';
  const text = pem.toString('latin1');
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw fail(text.includes('-----BEGIN') ? 'it holds no PEM private key' : 'it is not a PEM file', plain);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw fail('it is encrypted', `decrypt it first (\`openssl pkey -in KEY -out plain.key\`); ${plain}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw fail(`it cannot be read (${(err as Error).message})`, plain, err);
  }
  return key;
}

/** The signer of Authenticode signatures: the key checked against the certificate. */
export function parseSigner(f: SignerFiles): SignerKey {
  const certs = parseCerts(f.cert, f.certName);
  const key = parseKey(f.key, f.keyName);
  const d = key.asymmetricKeyDetails ?? {};
  let kind: SignerKey['kind'];
  if (key.asymmetricKeyType === 'rsa') {
    if ((d.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new SignError(`signing key ${showName(f.keyName)}: RSA of ${d.modulusLength} bits; Secure Boot signing needs ${MIN_RSA_BITS} bits or more`, {
        where: f.keyName,
        hint: 'make a new key: `openssl req -x509 -newkey rsa:2048 ...`',
      });
    }
    kind = 'rsa';
  } else if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') {
    kind = 'ecdsa';
  } else {
    const what = key.asymmetricKeyType === 'ec' ? `EC on curve ${d.namedCurve}` : String(key.asymmetricKeyType);
    throw new SignError(`signing key ${showName(f.keyName)}: a ${what} key; Authenticode signing here takes RSA (2048 bits or more) or EC P-256`, {
      where: f.keyName,
      hint: 'use an RSA key, which every UEFI firmware verifies',
    });
  }
  if (!certs[0].checkPrivateKey(key)) {
    throw new SignError(`signing key ${showName(f.keyName)} does not match the certificate ${showName(f.certName)} (its first certificate, the signer's)`, {
      where: f.keyName,
      hint: 'give the private key of the certificate\'s public key; the signer\'s certificate comes first in the file',
    });
  }
  return { key, kind, certs: certs.map((c) => c.raw) };
}
