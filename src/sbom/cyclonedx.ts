// The SBOM model as a CycloneDX 1.5 JSON BOM. metadata.component is the system; components are
// flat: the images (container), the .debs (library), the kernel (operating-system) and the files
// of the files section (file). Containment is the dependency graph: the system depends on its
// images and files, each image on the .debs it holds, the kernel image on the kernel. The
// serialNumber is a version 5 UUID of the SPDX document namespace (so of the input hash), the
// timestamp SOURCE_DATE_EPOCH: one build, one text. Pure.

import { debLocation, debPurl, documentNamespace, ociPurl, uuidV5, type SbomModel } from './model.js';

export function cyclonedxDocument(m: SbomModel): object {
  const system = 'system';
  const imageRef = (i: number) => `image-${i + 1}`;
  const packageRef = (i: number) => `package-${i + 1}`;
  const fileRef = (i: number) => `file-${i + 1}`;

  const components: object[] = [];
  m.images.forEach((img, i) => {
    components.push({
      type: 'container',
      'bom-ref': imageRef(i),
      name: img.fullRef,
      version: img.digest,
      hashes: [{ alg: 'SHA-256', content: img.digest.replace(/^sha256:/, '') }],
      purl: ociPurl(img, m.arch),
      properties: [{ name: 'osbuild:blueprint-ref', value: img.ref }, ...img.uses.map((u) => ({ name: 'osbuild:use', value: u }))],
    });
  });
  m.packages.forEach((d, i) => {
    const from = debLocation(d);
    components.push({
      type: 'library',
      'bom-ref': packageRef(i),
      supplier: { name: 'Debian' },
      name: d.package,
      version: d.version,
      hashes: [{ alg: 'SHA-256', content: d.sha256 }],
      ...(d.license ? { licenses: [{ expression: d.license }] } : {}),
      purl: debPurl(d),
      ...(from ? { externalReferences: [{ type: 'distribution', url: from }] } : {}),
    });
  });
  if (m.kernel) {
    const k = m.kernel;
    components.push({
      type: 'operating-system',
      'bom-ref': 'kernel',
      name: 'kernel',
      ...(k.release ? { version: k.release } : {}),
      description: `/${k.binary} of ${m.images[k.image].fullRef}, in layer ${k.layer}`,
    });
  }
  m.files.forEach((f, i) => {
    components.push({
      type: 'file',
      'bom-ref': fileRef(i),
      name: `/${f.path}`,
      hashes: [
        { alg: 'SHA-1', content: f.sha1 },
        { alg: 'SHA-256', content: f.sha256 },
      ],
    });
  });

  const dependencies: { ref: string; dependsOn: string[] }[] = [
    { ref: system, dependsOn: [...m.images.map((_, i) => imageRef(i)), ...m.files.map((_, i) => fileRef(i))] },
    ...m.images.map((img, i) => ({
      ref: imageRef(i),
      dependsOn: [...img.packages.map(packageRef), ...(m.kernel?.image === i ? ['kernel'] : [])],
    })),
  ];

  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidV5(documentNamespace(m))}`,
    version: 1,
    metadata: {
      timestamp: m.created,
      tools: { components: [{ type: 'application', name: m.tool.name, version: m.tool.version }] },
      component: { type: 'operating-system', 'bom-ref': system, name: m.name, description: `the system osbuild builds from the blueprint, for ${m.arch}` },
    },
    components,
    dependencies,
  };
}

/** The BOM as the file osbuild writes: two-space JSON and a final newline. */
export function cyclonedxText(m: SbomModel): string {
  return `${JSON.stringify(cyclonedxDocument(m), null, 2)}\n`;
}
