// At most two QEMU guests at once: the machines running the tests have two cores, and a third
// TCG guest only makes all of them slower (and their console timeouts likelier).
let free = 2;
const waiting: (() => void)[] = [];

export async function slot<T>(f: () => Promise<T>): Promise<T> {
  while (free === 0) await new Promise<void>((r) => waiting.push(r));
  free--;
  try {
    return await f();
  } finally {
    free++;
    waiting.shift()?.();
  }
}
