// Push and pull of one big output as an OCI artifact to a local docker-registry over loopback:
// `osbuild push-artifact` (hash the file, upload it in 32 MiB chunks) and `osbuild pull-artifact`
// (stream it back, hashing, into a temp file + rename), each under GNU time for the peak RSS,
// beside `skopeo copy` of the pushed artifact to an OCI layout. Prints figures; asserts nothing.
//
//   node bench/artifact.mjs [--mb 100] [--runs 3]
//
// The file is random (incompressible), as a disk image's used blocks mostly are.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, parseArgs, runCli, startRegistry } from './lib.mjs';

const opts = parseArgs(process.argv.slice(2), { mb: '100', runs: '3' });
const mb = Number(opts.mb);
const runs = Number(opts.runs);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const work = mkdtempSync(join(tmpdir(), 'osbuild-bench-artifact-'));
const { port, registry } = await startRegistry(work, { deletes: true });
try {
  const file = join(work, 'bench.qcow2');
  run('sh', ['-c', `head -c ${mb * 1024 * 1024} /dev/urandom > ${file}`]);
  const mib = mb;
  const push = [];
  const pull = [];
  const skopeo = [];
  for (let i = 0; i < runs; i++) {
    // a fresh repository and registry storage each run: every byte goes up
    run('sh', ['-c', `rm -rf ${join(work, 'data')}/* `]);
    const ref = `127.0.0.1:${port}/bench/artifact-${i}:1`;
    push.push(runCli(['push-artifact', '-q', '--format', 'qcow2-bios', ref, file]));
    const out = join(work, `pulled-${i}`);
    pull.push(runCli(['pull-artifact', '-q', '-o', out, ref]));
    run('cmp', [file, join(out, 'bench.qcow2')]);
    rmSync(out, { recursive: true, force: true });
    const t0 = performance.now();
    run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(work, `skopeo-${i}`)}:x`]);
    skopeo.push((performance.now() - t0) / 1000);
    rmSync(join(work, `skopeo-${i}`), { recursive: true, force: true });
  }
  const show = (label, rs) => {
    const w = median(rs.map((r) => r.wall));
    console.log(
      `${label}: median ${w.toFixed(2)} s of ${rs.map((r) => r.wall.toFixed(2)).join(', ')} (${(mib / w).toFixed(0)} MiB/s), ` +
        `peak RSS median ${median(rs.map((r) => r.rssMb)).toFixed(0)} MB, max ${Math.max(...rs.map((r) => r.rssMb)).toFixed(0)} MB, load ${rs.map((r) => r.load.toFixed(1)).join('/')}`,
    );
  };
  console.log(`one ${mib} MiB random file, loopback docker-registry ${run('sh', ['-c', "dpkg-query -W -f '${Version}' docker-registry"])}`);
  show('osbuild push-artifact (hash, then 32 MiB chunks)', push);
  show('osbuild pull-artifact (stream, verify, rename)  ', pull);
  const s = median(skopeo);
  console.log(`skopeo copy of the artifact to an OCI layout:    median ${s.toFixed(2)} s (${(mib / s).toFixed(0)} MiB/s)`);
} finally {
  registry.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
