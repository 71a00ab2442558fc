import { join } from 'node:path';
import { it } from 'vitest';
import { build } from '../../src/build/build.js';
import { componentCache, REPO } from '../helpers/components.js';
it('times', async () => {
  const { cacheDir } = await componentCache();
  for (const arch of ['amd64', 'arm64'] as const) {
    const t0 = Date.now();
    const fm = arch === 'amd64' ? ['uki', 'iso', 'iso-bios', 'iso-efi', 'raw-efi', 'raw-bios', 'raw', 'qcow2-bios', 'qcow2-efi', 'vhd', 'vmdk', 'aws', 'gcp', 'azure'] : ['uki', 'iso', 'iso-efi', 'raw-efi', 'qcow2-efi', 'vhd', 'vmdk', 'aws', 'gcp', 'azure'];
    const r = await build({ files: [join(REPO, 'blueprints/minimal.yml'), join(REPO, 'test/fixtures/media/poweroff.yml')], arch, formats: fm, outDir: `/tmp/media-scratch/${arch}`, cacheDir, onEvent: (e) => { if (e.type === 'output-done') console.log(e.format, e.ms, JSON.stringify(e.files)); } });
    console.log(arch, Date.now() - t0);
  }
}, 900_000);
