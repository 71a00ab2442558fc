// Runs tasks with at most `n` at once. After the first failure no new task starts; the ones
// running are awaited (so nothing still writes when the caller cleans up), then that failure is
// thrown.
export async function runLimited<T>(items: T[], n: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await task(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, n), items.length) }, worker));
  if (failure) throw failure.error;
}
