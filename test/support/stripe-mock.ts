import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import * as path from 'node:path';

/**
 * stripe-mock (github.com/stripe/stripe-mock), Stripe's own mock server: it validates every request
 * against Stripe's OpenAPI spec and answers fixtures, keeping no state. So a test asserts what was
 * SENT (this helper records every request on a small proxy in front of it) and that the SDK call
 * succeeded; it cannot assert what Stripe would hold afterwards.
 *
 * `.ci/run` installs the same pinned version (a test checks that they agree).
 */
export const STRIPE_MOCK_VERSION = 'v0.203.0';

const REPO = path.join(__dirname, '..', '..');

export const STRIPE_MOCK_INSTALL =
  `GOBIN="$HOME/.cache/tierline/stripe-mock-${STRIPE_MOCK_VERSION}" ` +
  `go install github.com/stripe/stripe-mock@${STRIPE_MOCK_VERSION} ` +
  `&& ln -sfn "$HOME/.cache/tierline/stripe-mock-${STRIPE_MOCK_VERSION}" .stripe-mock ` +
  '(or run .ci/run, which does this)';

/** The binary: $STRIPE_MOCK_BIN, else .stripe-mock/ (the link .ci/run makes), else the cache. */
export function stripeMockBinary(): string {
  const candidates = [
    process.env.STRIPE_MOCK_BIN,
    path.join(REPO, '.stripe-mock', 'stripe-mock'),
    path.join(homedir(), '.cache', 'tierline', `stripe-mock-${STRIPE_MOCK_VERSION}`, 'stripe-mock'),
  ].filter((candidate): candidate is string => Boolean(candidate));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      `stripe-mock ${STRIPE_MOCK_VERSION} is not installed (looked at ${candidates.join(', ')}). ` +
        `Install it: ${STRIPE_MOCK_INSTALL}`,
    );
  }
  return found;
}

/** How a recorded request shows the SDK's own random idempotency key (stripe-node-retry-<uuid>). */
export const AUTOMATIC_IDEMPOTENCY_KEY = 'stripe-node-retry-<random>';

/** One request as the SDK sent it. */
export interface RecordedStripeRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/billing/meter_events`. */
  path: string;
  /** Form body (POST) or query string (GET, DELETE), decoded: `payload[value]` -> '12'. */
  params: Record<string, string>;
  idempotencyKey?: string;
  /** What stripe-mock answered. */
  status: number;
}

export interface StripeMock {
  /** Where the SDK connects (the recording proxy). */
  host: string;
  port: number;
  requests: RecordedStripeRequest[];
  stop(): Promise<void>;
}

function decode(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(text)) params[key] = value;
  return params;
}

async function startBinary(): Promise<{ child: ChildProcess; port: number }> {
  const binary = stripeMockBinary();
  // Both listeners on loopback with ports the system chooses: parallel test files never collide
  // (left out, HTTPS would take 12112 on every interface).
  // Strict version check: a request naming another Stripe-Version than the bundled spec's fails,
  // so the version the provider pins is the one its requests are checked against.
  const args = ['-http-addr', '127.0.0.1:', '-https-addr', '127.0.0.1:', '-strict-version-check'];
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`stripe-mock did not start: ${output}`)),
      20_000,
    );
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening for HTTP at address: 127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stripe-mock exited (${code}): ${output}`));
    });
  });
  return { child, port };
}

/** Starts stripe-mock and a recording proxy in front of it, both on free loopback ports. */
export async function startStripeMock(): Promise<StripeMock> {
  const { child, port: mockPort } = await startBinary();
  const requests: RecordedStripeRequest[] = [];
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const [pathname, query = ''] = (req.url ?? '/').split('?');
      const recorded: RecordedStripeRequest = {
        method: req.method ?? 'GET',
        path: pathname ?? '/',
        params: decode(body.length > 0 ? body.toString() : query),
        status: 0,
      };
      // The SDK gives a POST without a key of ours one of its own (random): recorded as a marker.
      const key = req.headers['idempotency-key'] as string | undefined;
      if (key !== undefined) {
        recorded.idempotencyKey = key.startsWith('stripe-node-retry-')
          ? AUTOMATIC_IDEMPOTENCY_KEY
          : key;
      }
      requests.push(recorded);
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: mockPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${mockPort}` },
        },
        (answer) => {
          recorded.status = answer.statusCode ?? 0;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    requests,
    stop: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
