// What SPDX 2.3 asks of a document, checked on what we write. No SPDX 2.3 validator, nor a
// package shipping the official JSON schema, is available from npm or Debian's archive (Debian 12
// has only license lists), so these checks restate the schema's rules: the property names it
// allows on each object, the required ones, the id pattern, and so on.
import { expect } from 'vitest';
import parseLicense from 'spdx-expression-parse';

// The property names SPDX 2.3's JSON schema allows on each object (it allows no others).
const KEYS = {
  document: ['$schema', 'SPDXID', 'annotations', 'comment', 'creationInfo', 'dataLicense', 'externalDocumentRefs', 'hasExtractedLicensingInfos', 'name', 'revieweds', 'spdxVersion', 'documentNamespace', 'documentDescribes', 'packages', 'files', 'snippets', 'relationships'],
  creationInfo: ['comment', 'created', 'creators', 'licenseListVersion'],
  package: ['SPDXID', 'annotations', 'attributionTexts', 'builtDate', 'checksums', 'comment', 'copyrightText', 'description', 'downloadLocation', 'externalRefs', 'filesAnalyzed', 'hasFiles', 'homepage', 'licenseComments', 'licenseConcluded', 'licenseDeclared', 'licenseInfoFromFiles', 'name', 'originator', 'packageFileName', 'packageVerificationCode', 'primaryPackagePurpose', 'releaseDate', 'sourceInfo', 'summary', 'supplier', 'validUntilDate', 'versionInfo'],
  file: ['SPDXID', 'annotations', 'artifactOfs', 'attributionTexts', 'checksums', 'comment', 'copyrightText', 'fileContributors', 'fileDependencies', 'fileName', 'fileTypes', 'licenseComments', 'licenseConcluded', 'licenseInfoInFiles', 'noticeText'],
  checksum: ['algorithm', 'checksumValue'],
  externalRef: ['comment', 'referenceCategory', 'referenceLocator', 'referenceType'],
  relationship: ['spdxElementId', 'comment', 'relatedSpdxElement', 'relationshipType'],
};
const onlyKeys = (o: object, allowed: string[], what: string) => {
  for (const k of Object.keys(o)) expect(allowed, `${what} has ${k}`).toContain(k);
};

/**
 * What SPDX 2.3 (its JSON schema and spec, clauses 6-11) requires of what we write: only the
 * properties the schema defines, the required ones, the id pattern, checksum values in hex of
 * their algorithm's length, relationships between ids the document defines, supplier in the
 * agent syntax, and license fields that are NOASSERTION or valid expressions.
 */
export function checkSpdxStructure(doc: any): void {
  onlyKeys(doc, KEYS.document, 'the document');
  onlyKeys(doc.creationInfo, KEYS.creationInfo, 'creationInfo');
  for (const p of doc.packages) {
    onlyKeys(p, KEYS.package, p.SPDXID);
    for (const c of p.checksums ?? []) onlyKeys(c, KEYS.checksum, `${p.SPDXID} checksum`);
    for (const r of p.externalRefs ?? []) onlyKeys(r, KEYS.externalRef, `${p.SPDXID} externalRef`);
    if (p.supplier !== undefined) expect(p.supplier).toMatch(/^(Person|Organization|Tool): \S|^NOASSERTION$/);
  }
  for (const f of doc.files ?? []) {
    onlyKeys(f, KEYS.file, f.SPDXID);
    for (const c of f.checksums) onlyKeys(c, KEYS.checksum, `${f.SPDXID} checksum`);
  }
  for (const r of doc.relationships) onlyKeys(r, KEYS.relationship, 'a relationship');
  for (const k of ['spdxVersion', 'dataLicense', 'SPDXID', 'name', 'documentNamespace', 'creationInfo']) expect(doc[k], k).toBeDefined();
  expect(doc.dataLicense).toBe('CC0-1.0');
  expect(doc.SPDXID).toBe('SPDXRef-DOCUMENT');
  expect(doc.creationInfo.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(doc.creationInfo.creators[0]).toMatch(/^Tool: osbuild-\d/);
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  const hexLen: Record<string, number> = { SHA1: 40, SHA256: 64 };
  for (const p of doc.packages) {
    for (const k of ['SPDXID', 'name', 'downloadLocation']) expect(p[k], `${p.SPDXID}.${k}`).toBeDefined();
    expect(p.filesAnalyzed).toBe(false);
    expect(['OPERATING-SYSTEM', 'CONTAINER', 'INSTALL']).toContain(p.primaryPackagePurpose);
    for (const k of ['licenseConcluded', 'licenseDeclared']) if (p[k] !== 'NOASSERTION') expect(() => parseLicense(p[k])).not.toThrow();
    for (const r of p.externalRefs ?? []) expect(r).toEqual({ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: expect.stringMatching(/^pkg:/) });
    ids.add(p.SPDXID);
  }
  for (const f of doc.files ?? []) {
    expect(f.fileName).toMatch(/^\.\//);
    expect(f.checksums.map((c: any) => c.algorithm)).toContain('SHA1');
    ids.add(f.SPDXID);
  }
  for (const c of [...doc.packages, ...(doc.files ?? [])].flatMap((x: any) => x.checksums ?? [])) expect(c.checksumValue).toMatch(new RegExp(`^[0-9a-f]{${hexLen[c.algorithm]}}$`));
  expect(ids.size).toBe(1 + doc.packages.length + (doc.files?.length ?? 0));
  for (const id of ids) expect(id).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
  for (const r of doc.relationships) {
    expect(ids.has(r.spdxElementId) && ids.has(r.relatedSpdxElement), JSON.stringify(r)).toBe(true);
    expect(['DESCRIBES', 'CONTAINS']).toContain(r.relationshipType);
  }
}
