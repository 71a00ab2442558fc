// Signing keys and certificates for the Secure Boot tests, made by openssl as a user would make
// them (`openssl req -x509 -newkey ...`).
import { join } from 'node:path';
import { execa } from 'execa';

export interface KeyPair {
  key: string;
  cert: string;
}

/** A self-signed certificate and its key: `rsa:2048`, `rsa:1024`, `ec` (P-256). */
export async function makeKeyPair(dir: string, name: string, kind: 'rsa:2048' | 'rsa:1024' | 'ec' = 'rsa:2048'): Promise<KeyPair> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const newkey = kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', kind];
  await execa('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', key, '-out', cert, '-days', '36500', '-subj', `/CN=osbuild test ${name}/`], { stdin: 'ignore' });
  return { key, cert };
}
