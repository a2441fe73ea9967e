/**
 * bench/reservation-hold: how long a crashed request's reservation is held (issue 8, row 3). Local
 * mode runs in a child process on an on-disk data folder; a Free and a Developer customer each open
 * streams; the child is SIGKILLed with them in flight (nothing billed, day counters and spend
 * held); a second process starts on the same data and its reconciler, on its timer, bills and
 * releases them. Printed: the holds before the kill, the seconds from the kill to the release of
 * every hold (polled every 0.5 s, Free at most 2 requests/s), and the bound it must stay under (max
 * request duration + reconcile margin + reconcile interval + one run).
 *
 *   npm run bench:reservations            # max request 10 s, reconciler every 10 s (AWS: 900 s and 60 s)
 *   MAX_REQUEST_S=20 INTERVAL_S=5 STREAMS=10 npm run bench:reservations
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { RECONCILE_MARGIN_MS } from '../lambda/metering/reservations';
import { loadConfig } from '../lib/config/load';
import { startLocalMode } from '../local/local-mode';

/** Also read by the child it starts (the crash test sets them low). */
const MAX_REQUEST_S = Number(process.env.MAX_REQUEST_S ?? 10);
const INTERVAL_S = Number(process.env.INTERVAL_S ?? 10);
const MARGIN_S = Number(process.env.MARGIN_S ?? RECONCILE_MARGIN_MS / 1000);
const STREAMS = Number(process.env.STREAMS ?? 5);
export const MODEL = 'qwen3-8b';

export interface Served {
  url: string;
  keys: Record<string, string>;
}

/** The child: local mode on `dir`, printing its URL and demo keys once it listens. */
async function serve(dir: string, port: number): Promise<void> {
  const local = await startLocalMode({
    config: loadConfig({ env: 'dev' }),
    port,
    dataDir: dir,
    console: false,
    // Slow streams: they are still running when the process is killed.
    backend: new TestModelBackend({ timeToFirstTokenMs: 20, tokensPerSecond: 2, replyTokens: 400 }),
    maxRequestMs: MAX_REQUEST_S * 1000,
    reconcileIntervalMs: INTERVAL_S * 1000,
    reconcileMarginMs: MARGIN_S * 1000,
    log: (line) => console.error(line),
  });
  const keys: Record<string, string> = Object.fromEntries(
    local.demoCustomers.map((c) => [c.tier, c.apiKey]),
  );
  // The spend limit is read with an admin key: an inference key gets 403 there.
  for (const c of local.demoCustomers) {
    keys[`${c.tier}:admin`] = (await local.operator.createAdminKey(c.customerId, 'bench')).key;
  }
  console.log(JSON.stringify({ url: local.url, keys } satisfies Served));
}

export function start(
  dir: string,
  port: number,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; served: Served }> {
  // Its own process group, so the kill reaches node under npx.
  const child = spawn('npx', ['tsx', __filename, 'serve', dir, String(port)], {
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (data: Buffer) => {
      out += data.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, served: JSON.parse(line) as Served });
    });
    child.once('exit', (code) =>
      reject(new Error(`local mode exited (${code}) before it listened`)),
    );
  });
}

export async function get(
  served: Served,
  tier: string,
  route: string,
): Promise<Record<string, unknown>> {
  let response = await fetch(`${served.url}/v1/${route}`, {
    headers: { authorization: `Bearer ${served.keys[tier]}` },
  });
  // The Free key's edge throttle (2 requests/s): wait and ask again.
  while (response.status === 429) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    response = await fetch(`${served.url}/v1/${route}`, {
      headers: { authorization: `Bearer ${served.keys[tier]}` },
    });
  }
  if (!response.ok)
    throw new Error(`GET /v1/${route} (${tier}): ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

/** What the customers hold: Free's tokens today on the model, Developer's as well, and Developer's spend held. */
export async function holds(served: Served) {
  const tokensToday = async (tier: string) => {
    const limits = (await get(served, tier, 'limits')) as {
      data: { model: string; tokens_per_day: { used: number } }[];
    };
    return limits.data.find((row) => row.model === MODEL)?.tokens_per_day.used ?? 0;
  };
  const spend = (await get(served, 'developer:admin', 'spend_limit')) as {
    reserved_usd: string;
    spent_usd: string;
  };
  return {
    freeTokensToday: await tokensToday('free'),
    developerTokensToday: await tokensToday('developer'),
    developerReservedUsd: spend.reserved_usd,
    developerSpentUsd: spend.spent_usd,
  };
}

export async function openStream(served: Served, tier: string): Promise<void> {
  const response = await fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${served.keys[tier]}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      stream: true,
      max_completion_tokens: 300,
      messages: [
        {
          role: 'user',
          content: 'Tell me a long story about reservations that outlive their process.',
        },
      ],
    }),
  });
  if (response.status !== 200)
    throw new Error(`${tier}: ${response.status} ${await response.text()}`);
  // Read the first chunk, then leave the stream open: the process dies under it.
  const reader = response.body?.getReader();
  await reader?.read();
  void reader?.read().catch(() => undefined);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tierline-hold-'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  try {
    const first = await start(dir, port);
    await Promise.all(
      ['free', 'developer'].flatMap((tier) =>
        Array.from({ length: STREAMS }, () => openStream(first.served, tier)),
      ),
    );
    const before = await holds(first.served);
    process.kill(-(first.child.pid as number), 'SIGKILL');
    const killedAt = performance.now();
    console.log(
      `SIGKILL with ${2 * STREAMS} streams in flight; held then: ${JSON.stringify(before)}`,
    );
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await start(dir, port);
    console.log(`restarted after ${((performance.now() - killedAt) / 1000).toFixed(1)} s`);
    let now = await holds(second.served);
    while (
      now.developerReservedUsd !== '0.000000' ||
      now.freeTokensToday >= before.freeTokensToday
    ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      now = await holds(second.served);
    }
    const heldSeconds = (performance.now() - killedAt) / 1000;
    const usage = (await get(second.served, 'developer', 'usage')) as { total?: unknown };
    process.kill(-(second.child.pid as number), 'SIGTERM');
    const bound = MAX_REQUEST_S + MARGIN_S + INTERVAL_S;
    console.log(`released: ${JSON.stringify(now)}`);
    console.log(`developer usage after reconciliation: ${JSON.stringify(usage.total)}`);
    console.log(
      `hold from SIGKILL to release: ${heldSeconds.toFixed(1)} s ` +
        `(bound: max request ${MAX_REQUEST_S} s + margin ${MARGIN_S} s + interval ${INTERVAL_S} s ` +
        `= ${bound} s, plus one reconciler run; in AWS 900 + 60 + 60 = 1,020 s)`,
    );
    await new Promise((resolve) => second.child.once('exit', resolve));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') {
  void serve(process.argv[3] as string, Number(process.argv[4]));
} else if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
