// The Authenticode signature of a PE image: a PKCS#7 (RFC 2315) SignedData whose content is
// Microsoft's SpcIndirectDataContent (the image's Authenticode digest, as SpcPeImageData says),
// signed by one signer, carrying the signer's certificate (and any chain given with it).
// Encoded as sbsign and signtool encode it, with the signed attributes sbsign writes: contentType,
// SpcSpOpusInfo (empty), messageDigest. No signing time: the same key, certificate and image give
// the same bytes (RSA PKCS#1 v1.5 signatures are deterministic; ECDSA signatures are not).
//
// Facts from Microsoft's "Windows Authenticode Portable Executable Signature Format" and RFC 2315:
// - messageDigest is the digest of SpcIndirectDataContent's contents, without its own tag and length;
// - the signature is over the DER of the signed attributes with the SET OF tag (0x31), not the
//   [0] IMPLICIT tag (0xa0) they carry inside SignerInfo.

import { createHash, sign, type KeyObject } from 'node:crypto';
import { bits, bmp, children, explicit, implicitPrimitive, int, nul, octets, oid, readElement, seq, setOf, tlv } from './der.js';

export const OID = {
  signedData: '1.2.840.113549.1.7.2',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  spcIndirectData: '1.3.6.1.4.1.311.2.1.4',
  spcSpOpusInfo: '1.3.6.1.4.1.311.2.1.12',
  spcPeImageData: '1.3.6.1.4.1.311.2.1.15',
} as const;

export interface SignerKey {
  /** The private key; RSA (PKCS#1 v1.5 signatures) or EC P-256 (ECDSA). */
  key: KeyObject;
  kind: 'rsa' | 'ecdsa';
  /** DER of the signer's certificate, then of any intermediate certificates to carry. */
  certs: Buffer[];
}

const algorithm = (o: string, withNull = true) => (withNull ? seq(oid(o), nul()) : seq(oid(o)));

/** SpcIndirectDataContent for a PE image whose Authenticode SHA-256 digest is `digest`. */
export function spcIndirectDataContent(digest: Buffer): Buffer {
  // SpcPeImageData: flags (an empty BIT STRING), file = SpcLink.file = SpcString.unicode "<<<Obsolete>>>"
  const peImageData = seq(bits(Buffer.alloc(0)), explicit(0, explicit(2, implicitPrimitive(0, bmp('<<<Obsolete>>>')))));
  return seq(seq(oid(OID.spcPeImageData), peImageData), seq(algorithm(OID.sha256), octets(digest)));
}

/** The issuer Name and serialNumber INTEGER of a certificate, as DER copied from it. */
export function issuerAndSerial(certDer: Buffer): Buffer {
  const cert = readElement(certDer, 0);
  const tbs = children(certDer, cert)[0];
  const fields = children(certDer, tbs);
  const at = fields[0].tag === 0xa0 ? 1 : 0; // [0] version is optional
  const serial = fields[at];
  const issuer = fields[at + 2];
  if (!serial || serial.tag !== 0x02 || !issuer || issuer.tag !== 0x30) throw new RangeError('certificate: no serialNumber and issuer where X.509 puts them');
  return seq(certDer.subarray(issuer.start, issuer.end), certDer.subarray(serial.start, serial.end));
}

const attribute = (type: string, value: Buffer) => seq(oid(type), setOf(value));

/** The DER ContentInfo (SignedData) that is the Authenticode signature of an image with this digest. */
export function authenticodeSignedData(digest: Buffer, signer: SignerKey): Buffer {
  const content = spcIndirectDataContent(digest);
  const inner = readElement(content, 0);
  const contentDigest = createHash('sha256').update(content.subarray(inner.contentStart)).digest();
  const attrs = [
    attribute(OID.contentType, oid(OID.spcIndirectData)),
    attribute(OID.spcSpOpusInfo, seq()),
    attribute(OID.messageDigest, octets(contentDigest)),
  ];
  const signed = setOf(...attrs);
  const signature = sign('sha256', signed, signer.key);
  const signerInfo = seq(
    int(1),
    issuerAndSerial(signer.certs[0]),
    algorithm(OID.sha256),
    // the same SET, tagged [0] IMPLICIT
    Buffer.concat([Buffer.from([0xa0]), signed.subarray(1)]),
    signer.kind === 'rsa' ? algorithm(OID.rsaEncryption) : algorithm(OID.ecdsaWithSha256, false),
    octets(signature),
  );
  const signedData = seq(
    int(1),
    setOf(algorithm(OID.sha256)),
    seq(oid(OID.spcIndirectData), explicit(0, content)),
    // [0] IMPLICIT SET OF Certificate: in DER order
    tlv(0xa0, Buffer.concat([...signer.certs].sort(Buffer.compare))),
    setOf(signerInfo),
  );
  return seq(oid(OID.signedData), explicit(0, signedData));
}
