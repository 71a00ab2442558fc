// The SBOM model as an SPDX 2.3 JSON document. The document DESCRIBES the system (a package
// whose purpose is OPERATING-SYSTEM); the system CONTAINS each image and each file of the
// files section; each image CONTAINS the .debs its label records, and the kernel image the
// kernel. Ids are positional (SPDXRef-Image-1, SPDXRef-Package-3), the namespace derives from
// the model's input hash, `created` is SOURCE_DATE_EPOCH: one build, one text. Pure.

import { debLocation, debPurl, documentNamespace, ociPurl, type SbomModel } from './model.js';

const NOASSERTION = 'NOASSERTION';

interface Relationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

export function spdxDocument(m: SbomModel): object {
  const system = 'SPDXRef-System';
  const imageId = (i: number) => `SPDXRef-Image-${i + 1}`;
  const packageId = (i: number) => `SPDXRef-Package-${i + 1}`;
  const fileId = (i: number) => `SPDXRef-File-${i + 1}`;
  const relationships: Relationship[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: system }];
  const contains = (a: string, b: string) => relationships.push({ spdxElementId: a, relationshipType: 'CONTAINS', relatedSpdxElement: b });

  const packages: object[] = [
    spdxPackage({ SPDXID: system, name: m.name, primaryPackagePurpose: 'OPERATING-SYSTEM', comment: `the system osbuild builds from the blueprint, for ${m.arch}` }),
  ];
  m.images.forEach((img, i) => {
    packages.push(spdxPackage({
      SPDXID: imageId(i),
      name: img.fullRef,
      versionInfo: img.digest,
      primaryPackagePurpose: 'CONTAINER',
      checksums: [{ algorithm: 'SHA256', checksumValue: img.digest.replace(/^sha256:/, '') }],
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: ociPurl(img, m.arch) }],
      comment: `image manifest for ${m.arch}; in the blueprint as ${img.ref} (${img.uses.join(', ')})`,
    }));
    contains(system, imageId(i));
    for (const p of img.packages) contains(imageId(i), packageId(p));
  });
  m.packages.forEach((d, i) => {
    packages.push(spdxPackage({
      SPDXID: packageId(i),
      name: d.package,
      versionInfo: d.version,
      supplier: 'Organization: Debian',
      downloadLocation: debLocation(d),
      primaryPackagePurpose: 'INSTALL',
      checksums: [{ algorithm: 'SHA256', checksumValue: d.sha256 }],
      licenseDeclared: d.license,
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(d) }],
    }));
  });
  if (m.kernel) {
    const k = m.kernel;
    packages.push(spdxPackage({
      SPDXID: 'SPDXRef-Kernel',
      name: 'kernel',
      versionInfo: k.release || undefined,
      primaryPackagePurpose: 'OPERATING-SYSTEM',
      comment: `/${k.binary} of ${m.images[k.image].fullRef}, in layer ${k.layer}`,
    }));
    contains(imageId(k.image), 'SPDXRef-Kernel');
  }
  const files = m.files.map((f, i) => {
    contains(system, fileId(i));
    return {
      SPDXID: fileId(i),
      fileName: `./${f.path}`,
      checksums: [
        { algorithm: 'SHA1', checksumValue: f.sha1 },
        { algorithm: 'SHA256', checksumValue: f.sha256 },
      ],
      licenseConcluded: NOASSERTION,
      copyrightText: NOASSERTION,
      comment: 'from the blueprint\'s files section',
    };
  });

  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: m.name,
    documentNamespace: documentNamespace(m),
    creationInfo: { created: m.created, creators: [`Tool: ${m.tool.name}-${m.tool.version}`] },
    packages,
    ...(files.length ? { files } : {}),
    relationships,
  };
}

/** The document as the file osbuild writes: two-space JSON and a final newline. */
export function spdxText(m: SbomModel): string {
  return `${JSON.stringify(spdxDocument(m), null, 2)}\n`;
}

interface PackageFields {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  supplier?: string;
  downloadLocation?: string;
  primaryPackagePurpose: string;
  checksums?: { algorithm: string; checksumValue: string }[];
  licenseDeclared?: string;
  externalRefs?: object[];
  comment?: string;
}

/**
 * An SPDX package: what is not known is NOASSERTION and nothing is analyzed file by file. The
 * keys come in one fixed order, so the document's bytes depend on its content only.
 */
function spdxPackage(p: PackageFields): object {
  return {
    SPDXID: p.SPDXID,
    name: p.name,
    ...(p.versionInfo !== undefined ? { versionInfo: p.versionInfo } : {}),
    ...(p.supplier !== undefined ? { supplier: p.supplier } : {}),
    downloadLocation: p.downloadLocation ?? NOASSERTION,
    filesAnalyzed: false,
    primaryPackagePurpose: p.primaryPackagePurpose,
    ...(p.checksums ? { checksums: p.checksums } : {}),
    licenseConcluded: NOASSERTION,
    licenseDeclared: p.licenseDeclared ?? NOASSERTION,
    copyrightText: NOASSERTION,
    ...(p.externalRefs ? { externalRefs: p.externalRefs } : {}),
    ...(p.comment !== undefined ? { comment: p.comment } : {}),
  };
}
