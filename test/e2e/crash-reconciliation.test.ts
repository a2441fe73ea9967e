import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { holds, openStream, type Served, start } from '../../bench/reservation-hold';
import { clearOfUtcDayEnd } from '../support/windows';

/**
 * Local mode in a child process is SIGKILLed with streams in flight (nothing billed, the day's
 * counters and the month's spend held), and a second process on the same data bills and releases
 * what the first one held, with its reconciler. The maximum request duration is 2 s, the margin
 * past it 3 s (60 s in AWS) and the reconciler runs every second, so the test waits seconds, not
 * the 17 minutes of AWS.
 */
describe('a process killed mid-stream: the next one reconciles what it held', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tierline-crash-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const children: { pid?: number }[] = [];
  const env = { MAX_REQUEST_S: '2', INTERVAL_S: '1', MARGIN_S: '3' };

  afterAll(() => {
    for (const child of children) {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('bills each crashed request its input once and releases every hold', async () => {
    // The holds are read from the day's counters and the month's spend, in a child process no
    // clock reaches: the whole run (tens of seconds under load) stays in one UTC day.
    await clearOfUtcDayEnd(90_000);
    const first = await start(dir, port, env);
    children.push(first.child);
    await Promise.all(
      ['free', 'developer'].flatMap((tier) => [1, 2, 3].map(() => openStream(first.served, tier))),
    );
    const before = await holds(first.served);
    expect(before.freeTokensToday).toBeGreaterThan(900); // 3 x (prompt + 300 tokens held)
    expect(Number(before.developerReservedUsd)).toBeGreaterThan(0);

    process.kill(-(first.child.pid as number), 'SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await start(dir, port, env);
    children.push(second.child);
    let now = await holds(second.served);
    const deadline = Date.now() + 150_000;
    while (
      (now.developerReservedUsd !== '0.000000' || now.freeTokensToday >= before.freeTokensToday) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      now = await holds(second.served);
    }

    // Nothing held any more; what stays counted is each request's prompt (billed as input, no
    // output).
    expect(now.developerReservedUsd).toBe('0.000000');
    expect(now.freeTokensToday).toBeGreaterThan(0);
    expect(now.freeTokensToday).toBeLessThan(before.freeTokensToday - 3 * 250);
    expect(now.developerTokensToday).toBe(now.freeTokensToday);
    expect(Number(now.developerSpentUsd)).toBeGreaterThan(0);
    await expect(usageRequests(second.served)).resolves.toBe(3);

    // A later run of the reconciler finds nothing more to bill.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await holds(second.served)).toEqual(now);
    await expect(usageRequests(second.served)).resolves.toBe(3);
  }, 330_000);
});

/** The Developer customer's requests today, from `/v1/usage`. */
async function usageRequests(served: Served): Promise<number> {
  const response = await fetch(`${served.url}/v1/usage`, {
    headers: { authorization: `Bearer ${served.keys.developer}` },
  });
  const body = (await response.json()) as { data: { models: { requests: number }[] }[] };
  return body.data.flatMap((day) => day.models).reduce((sum, model) => sum + model.requests, 0);
}
