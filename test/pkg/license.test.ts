// licenseOf: DEP-5 copyright files -> SPDX expressions. Oracles: python3-debian's deb822 /
// copyright parser (Debian's own) picks the paragraph and the license line, on every copyright
// file of this machine; spdx-expression-parse (the SPDX license list) says each result is a
// valid SPDX expression.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import parse from 'spdx-expression-parse';
import { describe, expect, it } from 'vitest';
import { licenseOf, spdxExpression } from '../../src/pkg/license.js';

const FORMAT = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/';

describe('licenseOf', () => {
  it("maps the Files: * paragraph's license to SPDX", () => {
    const text = [
      FORMAT,
      'Upstream-Name: demo',
      '',
      'Files: debian/*',
      'Copyright: 2020 Someone',
      'License: GPL-3+',
      '',
      'Files: src/* *',
      'Copyright: 2001 Upstream',
      'License: GPL-2+',
      ' This program is free software; ...',
      ' .',
      ' On Debian systems, see /usr/share/common-licenses/GPL-2.',
      '',
      'License: GPL-2+',
      ' the text',
    ].join('\n');
    expect(licenseOf(text)).toBe('GPL-2.0-or-later');
  });

  it('reads Debian short names and DEP-5 operators', () => {
    const cases: [string, string | undefined][] = [
      ['GPL-2', 'GPL-2.0-only'],
      ['GPL-2.0+', 'GPL-2.0-or-later'],
      ['LGPL-2.1+', 'LGPL-2.1-or-later'],
      ['LGPL-2', 'LGPL-2.0-only'],
      ['AGPL-3+', 'AGPL-3.0-or-later'],
      ['GFDL-NIV-1.3+', 'GFDL-1.3-no-invariants-or-later'],
      ['Expat', 'MIT'],
      ['BSD-3-clause', 'BSD-3-Clause'],
      ['Apache-2.0', 'Apache-2.0'],
      ['MPL-1.1+', 'MPL-1.1+'],
      ['Artistic or GPL-1+', 'Artistic-1.0-Perl OR GPL-1.0-or-later'],
      ['GPL-2+ and LGPL-2.1+', 'GPL-2.0-or-later AND LGPL-2.1-or-later'],
      ['LGPL-3+ or GPL-2+', 'LGPL-3.0-or-later OR GPL-2.0-or-later'],
      // DEP-5: a comma closes what stands before it
      ['GPL-2+ or AFL-2.1, and Expat', '(GPL-2.0-or-later OR AFL-2.1) AND MIT'],
      ['MIT and ISC, or Zlib', 'MIT AND ISC OR Zlib'],
      ['GPL-2+ with Font exception', 'GPL-2.0-or-later WITH Font-exception-2.0'],
      // not sure: no claim
      ['GPL-2+ with OpenSSL exception', undefined],
      ['GPL', undefined],
      ['GPL-4+', undefined],
      ['public-domain', undefined],
      ['GPL-2+ or AFL-2.1, and Expat and Tcl-BSDish', undefined],
      ['', undefined],
    ];
    for (const [debian, spdx] of cases) {
      expect(spdxExpression(debian), debian).toBe(spdx);
      if (spdx) expect(() => parse(spdx), spdx).not.toThrow();
    }
  });

  it('falls back to the header License; undefined when not machine-readable', () => {
    expect(licenseOf(`${FORMAT}\nLicense: Apache-2.0\n\nFiles: src/*\nCopyright: x\nLicense: MIT\n`)).toBe('Apache-2.0');
    expect(licenseOf('This is the Debian prepackaged version of foo.\n\nCopyright: GPL-2\nLicense: GPL-2\n')).toBeUndefined();
    expect(licenseOf('Format: something else\n\nFiles: *\nLicense: MIT\n')).toBeUndefined();
    expect(licenseOf(`# a comment\r\n${FORMAT}\r\n\r\nfiles: *\r\nlicense:\tMIT\r\n`)).toBe('MIT');
  });

  it("agrees with python3-debian on this machine's copyright files, and every result is valid SPDX", async () => {
    const doc = '/usr/share/doc';
    const files: string[] = [];
    for (const d of await readdir(doc)) {
      const text = await readFile(join(doc, d, 'copyright'), 'utf8').catch(() => undefined);
      if (text !== undefined && /^Format:/m.test(text)) files.push(join(doc, d, 'copyright'));
    }
    expect(files.length).toBeGreaterThan(20);
    // Debian's parser: the license synopsis of the paragraph whose Files has "*", else the header's
    const script = `
import json, sys, warnings
from debian.copyright import Copyright
warnings.simplefilter('ignore')
out = {}
for f in sys.argv[1:]:
    try:
        with open(f, encoding='utf-8') as fh:
            c = Copyright(fh, strict=False)
    except Exception:
        continue
    lic = None
    for p in c.all_files_paragraphs():
        if '*' in p.files:
            lic = p.license
            break
    if lic is None:
        lic = c.header.license
    out[f] = lic.synopsis if lic is not None else None
print(json.dumps(out))
`;
    const python = JSON.parse((await execa('/usr/bin/python3', ['-c', script, ...files])).stdout) as Record<string, string | null>;
    const parsed = Object.keys(python);
    expect(parsed.length).toBeGreaterThan(files.length * 0.8);
    let known = 0;
    for (const f of parsed) {
      const text = await readFile(f, 'utf8');
      const ours = licenseOf(text);
      const theirs = python[f];
      expect(ours, f).toBe(theirs ? spdxExpression(theirs) : undefined);
      if (ours) {
        known++;
        expect(() => parse(ours), `${f}: ${ours}`).not.toThrow();
      }
    }
    // most machine-readable files name licenses the tables know
    expect(known).toBeGreaterThan(parsed.length / 2);
  }, 60_000);
});
