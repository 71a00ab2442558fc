// A test SNTP server for boot tests whose guests set their clock: it listens on 127.0.0.1:123
// (OpenNTPD has no port setting; QEMU's slirp maps the guest's 10.0.2.2:123 here) and tells the
// time `aheadMs` from now, so a test sees the guest's clock jump. reuseAddr: several boot tests
// may run one at the same time, with the same answer.
import { createSocket, type Socket } from 'node:dgram';

export async function ntpServer(aheadMs: number): Promise<Socket> {
  const NTP_EPOCH_OFFSET = 2_208_988_800; // seconds from 1900 to 1970
  const put = (buf: Buffer, at: number, ms: number) => {
    buf.writeUInt32BE((Math.floor(ms / 1000) + NTP_EPOCH_OFFSET) >>> 0, at);
    buf.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, at + 4);
  };
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  s.on('message', (req, from) => {
    if (req.length < 48) return;
    const now = Date.now() + aheadMs;
    const res = Buffer.alloc(48);
    res[0] = (((req[0] >> 3) & 7) << 3) | 4; // no leap warning, the client's version, mode 4 (server)
    res[1] = 1; // stratum 1: a reference clock of its own
    res[2] = req[2]; // poll
    res[3] = 0xec; // precision 2^-20 s
    res.write('GPS\0', 12, 'latin1'); // reference id
    put(res, 16, now - 1000); // reference time
    req.copy(res, 24, 40, 48); // origin: the client's transmit timestamp, as it checks
    put(res, 32, now); // receive
    put(res, 40, now); // transmit
    s.send(res, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', (e) =>
      reject(new Error(`cannot serve NTP on 127.0.0.1:123 (${(e as Error).message}): the test needs root and a free port 123`)),
    );
    s.bind(123, '127.0.0.1', () => resolve());
  });
  return s;
}
