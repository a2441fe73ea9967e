/**
 * Reads until `done` says the value is there (a batch run by local mode's worker, a status that
 * follows a background step), every 100 ms for up to `timeoutMs`; answers the last value read, so
 * the caller's assertion says what it was when the wait gave up.
 */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > end) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
