// Every reference blueprint says in its header what the console shows once it is up (its
// `# Up:` block), and the boot tests wait for those lines. Here, without a boot: the block names
// each service the blueprint lists, in its order, and then `osbuild: ready`, so a service added
// to a blueprint cannot be left out of what its users are told to look for.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/components.js';
import { upLines } from '../helpers/console.js';

const files = (await readdir(join(REPO, 'blueprints'))).filter((f) => f.endsWith('.yml')).sort();

describe('reference blueprints say what the console shows when they are up', () => {
  it('there are reference blueprints', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });
  for (const f of files) {
    it(f, async () => {
      const text = await readFile(join(REPO, 'blueprints', f), 'utf8');
      const services = ((parse(text) as { services?: { name: string }[] }).services ?? []).map((s) => s.name);
      expect(upLines(text)).toEqual([...services.map((s) => `osbuild: service ${s} started`), 'osbuild: ready']);
    });
  }
});
