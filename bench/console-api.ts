/**
 * bench/console-api: what a console request costs with a console session (a Cognito access token,
 * verified locally against the pool's cached keys, the organization chosen from the user's
 * memberships) against the same request with an admin key (one cached key lookup), in the same
 * run: the pages' reads (`/v1/me`, `/v1/limits`, `/v1/usage`, `/v1/organization/projects`).
 *
 * Local mode runs in this process with cognito-local as its child, as `npm start` does: a user signs
 * up, verifies with the mailed code, creates its Free organization and an admin key, then each
 * credential sends every route `BENCH_ROUNDS` times (default 200), 8 at a time, after a warm-up.
 * Printed per credential: p50/p99 latency, requests/s, this process's CPU per request (local mode
 * and the load generator share it, alike for both), and how many requests reached cognito-local
 * during the timed part (zero: no call to Cognito per request).
 *
 *   npx tsx bench/console-api.ts
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { TestModelBackend } from '../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../lib/config/load';
import { readLocalMail } from '../local/local-cognito';
import { type LocalMode, startLocalMode } from '../local/local-mode';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '200');
const CONCURRENCY = 8;
const ROUTES = ['/me', '/limits', '/usage', '/organization/projects'];
const PASSWORD = 'Correct-Horse-9-battery';

interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
  cpuMsPerRequest: number;
  failures: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function measure(base: string, authorization: string): Promise<Measured> {
  const work = Array.from({ length: ROUNDS }, () => ROUTES).flat();
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < work.length) {
        const route = work[next++];
        const sent = performance.now();
        const response = await fetch(`${base}${route}`, { headers: { authorization } });
        await response.arrayBuffer();
        latencies.push(performance.now() - sent);
        if (response.status !== 200) failures += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perSecond: work.length / seconds,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / work.length,
    failures,
  };
}

/** A verified user with a Free organization; its access token and an admin key of the organization. */
async function signedUp(local: LocalMode): Promise<{ token: string; adminKey: string }> {
  const signIn = local.signIn;
  if (!signIn) throw new Error('local mode started without its user pool');
  const cognito = new CognitoIdentityProviderClient({
    endpoint: signIn.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const email = `bench-${Date.now()}@console.test`;
  const ClientId = signIn.clientId;
  await cognito.send(new SignUpCommand({ ClientId, Username: email, Password: PASSWORD }));
  const code = readLocalMail(signIn.mailFile).find((m) => m.to === email)?.code;
  await cognito.send(
    new ConfirmSignUpCommand({ ClientId, Username: email, ConfirmationCode: code }),
  );
  const auth = await cognito.send(
    new InitiateAuthCommand({
      ClientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: email, PASSWORD },
    }),
  );
  cognito.destroy();
  const token = auth.AuthenticationResult?.AccessToken ?? '';
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${local.openAIBaseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  await post('/account/organizations', { name: 'Bench Labs' });
  const admin = await post('/organization/admin_api_keys', { name: 'bench' });
  return { token, adminKey: String(admin.value) };
}

/**
 * Requests that reached cognito-local: counted where they leave this process, by `fetch` (Cognito's
 * JSON API, GetUser) and by `http.request` (aws-jwt-verify's fetch of the pool's keys).
 */
function countingRequests(endpoint: string): { count: () => number; restore: () => void } {
  const http = createRequire(__filename)('node:http') as typeof import('node:http');
  const originalFetch = globalThis.fetch;
  const originalRequest = http.request;
  const port = new URL(endpoint).port;
  let count = 0;
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(endpoint)) count += 1;
    return originalFetch(input, init);
  }) as typeof fetch;
  http.request = ((...args: Parameters<typeof http.request>) => {
    const target = args[0];
    const targetPort =
      typeof target === 'string' || target instanceof URL
        ? new URL(target).port
        : String((target as { port?: unknown }).port ?? '');
    if (targetPort === port) count += 1;
    return originalRequest(...args);
  }) as typeof http.request;
  return {
    count: () => count,
    restore: () => {
      globalThis.fetch = originalFetch;
      http.request = originalRequest;
    },
  };
}

async function main(): Promise<void> {
  const open = { rateLimit: 100_000, burstLimit: 100_000 };
  const local = await startLocalMode({
    // The bench measures the request's own cost, not the usage plans' throttle.
    config: loadConfig({
      env: 'dev',
      overrides: { tiers: { free: { edge: open }, developer: { edge: open } } },
    }),
    port: 0,
    backend: new TestModelBackend({ replyTokens: 4 }),
    signIn: {},
  });
  try {
    // Counted from the start, to show the counter sees cognito-local's traffic (the sign-up's).
    const cognito = countingRequests(local.signIn?.endpoint ?? '');
    const { token, adminKey } = await signedUp(local);
    const signUpCalls = cognito.count();
    const base = local.openAIBaseUrl;
    const session = `Bearer ${token}`;
    const key = `Bearer ${adminKey}`;
    // Warm-up: the pool's keys cached, the key's lookup cached, the code paths compiled.
    await measure(base, session);
    await measure(base, key);
    const beforeTimed = cognito.count();
    const viaSession = await measure(base, session);
    const cognitoCalls = cognito.count() - beforeTimed;
    cognito.restore();
    const viaKey = await measure(base, key);

    console.log(
      `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.split(' ')[0]}), Node ${process.version}; ` +
        `load average ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(
      `${ROUNDS} rounds of ${ROUTES.join(', ')}, ${CONCURRENCY} at a time, local mode in this process`,
    );
    console.log('credential    p50 ms   p99 ms    req/s   CPU ms/req   non-200');
    for (const [name, m] of [
      ['session', viaSession],
      ['admin key', viaKey],
    ] as const) {
      console.log(
        `${name.padEnd(12)}${m.p50.toFixed(2).padStart(8)}${m.p99.toFixed(2).padStart(9)}` +
          `${m.perSecond.toFixed(0).padStart(9)}${m.cpuMsPerRequest.toFixed(2).padStart(13)}` +
          `${String(m.failures).padStart(10)}`,
      );
    }
    console.log(
      `session / key: CPU x${(viaSession.cpuMsPerRequest / viaKey.cpuMsPerRequest).toFixed(3)}, ` +
        `p50 x${(viaSession.p50 / viaKey.p50).toFixed(3)}; requests to cognito-local while the ` +
        `session's ${ROUNDS * ROUTES.length} requests ran: ${cognitoCalls} (${signUpCalls} while ` +
        'the user signed up and signed in)',
    );
  } finally {
    await local.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
