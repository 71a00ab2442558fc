// QEMU's QMP socket from a boot test: what a hypervisor's "shut down" button does.
import { connect } from 'node:net';

/** Press the virtual power button through QEMU's QMP socket (ACPI power button event). */
export async function powerButton(socket: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    let step = 0;
    s.setEncoding('utf8');
    s.on('error', reject);
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if (msg.error) return reject(new Error(`QMP: ${JSON.stringify(msg.error)}`));
        if (step === 0 && msg.QMP) {
          step = 1;
          s.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          s.write('{"execute":"system_powerdown"}\n');
        } else if (step === 2 && 'return' in msg) {
          s.end();
          resolve();
        }
      }
    });
  });
}
